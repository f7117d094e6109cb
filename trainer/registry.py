"""The `trained_models` table: one row per model whose files are complete on disk.

`python -m trainer.registry [--model-type T] [--network N] [--latest] [--json]` lists it, newest first.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import asdict, dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

from clickhouse_connect.driver.client import Client

from trainer.cli_support import run_cli
from trainer.config import load_store_settings
from trainer.connection import connect, quote_identifier, table_exists, validate_network
from trainer.contract import MODEL_TYPES

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
    conditions, parameters = [], {}
    for column, value in (("model_type", model_type), ("network", network), ("config_key", config_key)):
        if value is not None:
            conditions.append(f"{column} = {{{column}:String}}")
            parameters[column] = value
    where = f"WHERE {' AND '.join(conditions)}" if conditions else ""
    result = client.query(
        f"SELECT {', '.join(COLUMNS)} FROM {_table(database)} {where} ORDER BY created_at DESC, version DESC", parameters=parameters
    )
    return [dict(zip(result.column_names, row, strict=True)) for row in result.result_rows]


def _printable(row: dict[str, Any]) -> dict[str, Any]:
    return {key: (value.isoformat() if isinstance(value, date | datetime) else value) for key, value in row.items()}


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m trainer.registry", description="List trained models, newest first.")
    parser.add_argument("--model-type", choices=MODEL_TYPES)
    parser.add_argument("--network")
    parser.add_argument("--latest", action="store_true", help="only the newest model of each (model type, network)")
    parser.add_argument("--json", action="store_true", help="print rows as JSON")
    args = parser.parse_args()
    settings = load_store_settings()
    with connect(settings) as client:
        ensure_registry(client, settings.registry_database)
        rows = list_models(client, settings.registry_database, args.model_type, validate_network(args.network) if args.network else None)
    if args.latest:
        newest: dict[tuple[str, str], dict[str, Any]] = {}
        for row in rows:  # rows come newest first
            newest.setdefault((row["model_type"], row["network"]), row)
        rows = list(newest.values())
    if args.json:
        print(json.dumps([_printable(r) for r in rows], indent=2))
        return
    if not rows:
        print("no trained models yet")
        return
    print(f"{'model_id':<44} {'network':<10} {'window':<23} {'rows':>8} {'test_auc':>8} {'cv_auc':>13}  path")
    for r in rows:
        window = f"{r['training_start_date']}..{r['training_end_date']}"
        cv = f"{r['cv_auc_mean']:.3f}±{r['cv_auc_std']:.3f}"
        print(
            f"{r['model_id']:<44} {r['network']:<10} {window:<23} {r['num_samples']:>8} {r['test_auc']:>8.3f} {cv:>13}  "
            f"{Path(r['model_path'])}"
        )


if __name__ == "__main__":
    run_cli(main)
