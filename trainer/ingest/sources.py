"""Where ClickHouse reads a drop's parquet file from while it checks and loads it.

The embedded engine runs in this process and reads the file where it lies (`file()`). A ClickHouse server cannot:
its `file()` reads the server's own user_files directory, not the files on the host that runs the ingest. There the
file is uploaded first, over the client's connection, into an upload table of this run's own, and the same checks
and the same load read that table. The upload table keeps what the checks must still see: every column Nullable, and
the amounts, counts and measures as Float64, so that a negative count, a NaN or a NULL in the file is counted and
named rather than cast away on the way in.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
from clickhouse_connect.driver.client import Client
from clickhouse_connect.driver.exceptions import ClickHouseError

from trainer.errors import PipelineError, first_line
from trainer.ingest.raw_tables import RawTable
from trainer.store.connection import SqlName, qualified_name, quote_identifier, sql_type
from trainer.store.embedded import is_embedded

UPLOAD_PREFIX = "_upload_"


@dataclass(frozen=True)
class FileSource:
    """A drop file as ClickHouse reads it: `sql` is a table expression taking the bound `parameters`."""

    path: Path
    sql: SqlName
    parameters: dict[str, Any]
    columns: frozenset[str]


def _file_columns(client: Client, path: Path) -> frozenset[str]:
    try:
        described = client.query("DESCRIBE TABLE file({path:String}, 'Parquet')", parameters={"path": str(path)})
    except ClickHouseError:
        raise PipelineError(f"{path}: not a readable parquet file") from None
    return frozenset(row[0] for row in described.result_rows)


def _upload_type(table: RawTable, column: str, raw_type: str) -> SqlName:
    """The upload column's type: the raw type made Nullable, or Nullable(Float64) for what the checks test as numbers."""
    if column in (*table.numbers, *table.measures, *table.decimal_measures):
        return sql_type("Nullable(Float64)")
    if raw_type.startswith(("Array(", "Nullable(")):
        return sql_type(raw_type)
    if raw_type.startswith("LowCardinality("):
        raw_type = raw_type[len("LowCardinality(") : -1]
    return sql_type(f"Nullable({raw_type})")


@contextmanager
def file_source(client: Client, network: str, table: RawTable, path: Path, raw_types: dict[str, str]) -> Iterator[FileSource]:
    """The drop file `path` of raw table `table` (whose columns and types are `raw_types`) as ClickHouse can read it:
    in place on the embedded engine, uploaded into a table of this run's own on a server (dropped afterwards)."""
    if is_embedded(client):
        yield FileSource(path, "file({path:String}, 'Parquet')", {"path": str(path)}, _file_columns(client, path))
        return
    try:
        file_columns = frozenset(pq.read_schema(path).names)
    except (OSError, ValueError):  # pyarrow's ArrowInvalid is a ValueError
        raise PipelineError(f"{path}: not a readable parquet file") from None
    loaded = [column for column in raw_types if column in file_columns]
    name = f"{UPLOAD_PREFIX}{table.name}_{uuid.uuid4().hex[:16]}"
    upload = qualified_name(network, name)
    columns = ", ".join(f"{quote_identifier(column)} {_upload_type(table, column, raw_types[column])}" for column in loaded)
    client.command(f"CREATE TABLE {upload} ({columns}) ENGINE = MergeTree ORDER BY tuple()")
    try:
        if loaded:
            try:
                with path.open("rb") as data:
                    client.raw_insert(upload, column_names=loaded, insert_block=data, fmt="Parquet")
            except ClickHouseError as error:
                raise PipelineError(f"{path}: cannot be read: {first_line(error)[:200]}") from None
        yield FileSource(path, upload, {}, file_columns)
    finally:
        client.command(f"DROP TABLE IF EXISTS {upload}")
