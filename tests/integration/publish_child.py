"""Small real models published to the registry without a training run, for the registry tests, and a process of its
own for the tests that signal or kill a publish (the embedded store allows one process per directory, so the child
works on a store of its own, named by CHDB_PATH):

    python -m tests.integration.publish_child publish OUTPUT_DIR NETWORK    publish one, under the CLI's signal handling
    python -m tests.integration.publish_child state NETWORK                 print the registry's rows and the warehouse's
                                                                            artifact rows of the network as JSON
"""

from __future__ import annotations

import json
import os
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import lightgbm as lgb
import numpy as np
from clickhouse_connect.driver.client import Client

from tests.support.metadata import sample_metadata
from trainer.registry import table as registry
from trainer.registry.artifacts import Artifacts, artifact_stem, write_artifacts
from trainer.registry.metadata import ModelMetadata
from trainer.registry.publish import publish_model
from trainer.store.settings import StoreSettings

FEATURES = ["f0", "f1", "f2"]
# A report that is not text: every byte value, and a PNG signature, must come back byte for byte.
REPORT = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 40 + b"\x00\xff\xfe"


def small_booster(seed: int = 0) -> lgb.Booster:
    rng = np.random.default_rng(seed)
    features = rng.normal(size=(300, len(FEATURES)))
    label = (features[:, 0] + 0.3 * rng.normal(size=300) > 0).astype(int)
    data = lgb.Dataset(features, label=label, feature_name=FEATURES, params={"verbosity": -1})
    return lgb.train({"objective": "binary", "verbosity": -1, "num_threads": 1, "seed": seed}, data, num_boost_round=5)


def small_metadata(
    model_id: str, version: int, created_at: datetime, network: str, model_type: str, report_path: Path | None
) -> ModelMetadata:
    return sample_metadata(
        [{"name": f, "family": "alert"} for f in FEATURES],
        model_id=model_id, model_type=model_type, version=version, timestamp=created_at, network=network,
        metrics={"test_auc": 0.8, "cv_auc_mean": 0.79, "cv_auc_std": 0.01}, hyperparameters={"num_boost_round": 5}, num_trees=5,
        config_key=f"small-{model_id}", project_version="test", report_path=str(report_path or ""), model_card="",
    )  # fmt: skip


def publish_small_model(
    client: Client, settings: StoreSettings, output_dir: Path, network: str, model_type: str = "cluster_scorer", seed: int = 0
) -> tuple[str, Path, ModelMetadata]:
    """Publish a small real LightGBM model through the registry's publish, as training does."""
    booster = small_booster(seed)
    return publish_model(
        client, settings, output_dir, model_type, network, booster.model_to_string(),
        lambda model_id, version, created_at, report_path: small_metadata(model_id, version, created_at, network, model_type, report_path),
        lambda model_id: REPORT,
        lambda metadata: f"# {metadata.model_id}\n",
    )  # fmt: skip


def register_legacy_model(client: Client, database: str, directory: Path, network: str, model_type: str = "cluster_scorer") -> Artifacts:
    """A model as the registry wrote it before the warehouse kept artifacts: four files, and a row holding their
    paths and no checksums."""
    registry.ensure_registry(client, database)
    version = registry.claim_version(client, database, model_type, network)
    stem = artifact_stem(network, model_type, version, "20240101_000000")
    files = Artifacts.of(directory.resolve(), stem)
    directory.mkdir(parents=True, exist_ok=True)
    metadata = small_metadata(stem, version, datetime(2024, 1, 1, tzinfo=UTC), network, model_type, files.report_path)
    write_artifacts(files, small_booster(version).model_to_string(), metadata, REPORT, f"# {stem}\n")
    registry.insert(client, database, registry.row_from_metadata(metadata, files.model_path))
    return files


def state(client: Client, database: str, network: str) -> dict[str, Any]:
    """The network's registry rows (id -> pinned kinds) and every artifact row's model id and kind."""
    registry.ensure_registry(client, database)
    rows = {row["model_id"]: sorted(registry.pinned_checksums(row)) for row in registry.list_models(client, database, network=network)}
    artifacts: dict[str, list[str]] = {}
    for model_id, kind in client.query(f"SELECT model_id, kind FROM {database}.model_artifacts ORDER BY model_id, kind").result_rows:
        artifacts.setdefault(model_id, []).append(kind)
    return {"registered": rows, "artifacts": artifacts}


def main() -> None:
    from trainer.store.connection import connect
    from trainer.store.settings import load_store_settings

    command, *rest = sys.argv[1:]
    settings = load_store_settings()
    with connect(settings) as client:
        if command == "publish":
            model_id, _, _ = publish_small_model(client, settings, Path(rest[0]), rest[1])
            print(model_id)
        else:
            print(json.dumps(state(client, settings.registry_database, rest[0])))


if __name__ == "__main__":
    from trainer.cli import run_cli

    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    run_cli(main)
