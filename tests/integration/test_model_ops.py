"""Model operations: aliases with an append-only history, the promotion gate on a re-scored common window, scoring
by alias, and the triage metrics of every model type."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.integration.support import clone_network
from tests.integration.test_failure_matrix import run_main
from trainer.errors import PipelineError
from trainer.evaluation.extract import extract_rows, window_parameters
from trainer.evaluation.split import plan_holdout
from trainer.evaluation.triage import triage_metrics
from trainer.features.contract import load_contract
from trainer.model_types import MODEL_TYPES, model_spec
from trainer.registry import __main__ as registry_cli
from trainer.registry.aliases import (
    AliasChange,
    AliasConflictError,
    AliasState,
    alias_history,
    alias_state,
    current_aliases,
    ensure_alias_history,
    record,
)
from trainer.registry.artifacts import load_model
from trainer.registry.promotion import MetricThreshold, demote, promote
from trainer.score import score_date
from trainer.store.connection import qualified_name
from trainer.store.settings import load_store_settings
from trainer.train.pipeline import TrainRequest, train_model

NETWORK = "modelops"
DAY = "2024-03-31"


@pytest.fixture(scope="module")
def models(ethereum, client, tmp_path_factory) -> dict:
    """A network of its own with a strong alert_scorer (every family) and a weak one (the alert family alone)."""
    clone_network(client, "ethereum", NETWORK)
    output_dir = tmp_path_factory.mktemp("modelops")
    strong = train_model(TrainRequest("alert_scorer", network=NETWORK, output_dir=output_dir), client=client)
    weak = train_model(TrainRequest("alert_scorer", network=NETWORK, output_dir=output_dir, families=("alert",)), client=client)
    assert strong.metadata.metrics["test_auc"] > weak.metadata.metrics["test_auc"]
    return {"strong": strong, "weak": weak, "output_dir": output_dir}


def champion(client) -> str | None:
    return current_aliases(client, load_store_settings().registry_database).get((NETWORK, "alert_scorer", "champion"))


def test_champion_lifecycle_with_gate_force_and_history(models, client, capsys) -> None:
    from datetime import date

    settings, output_dir = load_store_settings(), models["output_dir"]
    strong, weak = models["strong"].model_id, models["weak"].model_id
    with pytest.raises(PipelineError, match="no champion alert_scorer model for network modelops: promote one with"):
        score_date("alert_scorer", date.fromisoformat(DAY), NETWORK, output_dir=output_dir, client=client)

    first = promote(client, settings, weak, "champion", output_dir, actor="analyst-a", reason="first model")
    assert first.previous is None and first.comparison is None and champion(client) == weak

    demanding = [MetricThreshold("test_auc", min_absolute_change=0.5)]
    with pytest.raises(
        PipelineError, match=r"test_auc 0\.\d+ against 0\.\d+: change \+0\.\d+ \(\+[\d.]+%\) is below the minimum \+0\.5000"
    ):
        promote(client, settings, strong, "champion", output_dir, thresholds=demanding)
    assert champion(client) == weak, "a refusal changes nothing"

    better = promote(client, settings, strong, "champion", output_dir, actor="analyst-a")
    assert better.previous == weak and champion(client) == strong
    comparison = better.comparison
    assert comparison is not None and comparison.rows > 0 and comparison.positives > 0
    assert comparison.start >= max(m.metadata.training_period.test_start for m in (models["strong"], models["weak"]))
    assert comparison.candidate["test_auc"] > comparison.champion["test_auc"]

    with pytest.raises(PipelineError, match=r"refused: .* against champion .*test_auc 0\.\d+ against 0\.\d+: change -0\.\d+") as refused:
        promote(client, settings, weak, "champion", output_dir)
    assert len(str(refused.value).splitlines()) == 1 and champion(client) == strong

    forced = promote(client, settings, weak, "champion", output_dir, force=True, actor="lead", reason="incident rollback")
    assert forced.forced and champion(client) == weak and forced.refused_because

    history = alias_history(client, settings.registry_database, "alert_scorer", NETWORK)
    newest = history[0]
    assert (newest["action"], newest["alias"], newest["model_id"], newest["actor"]) == ("promote", "champion", weak, "lead")
    assert newest["forced"] == 1 and newest["reason"] == "incident rollback" and newest["comparison"]["previous"] == strong
    assert newest["comparison"]["gate_failures"]
    assert newest["comparison"]["candidate"]["test_auc"] < newest["comparison"]["champion"]["test_auc"]
    assert [row["action"] for row in history].count("promote") == 3, "append-only: every promotion stays"

    demote(client, settings, weak, "champion", actor="lead")
    assert champion(client) is None
    with pytest.raises(PipelineError, match="is not the champion"):
        demote(client, settings, weak, "champion")


def test_scoring_by_alias(models, client) -> None:
    from datetime import date

    settings, output_dir = load_store_settings(), models["output_dir"]
    strong, weak = models["strong"].model_id, models["weak"].model_id
    promote(client, settings, strong, "champion", output_dir, force=True)
    promote(client, settings, weak, "challenger", output_dir)
    day = date.fromisoformat(DAY)
    assert score_date("alert_scorer", day, NETWORK, output_dir=output_dir, client=client).model_version == strong
    assert score_date("alert_scorer", day, NETWORK, "challenger", output_dir, client=client).model_version == weak
    assert score_date("alert_scorer", day, NETWORK, "latest", output_dir, client=client).model_version == weak, "weak was trained last"


def test_a_change_against_a_stale_alias_state_is_refused_naming_the_winner(models, client) -> None:
    """Compare-and-set: a writer that read the champion before another promotion landed records nothing."""
    settings, output_dir = load_store_settings(), models["output_dir"]
    strong, weak = models["strong"].model_id, models["weak"].model_id
    database = settings.registry_database
    promote(client, settings, weak, "champion", output_dir, force=True)
    stale = alias_state(client, database, NETWORK, "alert_scorer", "champion")
    assert stale.holder == weak
    promote(client, settings, strong, "champion", output_dir, force=True, actor="analyst-b")
    rows_before = len(alias_history(client, database, "alert_scorer", NETWORK))
    late = AliasChange(NETWORK, "alert_scorer", "champion", weak, "promote", actor="analyst-c")
    with pytest.raises(AliasConflictError, match=f"promote of {strong} by analyst-b") as conflict:
        record(client, database, late, stale)
    assert len(str(conflict.value).splitlines()) == 1
    assert len(alias_history(client, database, "alert_scorer", NETWORK)) == rows_before, "the loser recorded nothing"
    assert champion(client) == strong
    fresh = alias_state(client, database, NETWORK, "alert_scorer", "champion")
    assert fresh.sequence == stale.sequence + 1
    record(client, database, AliasChange(NETWORK, "alert_scorer", "champion", weak, "promote"), fresh)
    assert champion(client) == weak


def test_an_alias_history_from_before_sequences_is_read_and_migrated(client) -> None:
    database = "legacy_aliases"
    client.command(f"DROP DATABASE IF EXISTS {database}")
    client.command(f"CREATE DATABASE {database}")
    client.command(
        f"CREATE TABLE {database}.model_alias_history (network LowCardinality(String), model_type LowCardinality(String), "
        "alias LowCardinality(String), model_id String, action LowCardinality(String), actor String, reason String, forced UInt8, "
        "comparison_json String, changed_at DateTime64(6, 'UTC')) ENGINE = MergeTree ORDER BY (network, model_type, alias, changed_at)"
    )
    client.command(
        f"INSERT INTO {database}.model_alias_history VALUES ('n', 'alert_scorer', 'champion', 'old', 'promote', 'a', '', 0, '{{}}', "
        "'2024-01-01 00:00:00'), ('n', 'alert_scorer', 'champion', 'older', 'promote', 'a', '', 0, '{}', '2023-01-01 00:00:00')"
    )
    state = alias_state(client, database, "n", "alert_scorer", "champion")
    assert (state.holder, state.sequence) == ("old", 0), "the newest legacy row holds the alias"
    ensure_alias_history(client, database)
    record(client, database, AliasChange("n", "alert_scorer", "champion", "new", "promote"), state)
    with pytest.raises(AliasConflictError):
        record(client, database, AliasChange("n", "alert_scorer", "champion", "stale", "promote"), state)
    assert alias_state(client, database, "n", "alert_scorer", "champion") == AliasState("new", 1)


def test_registry_cli_shows_aliases_and_refuses_in_one_line(models, client, capsys) -> None:
    promote(client, load_store_settings(), models["strong"].model_id, "champion", models["output_dir"], force=True)
    listed = run_main(registry_cli.main, ["--json", "--network", NETWORK, "--model-type", "alert_scorer"], capsys)
    aliases = {row["model_id"]: row["aliases"] for row in json.loads(listed.stdout)}
    assert "champion" in aliases[models["strong"].model_id]
    refused = run_main(
        registry_cli.main, ["promote", models["weak"].model_id, "--alias", "champion", "--output-dir", str(models["output_dir"])], capsys
    )
    assert refused.code == 2 and "refused:" in refused.stderr and len(refused.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize("model_type", MODEL_TYPES)
def test_triage_metrics_of_every_type_match_a_recomputation(ethereum, client, tmp_path: Path, model_type: str) -> None:
    outcome = train_model(TrainRequest(model_type, network="ethereum", output_dir=tmp_path, review_capacity=7), client=client)
    metrics = outcome.metadata.metrics
    spec = model_spec(model_type)
    contract = load_contract(spec, client, "ethereum")
    start, end = outcome.metadata.training_period.start, outcome.metadata.training_period.end
    table = qualified_name("ethereum", contract.table)
    holdout = plan_holdout(client, table, window_parameters("ethereum", start, end), 0.2, 20, contract.table)
    test = extract_rows(client, "ethereum", spec, contract, holdout.where("test", table), holdout.parameters, holdout.test.rows)
    booster, _ = load_model(outcome.model_path)
    expected = triage_metrics(test.label, booster.predict(test.features), test.processing_date, 7)
    assert {name: metrics[name] for name in expected} == pytest.approx(expected)
    assert metrics["review_capacity_per_day"] == 7 and 0 < metrics["autoclose_at_recall_95_share"] < 1
    registered = json.loads(
        client.command("SELECT metrics_json FROM aml.trained_models WHERE model_id = {m:String}", parameters={"m": outcome.model_id})
    )
    assert registered["tail_recall"] == metrics["tail_recall"], "the registry row carries the triage metrics"
