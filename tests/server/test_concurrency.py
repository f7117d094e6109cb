"""Several processes against one server at once, each a real command-line process on the server target: two scorings
of different dates, two promotions racing for champion, and scoring while a training run and a daily build run.

The races are forced, not hoped for: each process runs under tests.server.race, which holds it at a barrier just
before the step that matters (writing the scores, recording the alias change) until the other has reached it too."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest

from tests.conftest import REPO
from tests.integration.support import END, START
from tests.server.conftest import NETWORK, REGISTRY_DB
from trainer.model_types import model_spec
from trainer.registry.aliases import alias_state
from trainer.registry.promotion import demote
from trainer.sample_data import generate_drops
from trainer.store.settings import load_store_settings
from trainer.train.pipeline import TrainRequest, train_model

# The barrier forces the overlap in every race, so a race is not repeated in the hope of hitting it: the repeats vary only
# which process leaves the barrier first.
RACES = 3
TIMEOUT_SECONDS = 300


def start(*arguments: str, barrier: Path | None = None, hold: str = "") -> subprocess.Popen[str]:
    """A trainer command in a process of its own, on this tier's server (the environment carries the target)."""
    command = (
        [sys.executable, "-m", "tests.server.race", str(barrier), "2", hold, *arguments] if barrier else [sys.executable, "-m", *arguments]
    )
    return subprocess.Popen(command, cwd=REPO, env=dict(os.environ), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def finish(process: subprocess.Popen[str]) -> tuple[int, str]:
    _, stderr = process.communicate(timeout=TIMEOUT_SECONDS)
    return process.returncode, stderr


def count(client, sql: str, **parameters) -> int:
    return int(client.command(sql, parameters=parameters))


def rows_on(client, table: str, day, version: str | None = None) -> int:
    """Rows of `table` (of the tier's network) on `day`, of model `version` when given."""
    where = "processing_date = {d:Date}" + (" AND model_version = {v:String}" if version else "")
    return count(client, f"SELECT count() FROM {NETWORK}.{table} WHERE {where}", d=day, **({"v": version} if version else {}))


def leftover_stages(client) -> list[str]:
    return [row[0] for row in client.query(
        "SELECT name FROM system.tables WHERE database = {d:String} AND match(name, '^_(scoring|drift|ingest|upload)_')",
        parameters={"d": NETWORK},
    ).result_rows]  # fmt: skip


def test_two_scorings_of_different_dates_at_the_same_time(client, trained, tmp_path: Path) -> None:
    model_id = trained["alert_scorer"].model_id
    spec = model_spec("alert_scorer")
    days = [END - timedelta(days=3), END - timedelta(days=2)]
    expected = {day: rows_on(client, "scoring_alerts", day) for day in days}
    for race in range(RACES):
        barrier = tmp_path / f"scoring-{race}"
        processes = [
            start("trainer.score", "--model-type", "alert_scorer", "--network", NETWORK, "--processing-date", str(day),
                  "--model-id", model_id, "--output-dir", str(tmp_path / "models"),
                  barrier=barrier, hold="trainer.score.scoring:write_scores")
            for day in days
        ]  # fmt: skip
        for process in processes:
            code, stderr = finish(process)
            assert code == 0, f"race {race}: {stderr[-2000:]}"
        for day in days:
            written, distinct = client.query(
                f"SELECT count(), uniqExact(alert_id) FROM {NETWORK}.{spec.output_table} "
                "WHERE processing_date = {d:Date} AND model_version = {v:String}",
                parameters={"d": day, "v": model_id},
            ).result_rows[0]
            assert written == distinct == expected[day] > 0, (
                f"race {race}, {day}: {written} rows, {distinct} alerts, {expected[day]} expected"
            )
        assert leftover_stages(client) == [], f"race {race}"
    statuses = client.query(
        f"SELECT processing_date, status, count() FROM {NETWORK}.batch_metadata FINAL WHERE model_version = {{v:String}} "
        "AND processing_date IN {days:Array(Date)} GROUP BY processing_date, status",
        parameters={"v": model_id, "days": days},
    ).result_rows
    assert {(day, status) for day, status, _ in statuses} == {(day, "COMPLETED") for day in days}
    assert all(batches >= RACES for _, _, batches in statuses)


@pytest.fixture(scope="module")
def rivals(client, trained, tmp_path_factory) -> tuple[str, str]:
    """Two alert_scorer models: the tier's, and one on the alert family alone."""
    other = train_model(
        TrainRequest("alert_scorer", network=NETWORK, output_dir=tmp_path_factory.mktemp("rivals"), families=("alert",)), client=client
    )
    return trained["alert_scorer"].model_id, other.model_id


def test_two_promotions_racing_for_champion_exactly_one_wins(client, rivals: tuple[str, str], tmp_path: Path) -> None:
    settings = load_store_settings()
    winners = []
    for race in range(RACES):
        holder = alias_state(client, REGISTRY_DB, NETWORK, "alert_scorer", "champion").holder
        if holder:
            demote(client, settings, holder, "champion", reason="next race")
        barrier = tmp_path / f"promotion-{race}"
        processes = {
            model_id: start("trainer.registry", "promote", model_id, "--alias", "champion", "--reason", f"race {race}",
                            barrier=barrier, hold="trainer.registry.promotion:record")
            for model_id in rivals
        }  # fmt: skip
        results = {model_id: finish(process) for model_id, process in processes.items()}
        won = [model_id for model_id, (code, _) in results.items() if code == 0]
        assert len(won) == 1, f"race {race}: {results}"
        (lost,) = set(rivals) - set(won)
        code, stderr = results[lost]
        assert code == 2, f"race {race}: {stderr[-2000:]}"
        lines = [line for line in stderr.splitlines() if line.strip() and "| INFO" not in line and "| WARNING" not in line]
        assert len(lines) == 1 and won[0] in lines[0] and "changed by another run first" in lines[0], f"race {race}: {stderr[-2000:]}"
        assert alias_state(client, REGISTRY_DB, NETWORK, "alert_scorer", "champion").holder == won[0]
        promotions = count(
            client,
            f"SELECT count() FROM {REGISTRY_DB}.model_alias_history WHERE network = {{n:String}} AND alias = 'champion' "
            "AND action = 'promote' AND reason = {r:String}",
            n=NETWORK,
            r=f"race {race}",
        )
        assert promotions == 1, f"race {race}: the loser recorded nothing"
        winners.extend(won)
    assert set(winners) <= set(rivals)


def test_scoring_while_a_training_run_and_a_daily_build_run(client, trained, test_root: Path, tmp_path: Path) -> None:
    day_scored = END - timedelta(days=5)
    new_day = END + timedelta(days=2)
    new_drop = test_root / "drops_concurrent_day"
    generate_drops(NETWORK, new_day, new_day, new_drop, seed=7, alerts_per_day=60)
    champion = trained["alert_scorer"].model_id
    holder = alias_state(client, REGISTRY_DB, NETWORK, "alert_scorer", "champion").holder
    if holder != champion:
        from trainer.registry.promotion import promote

        promote(client, load_store_settings(), champion, "champion", tmp_path, force=True, reason="concurrency")
    clusters_before = count(client, f"SELECT count() FROM {REGISTRY_DB}.trained_models WHERE network = {{n:String}} "
                            "AND model_type = 'cluster_scorer'", n=NETWORK)  # fmt: skip
    expected = rows_on(client, "scoring_alerts", day_scored)
    processes = {
        "training": start("trainer", "--model-type", "cluster_scorer", "--network", NETWORK, "--force", "--output-dir", str(tmp_path)),
        "daily": start("trainer.daily", "--network", NETWORK, "--source", str(new_drop), "--start", str(START),
                       "--model-type", "alert_scorer", "--output-dir", str(tmp_path / "d")),
        "scoring": start("trainer.score", "--model-type", "alert_scorer", "--network", NETWORK, "--processing-date", str(day_scored),
                         "--model-id", champion, "--output-dir", str(tmp_path / "s")),
    }  # fmt: skip
    for name, process in processes.items():
        code, stderr = finish(process)
        assert code == 0, f"{name}: {stderr[-3000:]}"
    scored = rows_on(client, "alert_scores", day_scored, champion)
    assert scored == expected > 0
    new_alerts = rows_on(client, "raw_alerts", new_day)
    new_scores = rows_on(client, "alert_scores", new_day, champion)
    assert new_scores == new_alerts > 0
    clusters_after = count(client, f"SELECT count() FROM {REGISTRY_DB}.trained_models WHERE network = {{n:String}} "
                           "AND model_type = 'cluster_scorer'", n=NETWORK)  # fmt: skip
    assert clusters_after == clusters_before + 1
    assert leftover_stages(client) == []
