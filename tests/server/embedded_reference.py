"""The server tier's reference: the tier's sample window built on the embedded engine, in a process of its own (chDB
takes one directory per process), with every table of the network and the scores of one date written as parquet.

    python -m tests.server.embedded_reference ROOT NETWORK DAY

The caller sets the embedded target (DBT_TARGET=embedded, CHDB_PATH, DBT_TARGET_PATH, DBT_LOG_PATH under ROOT)."""

from __future__ import annotations

import json
import sys
from datetime import date
from pathlib import Path

import pyarrow.parquet as pq


def main(root: Path, network: str, day: date) -> None:
    from tests.integration.support import build_network
    from trainer.score import score_date
    from trainer.store.connection import connect
    from trainer.train.pipeline import TrainRequest, train_model

    build_network(root, network, alerts_per_day=60)
    client = connect()
    model = train_model(TrainRequest(model_type="alert_scorer", network=network, output_dir=root / "models"), client=client)
    score_date("alert_scorer", day, network, model.model_id, root / "models", client=client, drift=False)
    tables = root / "tables"
    tables.mkdir(parents=True, exist_ok=True)
    names = client.query(
        "SELECT name FROM system.tables WHERE database = {d:String} AND engine LIKE '%MergeTree' AND NOT startsWith(name, '_')",
        parameters={"d": network},
    ).result_rows
    for (name,) in names:
        pq.write_table(client.query_arrow(f"SELECT * FROM `{network}`.`{name}`"), tables / f"{name}.parquet")
    (root / "model.json").write_text(json.dumps({"model_id": model.model_id, "fingerprint": model.metadata.data_stats.fingerprint}))


if __name__ == "__main__":
    main(Path(sys.argv[1]), sys.argv[2], date.fromisoformat(sys.argv[3]))
