"""Feature lineage on the built sample window: `dbt docs generate` (fixture ethereum_docs), then every feature of
both training tables traced through the compiled SQL dbt wrote. The raw columns of one feature per family are pinned
by hand from reading the dbt SQL: a change of SQL that changes them fails here."""

from __future__ import annotations

from pathlib import Path

import pytest

from trainer.features.catalogue import lineage_docs_path, render_lineage_docs
from trainer.features.contract import load_contract
from trainer.features.lineage import FeatureLineage, load_resolver
from trainer.model_types import MODEL_SPECS

# family: (model type, feature, raw columns), each read off the SQL in dbt_project/models
PINNED = {
    # int_alert_attributes: log1p(greatest(volume_usd, 0)); stg_alerts: toFloat64(volume_usd)
    "alert": ("alert_scorer", "log_volume_usd", ["raw_alerts.volume_usd"]),
    # int_alert_address_features: if(has_record and isFinite(upstream_pagerank), upstream_pagerank, -1), has_record = address != ''
    "address": ("alert_scorer", "pagerank", ["raw_features.address", "raw_features.pagerank"]),
    # int_alert_network_features: flow volume (stg_money_flows.amount_usd = amount_usd_sum) to counterparties whose latest
    # label is high risk; int_address_label_history picks the label by argMax(risk_level, (label_confidence, risk_level))
    "network": (
        "alert_scorer",
        "net_high_risk_volume_share",
        ["raw_address_labels.confidence_score", "raw_address_labels.risk_level", "raw_money_flows.amount_usd_sum"],
    ),
    # int_alert_temporal_features: day_number - max(if(high_severity_on_day > 0, day_number, null)) over (partition by address ...)
    "temporal": (
        "alert_scorer",
        "days_since_high_severity_alert",
        ["raw_alerts.address", "raw_alerts.processing_date", "raw_alerts.severity"],
    ),
    # int_alert_statistical_features: (log_volume - avg over peers) / stddevPop over peers, peers = (processing_date, typology_type)
    "statistical": (
        "alert_scorer",
        "volume_zscore_in_peers",
        ["raw_alerts.processing_date", "raw_alerts.typology_type", "raw_alerts.volume_usd"],
    ),
    # int_cluster_profiles: (unix_seconds(latest_alert_timestamp) - unix_seconds(earliest_alert_timestamp)) / 3600
    "cluster": (
        "cluster_scorer",
        "cluster_duration_hours",
        ["raw_clusters.earliest_alert_timestamp", "raw_clusters.latest_alert_timestamp"],
    ),
}


@pytest.fixture(scope="module")
def lineage_by_table(client, ethereum_docs: Path) -> dict[str, dict[str, FeatureLineage]]:
    resolver = load_resolver(ethereum_docs)
    tables = {spec.training_table: spec for spec in MODEL_SPECS.values()}
    return {
        table: resolver.features(table, load_contract(spec, client, "ethereum", manifest=ethereum_docs).features)
        for table, spec in tables.items()
    }


@pytest.mark.parametrize("family", sorted(PINNED))
def test_one_feature_per_family_pinned_by_hand(lineage_by_table, family: str) -> None:
    model_type, feature, raw_columns = PINNED[family]
    lineage = lineage_by_table[MODEL_SPECS[model_type].training_table][feature]
    assert lineage.unresolved is None, lineage.unresolved
    assert list(lineage.raw_columns) == raw_columns


def test_models_are_listed_from_the_mart_down_to_staging(lineage_by_table) -> None:
    assert lineage_by_table["training_alerts"]["net_high_risk_volume_share"].models == (
        "training_alerts",
        "scoring_alerts",
        "int_alert_network_features",
        "int_address_counterparty_reach",
        "int_address_counterparty_edges",
        "int_address_label_history",
        "stg_address_labels",
        "stg_money_flows",
    )
    assert lineage_by_table["training_clusters"]["cluster_duration_hours"].models == (
        "training_clusters",
        "scoring_clusters",
        "int_cluster_profiles",
        "stg_clusters",
    )


def test_every_feature_of_both_training_tables_is_resolved_or_says_why(lineage_by_table) -> None:
    for table, lineage in lineage_by_table.items():
        assert lineage, table
        for name, feature in lineage.items():
            if feature.unresolved is not None:
                assert feature.unresolved.strip() and "\n" not in feature.unresolved, f"{table}.{name}: a one-line reason"
                continue
            assert feature.raw_columns or feature.counts_rows_in, f"{table}.{name}: resolved to nothing and says nothing"
            assert feature.models[0] == table and all(column.startswith("raw_") for column in feature.raw_columns), f"{table}.{name}"


def test_lineage_docs_are_current(client, ethereum_docs: Path) -> None:
    rendered = render_lineage_docs(client, "ethereum", manifest=ethereum_docs)
    assert lineage_docs_path().read_text() == rendered, "run: dbt docs generate, then python -m trainer.catalogue --write-lineage-docs"
