"""Aliases: which registered model a team uses (`champion`) and which one it is trying (`challenger`), per model
type and network. The `model_alias_history` table is append-only: every promotion and demotion is a row with who,
when, why, whether the gate was forced and what the comparison showed; an alias's holder is its newest row."""

from __future__ import annotations

import getpass
import json
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

from clickhouse_connect.driver.client import Client

from trainer.errors import PipelineError
from trainer.store.connection import qualified_name, quote_identifier, string_filter, table_exists

ALIASES = ("champion", "challenger")
HISTORY_TABLE = "model_alias_history"

HISTORY_DDL = """
CREATE TABLE IF NOT EXISTS {table} (
    network LowCardinality(String),
    model_type LowCardinality(String),
    alias LowCardinality(String),
    model_id String,
    action LowCardinality(String),
    actor String,
    reason String,
    forced UInt8,
    comparison_json String,
    changed_at DateTime64(6, 'UTC')
) ENGINE = MergeTree
ORDER BY (network, model_type, alias, changed_at)
"""


@dataclass
class AliasChange:
    network: str
    model_type: str
    alias: str
    model_id: str
    action: str  # "promote" or "demote"
    actor: str = field(default_factory=lambda: current_actor())
    reason: str = ""
    forced: bool = False
    comparison_json: str = "{}"
    changed_at: datetime = field(default_factory=lambda: datetime.now(UTC))


def current_actor() -> str:
    """Who changes an alias when no --actor is given: the login name of the process."""
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


def check_alias(alias: str) -> str:
    if alias not in ALIASES:
        raise PipelineError(f"unknown alias {alias!r}; choose one of {', '.join(ALIASES)}")
    return alias


def ensure_alias_history(client: Client, database: str) -> None:
    client.command(f"CREATE DATABASE IF NOT EXISTS {quote_identifier(database)}")
    client.command(HISTORY_DDL.format(table=qualified_name(database, HISTORY_TABLE)))


def record(client: Client, database: str, change: AliasChange) -> None:
    values = asdict(change)
    values["forced"] = int(change.forced)
    columns = list(values)
    client.insert(f"{quote_identifier(database)}.{quote_identifier(HISTORY_TABLE)}", [[values[c] for c in columns]], column_names=columns)


def current_aliases(client: Client, database: str) -> dict[tuple[str, str, str], str]:
    """The model holding each alias now, by (network, model_type, alias); a demoted alias holds none."""
    if not table_exists(client, database, HISTORY_TABLE):
        return {}
    result = client.query(
        "SELECT network, model_type, alias, argMax(model_id, changed_at), argMax(action, changed_at) "
        f"FROM {qualified_name(database, HISTORY_TABLE)} GROUP BY network, model_type, alias"
    )
    return {
        (network, model_type, alias): model_id for network, model_type, alias, model_id, action in result.result_rows if action == "promote"
    }


def aliases_of(client: Client, database: str) -> dict[str, list[str]]:
    """The aliases each model holds now, by model id."""
    held: dict[str, list[str]] = {}
    for (_, _, alias), model_id in sorted(current_aliases(client, database).items()):
        held.setdefault(model_id, []).append(alias)
    return held


def alias_history(client: Client, database: str, model_type: str | None = None, network: str | None = None) -> list[dict[str, Any]]:
    """Every alias change, newest first, optionally for one model type and network."""
    if not table_exists(client, database, HISTORY_TABLE):
        return []
    where, parameters = string_filter(model_type=model_type, network=network)
    result = client.query(
        f"SELECT * FROM {qualified_name(database, HISTORY_TABLE)} {where} ORDER BY changed_at DESC", parameters=parameters
    )
    rows = [dict(zip(result.column_names, row, strict=True)) for row in result.result_rows]
    for row in rows:
        row["comparison"] = json.loads(row.pop("comparison_json") or "{}")
    return rows
