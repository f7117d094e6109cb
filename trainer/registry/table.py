"""The registry's tables in ClickHouse, in the registry database:

- `trained_models`: one row per model, the commit record. A model exists when its row does; the row pins the sha256
  of each of its artifacts (`artifacts_json`; empty for models registered before the warehouse kept artifacts).
- `model_artifacts`: the artifacts themselves (model text, metadata JSON, report PNG, model card), one row per model
  and kind (registry.warehouse). A table of their own, not columns of `trained_models`: an existing registry needs
  no rewrite (the table is created beside it, `trained_models` only gains a column); the registry stays narrow for
  the queries that list and filter models; each artifact is checked on its own, by the server, before the commit
  row is written; and artifact rows without a registry row are plainly orphans, invisible to every reader (each
  read starts from a registry row) and removed by the next publish.
- `model_version_claims`: version allocation across processes and hosts (claim_version).
"""

from __future__ import annotations

import json
import os
import socket
import uuid
from dataclasses import asdict, dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

from clickhouse_connect.driver.client import Client
from loguru import logger

from trainer.errors import PipelineError
from trainer.registry.aliases import ALIASES, current_aliases
from trainer.registry.metadata import ModelMetadata
from trainer.store.connection import SqlName, qualified_name, quote_identifier, string_filter, table_columns, table_exists
from trainer.store.first_write import write_first

REGISTRY_TABLE = "trained_models"
ARTIFACTS_TABLE = "model_artifacts"
CLAIMS_TABLE = "model_version_claims"

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
    project_version String,
    artifacts_json String DEFAULT ''
) ENGINE = MergeTree
ORDER BY (network, model_type, created_at)
"""

# created_at is the server's clock, so that the age of rows written from several hosts is measured on one clock.
ARTIFACTS_DDL = """
CREATE TABLE IF NOT EXISTS {table} (
    model_id String,
    kind LowCardinality(String),
    content String CODEC(ZSTD(3)),
    sha256 String,
    size UInt64,
    writer String,
    created_at DateTime64(6, 'UTC') DEFAULT now64(6)
) ENGINE = MergeTree
ORDER BY (model_id, kind)
"""

# A claim is one insert whose deduplication token is its (network, model_type, version): the engine keeps the first
# and drops the others, atomically, within the window of recent inserts. The earliest claim by (claimed_at, claim_id)
# holds the version, which decides alone where deduplication does not apply (e.g. a claim beyond the window).
CLAIMS_DDL = """
CREATE TABLE IF NOT EXISTS {table} (
    network LowCardinality(String),
    model_type LowCardinality(String),
    version UInt32,
    claim_id String,
    writer String,
    claimed_at DateTime64(6, 'UTC') DEFAULT now64(6)
) ENGINE = MergeTree
ORDER BY (network, model_type, version, claimed_at, claim_id)
SETTINGS non_replicated_deduplication_window = 10000
"""

CLAIM_ATTEMPTS = 50


def writer_identity() -> str:
    """Who writes a claim or an artifact: host, process namespace and pid, so that a publisher on this host can
    tell a dead writer's leftovers from a running one's."""
    try:
        namespace = os.readlink("/proc/self/ns/pid")
    except OSError:
        namespace = ""
    return f"{socket.gethostname()}|{namespace}|{os.getpid()}"


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
    artifacts_json: str = ""  # {kind: sha256} of the model's rows in model_artifacts; "" for a model registered before


COLUMNS = list(RegistryRow.__dataclass_fields__)


def row_from_metadata(metadata: ModelMetadata, model_path: Path | None, checksums: dict[str, str] | None = None) -> RegistryRow:
    """The registry row of a model, entirely from its metadata: one source for both to agree on. `model_path` is
    where the model was exported on the training host (informational, "" when it was not); `checksums` pins the
    sha256 of each artifact kept in the warehouse."""
    metrics, stats = metadata.metrics, metadata.data_stats
    return RegistryRow(
        model_id=metadata.model_id,
        model_type=metadata.model_type,
        version=metadata.version,
        network=metadata.network,
        training_start_date=metadata.training_period.start,
        training_end_date=metadata.training_period.end,
        created_at=metadata.timestamp,
        model_path=str(model_path) if model_path else "",
        metadata_path=str(model_path.with_suffix(".json")) if model_path else "",
        report_path=str(model_path.with_suffix(".png")) if model_path else "",
        metrics_json=json.dumps(metrics, sort_keys=True),
        hyperparameters_json=json.dumps(metadata.hyperparameters, sort_keys=True),
        feature_names=list(metadata.feature_names),
        num_samples=stats.train_rows + stats.test_rows,
        num_features=len(metadata.feature_names),
        test_auc=float(metrics["test_auc"]),
        cv_auc_mean=float(metrics["cv_auc_mean"]),
        cv_auc_std=float(metrics["cv_auc_std"]),
        data_fingerprint=stats.fingerprint,
        config_key=metadata.config_key,
        project_version=metadata.project_version,
        artifacts_json=json.dumps(checksums, sort_keys=True) if checksums else "",
    )


def pinned_checksums(row: dict[str, Any]) -> dict[str, str]:
    """The sha256 of each artifact a registry row pins, by kind; empty for a model registered before the warehouse
    kept artifacts."""
    return json.loads(row.get("artifacts_json") or "{}")


def _table(database: str) -> SqlName:
    return qualified_name(database, REGISTRY_TABLE)


def ensure_registry(client: Client, database: str) -> None:
    """Create the registry's tables where missing; a registry from before the warehouse kept artifacts gains the
    `artifacts_json` column (empty for its rows)."""
    client.command(f"CREATE DATABASE IF NOT EXISTS {quote_identifier(database)}")
    client.command(REGISTRY_DDL.format(table=_table(database)))
    if "artifacts_json" not in table_columns(client, database, REGISTRY_TABLE):
        client.command(f"ALTER TABLE {_table(database)} ADD COLUMN IF NOT EXISTS artifacts_json String DEFAULT ''")
    client.command(ARTIFACTS_DDL.format(table=qualified_name(database, ARTIFACTS_TABLE)))
    client.command(CLAIMS_DDL.format(table=qualified_name(database, CLAIMS_TABLE)))


def claim_version(client: Client, database: str, model_type: str, network: str) -> int:
    """The next version of (model_type, network), held by this process alone, across processes and hosts.

    The candidate is one above every version registered or claimed; the claim is appended and read back. The first
    claim of a version holds it (the insert's deduplication token keeps only the first; failing that, the earliest by
    (claimed_at, claim_id)); a loser tries the next version. A claim that never becomes a model leaves a gap."""
    for _ in range(CLAIM_ATTEMPTS):
        candidate = (
            int(
                client.command(
                    f"SELECT greatest((SELECT max(version) FROM {_table(database)} WHERE model_type = {{model_type:String}} "
                    "AND network = {network:String}), (SELECT max(version) FROM "
                    f"{qualified_name(database, CLAIMS_TABLE)} WHERE model_type = {{model_type:String}} AND network = {{network:String}}))",
                    parameters={"model_type": model_type, "network": network},
                )
                or 0
            )
            + 1
        )
        if try_claim(client, database, model_type, network, candidate):
            return candidate
        logger.bind(model_type=model_type, network=network, version=candidate).info("version claimed by another publisher; trying the next")
    raise PipelineError(
        f"no version of {model_type} on {network} could be claimed in {CLAIM_ATTEMPTS} attempts: too many concurrent publishers"
    )


def try_claim(client: Client, database: str, model_type: str, network: str, version: int) -> bool:
    """Append a claim of `version` and read back whether it holds the version (store.first_write)."""
    claim_id = str(uuid.uuid4())
    claim = {"network": network, "model_type": model_type, "version": version, "claim_id": claim_id, "writer": writer_identity()}
    key = {"network": "String", "model_type": "String", "version": "UInt32"}
    (holder,) = write_first(client, database, CLAIMS_TABLE, claim, key, order=("claimed_at", "claim_id"), returned=("claim_id",))
    return holder == claim_id


def insert(client: Client, database: str, row: RegistryRow) -> None:
    values = asdict(row)
    client.insert(f"{quote_identifier(database)}.{quote_identifier(REGISTRY_TABLE)}", [[values[c] for c in COLUMNS]], column_names=COLUMNS)


def list_models(
    client: Client, database: str, model_type: str | None = None, network: str | None = None, config_key: str | None = None
) -> list[dict[str, Any]]:
    """Registry rows, newest first, optionally filtered; none while the registry does not exist yet."""
    if not table_exists(client, database, REGISTRY_TABLE):
        return []
    selected = string_filter(model_type=model_type, network=network, config_key=config_key)
    present = set(table_columns(client, database, REGISTRY_TABLE))  # a registry from before artifacts_json reads it as ''
    columns = ", ".join(quote_identifier(column) if column in present else f"'' AS {quote_identifier(column)}" for column in COLUMNS)
    result = client.query(
        f"SELECT {columns} FROM {_table(database)} {selected.where} ORDER BY created_at DESC, version DESC", parameters=selected.parameters
    )
    return [dict(zip(result.column_names, row, strict=True)) for row in result.result_rows]


def resolve_model(client: Client, database: str, model_type: str, network: str, model_id: str) -> dict[str, Any]:
    """The registry row of a model: by id, `latest` (the newest of its type and network), or an alias (`champion`,
    `challenger`). Its artifacts load from the warehouse (registry.warehouse.load_registered)."""
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
    return rows[0]
