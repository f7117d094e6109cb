"""Checking one file of a drop inside ClickHouse before anything is loaded: present, non-empty, required columns,
dates matching the folder, keys filled, amounts finite and non-negative, Decimal measures finite, keys unique.
The first problem found fails the drop with one line naming the file."""

from __future__ import annotations

from pathlib import Path

from clickhouse_connect.driver.client import Client
from clickhouse_connect.driver.exceptions import ClickHouseError

from trainer.errors import PipelineError
from trainer.ingest.drops import Drop
from trainer.ingest.raw_tables import RawTable
from trainer.ingest.sources import FileSource
from trainer.store.connection import SqlName, name_list, quote_identifier


def check_present(path: Path) -> None:
    """The file exists and is not empty: before ClickHouse is asked to read it."""
    if not path.is_file():
        raise PipelineError(f"{path}: file missing from the drop")
    if path.stat().st_size == 0:
        raise PipelineError(f"{path}: file is empty")


def _count_non_finite(columns: tuple[str, ...]) -> SqlName:
    """SQL counting the NaN or infinite values of `columns` (identifiers of the raw schema, quoted)."""
    return SqlName(" + ".join(f"countIf(NOT isFinite(toFloat64({quote_identifier(column)})))" for column in columns) or "0")


def _check_expressions(table: RawTable) -> SqlName:
    """The SELECT list counting each problem of a file of `table`, one column per problem (as named in `problems` of
    check_drop_file); the dates are bound parameters."""
    empty_keys = " + ".join(f"countIf(ifNull(toString({quote_identifier(key)}), '') = '')" for key in table.keys)
    non_finite = " + ".join(f"countIf(NOT isFinite(ifNull(toFloat64({quote_identifier(c)}), nan)))" for c in table.numbers) or "0"
    negative = " + ".join(f"countIf(toFloat64({quote_identifier(column)}) < 0)" for column in table.numbers) or "0"
    duplicates = f"count() - uniqExact({name_list(table.unique_key)})" if table.unique_key else "0"
    return SqlName(
        ", ".join(
            [
                "count() AS rows",
                "countIf(processing_date != {processing_date:Date} OR window_days != {window_days:UInt16}) AS rows_dated_elsewhere",
                f"{empty_keys} AS empty_keys",
                f"{non_finite} AS non_finite_numbers",
                f"{negative} AS negative_numbers",
                f"{_count_non_finite(table.decimal_measures)} AS non_finite_decimals",
                f"{duplicates} AS duplicate_keys",
            ]
        )
    )


def check_drop_file(client: Client, drop: Drop, table: RawTable, source: FileSource) -> tuple[int, set[str]]:
    """Check one file of a drop inside ClickHouse, read from `source` (trainer.ingest.sources); returns its row count
    and columns, or raises naming the problem."""
    path, file_columns = source.path, set(source.columns)
    missing = [column for column in table.required if column not in file_columns]
    if missing:
        hint = "; add them, or list them in var address_feature_exclude of dbt_project.yml" if set(missing) & set(table.measures) else ""
        raise PipelineError(f"{path}: required columns missing: {', '.join(missing)}{hint}")
    try:
        result = client.query(
            f"SELECT {_check_expressions(table)} FROM {source.sql}",
            parameters={**source.parameters, "processing_date": drop.processing_date, "window_days": drop.window_days},
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
