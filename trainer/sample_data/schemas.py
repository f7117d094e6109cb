"""The raw contract as the generator writes it: one Arrow schema per drop file, read from the raw tables' DDL
(trainer/ingest/raw_tables.sql, column order included) so there is one source of truth, and the encodings the
generator relies on (Date as days since the epoch, DateTime as seconds, Decimal128(18) as float64)."""

from __future__ import annotations

import datetime as dt

import pyarrow as pa

from trainer.ingest.raw_tables import raw_ddl

EPOCH = dt.date(1970, 1, 1)  # Date columns hold days since EPOCH, DateTime columns seconds since it
SECONDS_PER_DAY = 86_400
MAX_DECIMAL_USD = 1e15  # far below the Decimal128(18) limit of ~1.7e20

_ARROW_TYPES: dict[str, pa.DataType] = {
    "UInt8": pa.uint8(),
    "UInt16": pa.uint16(),
    "UInt32": pa.uint32(),
    "UInt64": pa.uint64(),
    "Float32": pa.float32(),
    "Float64": pa.float64(),
    "Decimal128(18)": pa.float64(),
    "Date": pa.date32(),
    "DateTime": pa.timestamp("s"),
    "Bool": pa.bool_(),
    "String": pa.string(),
    "Array(String)": pa.list_(pa.string()),
    "Array(UInt16)": pa.list_(pa.uint16()),
}


def _schema(table: str) -> pa.Schema:
    """The Arrow schema of a raw table, read from its DDL in trainer/ingest/raw_tables.sql (one source of truth)."""
    for statement in raw_ddl():
        header, _, body = statement.partition("(")
        if header.split()[-1] != table:
            continue
        fields = []
        for line in body.rsplit(") ENGINE", 1)[0].splitlines():
            if line.strip():
                name, ddl_type = line.strip().rstrip(",").split()
                fields.append(pa.field(name, _ARROW_TYPES[ddl_type]))
        return pa.schema(fields)
    raise KeyError(f"raw_tables.sql has no table {table}")


ALERTS_SCHEMA = _schema("raw_alerts")
FEATURES_SCHEMA = _schema("raw_features")
CLUSTERS_SCHEMA = _schema("raw_clusters")
MONEY_FLOWS_SCHEMA = _schema("raw_money_flows")
ADDRESS_LABELS_SCHEMA = _schema("raw_address_labels")

DROP_FILES: dict[str, pa.Schema] = {
    "alerts.parquet": ALERTS_SCHEMA,
    "features.parquet": FEATURES_SCHEMA,
    "clusters.parquet": CLUSTERS_SCHEMA,
    "money_flows.parquet": MONEY_FLOWS_SCHEMA,
    "address_labels.parquet": ADDRESS_LABELS_SCHEMA,
}
