"""Leakage and the label horizon: with labels drawn at random no feature may predict them, whatever the horizon;
with labels published a week after they are found, the horizon recovers the alerts that the rule "label known
when the alert fired" drops."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from tests.integration.support import END, BuiltNetwork, build_network, dbt_vars, run_dbt
from trainer.train.pipeline import TrainRequest, train_model

NETWORK = "leakcheck"
LABEL_DELAY_DAYS = 7
BUILT_HORIZON = 14  # var label_horizon_days of dbt_project.yml: the fixture's build


@pytest.fixture(scope="module")
def delayed_random_labels(test_root: Path, client) -> BuiltNetwork:
    return build_network(test_root, NETWORK, alerts_per_day=150, random_labels=True, seed=5, label_delay_days=LABEL_DELAY_DAYS)


def rebuild_labels(client, horizon: int) -> None:
    """Only the label models and the training tables depend on the horizon: features never see it. Nothing is
    rebuilt when the label tables already follow `horizon`."""
    if int(client.command(f"SELECT any(label_horizon_days) FROM {NETWORK}.int_alert_labels")) == horizon:
        return
    ok, log = run_dbt(
        "build", "--select", "int_address_label_history", "int_alert_labels+", "int_cluster_labels+",
        "--vars", dbt_vars(NETWORK, label_horizon_days=horizon),
    )  # fmt: skip
    assert ok, log[-3000:]


@pytest.mark.parametrize("horizon", [BUILT_HORIZON, 0])  # the fixture's horizon first: one rebuild in all
def test_random_labels_give_test_auc_near_one_half_for_every_horizon(delayed_random_labels, client, tmp_path: Path, horizon: int) -> None:
    rebuild_labels(client, horizon)
    outcome = train_model(TrainRequest(model_type="alert_scorer", network=NETWORK, output_dir=tmp_path), client=client)
    auc = outcome.metadata.metrics["test_auc"]
    assert abs(auc - 0.5) <= 0.05, f"test AUC {auc:.3f} with random labels and horizon {horizon}: some feature leaks the label"
    assert outcome.metadata.data_stats.test_rows > 1000
    assert outcome.metadata.training_period.label_horizon_days == horizon


def test_the_horizon_recovers_alerts_whose_labels_arrive_late(delayed_random_labels, client) -> None:
    """Labels are published a week after their address's first alert. On the dates both rules can judge (those
    mature under horizon 14), count the alerts on addresses labelled at some point of the data: what a triage model
    should learn from."""
    rebuild_labels(client, 0)  # where the test before leaves the labels, so one rebuild in all
    mature_through = END - timedelta(days=BUILT_HORIZON)
    on_mature_dates = {"through": mature_through}
    target = client.command(
        "SELECT count() FROM leakcheck.stg_alerts WHERE processing_date <= {through:Date} "
        "AND address IN (SELECT address FROM leakcheck.stg_address_labels)",
        parameters=on_mature_dates,
    )
    known_when_fired = client.command(
        "SELECT count() FROM leakcheck.training_alerts WHERE processing_date <= {through:Date}", parameters=on_mature_dates
    )
    rebuild_labels(client, BUILT_HORIZON)
    assert client.command("SELECT max(processing_date) FROM leakcheck.int_alert_labels") == str(mature_through)
    with_horizon = client.command("SELECT count() FROM leakcheck.training_alerts")
    counts = {"eventually labelled": target, "horizon 14": with_horizon, "horizon 0": known_when_fired}
    assert target - known_when_fired >= 0.05 * target, counts  # the rule "known when fired" drops a real share
    assert with_horizon >= 0.95 * target, counts  # the horizon trains on (nearly) every labelled alert
    assert with_horizon - known_when_fired >= 0.9 * (target - known_when_fired), counts  # recovering what rule 0 drops
