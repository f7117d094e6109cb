"""The first write wins: an append that several processes or hosts may race on, decided by ClickHouse itself.

The row is inserted with a deduplication token made of its key, so the engine keeps the first insert of that key and
silently drops later ones, atomically (a MergeTree's `non_replicated_deduplication_window`; a ReplicatedMergeTree
does the same across replicas through Keeper). The writer then reads which row holds the key: the earliest by the
table's order columns, which also decides alone where deduplication did not apply (a key beyond the window). Version
claims (registry.table) and alias changes (registry.aliases) are written this way."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from clickhouse_connect.driver.client import Client

from trainer.errors import PipelineError
from trainer.store.connection import IDENTIFIER, SqlName, placeholder, qualified_name, quote_identifier

KEY_TYPES = frozenset({"String", "UInt32", "UInt64"})


def _condition(name: str, column_type: str) -> SqlName:
    if not IDENTIFIER.match(name) or column_type not in KEY_TYPES:
        raise PipelineError(f"not a key column this project races on: {name} {column_type}")
    return SqlName(quote_identifier(name) + " = " + placeholder(name, column_type))


def write_first(
    client: Client,
    database: str,
    table: str,
    values: Mapping[str, Any],
    key: Mapping[str, str],
    order: Sequence[str],
    returned: Sequence[str],
) -> tuple[Any, ...]:
    """Insert the row `values` into `database`.`table` unless a row of the same `key` (its columns and ClickHouse
    types; the values come from `values`) is there already, and return the `returned` columns of the row that holds
    the key: this one, or the one written first, by the `order` columns."""
    target = qualified_name(database, table)
    token = "/".join(str(values[name]) for name in key)
    client.insert(
        target,
        [list(values.values())],
        column_names=list(values),
        settings={"insert_deduplicate": 1, "insert_deduplication_token": token, "async_insert": 0},
    )
    conditions = " AND ".join(_condition(name, column_type) for name, column_type in key.items())
    where = f"{conditions} ORDER BY {', '.join(quote_identifier(name) for name in order)}"
    columns = ", ".join(quote_identifier(name) for name in returned)
    rows = client.query(
        f"SELECT {columns} FROM {target} WHERE {where} LIMIT 1", parameters={name: values[name] for name in key}
    ).result_rows
    if not rows:
        raise PipelineError(f"{database}.{table}: the row just written for {token} is not there: is the insert asynchronous?")
    return tuple(rows[0])
