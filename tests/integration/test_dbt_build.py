"""dbt on the embedded engine: the features build, the completeness gates fail builds that would mislead."""

from __future__ import annotations

import json
import os
from datetime import date
from pathlib import Path

import pytest

from tests.conftest import REPO
from tests.integration.support import END, START, build_network, dbt_vars, run_dbt
from trainer.daily import build_window
from trainer.errors import PipelineError
from trainer.features.contract import load_contract, read_manifest
from trainer.ingest import ingest
from trainer.model_types import model_spec
from trainer.sample_data import generate_drops
from trainer.store.settings import project_var

SMALL_WINDOW = (date(2023, 5, 1), date(2023, 5, 3))
SMALL_VARS = {"min_per_class": 1, "label_horizon_days": 0}  # three days: labels known when the alert fired


@pytest.fixture(scope="module")
def small_network(client, test_root: Path) -> str:
    """Three days of 2023 in a network of their own, for builds that leave it in another state than they found it."""
    build_network(test_root, "smallnet", alerts_per_day=60, seed=13, start=SMALL_WINDOW[0], end=SMALL_WINDOW[1], **SMALL_VARS)
    return "smallnet"


def test_training_tables_hold_one_row_per_labelled_alert_and_cluster(client, ethereum) -> None:
    alerts_in_window = client.command(
        "SELECT count() FROM ethereum.raw_alerts WHERE processing_date BETWEEN {s:Date} AND {e:Date}", parameters={"s": START, "e": END}
    )
    labelled = client.command("SELECT count() FROM ethereum.int_alert_labels")
    training = client.command("SELECT count() FROM ethereum.training_alerts")
    assert 0 < training == labelled < alerts_in_window
    assert client.command("SELECT count() - uniqExact(processing_date, alert_id) FROM ethereum.training_alerts") == 0
    assert client.command("SELECT uniqExact(label) FROM ethereum.training_alerts") == 2
    assert client.command("SELECT count() FROM ethereum.training_clusters") > 0


def test_scoring_alerts_holds_every_family_feature_as_the_float32_the_trainer_reads(client, ethereum) -> None:
    def column_types(table: str) -> dict[str, str]:
        query = "SELECT name, type FROM system.columns WHERE database = 'ethereum' AND table = {t:String} ORDER BY position"
        return dict(client.query(query, parameters={"t": table}).result_rows)

    # The alert-grain families the mart joins, each on (processing_date, alert_id): its refs, so a family added later is
    # checked too.
    (mart_node,) = [node for node in read_manifest()["nodes"].values() if node["name"] == "scoring_alerts"]
    families = sorted(uid.split(".")[-1] for uid in mart_node["depends_on"]["nodes"] if uid.split(".")[-1].startswith("int_alert_"))
    assert len(families) >= 6, families
    mart = column_types("scoring_alerts")
    mart_rows = client.command("SELECT count() FROM ethereum.scoring_alerts")
    for family in families:
        family_types = column_types(family)
        features = [name for name in family_types if name not in ("processing_date", "alert_id", "built_at")]
        assert features and {mart[name] for name in features if family_types[name] == "Float64"} == {"Float32"}, family
        # As text, so that NaN equals NaN and NULL equals NULL: any other difference is a lost or misjoined value.
        differing = " + ".join(
            f"countIf(toString(m.`{name}`) != toString({'toFloat32' if family_types[name] == 'Float64' else ''}(f.`{name}`)))"
            for name in features
        )
        rows, unequal = client.query(
            f"SELECT count(), {differing} FROM ethereum.scoring_alerts AS m INNER JOIN ethereum.{family} AS f "
            "ON m.processing_date = f.processing_date AND m.alert_id = f.alert_id"
        ).result_rows[0]
        assert (rows, unequal) == (mart_rows, 0), family


def test_every_feature_is_described_and_labels_are_never_features(client, ethereum) -> None:
    manifest = json.loads((Path(os.environ["DBT_TARGET_PATH"]) / "manifest.json").read_text())
    for model_type in ("alert_scorer", "cluster_scorer"):
        contract = load_contract(model_spec(model_type), client, "ethereum")
        assert not {"label", "label_weight", "relevance_grade", "labelled_members"} & set(contract.names)
        assert {f.family for f in contract.features} >= (
            {"cluster"} if model_type == "cluster_scorer" else {"alert", "address", "network", "temporal", "statistical", "cluster"}
        )
        assert all(f.producer.startswith("int_") for f in contract.features)
        assert not [f.name for f in contract.features if not f.description], "every feature has a meaning"
        assert not {"label_cutoff", "label_horizon_days", "labels_mature_through"} & set(contract.names)
    for node in manifest["nodes"].values():
        if node["resource_type"] == "model":
            assert node["description"], node["name"]
            assert all(column["description"] for column in node["columns"].values()), node["name"]


@pytest.mark.usefixtures("with_unit_tests")
def test_unit_tests_of_tricky_sql_pass(ethereum) -> None:
    ok, log = run_dbt("test", "--select", "test_type:unit", "--vars", dbt_vars("ethereum"))
    assert ok, log[-3000:]
    assert "PASS=" in log and "PASS=0 " not in log


def test_empty_window_fails_the_build(small_network: str) -> None:
    ok, log = run_dbt("build", "--vars", dbt_vars(small_network, "2030-01-01", "2030-01-31"))
    assert not ok
    [line] = problem_lines(log, "training_alerts_has_rows_in_window")
    assert line.endswith(
        "no rows in training_alerts for the window 2030-01-01..2030-01-31: widen it (vars start, end) or ingest its drops "
        "(python -m trainer.ingest)"
    ), line


def test_bad_vars_stop_the_build_with_one_clear_line(ethereum) -> None:
    cases = {
        dbt_vars("ethereum", "2024-02-30", "2024-03-31"): "is not a calendar date",
        dbt_vars("ethereum", "2024-03-31", "2024-01-01"): "is after window end",
        dbt_vars("ethereum", "01/02/2024", "2024-03-31"): "must be an ISO date",
        "{network: 'eth`; drop table x --', start: '2024-01-01', end: '2024-03-31'}": "var 'network' must match",
        dbt_vars("ethereum", label_horizon_days="-3"): "var 'label_horizon_days' must be a whole number of days",
        dbt_vars("ethereum", label_horizon_days="1 day"): "var 'label_horizon_days' must be a whole number of days",
        "{network: ethereum, typologies: [fan_in, 'x; drop']}": "var 'typologies': \"x; drop\" is not a usable value",
    }
    for build_vars, message in cases.items():
        ok, log = run_dbt("build", "--vars", build_vars)
        assert not ok and message in log, (build_vars, log[-1500:])


def test_undefined_upstream_feature_warns_and_duplicated_alert_fails_a_named_test(client, ethereum, test_root: Path) -> None:
    network, drops = "gatecheck", test_root / "drops_gatecheck"
    generate_drops(network, *SMALL_WINDOW, drops, seed=11, alerts_per_day=60)
    ingest(client, network, drops)
    day = sorted((drops / network).glob("*/*"))[1].parent.name
    build_vars = dbt_vars(network, *SMALL_WINDOW, **SMALL_VARS)
    address, alert_id = client.query(
        f"SELECT address, alert_id FROM {network}.raw_alerts WHERE processing_date = {{d:Date}} AND address IN "
        f"(SELECT address FROM {network}.raw_features WHERE processing_date = {{d:Date}}) ORDER BY alert_id LIMIT 1",
        parameters={"d": day},
    ).result_rows[0]
    # An undefined upstream statistic (NaN) is valid data: the build warns, the family sets -1 and counts it.
    client.command(
        f"ALTER TABLE {network}.raw_features UPDATE pagerank = nan WHERE processing_date = {{d:Date}} AND address = {{a:String}} "
        "SETTINGS mutations_sync = 1", parameters={"d": day, "a": address},
    )  # fmt: skip
    ok, log = run_dbt("build", "--vars", build_vars)
    assert ok, log[-3000:]
    assert "raw_features_values_finite" in log and "WARN 1" in log
    pagerank, non_finite = client.query(
        f"SELECT pagerank, address_non_finite_values FROM {network}.int_alert_address_features WHERE alert_id = {{id:String}}",
        parameters={"id": alert_id},
    ).result_rows[0]
    assert (pagerank, non_finite) == (-1.0, 1.0)
    # A duplicated alert is not: the build fails on the test that names it. (Written into the raw table behind
    # ingestion's back, so no drop counts as new: a full build reads every drop; an incremental one would not.)
    client.command(f"INSERT INTO {network}.raw_alerts SELECT * FROM {network}.raw_alerts WHERE processing_date = {{d:Date}} LIMIT 1",
                   parameters={"d": day})  # fmt: skip
    ok, log = run_dbt("build", "--full-refresh", "--vars", build_vars)
    assert not ok
    assert "FAIL 1 raw_alerts_one_row_per_alert_and_drop" in log
    [line] = problem_lines(log, "raw_alerts_one_row_per_alert_and_drop")
    assert f"(processing_date, window_days, alert_id) = ('{day}',7,'{alert_id}') occurs 2 times: fix the drop upstream" in line, line


def test_docs_generate_on_the_embedded_engine(ethereum) -> None:
    ok, log = run_dbt("docs", "generate", "--vars", dbt_vars("ethereum"))
    assert ok, log[-2000:]
    catalog = json.loads((Path(os.environ["DBT_TARGET_PATH"]) / "catalog.json").read_text())
    assert any(key.endswith(".training_alerts") for key in catalog["nodes"])
    manifest = json.loads((Path(os.environ["DBT_TARGET_PATH"]) / "manifest.json").read_text())
    exposures = {e["name"]: e["depends_on"]["nodes"] for e in manifest["exposures"].values()}
    assert exposures["cluster_scorer"] == ["model.aml_features.training_clusters"]
    assert exposures["alert_ranker"] == ["model.aml_features.training_alerts"]


NUMERIC_DDL_TYPE = ("UInt8", "UInt16", "UInt32", "UInt64", "Float32", "Float64", "Decimal128(18)", "Bool")


def test_address_family_carries_every_numeric_upstream_feature(client, ethereum) -> None:
    ddl = (REPO / "trainer" / "ingest" / "raw_tables.sql").read_text()
    body = ddl.split("CREATE TABLE IF NOT EXISTS raw_features (")[1].split(") ENGINE")[0]
    declared = [line.strip().rstrip(",").split() for line in body.splitlines() if line.strip()]
    numeric = {name for name, ddl_type in declared if ddl_type in NUMERIC_DDL_TYPE} - {"window_days"}
    excluded = set(project_var("address_feature_exclude"))
    address = {f.name for f in load_contract(model_spec("alert_scorer"), client, "ethereum").features if f.family == "address"}
    assert len(numeric) > 80 and excluded < numeric
    assert address == (numeric - excluded) | {"has_address_features", "address_non_finite_values"}


def test_changing_the_exclusions_asks_for_a_full_refresh_and_then_follows(client, small_network: str) -> None:
    network = small_network
    changed = dbt_vars(network, *SMALL_WINDOW, **SMALL_VARS)[:-1] + ", address_feature_exclude: [community_id, pagerank]}"
    ok, log = run_dbt("build", "--select", "int_alert_address_features+", "--vars", changed)
    assert not ok and "full_refresh" in log.replace("-", "_").lower(), log[-2000:]
    ok, log = run_dbt("build", "--full-refresh", "--vars", changed)
    assert ok, log[-2000:]
    built = {
        row[0]
        for row in client.query(
            "SELECT name FROM system.columns WHERE database = {n:String} AND table = 'training_alerts'", parameters={"n": network}
        ).result_rows
    }
    assert not {"pagerank", "community_id"} & built
    assert {"first_activity_timestamp", "last_activity_timestamp", "betweenness", "is_whale"} <= built


def problem_lines(log: str, test: str) -> list[str]:
    """The lines in which the build names a failed test's problem (macro report_test_problems)."""
    return [line for line in log.splitlines() if f"Problem in test {test}: " in line]


def test_a_window_shorter_than_the_label_horizon_fails_saying_what_to_change(small_network: str) -> None:
    window = dbt_vars(small_network, *SMALL_WINDOW, min_per_class=1, label_horizon_days=30)
    ok, log = run_dbt("build", "--vars", window)
    assert not ok and "Failure in test int_alert_labels_has_mature_labels" in log
    [line] = problem_lines(log, "int_alert_labels_has_mature_labels")
    assert "the earliest label cutoff, 2023-05-31, lies past the newest ingested drop, 2023-05-03" in line, line
    assert line.endswith("lower var label_horizon_days or ingest newer drops")
    # trainer.daily builds with the project's horizon (14 days), longer than the network's three days too.
    with pytest.raises(PipelineError) as failure:
        build_window(small_network, *SMALL_WINDOW, checks_from=SMALL_WINDOW[0])
    message = str(failure.value)
    assert "\n" not in message and "int_alert_labels_has_mature_labels (no label of int_alert_labels is mature" in message, message
    assert "lower var label_horizon_days or ingest newer drops)" in message


def test_a_window_days_no_drop_holds_fails_at_once_naming_the_ones_present(small_network: str) -> None:
    ok, log = run_dbt("build", "--vars", dbt_vars(small_network, *SMALL_WINDOW, window_days=30, **SMALL_VARS))
    assert not ok
    [line] = problem_lines(log, "ingested_drops_of_var_window_days")
    assert "no drop of the window 2023-05-01..2023-05-03 has var window_days = 30; its drops hold window_days 7" in line, line
    failed = [line for line in log.splitlines() if "Failure in test" in line]
    assert len(failed) == 1 and "ingested_drops_of_var_window_days" in failed[0], "the build stops before building empty tables"


def test_a_daily_build_over_drops_of_another_window_days_fails_in_one_line_naming_them(client, test_root: Path) -> None:
    """trainer.daily builds with the project's window_days (7): drops of a 30-day look-back fail its build at once,
    in one line that names the window_days the drops hold and the var to set."""
    drops = test_root / "drops_widenet"
    generate_drops("widenet", *SMALL_WINDOW, drops, seed=5, alerts_per_day=20, window_days=30)
    ingest(client, "widenet", drops)
    with pytest.raises(PipelineError) as failure:
        build_window("widenet", *SMALL_WINDOW, checks_from=SMALL_WINDOW[0])
    message = str(failure.value)
    assert "\n" not in message, message
    assert message.endswith(
        "failed: ingested_drops_of_var_window_days (no drop of the window 2023-05-01..2023-05-03 has var window_days = 7; "
        "its drops hold window_days 30: set var window_days to one of them)"
    ), message


def test_a_class_short_of_var_min_per_class_names_its_count_and_the_var(small_network: str) -> None:
    window = dbt_vars(small_network, *SMALL_WINDOW, **{**SMALL_VARS, "min_per_class": 100000})
    ok, log = run_dbt("test", "--select", "training_alerts_both_label_classes_present", "--vars", window)
    assert not ok
    lines = problem_lines(log, "training_alerts_both_label_classes_present")
    assert len(lines) == 2 and all("rows in training_alerts, var min_per_class asks for 100000" in line for line in lines), log[-2000:]
    assert all(line.endswith("widen the window (vars start, end) or lower var min_per_class") for line in lines)
