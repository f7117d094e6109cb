"""Scoring writes the model's own predictions back to ClickHouse, idempotently, with a batch trail."""

from __future__ import annotations

import json
from datetime import date

import numpy as np
import pytest

from trainer.errors import PipelineError
from trainer.features.contract import load_contract
from trainer.model_types import model_spec
from trainer.registry.artifacts import load_model
from trainer.registry.metadata import ModelMetadata
from trainer.score import score_date
from trainer.score.scoring import extract_date
from trainer.train.pipeline import TrainRequest, train_model

DAY = date(2024, 3, 29)
SCORER, RANKER = model_spec("alert_scorer"), model_spec("alert_ranker")


@pytest.fixture(scope="module")
def models(ethereum, client, tmp_path_factory):
    output_dir = tmp_path_factory.mktemp("scoring_models")
    trained = {t: train_model(TrainRequest(model_type=t, network="ethereum", output_dir=output_dir), client=client) for t in
               ("alert_scorer", "alert_ranker", "cluster_scorer")}  # fmt: skip
    return output_dir, trained


def batch(client, batch_id: str) -> dict:
    result = client.query("SELECT * FROM ethereum.batch_metadata FINAL WHERE batch_id = {b:String}", parameters={"b": batch_id})
    return dict(zip(result.column_names, result.result_rows[0], strict=True))


def test_scores_equal_the_model_predictions_on_the_same_rows(models, client) -> None:
    output_dir, trained = models
    outcome = score_date("alert_scorer", DAY, "ethereum", trained["alert_scorer"].model_id, output_dir, client=client)
    booster, _ = load_model(trained["alert_scorer"].model_path)
    data = extract_date(client, "ethereum", SCORER, load_contract(SCORER, client, "ethereum", table="scoring_alerts"), DAY)
    expected = dict(zip(data.keys.to_pylist(), booster.predict(data.features), strict=True))
    written = client.query(
        "SELECT alert_id, score, explain_json FROM ethereum.alert_scores WHERE processing_date = {d:Date} AND model_version = {v:String}",
        parameters={"d": DAY, "v": outcome.model_version},
    ).result_rows
    assert len(written) == len(expected) == outcome.rows
    assert all(score == pytest.approx(expected[alert_id], abs=1e-12) for alert_id, score, _ in written)
    unlabelled = client.command(
        "SELECT count() FROM ethereum.scoring_alerts WHERE processing_date = {d:Date}", parameters={"d": DAY}
    ) - client.command("SELECT count() FROM ethereum.training_alerts WHERE processing_date = {d:Date}", parameters={"d": DAY})
    assert unlabelled > 0, "scoring covers unlabelled alerts too"
    by_score = sorted(written, key=lambda row: -row[1])
    reasons = json.loads(by_score[0][2])
    assert len(reasons) == 3 and {"feature", "family", "contribution"} <= set(reasons[0])
    capacity = trained["alert_scorer"].metadata.metrics["review_capacity_per_day"]
    explained = sum(1 for row in written if row[2])
    assert 0 < explained == capacity < len(written), "by default the model's review capacity per day is explained"
    row = batch(client, outcome.batch_id)
    assert row["status"] == "COMPLETED" and row["input_rows"] == row["output_rows"] == outcome.rows
    assert (row["drift_status"], row["drift_error"]) == ("written", "")
    assert set(json.loads(row["latency_ms_json"])) >= {"load_model", "extract", "predict", "write"}


def test_only_the_highest_scores_are_explained_when_asked(models, client) -> None:
    output_dir, trained = models
    outcome = score_date("alert_scorer", DAY, "ethereum", trained["alert_scorer"].model_id, output_dir, client=client, explain_top=7)
    written = client.query(
        "SELECT score, explain_json FROM ethereum.alert_scores WHERE processing_date = {d:Date} AND model_version = {v:String} "
        "ORDER BY score DESC",
        parameters={"d": DAY, "v": outcome.model_version},
    ).result_rows
    assert len(written) > 7
    assert all(len(json.loads(reasons)) == 3 for _, reasons in written[:7]), "the seven highest scores are explained"
    assert all(reasons == "" for _, reasons in written[7:]) or written[6][0] == written[7][0], "and no other (barring a tie)"
    assert len(outcome.top) == 10 and all(row["reasons"] for row in outcome.top[:7])


def test_rescoring_replaces_instead_of_duplicating(models, client) -> None:
    output_dir, trained = models
    model_id = trained["cluster_scorer"].model_id
    first = score_date("cluster_scorer", DAY, "ethereum", model_id, output_dir, client=client)
    second = score_date("cluster_scorer", DAY, "ethereum", model_id, output_dir, client=client)
    count = client.command(
        "SELECT count() FROM ethereum.cluster_scores WHERE processing_date = {d:Date} AND model_version = {v:String}",
        parameters={"d": DAY, "v": second.model_version},
    )
    assert count == first.rows == second.rows > 0


def test_ranking_is_a_permutation_ordered_by_the_ranker_scores(models, client) -> None:
    output_dir, trained = models
    outcome = score_date("alert_ranker", DAY, "ethereum", trained["alert_ranker"].model_id, output_dir, client=client)
    ranks = dict(
        client.query(
            "SELECT alert_id, rank FROM ethereum.alert_rankings WHERE processing_date = {d:Date} AND model_version = {v:String}",
            parameters={"d": DAY, "v": outcome.model_version},
        ).result_rows
    )
    assert sorted(ranks.values()) == list(range(1, len(ranks) + 1))
    booster, _ = load_model(trained["alert_ranker"].model_path)
    data = extract_date(client, "ethereum", RANKER, load_contract(RANKER, client, "ethereum", table="scoring_alerts"), DAY)
    scores = booster.predict(data.features)
    by_rank = [scores[i] for i in np.argsort([ranks[k] for k in data.keys.to_pylist()])]
    assert all(a >= b for a, b in zip(by_rank, by_rank[1:], strict=False))


def test_failed_run_keeps_previous_scores_and_records_failure(models, client) -> None:
    output_dir, trained = models
    model_id = trained["alert_scorer"].model_id
    good = score_date("alert_scorer", DAY, "ethereum", model_id, output_dir, client=client)
    with pytest.raises(PipelineError, match="has no rows for 2031-01-01"):
        score_date("alert_scorer", date(2031, 1, 1), "ethereum", model_id, output_dir, client=client)
    failed = client.query(
        "SELECT status, error_message FROM ethereum.batch_metadata FINAL WHERE processing_date = '2031-01-01'"
    ).result_rows
    assert failed and failed[-1][0] == "FAILED" and "has no rows" in failed[-1][1]
    kept = client.command("SELECT count() FROM ethereum.alert_scores WHERE model_version = {v:String} AND processing_date = {d:Date}",
                          parameters={"v": good.model_version, "d": DAY})  # fmt: skip
    assert kept == good.rows


def test_contract_mismatch_fails_clearly(models, client, tmp_path) -> None:
    """A registered model whose recorded contract differs from the scoring table's (here: a feature renamed since) is
    refused, not scored with shifted features."""
    from trainer.registry.publish import publish_model
    from trainer.store.settings import load_store_settings

    output_dir, trained = models
    source = trained["cluster_scorer"].model_path
    metadata = json.loads(source.with_suffix(".json").read_text())
    metadata["feature_contract"]["features"][0]["name"] = "renamed_feature"
    metadata["config_key"] = "renamed-feature-contract"  # never reused by a training of the real configuration
    renamed, _, _ = publish_model(
        client, load_store_settings(), tmp_path, "cluster_scorer", "ethereum", source.read_text(),
        lambda model_id, version, created_at, _report: ModelMetadata.from_dict(
            {**metadata, "model_id": model_id, "version": version, "timestamp": created_at.isoformat()}, model_id
        ),
        lambda _model_id: source.with_suffix(".png").read_bytes(), lambda _metadata: "# renamed\n",
    )  # fmt: skip
    with pytest.raises(PipelineError, match=f"feature contract of scoring_clusters no longer matches model {renamed}"):
        score_date("cluster_scorer", DAY, "ethereum", model_id=renamed, output_dir=output_dir, client=client)


def test_latest_model_loads_from_the_warehouse_wherever_it_was_trained(models, client, tmp_path) -> None:
    """`latest` is the newest registered model, trained on whichever host into whichever directory: its files there
    are not needed."""
    import shutil

    output_dir, trained = models
    other_host = tmp_path / "other_host"
    newest = train_model(TrainRequest(model_type="cluster_scorer", network="ethereum", output_dir=other_host, force=True), client=client)
    shutil.rmtree(other_host)
    outcome = score_date("cluster_scorer", DAY, "ethereum", "latest", output_dir, client=client)
    assert outcome.model_version == newest.model_id != trained["cluster_scorer"].model_id and outcome.rows > 0
