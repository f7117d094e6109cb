"""Faults: interrupted runs leave nothing behind, crashed runs are recovered, concurrent trainers never collide."""

from __future__ import annotations

import os
import signal
import threading
from pathlib import Path

import pytest

from tests.integration.test_failure_matrix import run_main
from trainer import __main__ as train_cli
from trainer.cli import EXIT_INTERRUPTED
from trainer.registry import artifacts, list_models, publish
from trainer.train import modeling, pipeline
from trainer.train.pipeline import TrainRequest, train_model

REGISTRY_DB = "aml"


def interrupt_during(monkeypatch: pytest.MonkeyPatch, owner: object, name: str, sig: signal.Signals) -> None:
    """Make `owner.name` deliver `sig` to this process once, then carry on as the real function."""
    real = getattr(owner, name)
    fired = []

    def wrapper(*args, **kwargs):
        if not fired:
            fired.append(True)
            os.kill(os.getpid(), sig)
        return real(*args, **kwargs)

    monkeypatch.setattr(owner, name, wrapper)


PHASES = {
    "extract": (pipeline, "extract_rows"),
    "build matrix": (modeling, "bin_rows"),
    "train": (modeling, "fit"),
    "save": (artifacts, "_temporary_copy"),
}


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
@pytest.mark.parametrize("phase", list(PHASES))
def test_signal_in_each_phase_stops_cleanly_and_the_next_run_succeeds(
    ethereum, client, capsys, monkeypatch, tmp_path: Path, phase: str, sig: signal.Signals
) -> None:
    output_dir = tmp_path / "models"
    argv = ["--model-type", "cluster_scorer", "--network", "ethereum", "--output-dir", str(output_dir), "--force"]
    rows_before = len(list_models(client, REGISTRY_DB))
    with monkeypatch.context() as patch:
        interrupt_during(patch, *PHASES[phase], sig)
        outcome = run_main(train_cli.main, argv, capsys)
    assert outcome.code == EXIT_INTERRUPTED
    assert f"interrupted by {sig.name}" in outcome.stderr and "Traceback" not in outcome.stderr
    assert not output_dir.exists() or [p.name for p in output_dir.iterdir() if p.name != ".registry.lock"] == []
    assert len(list_models(client, REGISTRY_DB)) == rows_before
    assert run_main(train_cli.main, argv, capsys).code == 0
    assert len(list(output_dir.glob("cluster_scorer_v*.txt"))) == 1


def test_crash_between_files_and_registry_row_is_recovered(ethereum, client, monkeypatch, tmp_path: Path) -> None:
    def crash(*_args, **_kwargs):
        raise SystemExit("power cut")

    request = TrainRequest("cluster_scorer", network="ethereum", output_dir=tmp_path, force=True)
    with monkeypatch.context() as patch:
        # The files are written, then the process dies before the row: simulate it by skipping the cleanup too.
        patch.setattr(publish.registry, "insert", crash)
        patch.setattr(publish, "remove_artifacts", lambda artifacts: None)
        with pytest.raises(SystemExit):
            train_model(request, client=client)
    orphan = next(tmp_path.glob("cluster_scorer_v*.txt")).stem
    assert orphan not in {row["model_id"] for row in list_models(client, REGISTRY_DB)}
    (tmp_path / "cluster_scorer_v999_20990101_000000.txt").write_text("half a model")  # an incomplete set
    train_model(request, client=client)
    registered = {row["model_id"] for row in list_models(client, REGISTRY_DB)}
    assert orphan in registered, "a complete orphan is registered from its metadata"
    assert not (tmp_path / "cluster_scorer_v999_20990101_000000.txt").exists(), "an incomplete orphan is removed"


def test_two_trainers_at_once_get_distinct_versions_and_complete_rows(tmp_path: Path) -> None:
    """The critical section (version, files, row) is serialised by the output directory's lock."""
    entered, order = threading.Event(), []

    def trainer(name: str) -> None:
        with artifacts.output_dir_lock(tmp_path):
            order.append(f"{name} in")
            entered.set()
            threading.Event().wait(0.2)
            order.append(f"{name} out")

    first = threading.Thread(target=trainer, args=("first",))
    first.start()
    entered.wait()
    second = threading.Thread(target=trainer, args=("second",))
    second.start()
    first.join()
    second.join()
    assert order == ["first in", "first out", "second in", "second out"]


def test_sequential_trainers_never_reuse_a_version(ethereum, client, tmp_path: Path) -> None:
    request = TrainRequest("cluster_scorer", network="ethereum", output_dir=tmp_path, force=True)
    first, second = train_model(request, client=client), train_model(request, client=client)
    assert first.model_id != second.model_id and second.metadata["version"] == first.metadata["version"] + 1
    rows = {row["model_id"]: row for row in list_models(client, REGISTRY_DB, model_type="cluster_scorer")}
    assert Path(rows[first.model_id]["model_path"]).is_file() and Path(rows[second.model_id]["model_path"]).is_file()


def test_interrupted_ingest_leaves_no_partial_drop_visible(ethereum, client, monkeypatch, tmp_path: Path) -> None:
    import shutil

    from trainer.ingest import load as ingest_module

    last_drop = sorted((ethereum.drops / "ethereum").glob("*/*"))[-1]
    source = tmp_path / "drops"
    shutil.copytree(last_drop, source / "ethereum" / last_drop.parent.name / last_drop.name)
    day = last_drop.parent.name
    visible = "SELECT count() FROM ethereum.stg_alerts WHERE processing_date = {d:Date}"
    assert client.command(visible, parameters={"d": day}) > 0

    real_insert, calls = type(client).insert, []

    def die_before_completion(self, table, data, *args, **kwargs):
        calls.append(table)
        if len(calls) > 1:  # the drop was hidden and its partitions swapped: stop before it is marked complete
            raise KeyboardInterrupt
        return real_insert(self, table, data, *args, **kwargs)

    with monkeypatch.context() as patch:
        patch.setattr(type(client), "insert", die_before_completion)
        with pytest.raises(KeyboardInterrupt):
            ingest_module.ingest(client, "ethereum", source)
    assert client.command(visible, parameters={"d": day}) == 0, "a half-ingested drop must stay invisible to dbt"
    ingest_module.ingest(client, "ethereum", source)
    assert client.command(visible, parameters={"d": day}) > 0
