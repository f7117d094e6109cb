"""The same drops on the embedded store and on the server give the same feature tables (floats within 1e-9
relative), the same training data (fingerprint) and the same scores (within 1e-6). The embedded side is built by
tests.server.embedded_reference in a process of its own while this tier builds the server side."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from tests.conftest import REPO
from tests.integration.support import END
from tests.server.conftest import NETWORK
from trainer.model_types import MODEL_SPECS
from trainer.score import score_date

# Columns that say when or where a row was written, not what it holds.
VOLATILE = {"built_at", "created_at", "ingested_at", "computed_at", "updated_at", "source", "model_version", "explain_json"}
REFERENCE_TIMEOUT_SECONDS = 900
# What scoring and ingest write: compared by the score test, or not at all (paths, times, run ids).
NOT_FEATURES = {
    *(spec.output_table for spec in MODEL_SPECS.values()),
    "batch_metadata",
    "feature_drift",
    "backtest_results",
    "ingested_drops",
}


@dataclass
class Reference:
    root: Path
    process: subprocess.Popen[bytes]

    def wait(self) -> Path:
        """The reference's directory, once its process has finished well."""
        code = self.process.wait(timeout=REFERENCE_TIMEOUT_SECONDS)
        assert code == 0, (self.root / "reference.log").read_text()[-3000:]
        return self.root


@pytest.fixture(scope="session")
def reference(test_root: Path) -> Iterator[Reference]:
    """Started when first requested: request it before `built`, so that both sides build at the same time."""
    root = test_root / "embedded_reference"
    root.mkdir(exist_ok=True)
    environment = {**os.environ, "DBT_TARGET": "embedded", "CHDB_PATH": str(root / "chdb"), "DBT_TARGET_PATH": str(root / "dbt_target"),
                   "DBT_LOG_PATH": str(root / "dbt_logs")}  # fmt: skip
    with (root / "reference.log").open("w") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "tests.server.embedded_reference", str(root), NETWORK, str(END)], cwd=REPO, env=environment,
            stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
        try:
            yield Reference(root, process)
        finally:
            process.kill()
            process.wait()


def comparable(table: pa.Table) -> pa.Table:
    """The table without volatile columns, its rows in one order: by every column that is not a float."""
    kept = [name for name in table.column_names if name not in VOLATILE]
    table = table.select(kept)
    keys = [
        name
        for name in kept
        if not pa.types.is_floating(table.schema.field(name).type) and not pa.types.is_nested(table.schema.field(name).type)
    ]
    return table.sort_by([(name, "ascending") for name in keys]) if keys else table


def assert_close(what: str, left: pa.ChunkedArray, right: pa.ChunkedArray) -> None:
    """Floats (and lists of floats) within 1e-9 relative, NaN equal to NaN; every other value equal."""
    kind = left.type
    if pa.types.is_list(kind) or pa.types.is_large_list(kind):
        assert [len(v or []) for v in left.to_pylist()] == [len(v or []) for v in right.to_pylist()], what
        left, right = pc.list_flatten(left), pc.list_flatten(right)
        kind = left.type
    if pa.types.is_floating(kind):
        a, b = left.to_numpy(zero_copy_only=False), right.to_numpy(zero_copy_only=False)
        assert np.allclose(a, b, rtol=1e-9, atol=0, equal_nan=True), f"{what}: max difference {np.nanmax(np.abs(a - b))}"
    else:
        assert left.to_pylist() == right.to_pylist(), what


def assert_equal_tables(name: str, embedded: pa.Table, server: pa.Table) -> None:
    embedded, server = comparable(embedded), comparable(server)
    assert embedded.column_names == server.column_names, name
    assert embedded.num_rows == server.num_rows, name
    for column in embedded.column_names:
        assert_close(f"{name}.{column}", embedded.column(column), server.column(column))


def test_the_feature_tables_equal_the_embedded_build(reference: Reference, built, client) -> None:
    tables = sorted((reference.wait() / "tables").glob("*.parquet"))
    assert {"raw_alerts", "int_alert_network_features", "scoring_alerts", "training_alerts", "training_clusters"} <= {
        p.stem for p in tables
    }
    for path in tables:
        if path.stem in NOT_FEATURES:
            continue
        assert_equal_tables(path.stem, pq.read_table(path), client.query_arrow(f"SELECT * FROM `{NETWORK}`.`{path.stem}`"))


def test_the_same_training_data_and_scores(reference: Reference, trained, client, tmp_path: Path) -> None:
    expected = json.loads((reference.wait() / "model.json").read_text())
    model = trained["alert_scorer"]
    assert model.metadata.data_stats.fingerprint == expected["fingerprint"], "the trainer read the same rows and values"
    score_date("alert_scorer", END, NETWORK, model.model_id, tmp_path, client=client, drift=False)
    server = client.query_arrow(
        f"SELECT alert_id, score FROM `{NETWORK}`.alert_scores WHERE processing_date = {{d:Date}} AND model_version = {{v:String}}",
        parameters={"d": END, "v": model.model_id},
    ).sort_by("alert_id")
    embedded = pq.read_table(reference.root / "tables" / "alert_scores.parquet").select(["alert_id", "score"]).sort_by("alert_id")
    assert server.column("alert_id").to_pylist() == embedded.column("alert_id").to_pylist() and server.num_rows > 0
    difference = np.abs(server.column("score").to_numpy() - embedded.column("score").to_numpy())
    assert difference.max() <= 1e-6, f"largest score difference {difference.max()}"
