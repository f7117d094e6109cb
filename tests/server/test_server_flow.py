"""The flow on the server target: drops ingested, the window built and tested by dbt-clickhouse over HTTP (unmodified,
`type: clickhouse`, `driver: http`), and the three model types trained and registered by the trainer's client."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

import pytest

from tests.integration.support import END, START, BuiltNetwork, dbt_vars, run_dbt
from tests.server.conftest import MODEL_TYPES, NETWORK, REGISTRY_DB
from trainer.daily import run_daily
from trainer.model_types import model_spec
from trainer.monitor.backtest import backtest
from trainer.registry import list_models
from trainer.registry.aliases import alias_state
from trainer.registry.promotion import promote
from trainer.sample_data import generate_drops
from trainer.score import score_date
from trainer.store.settings import load_store_settings
from trainer.train.pipeline import TrainOutcome


def test_dbt_runs_on_the_clickhouse_adapter_over_http(built: BuiltNetwork) -> None:
    ok, log = run_dbt("debug", "--vars", dbt_vars(NETWORK))
    assert ok, log[-3000:]
    assert "Registered adapter: clickhouse=" in log and "driver: http" in log, log[-3000:]
    counts = r"Finished running .*? (\d+) incremental models, .*?(\d+) data tests, (\d+) unit tests, (\d+) view models"
    ran = re.search(counts, built.build_log)
    assert ran and all(int(count) > 0 for count in ran.groups()), built.build_log[-3000:]
    assert re.search(r"Done\. PASS=\d+ WARN=\d+ ERROR=0 SKIP=0", built.build_log), built.build_log[-3000:]


def test_the_build_fills_the_marts(client, built: BuiltNetwork) -> None:
    alerts = client.command(f"SELECT count() FROM {NETWORK}.raw_alerts")
    scoring = client.command(f"SELECT count() FROM {NETWORK}.scoring_alerts")
    training = client.command(f"SELECT count() FROM {NETWORK}.training_alerts")
    assert 0 < training < scoring <= alerts
    assert client.command(f"SELECT count() FROM {NETWORK}.training_clusters") > 0


@pytest.mark.parametrize("model_type", MODEL_TYPES)
def test_models_train_and_register(client, trained: dict[str, TrainOutcome], model_type: str) -> None:
    outcome = trained[model_type]
    assert not outcome.reused and outcome.metadata.num_trees > 0
    rows = [row for row in list_models(client, REGISTRY_DB, model_type=model_type, network=NETWORK) if row["model_id"] == outcome.model_id]
    assert len(rows) == 1
    assert rows[0]["data_fingerprint"] == outcome.metadata.data_stats.fingerprint


def batch_row(client, batch_id: str) -> dict:
    result = client.query(f"SELECT * FROM {NETWORK}.batch_metadata FINAL WHERE batch_id = {{b:String}}", parameters={"b": batch_id})
    return dict(zip(result.column_names, result.result_rows[0], strict=True))


def test_promote_score_drift_and_backtest_from_another_directory(client, trained: dict[str, TrainOutcome], tmp_path: Path) -> None:
    """Champions promoted through the gate, every type scored with drift, and a backtest, all from a directory that
    never held the training output: the models come from the warehouse."""
    settings, elsewhere = load_store_settings(), tmp_path / "elsewhere"
    for model_type in MODEL_TYPES:
        promoted = promote(client, settings, trained[model_type].model_id, "champion", elsewhere, reason="server tier")
        assert promoted.previous is None
    scored_days = [END - timedelta(days=21), END - timedelta(days=20)]  # labels mature by END (horizon 14 days)
    for model_type in MODEL_TYPES:
        spec = model_spec(model_type)
        for day in [*scored_days, END]:
            outcome = score_date(model_type, day, NETWORK, output_dir=elsewhere, client=client)
            expected = client.command(
                f"SELECT count() FROM {NETWORK}.{spec.scoring_table} WHERE processing_date = {{d:Date}}", parameters={"d": day}
            )
            written = client.command(
                f"SELECT count() FROM {NETWORK}.{spec.output_table} WHERE processing_date = {{d:Date}} AND model_version = {{v:String}}",
                parameters={"d": day, "v": trained[model_type].model_id},
            )
            assert outcome.model_version == trained[model_type].model_id and outcome.rows == written == expected > 0
            row = batch_row(client, outcome.batch_id)
            assert (row["status"], row["drift_status"]) == ("COMPLETED", "written"), row
    drifted = client.command(
        f"SELECT count() FROM {NETWORK}.feature_drift WHERE processing_date = {{d:Date}} AND model_version = {{v:String}}",
        parameters={"d": END, "v": trained["alert_scorer"].model_id},
    )
    assert drifted == len(trained["alert_scorer"].metadata.feature_names) + 1, "every feature and the score"
    results = backtest(client, REGISTRY_DB, model_spec("alert_scorer"), NETWORK, scored_days[0], scored_days[-1], elsewhere, "champion")
    days = results[trained["alert_scorer"].model_id]
    assert [day.processing_date for day in days] == scored_days and all(day.labelled > 0 for day in days)
    evaluated = client.query(f"SELECT min(evaluated_at) FROM {NETWORK}.backtest_results FINAL").result_rows[0][0]
    assert evaluated.year >= 2026


def test_the_daily_loop_on_the_server(client, trained: dict[str, TrainOutcome], test_root: Path, tmp_path: Path) -> None:
    """A new day: ingested, the window built up to it by dbt-clickhouse, and scored by the champion."""
    next_day = END + timedelta(days=1)
    new_drop = test_root / "drops_server_next"
    generate_drops(NETWORK, next_day, next_day, new_drop, seed=7, alerts_per_day=60)
    champion = trained["alert_scorer"].model_id
    if alias_state(client, REGISTRY_DB, NETWORK, "alert_scorer", "champion").holder != champion:
        promote(client, load_store_settings(), champion, "champion", tmp_path, force=True, reason="server tier")
    outcomes = run_daily(NETWORK, new_drop, START, ["alert_scorer"], output_dir=tmp_path)
    assert [(model_type, outcome.model_version) for model_type, outcome in outcomes] == [("alert_scorer", champion)]
    scored = client.command(
        f"SELECT count() FROM {NETWORK}.alert_scores WHERE processing_date = {{d:Date}} AND model_version = {{v:String}}",
        parameters={"d": next_day, "v": champion},
    )
    alerts = client.command(f"SELECT count() FROM {NETWORK}.raw_alerts WHERE processing_date = {{d:Date}}", parameters={"d": next_day})
    assert scored == outcomes[0][1].rows == alerts > 0
