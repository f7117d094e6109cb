"""Load upstream drops into the network's raw tables, inside ClickHouse, one drop at a time.

A drop is `<source>/<network>/<processing_date>/<window_days>d/` with one parquet file per raw table.
Each file is checked by ClickHouse itself (present, non-empty, required columns, dates matching the
folder, keys filled, numbers finite, alert ids unique) before anything is loaded. The drop is then
staged into scratch tables and swapped into the raw tables partition by partition, so re-ingesting a
drop replaces it instead of duplicating it, and a bad drop loads nothing.
"""

from __future__ import annotations

import argparse
import dataclasses
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
from trainer.connection import IDENTIFIER, apply_ddl, connect, quote_identifier, table_columns, validate_network
from trainer.errors import PipelineError

STAGE_PREFIX = "_ingest_"


@dataclass(frozen=True)
class RawTable:
    name: str
    file_name: str
    keys: tuple[str, ...]
    numbers: tuple[str, ...]  # amounts and counts the feature models read: must be finite and >= 0
    others: tuple[str, ...]  # other columns the feature models read
    unique_key: tuple[str, ...] = ()
    may_be_empty: bool = True  # a day without labels, clusters or flows is normal
    measures: tuple[str, ...] = ()  # upstream features: required; may be negative, NaN or infinite (dbt warns about those)
    decimal_measures: tuple[str, ...] = ()  # measures the raw table keeps as Decimal, which holds no NaN or infinity

    @property
    def required(self) -> tuple[str, ...]:
        return ("processing_date", "window_days", *self.keys, *self.numbers, *self.others, *self.measures)


NUMERIC_TYPE = re.compile(r"^(Nullable\()?(U?Int(8|16|32|64|128|256)|Float(32|64)|Decimal.*|Bool)\)?$")


def address_feature_columns(client: Client, network: str) -> dict[str, str]:
    """The upstream address features the address family passes on, with their ClickHouse types: every numeric or
    boolean column of the network's raw_features table but window_days, less var address_feature_exclude (the dbt
    macro address_feature_columns applies the same rule)."""
    excluded = {str(name) for name in (project_var("address_feature_exclude") or [])}  # type: ignore[union-attr]
    result = client.query(
        "SELECT name, type FROM system.columns WHERE database = {database:String} AND table = 'raw_features' ORDER BY position",
        parameters={"database": network},
    )
    return {
        name: column_type
        for name, column_type in result.result_rows
        # A column whose name is no plain identifier is no feature (the dbt macro skips it too).
        if name != "window_days" and NUMERIC_TYPE.match(column_type) and IDENTIFIER.match(name) and name not in excluded
    }


RAW_TABLES = (
    RawTable(
        name="raw_alerts",
        file_name="alerts.parquet",
        keys=("alert_id", "address"),
        numbers=("alert_confidence_score", "volume_usd"),
        others=("typology_type", "pattern_type", "severity", "suspected_address_type", "evidence_json", "risk_indicators", "created_at"),
        unique_key=("alert_id",),
        may_be_empty=False,  # a drop without alerts: the detectors did not run for that date
    ),
    RawTable(
        name="raw_features",
        file_name="features.parquet",
        keys=("address",),
        numbers=(),
        # What the cluster family reads by name; `measures` (every address feature) is filled in per network.
        others=("behavioral_anomaly_score", "graph_anomaly_score", "structuring_score", "is_mixer_like"),
        unique_key=("address",),
    ),
    RawTable(
        name="raw_clusters",
        file_name="clusters.parquet",
        keys=("cluster_id", "primary_alert_id"),  # primary_address is optional: upstream may leave it empty
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


def _count_non_finite(columns: tuple[str, ...]) -> str:
    """SQL counting the NaN or infinite values of `columns` (identifiers of the raw schema, quoted)."""
    return " + ".join(f"countIf(NOT isFinite(toFloat64({quote_identifier(column)})))" for column in columns) or "0"


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
        hint = "; add them, or list them in var address_feature_exclude of dbt_project.yml" if set(missing) & set(table.measures) else ""
        raise PipelineError(f"{path}: required columns missing: {', '.join(missing)}{hint}")
    # Column names below come from RAW_TABLES (constants) and the raw table's own schema (quoted identifiers);
    # the file path and dates are bound parameters.
    checks = {
        "rows": "count()",
        "rows_dated_elsewhere": "countIf(processing_date != {processing_date:Date} OR window_days != {window_days:UInt16})",
        "empty_keys": " + ".join(f"countIf(ifNull(toString({key}), '') = '')" for key in table.keys),
        "non_finite_numbers": " + ".join(f"countIf(NOT isFinite(ifNull(toFloat64({column}), nan)))" for column in table.numbers) or "0",
        "negative_numbers": " + ".join(f"countIf(toFloat64({column}) < 0)" for column in table.numbers) or "0",
        "non_finite_decimals": _count_non_finite(table.decimal_measures),
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
    if counts["rows"] == 0 and not table.may_be_empty:
        raise PipelineError(
            f"{path}: file has no rows; a drop without alerts means the detectors did not run for {drop.processing_date}: "
            "ingest it once they have (the other four files may be empty)"
        )
    problems = {
        "rows_dated_elsewhere": (
            f"rows whose processing_date/window_days differ from the folder ({drop.processing_date}, {drop.window_days}d)"
        ),
        "empty_keys": f"rows with a NULL or empty key ({', '.join(table.keys)})",
        "non_finite_numbers": f"rows with a NULL, NaN or infinite number in ({', '.join(table.numbers)})",
        "negative_numbers": f"rows with a negative amount or count in ({', '.join(table.numbers)})",
        "non_finite_decimals": f"NaN or infinite values in Decimal columns of the raw schema ({', '.join(table.decimal_measures)})",
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


def raw_tables(client: Client, network: str) -> tuple[RawTable, ...]:
    """RAW_TABLES with the network's upstream address features as the measures of raw_features."""
    features = address_feature_columns(client, network)
    decimals = tuple(name for name, column_type in features.items() if column_type.startswith("Decimal"))
    return tuple(
        dataclasses.replace(table, measures=tuple(features), decimal_measures=decimals) if table.name == "raw_features" else table
        for table in RAW_TABLES
    )


def load_drop(client: Client, drop: Drop, tables: tuple[RawTable, ...]) -> dict[str, int]:
    """Check every file of the drop, stage it, then swap each raw table's partition of the drop. Runs inside
    `stage_tables`; `tables` comes from raw_tables()."""
    checked = {table.name: check_drop_file(client, drop, table) for table in tables}
    if checked["raw_features"][0] == 0:
        logger.bind(drop=str(drop.directory)).warning("drop has no address features: its alerts get has_address_features = 0")
    row_counts = {name: rows for name, (rows, _) in checked.items()}
    database = quote_identifier(drop.network)
    partition = {"processing_date": drop.processing_date, "window_days": drop.window_days}
    try:
        # Hide the drop from dbt while its partitions are swapped; it is visible again once all five are in.
        _mark_drop(client, drop, complete=False, row_counts=row_counts)
        for table in tables:
            stage = quote_identifier(STAGE_PREFIX + table.name)
            client.command(f"TRUNCATE TABLE {database}.{stage}")
            columns = ", ".join(sorted(checked[table.name][1] & set(_table_columns(client, drop.network, table.name))))
            client.command(
                f"INSERT INTO {database}.{stage} ({columns}) SELECT {columns} FROM file({{path:String}}, 'Parquet')",
                parameters={"path": str(drop.file(table))},
            )
        for table in tables:
            stage = quote_identifier(STAGE_PREFIX + table.name)
            target = quote_identifier(table.name)
            # An empty file empties the drop's partition. ClickHouse refuses REPLACE PARTITION from an empty source
            # (older servers silently dropped the target partition instead): drop it explicitly.
            if row_counts[table.name] == 0:
                client.command(
                    f"ALTER TABLE {database}.{target} DROP PARTITION ({{processing_date:Date}}, {{window_days:UInt16}})",
                    parameters=partition,
                )
            else:
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
        _table_columns_cache[key] = table_columns(client, database, table)
    return _table_columns_cache[key]


def ingest(client: Client, network: str, source: Path) -> dict[str, int]:
    """Load every drop of `network` under `source`; returns total rows loaded per raw table."""
    validate_network(network)
    drops = find_drops(source, network)
    ensure_raw_tables(client, network)
    tables = raw_tables(client, network)
    totals = {table.name: 0 for table in tables}
    with stage_tables(client, network):
        for done, drop in enumerate(drops, start=1):
            row_counts = load_drop(client, drop, tables)
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
