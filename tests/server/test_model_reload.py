"""A registered model reloads elsewhere and gives the scores scoring wrote: a fresh process (tests.server.reload_child)
loads each model from the registry by id, reads the date's features in the model's own feature order, predicts, and
its scores equal the rows of the output table, key by key."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import numpy as np

from tests.conftest import REPO
from tests.integration.support import END
from tests.server.conftest import MODEL_TYPES, NETWORK
from trainer.model_types import model_spec
from trainer.score import score_date
from trainer.store.connection import qualified_name, quote_identifier
from trainer.train.pipeline import TrainOutcome

DAY = END - timedelta(days=10)


def written_scores(client, model_type: str, model_id: str) -> dict[str, float]:
    spec = model_spec(model_type)
    result = client.query(
        f"SELECT {quote_identifier(spec.key_column)}, score FROM {qualified_name(NETWORK, spec.output_table)} "
        "WHERE processing_date = {day:Date} AND model_version = {model:String}",
        parameters={"day": DAY, "model": model_id},
    )
    return dict(result.result_rows)


def test_a_fresh_process_reloads_each_model_from_the_registry_and_gives_the_written_scores(
    client, trained: dict[str, TrainOutcome], tmp_path: Path
) -> None:
    written = {}
    for model_type in MODEL_TYPES:
        model_id = trained[model_type].model_id
        outcome = score_date(model_type, DAY, NETWORK, model_id, output_dir=tmp_path, client=client, drift=False)
        written[model_id] = written_scores(client, model_type, model_id)
        assert outcome.rows == len(written[model_id]) > 0
    models = [f"{model_type}:{trained[model_type].model_id}" for model_type in MODEL_TYPES]
    child = subprocess.run(
        [sys.executable, "-m", "tests.server.reload_child", NETWORK, str(DAY), *models],
        cwd=REPO, env=dict(os.environ), capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert child.returncode == 0, child.stderr[-3000:]
    reloaded = json.loads(child.stdout)
    for model_id, scores in written.items():
        keys = sorted(scores)
        assert sorted(reloaded[model_id]) == keys, model_id
        np.testing.assert_array_equal([reloaded[model_id][key] for key in keys], [scores[key] for key in keys], err_msg=model_id)
        assert len(set(scores.values())) > 1, "a constant model must never be saved"
