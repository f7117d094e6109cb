"""Monitoring in ClickHouse: drift rows for every feature of a scoring batch (a shifted feature detected, an
unshifted one not), and a backtest of scores whose labels arrive after them."""

from __future__ import annotations

import math
import shutil
import time
from datetime import date
from pathlib import Path

import numpy as np
import pytest
from loguru import logger
from sklearn.metrics import roc_auc_score

from tests.integration.support import clone_network, dbt_vars, run_dbt
from trainer.features.contract import load_contract
from trainer.ingest import ingest
from trainer.model_types import model_spec
from trainer.monitor.backtest import backtest
from trainer.monitor.distributions import SCORE, Distribution, bin_index, psi
from trainer.registry.artifacts import load_model
from trainer.sample_data import generate_drops
from trainer.score import score_date
from trainer.score.scoring import extract_date
from trainer.train.pipeline import TrainRequest, train_model

DAY = date(2024, 3, 31)
SCORER = model_spec("alert_scorer")


def drift_rows(client, network: str, version: str) -> dict[str, dict]:
    result = client.query(
        f"SELECT feature, psi, level, rows, expected_shares, actual_shares, p_value, reason FROM {network}.feature_drift "
        "WHERE processing_date = {d:Date} AND model_version = {v:String}",
        parameters={"d": DAY, "v": version},
    )
    return {row[0]: dict(zip(result.column_names, row, strict=True)) for row in result.result_rows}


@pytest.fixture(scope="module")
def drifted(ethereum, client, tmp_path_factory) -> dict:
    """A network of its own with a trained alert_scorer, scored on DAY before and after one feature is shifted."""
    clone_network(client, "ethereum", "drifted")
    output_dir = tmp_path_factory.mktemp("drift_models")
    model = train_model(TrainRequest("alert_scorer", network="drifted", output_dir=output_dir), client=client)
    before = score_date("alert_scorer", DAY, "drifted", model.model_id, output_dir, client=client)
    return {"model": model, "output_dir": output_dir, "before": before, "before_rows": drift_rows(client, "drifted", model.model_id)}


def test_every_feature_and_the_score_get_a_drift_row_equal_to_a_numpy_recomputation(drifted, client) -> None:
    model, rows = drifted["model"], drifted["before_rows"]
    contract = load_contract(SCORER, client, "drifted", table="scoring_alerts")
    assert set(rows) == {*contract.names, SCORE}
    tested = [row["psi"] for row in rows.values() if row["level"] != "expected"]
    assert drifted["before"].drift and drifted["before"].drift[0]["psi"] == max(tested), "most drifted first, expected ones last"
    data = extract_date(client, "drifted", SCORER, contract, DAY)
    distributions = model.metadata.training_distributions
    for j, name in enumerate(contract.names):
        distribution = Distribution(**distributions[name])
        counts = np.bincount(
            bin_index(data.features[:, j], distribution.edges, distribution.low, distribution.high), minlength=len(distribution.shares)
        )
        assert rows[name]["actual_shares"] == pytest.approx((counts / counts.sum()).tolist()), name
        assert rows[name]["psi"] == pytest.approx(psi(distribution.shares, rows[name]["actual_shares"])), name
        assert rows[name]["rows"] == len(data.keys)
    booster, _ = load_model(model.model_path)
    score = Distribution(**distributions[SCORE])
    counts = np.bincount(bin_index(booster.predict(data.features), score.edges, score.low, score.high), minlength=len(score.shares))
    assert rows[SCORE]["actual_shares"] == pytest.approx((counts / counts.sum()).tolist())


def score_with_warnings(drifted, client) -> tuple[object, list[str]]:
    """Score DAY again with the fixture's model; the outcome and the warnings the scoring logged."""
    warnings: list[str] = []
    sink = logger.add(lambda message: warnings.append(message.record["message"]), level="WARNING")
    try:
        outcome = score_date("alert_scorer", DAY, "drifted", drifted["model"].model_id, drifted["output_dir"], client=client)
    finally:
        logger.remove(sink)
    return outcome, warnings


# Features of an address's history and of its repeats, whose training part (drained of recurring addresses by the
# split, and starting before the histories fill up) differed from any later day: the reference is the test part.
HISTORY_FEATURES = {"alerts_7d", "alerts_30d", "net_in_degree", "net_out_degree", "has_own_history", "volume_vs_own_history"}


def test_a_stationary_day_shows_no_drift_and_expected_features_give_their_reason(drifted, client) -> None:
    """The sample data is stationary: no distribution is drift, though PSI passes 0.25 for some (a day of 80 alerts is
    a small sample), and nothing is warned about, history features included. Features whose drift is expected by
    design (their yml says so) keep their PSI, with level expected and the reason, untested."""
    outcome, warnings = score_with_warnings(drifted, client)
    rows = drift_rows(client, "drifted", drifted["model"].model_id)
    assert not [name for name, row in rows.items() if row["level"] == "drift"]
    assert not [name for name in HISTORY_FEATURES if rows[name]["level"] != "ok"], "history features tested, and steady"
    reference = drifted["model"].metadata.training_distributions["alerts_30d"]
    assert 0 < reference["rows"] <= drifted["model"].metadata.data_stats.test_rows, "the test part's effective rows"
    assert [name for name, row in rows.items() if row["level"] == "ok" and row["psi"] >= 0.25], "PSI alone would warn"
    assert not [message for message in warnings if "drifted from training" in message]
    expected = {name: row for name, row in rows.items() if row["level"] == "expected"}
    assert {"day_of_week", "day_of_month", "days_since_first_alert"} <= set(expected)
    assert expected["day_of_month"]["reason"] == "calendar: one value per scoring date" and expected["day_of_month"]["psi"] > 1
    assert all(row["reason"] for row in expected.values()) and not any(row["reason"] for row in rows.values() if row["level"] != "expected")
    assert all(math.isnan(row["p_value"]) for row in expected.values()), "not tested"
    assert [row["level"] for row in outcome.drift[-len(expected) :]] == ["expected"] * len(expected), "listed after the tested ones"


def test_a_feature_multiplied_by_a_thousand_is_drift_first_and_the_only_one_warned_about(drifted, client) -> None:
    planted = "alert_confidence"
    update = (
        "ALTER TABLE drifted.scoring_alerts UPDATE {column} = {column} {op} 1000 WHERE processing_date = {{d:Date}} "
        "SETTINGS mutations_sync = 1"
    )
    client.command(update.format(column=planted, op="*"), parameters={"d": DAY})
    try:
        outcome, warnings = score_with_warnings(drifted, client)
    finally:
        client.command(update.format(column=planted, op="/"), parameters={"d": DAY})
    assert (outcome.drift[0]["feature"], outcome.drift[0]["level"]) == (planted, "drift")
    assert [row["feature"] for row in outcome.drift if row["level"] == "drift"] == [planted]
    tested = sum(row["level"] != "expected" for row in outcome.drift)
    assert tested < len(outcome.drift), "expected-by-design features are in the rows"
    [warning] = [message for message in warnings if "drifted from training" in message]
    assert warning.startswith(f"1 of {tested} distributions drifted"), "expected-by-design features are not counted"


def test_a_shifted_feature_is_detected_and_an_unshifted_one_is_not(drifted, client) -> None:
    model, before = drifted["model"], drifted["before_rows"]
    shifted = "log_volume_usd"
    # With 80 alerts a day PSI is noisy (about (bins - 1) / rows without any drift): the unshifted witness is the
    # first feature the unshifted day shows as ok.
    steady = next(name for name, row in sorted(before.items()) if row["level"] == "ok" and name not in (shifted, SCORE))
    assert before[shifted]["level"] != "drift"
    client.command(
        f"ALTER TABLE drifted.scoring_alerts UPDATE {shifted} = {shifted} + 5 WHERE processing_date = {{d:Date}} "
        "SETTINGS mutations_sync = 1",
        parameters={"d": DAY},
    )
    after = score_date("alert_scorer", DAY, "drifted", model.model_id, drifted["output_dir"], client=client)
    rows = drift_rows(client, "drifted", model.model_id)
    assert rows[shifted]["level"] == "drift" and rows[shifted]["psi"] > 1.0
    assert rows[steady]["psi"] == pytest.approx(before[steady]["psi"]) and rows[steady]["level"] == "ok"
    unchanged = [name for name in rows if name not in (shifted, SCORE) and rows[name]["psi"] != pytest.approx(before[name]["psi"])]
    assert not unchanged, "only the shifted feature (and the score) moved"
    ranked = [row["psi"] for row in after.drift if row["level"] != "expected"]
    assert ranked == sorted(ranked, reverse=True), "the most drifted first"
    assert len(rows) == len(before), "re-scoring the date replaced its drift rows"


def batch_row(client, network: str, batch_id: str) -> dict:
    result = client.query(f"SELECT * FROM {network}.batch_metadata FINAL WHERE batch_id = {{b:String}}", parameters={"b": batch_id})
    return dict(zip(result.column_names, result.result_rows[0], strict=True))


def test_a_failed_drift_write_is_recorded_in_the_batch(drifted, client) -> None:
    """The scores stand (COMPLETED) but the batch says its monitoring is missing, and why."""
    model = drifted["model"]
    assert batch_row(client, "drifted", drifted["before"].batch_id)["drift_status"] == "written"
    client.command("RENAME TABLE drifted.feature_drift TO drifted.feature_drift_kept")
    try:
        # A feature_drift the batch cannot write into: its rows have columns this table lacks.
        client.command(
            "CREATE TABLE drifted.feature_drift (processing_date Date, model_version String) ENGINE = MergeTree "
            "PARTITION BY (processing_date, model_version) ORDER BY processing_date"
        )
        outcome = score_date("alert_scorer", DAY, "drifted", model.model_id, drifted["output_dir"], client=client)
    finally:
        client.command("DROP TABLE IF EXISTS drifted.feature_drift")
        client.command("RENAME TABLE drifted.feature_drift_kept TO drifted.feature_drift")
    row = batch_row(client, "drifted", outcome.batch_id)
    assert (row["status"], row["drift_status"], row["output_rows"]) == ("COMPLETED", "failed", outcome.rows) and outcome.rows > 0
    assert row["drift_error"] and outcome.drift == []
    off = score_date("alert_scorer", DAY, "drifted", model.model_id, drifted["output_dir"], client=client, drift=False)
    assert batch_row(client, "drifted", off.batch_id)["drift_status"] == "off"


def test_backtest_of_scores_whose_labels_arrive_later(client, test_root: Path, tmp_path: Path) -> None:
    """Scores of late February, while their labels are immature; then March's drops bring the labels."""
    network, start, end, cut = "latelabels", date(2024, 1, 20), date(2024, 3, 8), date(2024, 2, 29)  # the horizon of 2024-02-22 ends 03-07
    drops = test_root / "drops_latelabels"
    generate_drops(network, start, end, drops, seed=11, alerts_per_day=60, label_delay_days=7)
    early = tmp_path / "early"
    for day_dir in sorted((drops / network).iterdir()):
        if date.fromisoformat(day_dir.name) <= cut:
            shutil.copytree(day_dir, early / network / day_dir.name)
    ingest(client, network, early)
    ok, log = run_dbt("build", "--vars", dbt_vars(network, start, cut, min_per_class=5))
    assert ok, log[-3000:]
    output_dir = tmp_path / "models"
    model = train_model(TrainRequest("alert_scorer", network=network, output_dir=output_dir, min_per_class=5), client=client)
    scored_days = [date(2024, 2, 20), date(2024, 2, 21), date(2024, 2, 22)]
    for day in scored_days:
        score_date("alert_scorer", day, network, model.model_id, output_dir, client=client)

    results = backtest(client, "aml", SCORER, network, scored_days[0], scored_days[-1], output_dir)
    assert results == {model.model_id: []}, "labels within the 14-day horizon are not mature yet: nothing to realize"

    ingest(client, network, drops)
    # The backtest reads the labels only: the label models are all that March's drops need rebuilt for it.
    ok, log = run_dbt(
        "run", "--select", "int_address_label_history", "int_alert_labels", "--vars", dbt_vars(network, start, end, min_per_class=5)
    )
    assert ok, log[-3000:]
    days = backtest(client, "aml", SCORER, network, scored_days[0], scored_days[-1], output_dir, model_id=model.model_id, capacity=5)[
        model.model_id
    ]
    assert [day.processing_date for day in days] == scored_days
    assert (output_dir / f"{model.model_id}_backtest.png").stat().st_size > 0

    threshold = model.metadata.metrics["autoclose_at_recall_95_threshold"]
    for day in days:
        joined = client.query(
            f"SELECT s.score, l.label FROM {network}.alert_scores AS s INNER JOIN {network}.int_alert_labels AS l "
            "ON s.processing_date = l.processing_date AND s.alert_id = l.alert_id "
            "WHERE s.processing_date = {d:Date} AND s.model_version = {v:String}",
            parameters={"d": day.processing_date, "v": model.model_id},
        ).result_rows
        score = np.array([row[0] for row in joined])
        label = np.array([row[1] for row in joined])
        top = label[np.argsort(-score, kind="stable")[:5]]
        assert (day.labelled, day.positives, day.scored) == (len(label), int(label.sum()), 60)
        assert day.auc == pytest.approx(roc_auc_score(label, score)) if 0 < label.sum() < len(label) else day.auc is None
        assert day.precision_at_capacity == pytest.approx(top.mean())
        assert day.recall_at_capacity == pytest.approx(top.sum() / label.sum())
        assert day.positives_below_threshold == pytest.approx(float((score[label == 1] < threshold).mean()))
    stored = client.command(
        f"SELECT count() FROM {network}.backtest_results FINAL WHERE model_version = {{v:String}}", parameters={"v": model.model_id}
    )
    assert stored == len(scored_days)

    # A rerun replaces each date's figures: evaluated_at is the table's version column, so it must be written and grow.
    def evaluations() -> list[tuple]:
        return client.query(
            f"SELECT processing_date, evaluated_at, review_capacity FROM {network}.backtest_results FINAL "
            "WHERE model_version = {v:String} ORDER BY processing_date",
            parameters={"v": model.model_id},
        ).result_rows

    first = evaluations()
    assert all(evaluated_at.year >= 2026 for _, evaluated_at, _ in first), first
    time.sleep(1.1)  # evaluated_at counts seconds
    backtest(client, "aml", SCORER, network, scored_days[0], scored_days[-1], output_dir, model_id=model.model_id, capacity=7)
    second = evaluations()
    assert [row[0] for row in second] == scored_days
    assert all(later[1] > earlier[1] and later[2] == 7 for earlier, later in zip(first, second, strict=True)), (first, second)
