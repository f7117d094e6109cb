"""Open a clickhouse-connect client on the store the profile names: embedded chDB or a server."""

from __future__ import annotations

import re
from importlib import resources

import clickhouse_connect
from clickhouse_connect.driver.client import Client
from clickhouse_connect.driver.exceptions import ClickHouseError

from trainer.errors import PipelineError, first_line
from trainer.store.embedded import EmbeddedStoreBusyError, open_chdb_client
from trainer.store.settings import StoreSettings, load_store_settings


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
        raise PipelineError(f"cannot open ClickHouse at {settings.describe()}: {first_line(error)}") from None


def table_exists(client: Client, database: str, table: str) -> bool:
    return bool(
        client.command(
            "SELECT count() FROM system.tables WHERE database = {database:String} AND name = {table:String}",
            parameters={"database": database, "table": table},
        )
    )


def require_built_table(client: Client, network: str, table: str) -> None:
    """Fails in one line when the dbt model `table` of `network` has not been built."""
    if not table_exists(client, network, table):
        raise PipelineError(f"table {network}.{table} does not exist: run dbt build for network {network}")


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


def string_filter(**values: str | None) -> tuple[str, dict[str, str]]:
    """A WHERE clause matching every given column (keyword: a constant column name in the caller's code) to its
    value, bound as parameters; columns whose value is None are not filtered. ("", {}) when none is given."""
    given = {column: value for column, value in values.items() if value is not None}
    for column in given:
        quote_identifier(column)
    where = " AND ".join(column + " = {" + column + ":String}" for column in given)
    return (f"WHERE {where}" if where else ""), given


def qualified_name(database: str, table: str) -> str:
    """`database`.`table`, both validated identifiers, for SQL text (names cannot be bound)."""
    return f"{quote_identifier(database)}.{quote_identifier(table)}"


def sql_statements(package: str, file_name: str) -> list[str]:
    """The statements of a SQL file shipped in a trainer package (e.g. trainer.ingest), without comments."""
    text = resources.files(package).joinpath(file_name).read_text()
    code = "\n".join(line for line in text.splitlines() if not line.strip().startswith("--"))
    return [statement.strip() for statement in code.split(";") if statement.strip()]


def apply_ddl(client: Client, database: str, statements: list[str]) -> None:
    """Create the database and the tables of `statements` (CREATE TABLE IF NOT EXISTS name ...) in it, leaving
    existing ones alone; `ALTER TABLE name ADD COLUMN IF NOT EXISTS ...` statements bring tables made by an older
    release up to date."""
    quoted = quote_identifier(database)
    client.command(f"CREATE DATABASE IF NOT EXISTS {quoted}")
    for statement in statements:
        prefix = "ALTER TABLE " if statement.lstrip().startswith("ALTER TABLE ") else "CREATE TABLE IF NOT EXISTS "
        client.command(statement.replace(prefix, f"{prefix}{quoted}.", 1))
