"""Faults: interrupted runs leave nothing behind, crashed runs are cleaned up, concurrent trainers never collide."""

from __future__ import annotations

import os
import signal
import threading
from pathlib import Path

import pytest

from tests.integration.test_failure_matrix import run_main
from trainer import __main__ as train_cli
from trainer.cli import EXIT_INTERRUPTED
from trainer.registry import claim_version, ensure_registry, list_models, publish, warehouse
from trainer.registry.table import pinned_checksums
from trainer.store.embedded import open_chdb_client
from trainer.store.settings import load_store_settings
from trainer.train import dataset as train_dataset
from trainer.train import modeling, pipeline
from trainer.train.pipeline import TrainRequest, train_model

REGISTRY_DB = "aml"


def unregistered_artifacts(client) -> dict[str, list[str]]:
    """Artifact rows in the warehouse without a registry row, by model id: what an uncommitted publish left."""
    ensure_registry(client, REGISTRY_DB)
    rows = client.query(
        "SELECT model_id, groupArray(kind) FROM aml.model_artifacts WHERE model_id NOT IN (SELECT model_id FROM aml.trained_models) "
        "GROUP BY model_id"
    ).result_rows
    return {model_id: sorted(kinds) for model_id, kinds in rows}


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
    "bin": (train_dataset, "reference_dataset"),
    "train": (modeling, "fit"),
    "score_test": (pipeline, "score_test_part"),
    "save": (warehouse, "write_artifact_rows"),
    "commit": (publish.registry, "insert"),  # the artifact rows are written and checked, the registry row comes next
}


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
@pytest.mark.parametrize("phase", list(PHASES))
def test_signal_in_each_phase_stops_cleanly_and_the_next_run_succeeds(
    ethereum, client, capsys, monkeypatch, tmp_path: Path, phase: str, sig: signal.Signals
) -> None:
    output_dir = tmp_path / "models"
    argv = ["--model-type", "cluster_scorer", "--network", "ethereum", "--output-dir", str(output_dir), "--force"]
    rows_before = len(list_models(client, REGISTRY_DB))
    orphans_before = unregistered_artifacts(client)
    with monkeypatch.context() as patch:
        interrupt_during(patch, *PHASES[phase], sig)
        outcome = run_main(train_cli.main, argv, capsys)
    assert outcome.code == EXIT_INTERRUPTED
    assert f"interrupted by {sig.name}" in outcome.stderr and "Traceback" not in outcome.stderr
    assert not output_dir.exists() or list(output_dir.iterdir()) == [], "no file: they are exported after the commit"
    assert len(list_models(client, REGISTRY_DB)) == rows_before
    assert unregistered_artifacts(client) == orphans_before, "the interrupted publish removed its artifact rows"
    assert run_main(train_cli.main, argv, capsys).code == 0
    assert len(list(output_dir.glob("*_cluster_scorer_v*.txt"))) == 1


def test_crash_between_artifacts_and_registry_row_is_cleaned_up(ethereum, client, monkeypatch, tmp_path: Path) -> None:
    def crash(*_args, **_kwargs):
        raise SystemExit("power cut")

    request = TrainRequest("cluster_scorer", network="ethereum", output_dir=tmp_path, force=True)
    before = unregistered_artifacts(client)
    with monkeypatch.context() as patch:
        # The artifact rows are written, then the process dies before the registry row: simulate it by skipping the
        # cleanup too.
        patch.setattr(publish.registry, "insert", crash)
        patch.setattr(publish, "_discard", lambda *_args: None)
        with pytest.raises(SystemExit):
            train_model(request, client=client)
    orphans = {model_id: kinds for model_id, kinds in unregistered_artifacts(client).items() if model_id not in before}
    assert len(orphans) == 1 and list(orphans.values()) == [["card", "metadata", "model", "report"]]
    orphan = next(iter(orphans))
    assert orphan not in {row["model_id"] for row in list_models(client, REGISTRY_DB)}, "no registry row: no reader sees it"
    assert not list(tmp_path.glob(f"{orphan}.*")), "files are exported only after the commit"
    (tmp_path / "cluster_scorer_v999_20990101_000000.txt").write_text("half a model")  # an incomplete set of files
    outcome = train_model(request, client=client)
    assert orphan not in unregistered_artifacts(client), "the next publish removed the orphan's artifact rows"
    registered = {row["model_id"]: row for row in list_models(client, REGISTRY_DB)}
    assert orphan not in registered and set(pinned_checksums(registered[outcome.model_id])) == {"card", "metadata", "model", "report"}
    assert not (tmp_path / "cluster_scorer_v999_20990101_000000.txt").exists(), "an incomplete orphan is removed"


def test_concurrent_claims_get_distinct_versions(client) -> None:
    """Versions are claimed in the warehouse, not under a lock: four clients claiming at once (as processes on four
    hosts would) never get the same version, and leave none out."""
    settings = load_store_settings()
    ensure_registry(client, REGISTRY_DB)
    claimed, errors = [], []
    start = threading.Barrier(4)

    def claimer() -> None:
        own = open_chdb_client(settings.path)
        start.wait()
        try:
            for _ in range(5):
                claimed.append(claim_version(own, REGISTRY_DB, "cluster_scorer", "claimrace"))
        except BaseException as error:  # reported below
            errors.append(error)

    threads = [threading.Thread(target=claimer) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors, errors
    assert sorted(claimed) == list(range(min(claimed), min(claimed) + 20)), sorted(claimed)


def test_sequential_trainers_never_reuse_a_version(ethereum, client, tmp_path: Path) -> None:
    request = TrainRequest("cluster_scorer", network="ethereum", output_dir=tmp_path, force=True)
    first, second = train_model(request, client=client), train_model(request, client=client)
    assert first.model_id != second.model_id and second.metadata.version == first.metadata.version + 1
    rows = {row["model_id"]: row for row in list_models(client, REGISTRY_DB, model_type="cluster_scorer")}
    assert Path(rows[first.model_id]["model_path"]).is_file() and Path(rows[second.model_id]["model_path"]).is_file()
    assert pinned_checksums(rows[first.model_id]) and pinned_checksums(rows[second.model_id])


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
