"""Where scores go, in the network's database: one output table per model type, shaped by its spec, and the
`batch_metadata` trail of every scoring run.

Scores are partitioned by (processing_date, model_version) so a re-run replaces its own partition in one step
(store.partitions) and a failed run leaves the previous scores untouched."""

from __future__ import annotations

from clickhouse_connect.driver.client import Client

from trainer.model_types import MODEL_SPECS, ModelSpec
from trainer.store.connection import apply_ddl, qualified_name, quote_identifier, sql_statements, sql_type


def output_columns(spec: ModelSpec) -> list[tuple[str, str]]:
    """The output table's columns and ClickHouse types: the date, the key, the rank within the date (rankers), the
    score (a ranker's raw score: its auto-close thresholds are in these units), the model, the top contributions
    where the type explains its scores, and when the row was written."""
    values = [("rank", "Int32"), ("score", "Float64")] if spec.is_ranker else [("score", "Float64")]
    explain = [("explain_json", "String")] if spec.explains else []
    key = (spec.key_column, "String")
    return [("processing_date", "Date"), key, *values, ("model_version", "String"), *explain, ("created_at", "DateTime")]


def output_table_ddl(spec: ModelSpec) -> str:
    """CREATE TABLE IF NOT EXISTS for the spec's output table; rows are ordered by rank or by key within a date."""
    columns = ", ".join(f"{quote_identifier(name)} {sql_type(column_type)}" for name, column_type in output_columns(spec))
    key = quote_identifier(spec.output_column if spec.is_ranker else spec.key_column)
    return (
        f"CREATE TABLE IF NOT EXISTS {quote_identifier(spec.output_table)} ({columns}) ENGINE = MergeTree "
        f"PARTITION BY (processing_date, model_version) ORDER BY (processing_date, {key})"
    )


def ensure_scoring_tables(client: Client, network: str) -> None:
    """Every model type's output table and batch_metadata in the network's database; existing ones are kept."""
    statements = [output_table_ddl(spec) for spec in MODEL_SPECS.values()]
    apply_ddl(client, network, statements + sql_statements("trainer.score", "batch_metadata.sql"))
    table = qualified_name(network, "batch_metadata")
    # Stores made before batches recorded their drift gain the columns (empty for older rows).
    client.command(f"ALTER TABLE {table} ADD COLUMN IF NOT EXISTS drift_status LowCardinality(String) AFTER latency_ms_json")
    client.command(f"ALTER TABLE {table} ADD COLUMN IF NOT EXISTS drift_error String AFTER drift_status")
    for spec in MODEL_SPECS.values():
        # Stores made before rankers wrote their raw score gain the column (empty for older rows).
        if spec.is_ranker:
            client.command(f"ALTER TABLE {qualified_name(network, spec.output_table)} ADD COLUMN IF NOT EXISTS score Float64 AFTER `rank`")
