"""Stage and swap: new rows for one partition are written into an empty copy of the table, then swapped in with
one REPLACE PARTITION. Readers see the old partition or the new one, never a mix, and a failure before the swap
leaves the old one intact. Ingestion (a drop's raw rows) and scoring (a date's scores) both write this way."""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import date
from typing import Any

from clickhouse_connect.driver.client import Client

from trainer.errors import PipelineError
from trainer.store.connection import IDENTIFIER, SqlName, placeholder, qualified_name

PARTITION_KEY_TYPES = frozenset({"Date", "String", "UInt16"})


def _placeholder(name: str, column_type: str) -> SqlName:
    """The bound-parameter placeholder {name:Type} of one partition key."""
    if not IDENTIFIER.match(name) or column_type not in PARTITION_KEY_TYPES:
        raise PipelineError(f"not a partition key this project uses: {name} {column_type}")
    return placeholder(name, column_type)


@contextmanager
def staging_table(client: Client, database: str, table: str, prefix: str) -> Iterator[str]:
    """An empty copy of `database`.`table`, dropped afterwards whatever happens; yields its unquoted name: `prefix` +
    table + a suffix of this run's own, so that runs on one server (two scorings, a scoring during an ingest) never
    share or drop each other's stage."""
    name = f"{prefix}{table}_{uuid.uuid4().hex[:16]}"
    stage = qualified_name(database, name)
    client.command(f"CREATE TABLE {stage} AS {qualified_name(database, table)}")
    try:
        yield name
    finally:
        client.command(f"DROP TABLE IF EXISTS {stage}")


def swap_partition(client: Client, database: str, table: str, stage: str, partition: Mapping[str, tuple[Any, str]], empty: bool) -> None:
    """Replace one partition of `table` with the rows of `stage`. `partition` maps each partition key to its value
    and ClickHouse type, in the order of the table's PARTITION BY. An empty stage empties the partition: ClickHouse
    refuses REPLACE PARTITION from an empty source (older servers silently dropped the target partition), so the
    partition is dropped explicitly."""
    target = qualified_name(database, table)
    key = ", ".join(_placeholder(name, column_type) for name, (_, column_type) in partition.items())
    parameters = {name: value for name, (value, _) in partition.items()}
    if empty:
        client.command(f"ALTER TABLE {target} DROP PARTITION ({key})", parameters=parameters)
    else:
        client.command(f"ALTER TABLE {target} REPLACE PARTITION ({key}) FROM {qualified_name(database, stage)}", parameters=parameters)


def partition_date_range(client: Client, database: str, table: str) -> tuple[date, date] | None:
    """First and last date of a table partitioned by a Date column, from its parts' metadata (no row is read: 0.2 s
    less than min/max over a 10M-alert mart); None when the table holds no rows."""
    first, last, parts = client.query(
        "SELECT min(min_date), max(max_date), count() FROM system.parts WHERE active AND database = {database:String} "
        "AND table = {table:String}",
        parameters={"database": database, "table": table},
    ).result_rows[0]
    return (first, last) if parts else None
