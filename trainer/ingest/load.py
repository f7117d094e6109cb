"""Load upstream drops into the network's raw tables, inside ClickHouse, one drop at a time.

A drop is `<source>/<network>/<processing_date>/<window_days>d/` with one parquet file per raw table.
Each file is checked by ClickHouse itself (present, non-empty, required columns, dates matching the
folder, keys filled, numbers finite, alert ids unique) before anything is loaded. The drop is then
staged into scratch tables and swapped into the raw tables partition by partition, so re-ingesting a
drop replaces it instead of duplicating it, and a bad drop loads nothing.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from datetime import UTC, datetime
from pathlib import Path

from clickhouse_connect.driver.client import Client
from clickhouse_connect.driver.exceptions import ClickHouseError
from loguru import logger

from trainer.arguments import validate_network
from trainer.errors import PipelineError
from trainer.ingest.checks import check_drop_file, check_present
from trainer.ingest.drops import Drop, find_drops
from trainer.ingest.raw_tables import RAW_TABLES, RawTable, ensure_raw_tables, raw_tables
from trainer.ingest.sources import FileSource, file_source
from trainer.store.connection import name_list, qualified_name, quote_identifier
from trainer.store.partitions import staging_table, swap_partition

STAGE_PREFIX = "_ingest_"


@contextmanager
def stage_tables(client: Client, network: str) -> Iterator[dict[str, str]]:
    """Empty copies of the raw tables that drops are loaded into before the swap, by raw table: made once per run
    and dropped after it, whatever happens."""
    with ExitStack() as stack:
        yield {table.name: stack.enter_context(staging_table(client, network, table.name, STAGE_PREFIX)) for table in RAW_TABLES}


def load_drop(client: Client, drop: Drop, tables: tuple[RawTable, ...], stages: dict[str, str]) -> dict[str, int]:
    """Check every file of the drop, stage it, then swap each raw table's partition of the drop. `stages` comes
    from `stage_tables`, `tables` from raw_tables()."""
    with ExitStack() as sources:
        for table in tables:
            check_present(drop.file(table))
        raw_types = {table.name: _table_columns(client, drop.network, table.name) for table in tables}
        read = {
            table.name: sources.enter_context(file_source(client, drop.network, table, drop.file(table), raw_types[table.name]))
            for table in tables
        }
        return _check_and_swap(client, drop, tables, stages, read, raw_types)


def _check_and_swap(
    client: Client,
    drop: Drop,
    tables: tuple[RawTable, ...],
    stages: dict[str, str],
    read: dict[str, FileSource],
    raw_types: dict[str, dict[str, str]],
) -> dict[str, int]:
    checked = {table.name: check_drop_file(client, drop, table, read[table.name]) for table in tables}
    if checked["raw_features"][0] == 0:
        logger.bind(drop=str(drop.directory)).warning("drop has no address features: its alerts get has_address_features = 0")
    row_counts = {name: rows for name, (rows, _) in checked.items()}
    database = quote_identifier(drop.network)
    partition = {"processing_date": (drop.processing_date, "Date"), "window_days": (drop.window_days, "UInt16")}
    try:
        # Hide the drop from dbt while its partitions are swapped; it is visible again once all five are in.
        _mark_drop(client, drop, complete=False, row_counts=row_counts)
        for table in tables:
            stage = quote_identifier(stages[table.name])
            client.command(f"TRUNCATE TABLE {database}.{stage}")
            columns = name_list(sorted(checked[table.name][1] & set(raw_types[table.name])))
            source = read[table.name]
            client.command(f"INSERT INTO {database}.{stage} ({columns}) SELECT {columns} FROM {source.sql}", parameters=source.parameters)
        for table in tables:
            # An empty file empties the drop's partition.
            swap_partition(client, drop.network, table.name, stages[table.name], partition, empty=row_counts[table.name] == 0)
        _mark_drop(client, drop, complete=True, row_counts=row_counts)
    except ClickHouseError as error:
        raise PipelineError(f"{drop.directory}: load failed: {str(error).splitlines()[0][:200]}") from None
    return row_counts


def _mark_drop(client: Client, drop: Drop, complete: bool, row_counts: dict[str, int]) -> None:
    """Record the drop's state in ingested_drops; its newest row decides whether dbt sees the drop."""
    client.insert(
        qualified_name(drop.network, "ingested_drops"),
        [[drop.processing_date, drop.window_days, int(complete), str(drop.directory), json.dumps(row_counts), datetime.now(UTC)]],
        column_names=["processing_date", "window_days", "complete", "source", "row_counts_json", "ingested_at"],
    )


_table_columns_cache: dict[tuple[str, str], dict[str, str]] = {}


def _table_columns(client: Client, database: str, table: str) -> dict[str, str]:
    """The raw table's columns and their ClickHouse types, in order."""
    key = (database, table)
    if key not in _table_columns_cache:
        _table_columns_cache[key] = dict(
            client.query(
                "SELECT name, type FROM system.columns WHERE database = {database:String} AND table = {table:String} ORDER BY position",
                parameters={"database": database, "table": table},
            ).result_rows
        )
    return _table_columns_cache[key]


def ingest(client: Client, network: str, source: Path) -> dict[str, int]:
    """Load every drop of `network` under `source`; returns total rows loaded per raw table."""
    validate_network(network)
    drops = find_drops(source, network)
    ensure_raw_tables(client, network)
    tables = raw_tables(client, network)
    totals = {table.name: 0 for table in tables}
    with stage_tables(client, network) as stages:
        for done, drop in enumerate(drops, start=1):
            row_counts = load_drop(client, drop, tables, stages)
            for name, rows in row_counts.items():
                totals[name] += rows
            if done % 10 == 0 or done == len(drops):
                logger.bind(network=network, drops_done=done, drops_total=len(drops)).info("ingesting drops")
    logger.bind(network=network, drops=len(drops), **totals).info("drops ingested")
    return totals
