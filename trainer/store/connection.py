"""Open a clickhouse-connect client on the store the profile names: embedded chDB or a server."""

from __future__ import annotations

import re
from collections.abc import Iterable
from importlib import resources
from typing import NamedTuple

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


IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")  # \Z, not $: a name with a trailing newline is refused


class SqlName(str):
    """SQL text made of validated names: the one kind of value interpolated into SQL text besides constant SQL.

    Names of databases, tables and columns cannot be bound as parameters, so they enter SQL text, backtick-quoted after
    their pattern is checked (quote_identifier, qualified_name); text composed of such names and constant SQL is a
    SqlName too (`SqlName(...)` around the composition). Values are never interpolated: they are bound ({name:Type} in
    the SQL, parameters= in the call). tests/unit/test_sql_safety.py checks both rules on every SQL text of trainer/."""

    __slots__ = ()


def quote_identifier(name: str) -> SqlName:
    """Backtick-quote a validated identifier (database, table or column name) for SQL text, which cannot bind it."""
    if not IDENTIFIER.match(name):
        raise PipelineError(f"not a valid identifier: {name!r}")
    return SqlName(f"`{name}`")


# A ClickHouse type as the tables' schemas name them (`DateTime64(3, 'UTC')`): no backticks, semicolons or comments,
# and quotes only around a time zone's name.
COLUMN_TYPE = re.compile(r"[A-Z][A-Za-z0-9_]*(\((?:[A-Za-z0-9_(), ]|'[A-Za-z0-9_/+-]*')*\))?\Z")


def sql_type(name: str) -> SqlName:
    """A validated ClickHouse type name (`Nullable(Float64)`, `Array(String)`) for SQL text."""
    if not COLUMN_TYPE.match(name):
        raise PipelineError(f"not a supported column type: {name!r}")
    return SqlName(name)


def placeholder(name: str, type_name: str) -> SqlName:
    """`{name:Type}`, where a query binds the parameter `name` (a validated identifier) as a value of `type_name`."""
    quote_identifier(name)
    return SqlName("{" + name + ":" + sql_type(type_name) + "}")


class Filter(NamedTuple):
    """A WHERE clause (empty when it filters nothing) and the values it binds."""

    where: SqlName
    parameters: dict[str, str]


def string_filter(**values: str | None) -> Filter:
    """A WHERE clause matching every given column (keyword: a constant column name in the caller's code) to its
    value, bound as parameters; columns whose value is None are not filtered. Empty when none is given."""
    given = {column: value for column, value in values.items() if value is not None}
    conditions = " AND ".join(f"{quote_identifier(column)} = {placeholder(column, 'String')}" for column in given)
    return Filter(SqlName(f"WHERE {conditions}" if conditions else ""), given)


def qualified_name(database: str, table: str) -> SqlName:
    """`database`.`table`, both validated identifiers, for SQL text (names cannot be bound)."""
    return SqlName(f"{quote_identifier(database)}.{quote_identifier(table)}")


def name_list(names: Iterable[str]) -> SqlName:
    """`a`, `b`, ...: validated identifiers, quoted and comma-separated (a column list)."""
    return SqlName(", ".join(quote_identifier(name) for name in names))


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
