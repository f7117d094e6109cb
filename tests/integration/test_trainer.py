"""The trainer on real training tables: models reload identically, runs are reproducible, splits are leak-free."""

from __future__ import annotations

import hashlib
import json
from dataclasses import replace
from datetime import date
from pathlib import Path

import numpy as np
import pytest

from tests.integration.support import copy_feature_tables
from trainer.errors import PipelineError
from trainer.evaluation.extract import extract, extract_rows, fingerprint, window_parameters
from trainer.evaluation.split import plan_holdout
from trainer.features.contract import load_contract
from trainer.model_types import model_spec
from trainer.registry import list_models
from trainer.registry.artifacts import Artifacts, check_contract, load_model
from trainer.store.connection import qualified_name
from trainer.train.pipeline import TrainRequest, train_model

REGISTRY_DB = "aml"


@pytest.fixture(scope="module")
def trained(ethereum, ethereum_docs: Path, client, tmp_path_factory) -> dict[str, object]:
    """One model of each type on the ethereum window. Training traces its model card's lineage through the manifest of
    the last dbt command, which another module's selective run (`--select`) may have left without the marts' compiled
    SQL; the manifest of ethereum's `dbt docs generate` is the one these models are trained with. Forced: a model of
    the same configuration another module trained would otherwise be reused from the warehouse."""
    output_dir = tmp_path_factory.mktemp("models")
    with pytest.MonkeyPatch.context() as environment:
        environment.setenv("DBT_TARGET_PATH", str(ethereum_docs.parent))
        return {
            model_type: train_model(
                TrainRequest(model_type=model_type, network="ethereum", output_dir=output_dir, force=True), client=client
            )
            for model_type in ("alert_scorer", "alert_ranker", "cluster_scorer")
        }


@pytest.mark.parametrize("model_type", ["alert_scorer", "alert_ranker", "cluster_scorer"])
def test_exported_files_load_and_keep_their_layout(trained, client, model_type: str) -> None:
    """The exported files load, fit the table's contract and predict varied scores. That a model reloaded elsewhere
    from the registry gives the scores scoring wrote is tests/server/test_model_reload.py's (a fresh process needs a
    server: the embedded store takes one process)."""
    outcome = trained[model_type]
    booster, metadata = load_model(outcome.model_path)
    spec = model_spec(model_type)
    contract = load_contract(spec, client, "ethereum")
    check_contract(metadata, contract)
    data = extract(client, "ethereum", date(2024, 1, 1), date(2024, 3, 31), spec, contract)
    reloaded = booster.predict(data.features)
    assert metadata.num_trees == booster.num_trees() > 0
    exported = json.loads(outcome.model_path.with_suffix(".json").read_text())
    assert np.unique(np.round(reloaded, 6)).size > 10, "a constant model must never be saved"
    for key in (
        "model_type",
        "version",
        "timestamp",
        "network",
        "training_period",
        "data_stats",
        "metrics",
        "hyperparameters",
        "feature_names",
        "num_trees",
        "schema_version",
    ):
        assert key in exported, "the exported file keeps the layout its readers know"
    assert Path(metadata.report_path).stat().st_size > 10_000


@pytest.mark.parametrize("model_type", ["alert_scorer", "alert_ranker", "cluster_scorer"])
def test_registry_row_matches_the_metadata_file(trained, client, model_type: str) -> None:
    outcome = trained[model_type]
    rows = [r for r in list_models(client, REGISTRY_DB, model_type=model_type, network="ethereum") if r["model_id"] == outcome.model_id]
    assert len(rows) == 1
    row, metadata = rows[0], json.loads(outcome.model_path.with_suffix(".json").read_text())
    assert row["model_path"] == str(outcome.model_path)
    assert row["version"] == metadata["version"]
    assert row["feature_names"] == metadata["feature_names"]
    assert row["num_features"] == len(metadata["feature_names"])
    assert json.loads(row["metrics_json"]) == metadata["metrics"]
    assert row["test_auc"] == pytest.approx(metadata["metrics"]["test_auc"])
    assert row["cv_auc_mean"] == pytest.approx(metadata["metrics"]["cv_auc_mean"])
    assert row["data_fingerprint"] == metadata["data_stats"]["fingerprint"]
    exported = Artifacts.of(outcome.model_path.parent, outcome.model_id).by_kind()
    pins = {kind: hashlib.sha256(path.read_bytes()).hexdigest() for kind, path in exported.items()}
    assert json.loads(row["artifacts_json"]) == pins, "the row pins the checksum of every artifact, as exported"


def test_real_labels_give_a_useful_model(trained) -> None:
    metrics = trained["alert_scorer"].metadata.metrics
    assert 0.65 < metrics["test_auc"] < 0.99
    ranker = trained["alert_ranker"].metadata.metrics
    assert 0 < ranker["test_ndcg_at_10"] <= 1 and 0 < ranker["test_map"] <= 1
    assert trained["cluster_scorer"].metadata.metrics["test_auc"] > 0.6


def test_feature_families_and_producers_are_recorded(trained) -> None:
    contract = trained["alert_scorer"].metadata.feature_contract
    families = {f["family"] for f in contract.features}
    assert families == {"alert", "address", "network", "temporal", "statistical", "cluster"}
    assert {f["producer"] for f in contract.features if f["family"] == "network"} == {"int_alert_network_features"}
    assert "training_alerts" in trained["alert_scorer"].metadata.dbt_models


def test_second_run_reuses_and_force_trains_identical_bytes(trained, client) -> None:
    first = trained["alert_scorer"]
    output_dir = first.model_path.parent
    again = train_model(TrainRequest(model_type="alert_scorer", network="ethereum", output_dir=output_dir), client=client)
    assert again.reused and again.model_id == first.model_id
    forced = train_model(TrainRequest(model_type="alert_scorer", network="ethereum", output_dir=output_dir, force=True), client=client)
    assert not forced.reused and forced.metadata.version == first.metadata.version + 1
    assert forced.model_path.read_bytes() == first.model_path.read_bytes()


@pytest.mark.parametrize("model_type", ["alert_scorer", "cluster_scorer"])
def test_holdout_is_out_of_time_and_shares_no_address(ethereum, client, model_type: str) -> None:
    spec = model_spec(model_type)
    contract = load_contract(spec, client, "ethereum")
    table, window = qualified_name("ethereum", contract.table), window_parameters("ethereum", date(2024, 1, 1), date(2024, 3, 31))
    holdout = plan_holdout(client, table, window, 0.2, 1, "ethereum")
    train, test = (
        extract_rows(client, "ethereum", spec, contract, holdout.where(part, table), holdout.parameters, counts.rows)
        for part, counts in (("train", holdout.train), ("test", holdout.test))
    )
    whole = extract(client, "ethereum", date(2024, 1, 1), date(2024, 3, 31), spec, contract)
    horizon = np.timedelta64(int(client.command(f"SELECT any(label_horizon_days) FROM {table}")), "D")
    assert horizon > 0 and train.processing_date.max() + horizon < np.datetime64(holdout.test_start) == test.processing_date.min()
    assert not set(train.entity.tolist()) & set(test.entity.tolist())
    assert holdout.train_rows_dropped_for_shared_entities > 0, "the sample reuses addresses, so some rows must be dropped"
    in_test = whole.processing_date >= np.datetime64(holdout.test_start)
    purged = ~in_test & (whole.processing_date + horizon >= np.datetime64(holdout.test_start))
    assert holdout.train_rows_purged_for_label_horizon == int(purged.sum()) > 0, "labels decided inside the test period are purged"
    parts = train.rows + test.rows + holdout.train_rows_dropped_for_shared_entities + holdout.train_rows_purged_for_label_horizon
    assert parts == whole.rows == holdout.window.rows
    assert (int(train.label.sum()), int(test.label.sum())) == (holdout.train.positives, holdout.test.positives)
    np.testing.assert_array_equal(test.features, whole.features[in_test])
    kept = ~in_test & ~purged & ~np.isin(whole.entity, test.entity)
    np.testing.assert_array_equal(train.features, whole.features[kept])


def test_one_class_window_fails_with_counts_and_writes_nothing(ethereum, client, tmp_path: Path) -> None:
    output_dir = tmp_path / "models"
    before = len(list_models(client, REGISTRY_DB))
    with pytest.raises(PipelineError, match=r"has \d+ positive and \d+ negative rows; at least 100000 of each"):
        train_model(
            TrainRequest(model_type="cluster_scorer", network="ethereum", output_dir=output_dir, min_per_class=100000), client=client
        )
    with pytest.raises(PipelineError, match=r"holds 1 distinct date\(s\)"):
        train_model(TrainRequest(model_type="alert_scorer", network="ethereum", output_dir=output_dir, start=date(2024, 3, 1),
                                 end=date(2024, 3, 1), min_per_class=1), client=client)  # fmt: skip
    assert not any(output_dir.iterdir())
    assert len(list_models(client, REGISTRY_DB)) == before


def test_changed_feature_contract_is_refused_on_load(trained, client) -> None:
    _, metadata = load_model(trained["alert_scorer"].model_path)
    shorter = replace(metadata.feature_contract, features=metadata.feature_contract.features[:-1])
    metadata = replace(metadata, feature_contract=shorter)
    with pytest.raises(PipelineError, match="no longer matches model"):
        check_contract(metadata, load_contract(model_spec("alert_scorer"), client, "ethereum"))


def test_latest_model_loads_from_the_warehouse_and_local_paths_only_from_inside_the_output_dir(trained, client, tmp_path: Path) -> None:
    from trainer.registry import resolve_model
    from trainer.registry.artifacts import resolve_inside
    from trainer.registry.warehouse import load_registered

    output_dir = trained["cluster_scorer"].model_path.parent
    row = resolve_model(client, REGISTRY_DB, "cluster_scorer", "ethereum", "latest")
    booster, metadata = load_registered(client, REGISTRY_DB, row, tmp_path / "not_the_output_dir")
    assert metadata.model_type == "cluster_scorer" and booster.num_trees() == metadata.num_trees
    assert metadata.model_id == row["model_id"]
    # Models registered before the warehouse kept artifacts load from local paths, accepted inside the output dir only.
    with pytest.raises(PipelineError, match="outside the output directory"):
        resolve_inside(output_dir, "/etc/passwd")
    with pytest.raises(PipelineError, match="outside the output directory"):
        resolve_inside(output_dir, "../../elsewhere/model.txt")


def test_corrupted_model_file_fails_clearly(trained, tmp_path: Path) -> None:
    source = trained["alert_scorer"].model_path
    broken = tmp_path / source.name
    broken.write_text(source.read_text()[:200])
    broken.with_suffix(".json").write_text(source.with_suffix(".json").read_text())
    with pytest.raises(PipelineError, match="is corrupted"):
        load_model(broken)


def test_tuning_records_the_study(ethereum, client, tmp_path: Path) -> None:
    outcome = train_model(TrainRequest(model_type="cluster_scorer", network="ethereum", output_dir=tmp_path, tune_trials=4), client=client)
    tuning = outcome.metadata.tuning
    assert tuning["trials"] == 4 and tuning["sampler"] == "TPESampler"
    assert set(tuning["best_params"]) <= set(outcome.metadata.hyperparameters)
    for name, value in tuning["best_params"].items():
        assert outcome.metadata.hyperparameters[name] == value


def test_reuse_spans_output_directories_and_exports_the_files(trained, client, tmp_path: Path) -> None:
    """The warehouse, not an output directory, holds the models: the same configuration in another directory (or on
    another host) reuses the registered model and exports its files there."""
    first = trained["cluster_scorer"]
    elsewhere = train_model(TrainRequest(model_type="cluster_scorer", network="ethereum", output_dir=tmp_path), client=client)
    assert elsewhere.reused and elsewhere.model_id == first.model_id
    assert elsewhere.model_path.parent == tmp_path.resolve()
    assert elsewhere.metadata.to_dict() == json.loads(first.model_path.with_suffix(".json").read_text())
    for kind, path in Artifacts.of(tmp_path, first.model_id).by_kind().items():
        assert path.read_bytes() == Artifacts.of(first.model_path.parent, first.model_id).by_kind()[kind].read_bytes(), kind


def test_registry_cli_lists_newest_first_and_latest_per_type(trained, client, capsys) -> None:
    from tests.integration.test_failure_matrix import run_main
    from trainer.registry import __main__ as registry_cli

    outcome = run_main(registry_cli.main, ["--json", "--latest", "--network", "ethereum"], capsys)
    assert outcome.code == 0, outcome.stderr
    latest = json.loads(outcome.stdout)
    assert sorted(row["model_type"] for row in latest) == ["alert_ranker", "alert_scorer", "cluster_scorer"]
    every = list_models(client, REGISTRY_DB, network="ethereum")
    created = [row["created_at"] for row in every]
    assert created == sorted(created, reverse=True)
    for row in latest:
        assert row["model_id"] == next(r["model_id"] for r in every if r["model_type"] == row["model_type"])
    table = run_main(registry_cli.main, ["--network", "ethereum", "--model-type", "cluster_scorer"], capsys)
    assert table.code == 0 and "cluster_scorer_v" in table.stdout and "alert_scorer_v" not in table.stdout


def test_engine_arrow_stream_equals_the_client_arrow_result(ethereum, client) -> None:
    """The trainer reads chDB's own Arrow stream; it must hold exactly what clickhouse-connect's Arrow result holds."""
    spec = model_spec("alert_scorer")
    contract = load_contract(spec, client, "ethereum")
    streamed = extract(client, "ethereum", date(2024, 1, 1), date(2024, 3, 31), spec, contract)
    columns = ", ".join(f"toFloat32(`{name}`) AS `{name}`" for name in contract.names)
    reference = client.query_arrow(
        f"SELECT label, {columns} FROM ethereum.training_alerts WHERE network = 'ethereum' ORDER BY processing_date, alert_id"
    )
    assert streamed.rows == reference.num_rows > 1000
    np.testing.assert_array_equal(streamed.label, reference.column("label").to_numpy())
    for j, name in enumerate(contract.names):
        np.testing.assert_array_equal(streamed.features[:, j], reference.column(name).to_numpy(), err_msg=name)


def test_fingerprint_sees_a_changed_feature_value(ethereum, client) -> None:
    spec = model_spec("cluster_scorer")
    contract = load_contract(spec, client, "ethereum")
    client.command("CREATE DATABASE IF NOT EXISTS fingerprinted")
    client.command("DROP TABLE IF EXISTS fingerprinted.training_clusters")
    client.command("CREATE TABLE fingerprinted.training_clusters ENGINE = MergeTree ORDER BY (processing_date, cluster_id) AS "
                   "SELECT * REPLACE ('fingerprinted' AS network) FROM ethereum.training_clusters")  # fmt: skip
    window = window_parameters("fingerprinted", date(2024, 1, 1), date(2024, 3, 31))
    try:
        before = fingerprint(client, "fingerprinted", spec, contract, window)
        assert before == fingerprint(client, "fingerprinted", spec, contract, window), "the fingerprint is deterministic"
        client.command(
            f"ALTER TABLE fingerprinted.training_clusters UPDATE `{contract.names[-1]}` = `{contract.names[-1]}` + 1 "
            "WHERE cluster_id = (SELECT min(cluster_id) FROM fingerprinted.training_clusters) SETTINGS mutations_sync = 1"
        )
        after = fingerprint(client, "fingerprinted", spec, contract, window)
        assert after.split(":")[0] == before.split(":")[0] and after != before
    finally:
        client.command("DROP DATABASE IF EXISTS fingerprinted")


def test_table_changed_during_extraction_fails_and_writes_nothing(ethereum, client, monkeypatch, tmp_path: Path) -> None:
    """A rebuild that changes values (not row counts) while the trainer reads is caught by the fingerprint."""
    import trainer.train.pipeline as pipeline

    copy_feature_tables(client, "ethereum", "changing")
    client.command("DROP TABLE IF EXISTS changing.training_clusters")
    client.command("CREATE TABLE changing.training_clusters ENGINE = MergeTree ORDER BY (processing_date, cluster_id) AS "
                   "SELECT * REPLACE ('changing' AS network) FROM ethereum.training_clusters")  # fmt: skip
    feature = load_contract(model_spec("cluster_scorer"), client, "ethereum").names[0]
    real = pipeline.score_test_part

    def read_then_rebuild(*args, **kwargs):
        rows = real(*args, **kwargs)
        client.command(f"ALTER TABLE changing.training_clusters UPDATE `{feature}` = `{feature}` + 1 WHERE 1 SETTINGS mutations_sync = 1")
        return rows

    monkeypatch.setattr(pipeline, "score_test_part", read_then_rebuild)
    before = len(list_models(client, REGISTRY_DB))
    try:
        with pytest.raises(PipelineError, match="changing.training_clusters changed while it was read; run again"):
            train_model(TrainRequest(model_type="cluster_scorer", network="changing", output_dir=tmp_path), client=client)
    finally:
        client.command("DROP DATABASE IF EXISTS changing")
    assert not any(tmp_path.iterdir()) and len(list_models(client, REGISTRY_DB)) == before


@pytest.mark.parametrize("model_type", ["alert_scorer", "alert_ranker", "cluster_scorer"])
def test_model_card_beside_the_model_matches_its_metadata(trained, model_type: str) -> None:
    outcome = trained[model_type]
    metadata = outcome.metadata
    card = outcome.model_path.with_suffix(".md").read_text()
    assert card == metadata.model_card, "the card's file and the metadata carry the same text"
    sections = [line for line in card.splitlines() if line.startswith("## ")]
    assert sections == [
        "## Purpose", "## Training data", "## Features", "## Evaluation", "## Leakage guard", "## Known limitations", "## Reproduce",
    ]  # fmt: skip
    stats, metrics = metadata.data_stats, metadata.metrics
    assert f"`{stats.fingerprint}`" in card and f"{stats.train_rows} training, {stats.test_rows} test" in card
    assert f"| `test_auc` | {metrics['test_auc']:.4f} |" in card and "| `autoclose_at_recall_95_share` |" in card
    assert all(f"| `{name}` |" in card for name in metadata.feature_names), "every feature is listed with its meaning"
    guard = metadata.leakage_guard
    assert guard["computed_from"] == "the rows read" and (guard["training_rows"], guard["test_rows"]) == (stats.train_rows, stats.test_rows)
    assert guard["training_rows_sharing_a_test_address"] == guard["training_rows_labelled_from_test_start"] == 0
    assert guard["first_test_date"] == str(metadata.training_period.test_start) > guard["last_training_label_window_end"]
    assert (
        not guard["label_columns_among_features"] and not guard["features_derived_from_labels"] and not guard["features_valued_as_labels"]
    )
    assert guard["features_without_traced_lineage"] == [], "every feature's lineage is judged"
    assert "Training rows sharing an address with a test row: 0 (must be 0)." in card
    assert f"reaches the first test date {metadata.training_period.test_start}: 0 (must be 0" in card
    assert stats.train_rows_purged_for_label_horizon > 0
    assert f"{stats.train_rows_purged_for_label_horizon} rows before the test dates purged because their label window" in card
    assert metadata.command in card and metadata.command.startswith(f"python -m trainer --model-type {model_type} --network ethereum")
    assert {"lightgbm", "dbt-core", "clickhouse", "python"} <= set(metadata.environment)
    if model_type == "cluster_scorer":
        assert (
            "| `cluster_duration_hours` |" in card and "raw_clusters.earliest_alert_timestamp, raw_clusters.latest_alert_timestamp" in card
        )
    else:
        assert "raw_alerts.volume_usd" in card, "features carry their raw columns (log_volume_usd)"
    assert "not resolved" not in card and "not traced" not in card
