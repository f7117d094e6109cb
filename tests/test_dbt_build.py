"""dbt on the embedded engine: the features build, the completeness gates fail builds that would mislead."""

from __future__ import annotations

import json
import os
from datetime import date
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq

from tests.conftest import END, START, build_network, dbt_vars, run_dbt
from trainer.contract import load_contract
from trainer.ingest import ingest


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


def test_every_feature_is_described_and_labels_are_never_features(client, ethereum) -> None:
    manifest = json.loads((Path(os.environ["DBT_TARGET_PATH"]) / "manifest.json").read_text())
    for model_type in ("alert_scorer", "cluster_scorer"):
        contract = load_contract(model_type, client, "ethereum")
        assert not {"label", "label_weight", "relevance_grade", "labelled_members"} & set(contract.names)
        assert {f.family for f in contract.features} >= (
            {"cluster"} if model_type == "cluster_scorer" else {"alert", "address", "network", "temporal", "statistical", "cluster"}
        )
        assert all(f.producer.startswith("int_") for f in contract.features)
    for node in manifest["nodes"].values():
        if node["resource_type"] == "model":
            assert node["description"], node["name"]
            assert all(column["description"] for column in node["columns"].values()), node["name"]


def test_unit_tests_of_tricky_sql_pass(ethereum) -> None:
    ok, log = run_dbt("test", "--select", "test_type:unit", "--vars", dbt_vars("ethereum"))
    assert ok, log[-3000:]
    assert "PASS=" in log and "PASS=0 " not in log


def test_empty_window_fails_the_build(ethereum) -> None:
    ok, log = run_dbt("build", "--vars", dbt_vars("ethereum", "2030-01-01", "2030-01-31"))
    assert not ok
    assert "training_alerts_has_rows_in_window" in log


def test_bad_vars_stop_the_build_with_one_clear_line(ethereum) -> None:
    cases = {
        dbt_vars("ethereum", "2024-02-30", "2024-03-31"): "is not a calendar date",
        dbt_vars("ethereum", "2024-03-31", "2024-01-01"): "is after window end",
        dbt_vars("ethereum", "01/02/2024", "2024-03-31"): "must be an ISO date",
        "{network: 'eth`; drop table x --', start: '2024-01-01', end: '2024-03-31'}": "var 'network' must match",
    }
    for build_vars, message in cases.items():
        ok, log = run_dbt("build", "--vars", build_vars)
        assert not ok and message in log, (build_vars, log[-1500:])


def test_duplicated_alert_and_nan_input_fail_named_source_tests(client, ethereum, test_root: Path, tmp_path: Path) -> None:
    network = "gatecheck"
    built = build_network(test_root, network, alerts_per_day=40, seed=11)
    drop = sorted((built.drops / network).glob("*/*"))[10]
    alerts = pq.read_table(drop / "alerts.parquet")
    features = pq.read_table(drop / "features.parquet")
    # Write the bad rows straight into the raw tables (ingestion would refuse them): dbt must still catch them.
    client.command(f"INSERT INTO {network}.raw_alerts SELECT * FROM {network}.raw_alerts WHERE processing_date = {{d:Date}} LIMIT 1",
                   parameters={"d": drop.parent.name})  # fmt: skip
    client.command(
        f"INSERT INTO {network}.raw_features (window_days, processing_date, address, pagerank) "
        "VALUES (7, {d:Date}, 'nan-address', nan)", parameters={"d": drop.parent.name},
    )  # fmt: skip
    ok, log = run_dbt("build", "--vars", dbt_vars(network))
    assert not ok
    assert "raw_alerts_one_row_per_alert_and_drop" in log
    assert "raw_features_inputs_finite" in log
    assert alerts.num_rows and features.num_rows


def test_docs_generate_on_the_embedded_engine(ethereum) -> None:
    ok, log = run_dbt("docs", "generate", "--vars", dbt_vars("ethereum"))
    assert ok, log[-2000:]
    catalog = json.loads((Path(os.environ["DBT_TARGET_PATH"]) / "catalog.json").read_text())
    assert any(key.endswith(".training_alerts") for key in catalog["nodes"])
    manifest = json.loads((Path(os.environ["DBT_TARGET_PATH"]) / "manifest.json").read_text())
    exposures = {e["name"]: e["depends_on"]["nodes"] for e in manifest["exposures"].values()}
    assert exposures["cluster_scorer"] == ["model.aml_features.training_clusters"]
    assert exposures["alert_ranker"] == ["model.aml_features.training_alerts"]


def test_reingest_is_idempotent_for_dbt(ethereum, client) -> None:
    before = client.command("SELECT count() FROM ethereum.training_alerts")
    ingest(client, "ethereum", ethereum.drops)
    ok, log = run_dbt("build", "--vars", dbt_vars("ethereum"))
    assert ok, log[-2000:]
    assert client.command("SELECT count() FROM ethereum.training_alerts") == before


FAMILIES = {
    "int_alert_features": "same day",
    "int_address_features": "same day",
    "int_cluster_profiles": "same day",
    "int_statistical_features": "30 days",
    "int_network_features": "all later",
    "int_temporal_features": "all later",
}


def built_at_by_date(client, model: str) -> dict:
    rows = client.query(f"SELECT processing_date, max(built_at) FROM ethereum.{model} GROUP BY processing_date").result_rows
    return dict(rows)


def rows_without_built_at(client, model: str):
    key = "cluster_id" if model == "int_cluster_profiles" else "alert_id"
    return client.query_arrow(f"SELECT * EXCEPT (built_at) FROM ethereum.{model} ORDER BY processing_date, {key}")


def test_incremental_rebuild_recomputes_only_dates_whose_drops_changed(ethereum, client, tmp_path: Path) -> None:
    import shutil
    from datetime import timedelta

    ok, log = run_dbt("build", "--vars", dbt_vars("ethereum"))
    assert ok, log[-2000:]
    before = {model: built_at_by_date(client, model) for model in FAMILIES}
    ok, log = run_dbt("build", "--vars", dbt_vars("ethereum"))
    assert ok, log[-2000:]
    assert {model: built_at_by_date(client, model) for model in FAMILIES} == before, "an unchanged window recomputes nothing"

    changed = sorted((ethereum.drops / "ethereum").glob("*/*"))[45]
    day = date.fromisoformat(changed.parent.name)
    source = tmp_path / "drops" / "ethereum" / changed.parent.name
    shutil.copytree(changed.parent, source)
    ingest(client, "ethereum", tmp_path / "drops")
    ok, log = run_dbt("build", "--vars", dbt_vars("ethereum"))
    assert ok, log[-2000:]
    expected = {
        "same day": {day},
        "30 days": {d for d in before["int_statistical_features"] if day <= d <= day + timedelta(days=30)},
        "all later": {d for d in before["int_temporal_features"] if d >= day},
    }
    for model, reach in FAMILIES.items():
        after = built_at_by_date(client, model)
        rebuilt = {d for d, built in after.items() if built != before[model][d]}
        assert rebuilt == expected[reach], model

    # What the partial rebuild wrote equals a full rebuild of the same inputs.
    incremental = {model: rows_without_built_at(client, model) for model in FAMILIES}
    ok, log = run_dbt("build", "--full-refresh", "--select", *FAMILIES, "--vars", dbt_vars("ethereum"))
    assert ok, log[-2000:]
    for model in FAMILIES:
        full = rows_without_built_at(client, model)
        assert full.column_names == incremental[model].column_names and full.num_rows == incremental[model].num_rows > 0
        for name in full.column_names:
            left, right = incremental[model].column(name).to_numpy(), full.column(name).to_numpy()
            if left.dtype.kind == "f":
                np.testing.assert_allclose(left, right, rtol=1e-9, atol=1e-12, err_msg=f"{model}.{name}")
            else:
                assert (left == right).all(), f"{model}.{name}"
