"""Ingestion: upstream drops (one parquet file per raw table and processing date) checked and swapped into the
network's raw tables, which the dbt project reads."""

from trainer.ingest.drops import Drop, find_drops
from trainer.ingest.load import ingest, load_drop, stage_tables
from trainer.ingest.raw_tables import RAW_TABLES, RawTable, address_feature_columns, ensure_raw_tables, raw_ddl, raw_tables

__all__ = [
    "RAW_TABLES", "Drop", "RawTable", "address_feature_columns", "ensure_raw_tables", "find_drops", "ingest", "load_drop",
    "raw_ddl", "raw_tables", "stage_tables",
]  # fmt: skip
