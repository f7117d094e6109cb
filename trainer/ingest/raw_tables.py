"""The raw tables as ingestion sees them: their DDL (raw_tables.sql, the upstream contract), and per table the
columns a drop file must have and the values it must not hold. The address features are read from the network's
raw_features table, so a column upstream adds (and the DDL declares) arrives by itself."""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass

from clickhouse_connect.driver.client import Client

from trainer.arguments import validate_network
from trainer.store.connection import IDENTIFIER, apply_ddl, sql_statements
from trainer.store.settings import project_var


def raw_ddl() -> list[str]:
    """The CREATE TABLE statements of the raw tables (trainer/ingest/raw_tables.sql)."""
    return sql_statements("trainer.ingest", "raw_tables.sql")


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


def ensure_raw_tables(client: Client, network: str) -> None:
    apply_ddl(client, validate_network(network), raw_ddl())


def raw_tables(client: Client, network: str) -> tuple[RawTable, ...]:
    """RAW_TABLES with the network's upstream address features as the measures of raw_features."""
    features = address_feature_columns(client, network)
    decimals = tuple(name for name, column_type in features.items() if column_type.startswith("Decimal"))
    return tuple(
        dataclasses.replace(table, measures=tuple(features), decimal_measures=decimals) if table.name == "raw_features" else table
        for table in RAW_TABLES
    )
