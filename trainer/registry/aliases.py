"""Aliases: which registered model a team uses (`champion`) and which one it is trying (`challenger`), per model
type and network. The `model_alias_history` table is append-only: every promotion and demotion is a row with who,
when, why, whether the gate was forced and what the comparison showed.

Changes are compare-and-set, so that two promotions racing on one server cannot both win. Each change of an alias
carries the next `sequence` number after the one its writer read, keyed by (alias, sequence) and written with
store.first_write: the first change of a sequence holds it, and a writer that lost names the winner in one line. An
alias's holder is its change with the highest sequence (rows from before sequences existed count as 0, newest last)."""

from __future__ import annotations

import getpass
import json
import uuid
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

from clickhouse_connect.driver.client import Client

from trainer.errors import PipelineError
from trainer.store.connection import qualified_name, quote_identifier, string_filter, table_columns, table_exists
from trainer.store.first_write import write_first

ALIASES = ("champion", "challenger")
HISTORY_TABLE = "model_alias_history"

# How many recent inserts a deduplication token is remembered for: a racing change arrives within a few.
DEDUPLICATION_WINDOW = 1000

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
    changed_at DateTime64(6, 'UTC'),
    sequence UInt64,
    change_id String
) ENGINE = MergeTree
ORDER BY (network, model_type, alias, changed_at)
SETTINGS non_replicated_deduplication_window = {window}
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
    sequence: int = 0  # set by record(): one more than the sequence its writer read
    change_id: str = field(default_factory=lambda: uuid.uuid4().hex)


@dataclass(frozen=True)
class AliasState:
    """Who holds an alias (None: nobody) and the sequence of the change that made it so (0: never changed)."""

    holder: str | None
    sequence: int


class AliasConflictError(PipelineError):
    """Another change of the same alias was recorded first."""


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
    table = qualified_name(database, HISTORY_TABLE)
    client.command(HISTORY_DDL.format(table=table, window=DEDUPLICATION_WINDOW))
    if "change_id" not in table_columns(client, database, HISTORY_TABLE):
        # A history written before changes were compare-and-set: its rows keep sequence 0 and order by time.
        client.command(f"ALTER TABLE {table} ADD COLUMN IF NOT EXISTS sequence UInt64")
        client.command(f"ALTER TABLE {table} ADD COLUMN IF NOT EXISTS change_id String")
        client.command(f"ALTER TABLE {table} MODIFY SETTING non_replicated_deduplication_window = {DEDUPLICATION_WINDOW}")


def record(client: Client, database: str, change: AliasChange, expected: AliasState) -> None:
    """Record `change` if the alias is still as its writer read it (`expected`); otherwise record nothing and raise
    AliasConflictError naming the change that came first."""
    change.sequence = expected.sequence + 1
    values = asdict(change)
    values["forced"] = int(change.forced)
    key = {"network": "String", "model_type": "String", "alias": "String", "sequence": "UInt64"}
    winner = write_first(
        client, database, HISTORY_TABLE, values, key, order=("changed_at", "change_id"),
        returned=("change_id", "model_id", "action", "actor", "changed_at"),
    )  # fmt: skip
    if winner[0] != change.change_id:
        _, model_id, action, actor, changed_at = winner
        raise AliasConflictError(
            f"{change.alias} of {change.model_type} on {change.network} was changed by another run first ({action} of {model_id} "
            f"by {actor} at {changed_at}); nothing recorded for {change.model_id}: check `python -m trainer.registry history` "
            "and run again"
        )


def alias_states(client: Client, database: str) -> dict[tuple[str, str, str], AliasState]:
    """Each alias ever set, by (network, model_type, alias): its holder now (None once demoted) and its sequence."""
    columns = table_columns(client, database, HISTORY_TABLE)
    if not columns:
        return {}
    table = qualified_name(database, HISTORY_TABLE)
    if "change_id" not in columns:  # read-only: a history from before sequences (migrated by the next change) is sequence 0
        table = f"(SELECT *, toUInt64(0) AS sequence, '' AS change_id FROM {table})"
    result = client.query(
        "SELECT network, model_type, alias, argMax(tuple(model_id, action, sequence), tuple(sequence, changed_at, change_id)) "
        f"FROM {table} GROUP BY network, model_type, alias"
    )
    return {
        (network, model_type, alias): AliasState(model_id if action == "promote" else None, int(sequence))
        for network, model_type, alias, (model_id, action, sequence) in result.result_rows
    }


def alias_state(client: Client, database: str, network: str, model_type: str, alias: str) -> AliasState:
    return alias_states(client, database).get((network, model_type, alias), AliasState(None, 0))


def current_aliases(client: Client, database: str) -> dict[tuple[str, str, str], str]:
    """The model holding each alias now, by (network, model_type, alias); a demoted alias holds none."""
    return {key: state.holder for key, state in alias_states(client, database).items() if state.holder is not None}


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
    selected = string_filter(model_type=model_type, network=network)
    result = client.query(
        f"SELECT * FROM {qualified_name(database, HISTORY_TABLE)} {selected.where} ORDER BY changed_at DESC", parameters=selected.parameters
    )
    rows = [dict(zip(result.column_names, row, strict=True)) for row in result.result_rows]
    for row in rows:
        row["comparison"] = json.loads(row.pop("comparison_json") or "{}")
    return rows
