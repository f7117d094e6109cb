"""The `trained_models` table: one row per model whose files are complete on disk (see registry.publish)."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

from clickhouse_connect.driver.client import Client

from trainer.errors import PipelineError
from trainer.registry.aliases import ALIASES, current_aliases
from trainer.registry.artifacts import resolve_inside
from trainer.store.connection import quote_identifier, string_filter, table_exists

REGISTRY_TABLE = "trained_models"

REGISTRY_DDL = """
CREATE TABLE IF NOT EXISTS {table} (
    model_id String,
    model_type LowCardinality(String),
    version UInt32,
    network LowCardinality(String),
    training_start_date Date,
    training_end_date Date,
    created_at DateTime64(3, 'UTC'),
    model_path String,
    metadata_path String,
    report_path String,
    metrics_json String,
    hyperparameters_json String,
    feature_names Array(String),
    num_samples UInt64,
    num_features UInt32,
    test_auc Float64,
    cv_auc_mean Float64,
    cv_auc_std Float64,
    data_fingerprint String,
    config_key String,
    project_version String
) ENGINE = MergeTree
ORDER BY (network, model_type, created_at)
"""


@dataclass
class RegistryRow:
    model_id: str
    model_type: str
    version: int
    network: str
    training_start_date: date
    training_end_date: date
    created_at: datetime
    model_path: str
    metadata_path: str
    report_path: str
    metrics_json: str
    hyperparameters_json: str
    feature_names: list[str]
    num_samples: int
    num_features: int
    test_auc: float
    cv_auc_mean: float
    cv_auc_std: float
    data_fingerprint: str
    config_key: str
    project_version: str


COLUMNS = list(RegistryRow.__dataclass_fields__)


def row_from_metadata(metadata: dict[str, Any], model_path: Path) -> RegistryRow:
    """The registry row of a model, entirely from its metadata file: one source for both to agree on."""
    metrics, stats = metadata["metrics"], metadata["data_stats"]
    return RegistryRow(
        model_id=metadata["model_id"],
        model_type=metadata["model_type"],
        version=int(metadata["version"]),
        network=metadata["network"],
        training_start_date=date.fromisoformat(metadata["training_period"]["start"]),
        training_end_date=date.fromisoformat(metadata["training_period"]["end"]),
        created_at=datetime.fromisoformat(metadata["timestamp"]),
        model_path=str(model_path),
        metadata_path=str(model_path.with_suffix(".json")),
        report_path=str(model_path.with_suffix(".png")),
        metrics_json=json.dumps(metrics, sort_keys=True),
        hyperparameters_json=json.dumps(metadata["hyperparameters"], sort_keys=True),
        feature_names=list(metadata["feature_names"]),
        num_samples=int(stats["train_rows"] + stats["test_rows"]),
        num_features=len(metadata["feature_names"]),
        test_auc=float(metrics["test_auc"]),
        cv_auc_mean=float(metrics["cv_auc_mean"]),
        cv_auc_std=float(metrics["cv_auc_std"]),
        data_fingerprint=stats["fingerprint"],
        config_key=metadata["config_key"],
        project_version=metadata["project_version"],
    )


def _table(database: str) -> str:
    return f"{quote_identifier(database)}.{quote_identifier(REGISTRY_TABLE)}"


def ensure_registry(client: Client, database: str) -> None:
    client.command(f"CREATE DATABASE IF NOT EXISTS {quote_identifier(database)}")
    client.command(REGISTRY_DDL.format(table=_table(database)))


def next_version(client: Client, database: str, model_type: str, network: str) -> int:
    current = client.command(
        f"SELECT max(version) FROM {_table(database)} WHERE model_type = {{model_type:String}} AND network = {{network:String}}",
        parameters={"model_type": model_type, "network": network},
    )
    return int(current or 0) + 1


def insert(client: Client, database: str, row: RegistryRow) -> None:
    values = asdict(row)
    client.insert(f"{quote_identifier(database)}.{quote_identifier(REGISTRY_TABLE)}", [[values[c] for c in COLUMNS]], column_names=COLUMNS)


def list_models(
    client: Client, database: str, model_type: str | None = None, network: str | None = None, config_key: str | None = None
) -> list[dict[str, Any]]:
    """Registry rows, newest first, optionally filtered; none while the registry does not exist yet."""
    if not table_exists(client, database, REGISTRY_TABLE):
        return []
    where, parameters = string_filter(model_type=model_type, network=network, config_key=config_key)
    result = client.query(
        f"SELECT {', '.join(COLUMNS)} FROM {_table(database)} {where} ORDER BY created_at DESC, version DESC", parameters=parameters
    )
    return [dict(zip(result.column_names, row, strict=True)) for row in result.result_rows]


def resolve_model(client: Client, database: str, model_type: str, network: str, model_id: str, output_dir: Path) -> Path:
    """The model file of a registered model: by id, `latest` (the newest of its type and network), or an alias
    (`champion`, `challenger`); accepted only inside the output directory."""
    rows = list_models(client, database, model_type=model_type, network=network)
    if model_id in ALIASES:
        holder = current_aliases(client, database).get((network, model_type, model_id))
        if holder is None:
            raise PipelineError(
                f"no {model_id} {model_type} model for network {network}: promote one with "
                f"`python -m trainer.registry promote MODEL_ID --alias {model_id}`, or use --model-id latest"
            )
        rows = [row for row in rows if row["model_id"] == holder]
    elif model_id != "latest":
        rows = [row for row in rows if row["model_id"] == model_id]
    if not rows:
        wanted = "any" if model_id == "latest" else model_id
        raise PipelineError(f"no registered {model_type} model ({wanted}) for network {network}: train one first")
    return resolve_inside(output_dir, rows[0]["model_path"])
