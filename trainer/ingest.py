"""Load upstream drops into the network's raw tables, inside ClickHouse, one drop at a time.

A drop is `<source>/<network>/<processing_date>/<window_days>d/` with one parquet file per raw table.
Each file is checked by ClickHouse itself (present, non-empty, required columns, dates matching the
folder, keys filled, numbers finite, alert ids unique) before anything is loaded. The drop is then
staged into scratch tables and swapped into the raw tables partition by partition, so re-ingesting a
drop replaces it instead of duplicating it, and a bad drop loads nothing.
"""

from __future__ import annotations

import argparse
import json
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path

from clickhouse_connect.driver.client import Client
from clickhouse_connect.driver.exceptions import ClickHouseError
from loguru import logger

from trainer.cli_support import run_cli
from trainer.config import project_var
from trainer.connection import apply_ddl, connect, quote_identifier, validate_network
from trainer.errors import PipelineError

STAGE_PREFIX = "_ingest_"


@dataclass(frozen=True)
class RawTable:
    name: str
    file_name: str
    keys: tuple[str, ...]
    numbers: tuple[str, ...]  # numeric columns the feature models read: must be finite and >= 0
    others: tuple[str, ...]  # other columns the feature models read
    unique_key: tuple[str, ...] = ()

    @property
    def required(self) -> tuple[str, ...]:
        return ("processing_date", "window_days", *self.keys, *self.numbers, *self.others)


def _address_feature_columns() -> tuple[str, ...]:
    """The upstream address features the dbt project reads (its var address_feature_columns)."""
    return tuple(str(column) for column in project_var("address_feature_columns"))  # type: ignore[union-attr]


RAW_TABLES = (
    RawTable(
        name="raw_alerts",
        file_name="alerts.parquet",
        keys=("alert_id", "address"),
        numbers=("alert_confidence_score", "volume_usd"),
        others=("typology_type", "pattern_type", "severity", "suspected_address_type", "evidence_json", "risk_indicators", "created_at"),
        unique_key=("alert_id",),
    ),
    RawTable(
        name="raw_features",
        file_name="features.parquet",
        keys=("address",),
        numbers=_address_feature_columns(),
        others=(),
        unique_key=("address",),
    ),
    RawTable(
        name="raw_clusters",
        file_name="clusters.parquet",
        keys=("cluster_id", "primary_address", "primary_alert_id"),
        numbers=("total_alerts", "total_volume_usd", "confidence_avg"),
        others=(
            "cluster_type",
            "related_alert_ids",
            "addresses_involved",
            "severity_max",
            "earliest_alert_timestamp",
            "latest_alert_timestamp",
        ),
        unique_key=("cluster_id",),
    ),
    RawTable(
        name="raw_money_flows",
        file_name="money_flows.parquet",
        keys=("from_address", "to_address"),
        numbers=("tx_count", "amount_usd_sum"),
        others=("is_bidirectional",),
        unique_key=("from_address", "to_address"),
    ),
    RawTable(
        name="raw_address_labels",
        file_name="address_labels.parquet",
        keys=("address", "network", "risk_level"),
        numbers=("confidence_score",),
        others=("label", "source"),
    ),
)

DROP_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
DROP_WINDOW = re.compile(r"^([1-9]\d{0,3})d$")


@dataclass(frozen=True)
class Drop:
    network: str
    processing_date: date
    window_days: int
    directory: Path

    def file(self, table: RawTable) -> Path:
        return self.directory / table.file_name


def ensure_raw_tables(client: Client, network: str) -> None:
    apply_ddl(client, validate_network(network), "raw_tables.sql")


def find_drops(source: Path, network: str) -> list[Drop]:
    """Every drop folder of the network under `source`, oldest first; a malformed folder name is an error."""
    root = source / network
    if not root.is_dir():
        raise PipelineError(f"no drops for network {network!r}: {root} is not a directory")
    drops = []
    for date_dir in sorted(p for p in root.iterdir() if p.is_dir()):
        if not DROP_DATE.match(date_dir.name):
            raise PipelineError(f"{date_dir}: drop folder name is not a date YYYY-MM-DD")
        try:
            processing_date = date.fromisoformat(date_dir.name)
        except ValueError:
            raise PipelineError(f"{date_dir}: drop folder name is not a calendar date") from None
        for window_dir in sorted(p for p in date_dir.iterdir() if p.is_dir()):
            match = DROP_WINDOW.match(window_dir.name)
            if not match:
                raise PipelineError(f"{window_dir}: window folder name must look like 7d")
            drops.append(Drop(network, processing_date, int(match.group(1)), window_dir))
    if not drops:
        raise PipelineError(f"no drops for network {network!r} under {root}")
    return drops


def _file_columns(client: Client, path: Path) -> set[str]:
    try:
        described = client.query("DESCRIBE TABLE file({path:String}, 'Parquet')", parameters={"path": str(path)})
    except ClickHouseError:
        raise PipelineError(f"{path}: not a readable parquet file") from None
    return {row[0] for row in described.result_rows}


def check_drop_file(client: Client, drop: Drop, table: RawTable) -> tuple[int, set[str]]:
    """Check one file of a drop inside ClickHouse; returns its row count and columns, or raises naming the problem."""
    path = drop.file(table)
    if not path.is_file():
        raise PipelineError(f"{path}: file missing from the drop")
    if path.stat().st_size == 0:
        raise PipelineError(f"{path}: file is empty")
    file_columns = _file_columns(client, path)
    missing = [column for column in table.required if column not in file_columns]
    if missing:
        raise PipelineError(f"{path}: required columns missing: {', '.join(missing)}")
    # Column names below come from RAW_TABLES (constants); the file path and dates are bound parameters.
    checks = {
        "rows": "count()",
        "rows_dated_elsewhere": "countIf(processing_date != {processing_date:Date} OR window_days != {window_days:UInt16})",
        "empty_keys": " + ".join(f"countIf(ifNull(toString({key}), '') = '')" for key in table.keys),
        "non_finite_numbers": " + ".join(f"countIf(NOT isFinite(ifNull(toFloat64({column}), nan)))" for column in table.numbers),
        "negative_numbers": " + ".join(f"countIf(toFloat64({column}) < 0)" for column in table.numbers),
    }
    if table.unique_key:
        key = ", ".join(table.unique_key)
        checks["duplicate_keys"] = f"count() - uniqExact({key})"
    expressions = ", ".join(f"{sql} AS {name}" for name, sql in checks.items())
    try:
        result = client.query(
            f"SELECT {expressions} FROM file({{path:String}}, 'Parquet')",
            parameters={"path": str(path), "processing_date": drop.processing_date, "window_days": drop.window_days},
        )
    except ClickHouseError as error:
        raise PipelineError(f"{path}: cannot be read: {str(error).splitlines()[0][:200]}") from None
    counts = dict(zip(result.column_names, result.result_rows[0], strict=True))
    if counts["rows"] == 0:
        raise PipelineError(f"{path}: file has no rows")
    problems = {
        "rows_dated_elsewhere": (
            f"rows whose processing_date/window_days differ from the folder ({drop.processing_date}, {drop.window_days}d)"
        ),
        "empty_keys": f"rows with a NULL or empty key ({', '.join(table.keys)})",
        "non_finite_numbers": "rows with a NULL, NaN or infinite number",
        "negative_numbers": "rows with a negative amount or count",
        "duplicate_keys": f"duplicated rows for key ({', '.join(table.unique_key)})",
    }
    for name, problem in problems.items():
        if counts.get(name):
            raise PipelineError(f"{path}: {counts[name]} {problem}")
    return int(counts["rows"]), file_columns


@contextmanager
def stage_tables(client: Client, network: str) -> Iterator[None]:
    """Empty copies of the raw tables that drops are loaded into before the swap: made once per run (creating
    them for every drop cost 40 ms a drop) and dropped after it, whatever happens."""
    database = quote_identifier(network)
    try:
        for table in RAW_TABLES:
            stage = quote_identifier(STAGE_PREFIX + table.name)
            client.command(f"DROP TABLE IF EXISTS {database}.{stage}")
            client.command(f"CREATE TABLE {database}.{stage} AS {database}.{quote_identifier(table.name)}")
        yield
    finally:
        for table in RAW_TABLES:
            client.command(f"DROP TABLE IF EXISTS {database}.{quote_identifier(STAGE_PREFIX + table.name)}")


def load_drop(client: Client, drop: Drop) -> dict[str, int]:
    """Check every file of the drop, stage it, then swap each raw table's partition of the drop. Runs inside
    `stage_tables`."""
    checked = {table.name: check_drop_file(client, drop, table) for table in RAW_TABLES}
    row_counts = {name: rows for name, (rows, _) in checked.items()}
    database = quote_identifier(drop.network)
    partition = {"processing_date": drop.processing_date, "window_days": drop.window_days}
    try:
        # Hide the drop from dbt while its partitions are swapped; it is visible again once all five are in.
        _mark_drop(client, drop, complete=False, row_counts=row_counts)
        for table in RAW_TABLES:
            stage = quote_identifier(STAGE_PREFIX + table.name)
            client.command(f"TRUNCATE TABLE {database}.{stage}")
            columns = ", ".join(sorted(checked[table.name][1] & set(_table_columns(client, drop.network, table.name))))
            client.command(
                f"INSERT INTO {database}.{stage} ({columns}) SELECT {columns} FROM file({{path:String}}, 'Parquet')",
                parameters={"path": str(drop.file(table))},
            )
        for table in RAW_TABLES:
            stage = quote_identifier(STAGE_PREFIX + table.name)
            target = quote_identifier(table.name)
            client.command(
                f"ALTER TABLE {database}.{target} REPLACE PARTITION ({{processing_date:Date}}, {{window_days:UInt16}}) "
                f"FROM {database}.{stage}",
                parameters=partition,
            )
        _mark_drop(client, drop, complete=True, row_counts=row_counts)
    except ClickHouseError as error:
        raise PipelineError(f"{drop.directory}: load failed: {str(error).splitlines()[0][:200]}") from None
    return row_counts


def _mark_drop(client: Client, drop: Drop, complete: bool, row_counts: dict[str, int]) -> None:
    """Record the drop's state in ingested_drops; its newest row decides whether dbt sees the drop."""
    client.insert(
        f"{drop.network}.ingested_drops",
        [[drop.processing_date, drop.window_days, int(complete), str(drop.directory), json.dumps(row_counts), datetime.now(UTC)]],
        column_names=["processing_date", "window_days", "complete", "source", "row_counts_json", "ingested_at"],
    )


_table_columns_cache: dict[tuple[str, str], list[str]] = {}


def _table_columns(client: Client, database: str, table: str) -> list[str]:
    key = (database, table)
    if key not in _table_columns_cache:
        result = client.query(
            "SELECT name FROM system.columns WHERE database = {database:String} AND table = {table:String} ORDER BY position",
            parameters={"database": database, "table": table},
        )
        _table_columns_cache[key] = [row[0] for row in result.result_rows]
    return _table_columns_cache[key]


def ingest(client: Client, network: str, source: Path) -> dict[str, int]:
    """Load every drop of `network` under `source`; returns total rows loaded per raw table."""
    validate_network(network)
    drops = find_drops(source, network)
    ensure_raw_tables(client, network)
    totals = {table.name: 0 for table in RAW_TABLES}
    with stage_tables(client, network):
        for done, drop in enumerate(drops, start=1):
            row_counts = load_drop(client, drop)
            for name, rows in row_counts.items():
                totals[name] += rows
            if done % 10 == 0 or done == len(drops):
                logger.bind(network=network, drops_done=done, drops_total=len(drops)).info("ingesting drops")
    logger.bind(network=network, drops=len(drops), **totals).info("drops ingested")
    return totals


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m trainer.ingest", description="Load upstream drops into the raw tables.")
    parser.add_argument("--network", required=True, help="network = ClickHouse database, e.g. ethereum")
    parser.add_argument("--source", required=True, type=Path, help="directory holding <network>/<date>/<N>d/ drops")
    args = parser.parse_args()
    network = validate_network(args.network)
    with connect() as client:
        ingest(client, network, args.source.resolve())


if __name__ == "__main__":
    run_cli(main)
