"""Open a clickhouse-connect client on the store the profile names: embedded chDB or a server."""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from importlib import resources
from typing import Any

import chdb_store
import clickhouse_connect
import pyarrow as pa
from chdb_store import EmbeddedStoreBusyError, open_chdb_client
from clickhouse_connect.driver.client import Client
from clickhouse_connect.driver.exceptions import ClickHouseError

from trainer.config import StoreSettings, load_store_settings
from trainer.errors import PipelineError

NETWORK_PATTERN = re.compile(r"^[a-z][a-z0-9_]{0,63}$")


def validate_network(network: str) -> str:
    """A network names a ClickHouse database, so it must be a plain identifier."""
    if not NETWORK_PATTERN.match(network):
        raise PipelineError(f"network must match {NETWORK_PATTERN.pattern}, got {network!r}")
    return network


def connect(settings: StoreSettings | None = None) -> Client:
    """A client on the configured store; fails with one line when it cannot be reached or is busy."""
    settings = settings or load_store_settings()
    try:
        if settings.kind == "chdb":
            return open_chdb_client(settings.path)
        return clickhouse_connect.get_client(
            host=settings.host,
            port=settings.port,
            username=settings.user,
            password=settings.password,
            secure=settings.secure,
        )
    except EmbeddedStoreBusyError as error:
        raise PipelineError(str(error)) from None
    except (ClickHouseError, OSError) as error:
        first_line = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise PipelineError(f"cannot open ClickHouse at {settings.describe()}: {first_line}") from None


# Arrow output for feature extraction: no LZ4 inside the Arrow stream (in-process there is no wire, and over
# HTTP the transport is compressed already; at 1M alerts decompressing it cost 0.3 s of a 0.8 s read), strings
# as Arrow strings, and no read-ahead buffering of the in-order read (it held 150 MB more engine memory).
ARROW_SETTINGS = {
    "output_format_arrow_compression_method": "none",
    "output_format_arrow_string_as_string": 1,
    "read_in_order_use_buffering": 0,
}
ARROW_SETTINGS_CLAUSE = "SETTINGS " + ", ".join(f"{name} = {value!r}" for name, value in ARROW_SETTINGS.items())


@contextmanager
def arrow_batches(client: Client, query: str, parameters: Mapping[str, Any]) -> Iterator[Iterator[pa.RecordBatch | pa.Table]]:
    """The result of `query` ({name:Type} placeholders bound from `parameters`) as a stream of Arrow batches.

    On the embedded engine the batches come from chDB's own Arrow stream, block by block; on a server from
    clickhouse-connect's HTTP Arrow stream.
    """
    if chdb_store.is_embedded(client):
        with chdb_store.arrow_batches(client, f"{query} {ARROW_SETTINGS_CLAUSE}", parameters) as batches:
            yield batches
    else:
        with client.query_arrow_stream(query, parameters=dict(parameters), settings=ARROW_SETTINGS) as stream:
            yield stream


def table_exists(client: Client, database: str, table: str) -> bool:
    return bool(
        client.command(
            "SELECT count() FROM system.tables WHERE database = {database:String} AND name = {table:String}",
            parameters={"database": database, "table": table},
        )
    )


def table_columns(client: Client, database: str, table: str) -> list[str]:
    """The columns of a table in their order; empty when the table does not exist."""
    result = client.query(
        "SELECT name FROM system.columns WHERE database = {database:String} AND table = {table:String} ORDER BY position",
        parameters={"database": database, "table": table},
    )
    return [row[0] for row in result.result_rows]


IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def quote_identifier(name: str) -> str:
    """Backtick-quote a validated identifier (database or table name) for DDL, which cannot bind it."""
    if not IDENTIFIER.match(name):
        raise PipelineError(f"not a valid identifier: {name!r}")
    return f"`{name}`"


def sql_statements(file_name: str) -> list[str]:
    """The statements of a SQL file shipped in trainer/sql/, without comments."""
    text = resources.files("trainer").joinpath("sql", file_name).read_text()
    code = "\n".join(line for line in text.splitlines() if not line.strip().startswith("--"))
    return [statement.strip() for statement in code.split(";") if statement.strip()]


def apply_ddl(client: Client, database: str, file_name: str) -> None:
    """Create the database and the tables of `file_name` in it, leaving existing ones alone."""
    quoted = quote_identifier(database)
    client.command(f"CREATE DATABASE IF NOT EXISTS {quoted}")
    for statement in sql_statements(file_name):
        client.command(statement.replace("CREATE TABLE IF NOT EXISTS ", f"CREATE TABLE IF NOT EXISTS {quoted}.", 1))
