"""Feature lineage from checked-in compiled SQL of this project's models (trimmed) and a minimal manifest and catalog:
no dbt, no engine. The lineage of one feature per family is pinned by hand from reading the SQL in fixtures/lineage/."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

from trainer.errors import PipelineError
from trainer.features.catalogue import raw_columns_text
from trainer.features.contract import Feature
from trainer.features.lineage import FeatureLineage, LineageResolver, _top_down, feature_lineage, load_resolver

FIXTURES = Path(__file__).parent / "fixtures" / "lineage"
PROJECT = json.loads((FIXTURES / "project.json").read_text())
COMPILED = {path.stem: path.read_text() for path in FIXTURES.glob("*.sql")}
KEYS = set(PROJECT["manifest"]["nodes"]["model.aml_features.training_alerts"]["columns"])
FEATURES = [
    Feature(name, "", "")
    for name in PROJECT["catalog"]["nodes"]["model.aml_features.training_alerts"]["columns"]
    if name not in KEYS and name != "network"
]
MART = ("training_alerts", "scoring_alerts")


def resolve(compiled: dict[str, str] | None = None, catalog: dict | None = None) -> dict[str, FeatureLineage]:
    return feature_lineage(PROJECT["manifest"], catalog or PROJECT["catalog"], compiled or COMPILED, FEATURES, "training_alerts")


LINEAGE = resolve()


@pytest.mark.parametrize(
    ("family", "feature", "raw_columns", "models"),
    [
        # log1p(greatest(volume_usd, 0)); stg_alerts casts raw volume_usd
        ("alert", "log_volume_usd", ["raw_alerts.volume_usd"], [*MART, "int_alert_attributes", "stg_alerts"]),
        # if(has_record and isFinite(upstream_pagerank), upstream_pagerank, -1); has_record is address != ''
        ("address", "pagerank", ["raw_features.address", "raw_features.pagerank"], [*MART, "int_alert_address_features", "stg_features"]),
        # log1p(sum(volume_out)), volume_out a sumIf of amount_usd over both ends of a flow (union all)
        ("network", "net_log_out_volume_usd", ["raw_money_flows.amount_usd_sum"], [*MART, "int_alert_network_features", "stg_money_flows"]),
        # sum(alerts_on_day) over (partition by address order by day_number ...); day_number from processing_date
        (
            "temporal",
            "alerts_7d",
            ["raw_alerts.address", "raw_alerts.processing_date"],
            [*MART, "int_alert_temporal_features", "stg_alerts"],
        ),
        # (alert_confidence - avg over peers) / stddevPop over peers: the named window partitions by date and typology
        (
            "statistical",
            "confidence_zscore_in_peers",
            ["raw_alerts.alert_confidence_score", "raw_alerts.processing_date", "raw_alerts.typology_type"],
            [*MART, "int_alert_statistical_features", "stg_alerts"],
        ),
        # alert_id != '' of the memberships, which ARRAY JOIN member_alert_ids = related_alert_ids plus primary_alert_id
        (
            "cluster",
            "in_cluster",
            ["raw_clusters.primary_alert_id", "raw_clusters.related_alert_ids"],
            [*MART, "int_alert_cluster_features", "stg_clusters"],
        ),
    ],
)
def test_one_feature_per_family_pinned_by_hand(family: str, feature: str, raw_columns: list[str], models: list[str]) -> None:
    lineage = LINEAGE[feature]
    assert lineage.unresolved is None, lineage.unresolved
    assert list(lineage.raw_columns) == raw_columns, family
    assert list(lineage.models) == models, family


def test_every_feature_of_the_fixture_resolves() -> None:
    assert {name: lineage.unresolved for name, lineage in LINEAGE.items() if lineage.unresolved} == {}
    assert set(LINEAGE) == {feature.name for feature in FEATURES}


def test_a_row_count_has_no_raw_column_and_says_where_it_counts() -> None:
    lineage = LINEAGE["alerts_1d"]  # toFloat64(alerts_on_day), alerts_on_day = count() grouped by address and date
    assert lineage.raw_columns == () and lineage.unresolved is None
    assert lineage.counts_rows_in == ("int_alert_temporal_features",)
    assert lineage.models == (*MART, "int_alert_temporal_features")
    assert raw_columns_text(lineage) == "none: counts rows in int_alert_temporal_features"


def test_named_windows_and_array_joins_are_followed() -> None:
    # count() over peers reads no column but the named window's partition
    assert LINEAGE["peer_alert_count"].raw_columns == ("raw_alerts.processing_date", "raw_alerts.typology_type")
    assert LINEAGE["cluster_count"].raw_columns == () and LINEAGE["cluster_count"].counts_rows_in == ("int_alert_cluster_features",)


def test_a_star_over_a_table_missing_from_the_catalog_is_unresolved_with_the_reason() -> None:
    catalog = copy.deepcopy(PROJECT["catalog"])
    del catalog["nodes"]["model.aml_features.stg_alerts"]
    lineage = resolve(catalog=catalog)["log_volume_usd"]
    assert lineage.unresolved == "int_alert_attributes selects * from stg_alerts, absent from the catalog"
    assert lineage.raw_columns == ()
    assert raw_columns_text(lineage) == "not resolved: int_alert_attributes selects * from stg_alerts, absent from the catalog"


def test_missing_sql_unknown_tables_and_unknown_columns_are_unresolved_never_guessed() -> None:
    without_flows = {name: sql for name, sql in COMPILED.items() if name != "stg_money_flows"}
    assert resolve(without_flows)["net_log_out_volume_usd"].unresolved == "no compiled SQL for stg_money_flows (run dbt docs generate)"

    renamed = {**COMPILED, "stg_clusters": COMPILED["stg_clusters"].replace("`raw_clusters`", "`raw_clusters_v2`")}
    assert (
        resolve(renamed)["in_cluster"].unresolved
        == "stg_clusters reads ethereum.raw_clusters_v2, which is neither a dbt model nor a source"
    )

    typo = {
        **COMPILED,
        "int_alert_attributes": COMPILED["int_alert_attributes"].replace("greatest(volume_usd,", "greatest(volume_usd_typo,"),
    }
    lineage = resolve(typo)["log_volume_usd"]
    assert lineage.unresolved == "int_alert_attributes: sqlglot finds no column alerts.volume_usd_typo in its source"
    assert lineage.raw_columns == (), "sqlglot answers with every column of the CTE: that must not become a lineage"

    broken = {**COMPILED, "int_alert_attributes": "select from where ((("}
    assert resolve(broken)["log_volume_usd"].unresolved.startswith("sqlglot cannot trace int_alert_attributes: ")
    assert resolve(broken)["alerts_7d"].unresolved is None, "one model that cannot be parsed spoils only its features"


def test_models_run_from_the_mart_down_each_before_what_it_reads() -> None:
    edges = {("m", "b"), ("m", "a"), ("a", "stg"), ("b", "c"), ("c", "stg")}
    assert _top_down("m", edges) == ("m", "a", "b", "c", "stg")


def test_one_resolver_serves_several_tables_and_refuses_unknown_ones() -> None:
    resolver = LineageResolver(PROJECT["manifest"], PROJECT["catalog"], COMPILED)
    assert resolver.column("scoring_alerts", "log_volume_usd").models == ("scoring_alerts", "int_alert_attributes", "stg_alerts")
    with pytest.raises(PipelineError, match="dbt project has no model 'training_wallets'"):
        resolver.features("training_wallets", FEATURES)


def write_target(target: Path, manifest: dict, catalog: dict | None) -> Path:
    target.mkdir(exist_ok=True)
    (target / "manifest.json").write_text(json.dumps(manifest))
    if catalog is not None:
        (target / "catalog.json").write_text(json.dumps(catalog))
    return target / "manifest.json"


def test_loading_fails_in_one_line_without_a_catalog_compiled_sql_or_with_another_network(tmp_path: Path) -> None:
    manifest = copy.deepcopy(PROJECT["manifest"])
    for node in manifest["nodes"].values():
        node["compiled_code"] = COMPILED.get(node["name"], "")
    with pytest.raises(PipelineError, match="no dbt catalog at .*catalog.json: run dbt docs generate first"):
        load_resolver(write_target(tmp_path / "a", manifest, None))

    parsed_only = copy.deepcopy(PROJECT["manifest"])
    with pytest.raises(PipelineError, match="the dbt manifest holds no compiled SQL: run dbt docs generate first"):
        load_resolver(write_target(tmp_path / "b", parsed_only, PROJECT["catalog"]))

    other = copy.deepcopy(PROJECT["catalog"])
    for entry in other["nodes"].values():
        entry["metadata"]["schema"] = "polygon"
    with pytest.raises(PipelineError, match="describes database polygon but the dbt manifest ethereum"):
        load_resolver(write_target(tmp_path / "c", manifest, other))

    resolver = load_resolver(write_target(tmp_path / "d", manifest, PROJECT["catalog"]))
    assert resolver.column("training_alerts", "in_cluster") == LINEAGE["in_cluster"]
