"""A fresh process that scores one date with models it loads from the registry, for tests.server.test_model_reload:

    python -m tests.server.reload_child NETWORK DAY MODEL_TYPE:MODEL_ID ...

Each model comes from the warehouse by id (the working directory holds no model files); its features are read from the
scoring table in the model's own feature order, by a query of this process rather than the scorer's. Prints
{model_id: {key: score}} as JSON (floats as their shortest exact text)."""

from __future__ import annotations

import json
import sys
import tempfile
from datetime import date
from pathlib import Path

import numpy as np


def scores(client, registry_database: str, network: str, day: date, model_type: str, model_id: str) -> dict[str, float]:
    from trainer.model_types import model_spec
    from trainer.registry.table import resolve_model
    from trainer.registry.warehouse import load_registered
    from trainer.store.connection import qualified_name, quote_identifier

    spec = model_spec(model_type)
    row = resolve_model(client, registry_database, model_type, network, model_id)
    with tempfile.TemporaryDirectory() as no_files:
        booster, _ = load_registered(client, registry_database, row, Path(no_files))
    features = ", ".join(f"toFloat32({quote_identifier(name)})" for name in booster.feature_name())
    result = client.query(
        f"SELECT {quote_identifier(spec.key_column)}, {features} FROM {qualified_name(network, spec.scoring_table)} "
        "WHERE network = {network:String} AND processing_date = {day:Date}",
        parameters={"network": network, "day": day},
    )
    keys = [row[0] for row in result.result_rows]
    matrix = np.array([row[1:] for row in result.result_rows], dtype=np.float32)
    return dict(zip(keys, booster.predict(matrix).tolist(), strict=True))


def main(network: str, day: str, models: list[str]) -> None:
    from trainer.store.connection import connect
    from trainer.store.settings import load_store_settings

    settings = load_store_settings()
    with connect(settings) as client:
        by_model = {}
        for model in models:
            model_type, model_id = model.split(":", 1)
            by_model[model_id] = scores(client, settings.registry_database, network, date.fromisoformat(day), model_type, model_id)
    print(json.dumps(by_model))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], sys.argv[3:])
