"""Every artifact in the warehouse: a model trained on one host scores, passes the promotion gate and is backtested
from ClickHouse alone; a damaged artifact fails in one line; models of the file-based registry still load or are
imported; versions are claimed across processes; a publish signalled or killed before its commit leaves no registry
row, and the next publish removes what it left."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from datetime import UTC, date, datetime
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import REPO
from tests.integration.publish_child import REPORT, publish_small_model, register_legacy_model
from tests.integration.support import clone_network
from tests.integration.test_failure_matrix import assert_clean_failure, run_main
from trainer.cli import EXIT_INTERRUPTED
from trainer.errors import PipelineError
from trainer.features.contract import load_contract
from trainer.model_types import model_spec
from trainer.monitor.backtest import backtest
from trainer.registry import __main__ as registry_cli
from trainer.registry import table as registry
from trainer.registry.artifacts import KINDS, Artifacts, load_model, parse_model
from trainer.registry.promotion import promote
from trainer.registry.publish import PAUSE_BEFORE_COMMIT
from trainer.registry.warehouse import load_registered, read_artifacts
from trainer.score import __main__ as score_cli
from trainer.score import score_date
from trainer.score.scoring import extract_date
from trainer.store.embedded import open_chdb_client
from trainer.store.settings import load_store_settings
from trainer.train.pipeline import TrainRequest, train_model

NETWORK = "portable"
DAY = date(2024, 3, 12)  # labels mature (the 14-day horizon ends before the window's last drop)
SCORER = model_spec("alert_scorer")
DB = "aml"


def registry_row(client, model_id: str) -> dict:
    return next(row for row in registry.list_models(client, DB) if row["model_id"] == model_id)


@pytest.fixture(scope="module")
def trained(ethereum, client, tmp_path_factory) -> dict:
    """Two alert_scorers of a network of their own, trained into an output directory that is then deleted: the
    training host's files are gone, the warehouse is all there is. Their files' bytes are kept to compare."""
    clone_network(client, "ethereum", NETWORK)
    training_dir = tmp_path_factory.mktemp("training_host") / "models"
    weak = train_model(TrainRequest("alert_scorer", network=NETWORK, output_dir=training_dir, families=("alert",)), client=client)
    strong = train_model(TrainRequest("alert_scorer", network=NETWORK, output_dir=training_dir), client=client)
    files = {
        outcome.model_id: {kind: path.read_bytes() for kind, path in Artifacts.of(training_dir, outcome.model_id).by_kind().items()}
        for outcome in (weak, strong)
    }
    shutil.rmtree(training_dir)
    return {"weak": weak, "strong": strong, "files": files}


@pytest.fixture()
def elsewhere(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Another working directory, outside the repository (the project is found through DBT_PROJECT_DIR)."""
    other = tmp_path / "other_host"
    other.mkdir()
    monkeypatch.setenv("DBT_PROJECT_DIR", str(REPO))
    monkeypatch.chdir(other)
    return other


def test_a_model_scores_passes_the_gate_and_is_backtested_from_the_warehouse_alone(trained, client, capsys, elsewhere: Path) -> None:
    weak, strong = trained["weak"].model_id, trained["strong"].model_id
    assert not trained["weak"].model_path.parent.exists(), "the training host's output directory is gone"
    nowhere = elsewhere / "no_models_here"

    # Scoring, through the command line, from another directory: the scores are the model's own predictions.
    argv = ["--model-type", "alert_scorer", "--network", NETWORK, "--processing-date", str(DAY), "--model-id", strong]
    outcome = run_main(score_cli.main, [*argv, "--output-dir", str(nowhere)], capsys)
    assert outcome.code == 0, outcome.stderr
    booster, metadata = parse_model(trained["files"][strong]["model"], trained["files"][strong]["metadata"], strong)
    data = extract_date(client, NETWORK, SCORER, load_contract(SCORER, client, NETWORK, table="scoring_alerts"), DAY)
    written = dict(
        client.query(
            f"SELECT alert_id, score FROM {NETWORK}.alert_scores WHERE processing_date = {{d:Date}} AND model_version = {{v:String}}",
            parameters={"d": DAY, "v": strong},
        ).result_rows
    )
    expected = booster.predict(data.features)
    assert len(written) == len(expected) > 0
    np.testing.assert_allclose([written[key] for key in data.keys.to_pylist()], expected, rtol=0, atol=1e-12)
    assert score_date("alert_scorer", DAY, NETWORK, weak, nowhere, client=client).rows == len(expected)

    # The promotion gate re-scores both models, loaded from the warehouse.
    settings = load_store_settings()
    promote(client, settings, weak, "champion", nowhere)
    better = promote(client, settings, strong, "champion", nowhere)
    assert better.previous == weak and better.comparison is not None and better.comparison.rows > 0
    assert better.comparison.candidate["test_auc"] > better.comparison.champion["test_auc"]

    # The backtest reads each model's metadata (its auto-close threshold, review capacity) from the warehouse.
    results = backtest(client, DB, SCORER, NETWORK, DAY, DAY, elsewhere, model_id="champion")
    assert list(results) == [strong] and [day.processing_date for day in results[strong]] == [DAY]
    assert results[strong][0].autoclose_threshold == metadata.metrics["autoclose_at_recall_95_threshold"]
    assert not nowhere.exists(), "nothing was read from, or written to, a local model directory"


def test_export_writes_the_four_files_byte_for_byte(trained, client, capsys, elsewhere: Path) -> None:
    strong = trained["strong"].model_id
    outcome = run_main(registry_cli.main, ["export", strong, "--to", "exported"], capsys)
    assert outcome.code == 0, outcome.stderr
    files = Artifacts.of(elsewhere / "exported", strong)
    assert [Path(line).name for line in outcome.stdout.split()] == [path.name for path in files.all()]
    for kind, path in files.by_kind().items():
        assert path.read_bytes() == trained["files"][strong][kind], f"{kind} differs from what training wrote"
    assert files.report_path.read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
    booster, metadata = load_model(files.model_path)
    assert metadata.model_id == strong and booster.num_trees() == metadata.num_trees
    pins = json.loads(registry_row(client, strong)["artifacts_json"])
    assert set(pins) == set(KINDS)


def test_a_corrupted_artifact_fails_in_one_line_naming_the_model(client, capsys, tmp_path: Path) -> None:
    settings = load_store_settings()
    model_id, _, _ = publish_small_model(client, settings, tmp_path / "models", "damaged")
    assert read_artifacts(client, DB, registry_row(client, model_id))["report"] == REPORT, "binary content comes back byte for byte"
    client.command(
        "ALTER TABLE aml.model_artifacts UPDATE content = concat(content, ' ') WHERE model_id = {m:String} AND kind = 'model' "
        "SETTINGS mutations_sync = 2",
        parameters={"m": model_id},
    )
    message = rf"model {model_id} is corrupted in the warehouse: its model artifact has sha256 [0-9a-f]{{12}}, its registry row pins"
    argv = ["--model-type", "cluster_scorer", "--network", "damaged", "--processing-date", "2024-03-20", "--model-id", model_id]
    result = run_main(score_cli.main, [*argv, "--output-dir", str(tmp_path / "models")], capsys)
    assert_clean_failure(result, f"model {model_id} is corrupted in the warehouse")
    with pytest.raises(PipelineError, match=message):
        load_registered(client, DB, registry_row(client, model_id), tmp_path)
    exported = run_main(registry_cli.main, ["export", model_id, "--to", str(tmp_path / "export")], capsys)
    assert_clean_failure(exported, f"model {model_id} is corrupted in the warehouse")
    assert not (tmp_path / "export" / f"{model_id}.txt").exists()

    # The intact files of the training host repair it: import-files uploads what the registry row pins.
    repaired = run_main(registry_cli.main, ["import-files", str(tmp_path / "models")], capsys)
    assert repaired.code == 0 and f"{model_id}: uploaded to the warehouse" in repaired.stdout, repaired.stderr
    booster, _ = load_registered(client, DB, registry_row(client, model_id), tmp_path / "elsewhere")
    assert booster.num_trees() == 5


def test_models_registered_before_the_warehouse_load_from_files_or_are_imported(client, capsys, tmp_path: Path) -> None:
    old_host = tmp_path / "old_host"
    files = register_legacy_model(client, DB, old_host, "legacy")
    model_id = files.model_path.stem
    row = registry_row(client, model_id)
    assert row["artifacts_json"] == "" and row["model_path"] == str(files.model_path)

    booster, metadata = load_registered(client, DB, row, old_host)
    assert metadata.model_id == model_id and booster.num_trees() == 5, "its files at the recorded path still load"
    argv = ["--model-type", "cluster_scorer", "--network", "legacy", "--processing-date", "2024-03-20", "--model-id", model_id]
    refused = run_main(score_cli.main, [*argv, "--output-dir", str(tmp_path / "new_host")], capsys)
    assert_clean_failure(refused, f"model {model_id} was registered before artifacts were kept in the warehouse")
    assert "python -m trainer.registry import-files DIR" in refused.stderr

    imported = run_main(registry_cli.main, ["import-files", str(old_host)], capsys)
    assert imported.code == 0 and f"{model_id}: uploaded to the warehouse" in imported.stdout, imported.stderr
    again = run_main(registry_cli.main, ["import-files", str(old_host)], capsys)
    assert f"{model_id}: already in the warehouse" in again.stdout
    shutil.rmtree(old_host)
    row = registry_row(client, model_id)
    assert set(json.loads(row["artifacts_json"])) == set(KINDS)
    assert read_artifacts(client, DB, row)["report"] == REPORT
    booster, metadata = load_registered(client, DB, row, tmp_path / "new_host")
    assert metadata.model_id == model_id and booster.num_trees() == 5


def test_a_registry_from_before_gains_the_checksum_column(client) -> None:
    database = "registry_before"
    client.command(f"DROP DATABASE IF EXISTS {database}")
    client.command(f"CREATE DATABASE {database}")
    old_columns = [line for line in registry.REGISTRY_DDL.splitlines() if "artifacts_json" not in line]
    client.command("\n".join(old_columns).replace(",\n) ENGINE", "\n) ENGINE").format(table=f"{database}.trained_models"))
    assert "artifacts_json" not in [row[0] for row in client.query(f"DESCRIBE TABLE {database}.trained_models").result_rows]
    client.command(f"INSERT INTO {database}.trained_models (model_id, model_type, version, network) VALUES ('old', 'alert_scorer', 3, 'n')")
    assert [row["artifacts_json"] for row in registry.list_models(client, database)] == [""], "read before the migration"
    registry.ensure_registry(client, database)
    assert [row["artifacts_json"] for row in registry.list_models(client, database)] == [""]
    assert "artifacts_json" in [row[0] for row in client.query(f"DESCRIBE TABLE {database}.trained_models").result_rows]
    assert registry.claim_version(client, database, "alert_scorer", "n") == 4, "versions continue after the registered ones"
    client.command(f"DROP DATABASE {database}")


def test_a_version_is_held_by_its_first_claim(client) -> None:
    database = "claims_test"
    client.command(f"DROP DATABASE IF EXISTS {database}")
    registry.ensure_registry(client, database)
    assert registry.try_claim(client, database, "alert_scorer", "n", 1)
    assert not registry.try_claim(client, database, "alert_scorer", "n", 1), "a second claim of the same version loses"
    # Where deduplication does not apply (another token, e.g. beyond its window), the earliest claim holds it.
    client.insert(
        f"{database}.model_version_claims",
        [["n", "alert_scorer", 2, "zzz-earlier", "another-host|ns|1", datetime(2020, 1, 1, tzinfo=UTC)]],
        column_names=["network", "model_type", "version", "claim_id", "writer", "claimed_at"],
    )
    assert not registry.try_claim(client, database, "alert_scorer", "n", 2)
    assert registry.claim_version(client, database, "alert_scorer", "n") == 3
    assert registry.claim_version(client, database, "alert_scorer", "other") == 1, "versions count per network"
    client.command(f"DROP DATABASE {database}")


def test_concurrent_publishers_get_distinct_versions_and_complete_models(client, tmp_path: Path) -> None:
    settings = load_store_settings()
    before = {row["model_id"] for row in registry.list_models(client, DB, network="racing")}
    published, errors = [], []

    def publisher(index: int) -> None:
        own = open_chdb_client(settings.path)  # a client of its own, as a process on another host would have
        try:
            published.append(publish_small_model(own, settings, tmp_path / f"host{index}", "racing", seed=index)[0])
        except BaseException as error:  # reported below
            errors.append(error)

    threads = [threading.Thread(target=publisher, args=(index,)) for index in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors, errors
    rows = [row for row in registry.list_models(client, DB, network="racing") if row["model_id"] not in before]
    assert sorted(row["model_id"] for row in rows) == sorted(published)
    versions = sorted(row["version"] for row in rows)
    assert len(set(versions)) == 4, versions
    for row in rows:
        booster, metadata = load_registered(client, DB, row, tmp_path)
        assert metadata.model_id == row["model_id"] and metadata.version == row["version"]


def child(store: Path, *args: str, pause: Path | None = None) -> subprocess.Popen:
    environment = {**os.environ, "CHDB_PATH": str(store), "PYTHONUNBUFFERED": "1"}
    environment.pop(PAUSE_BEFORE_COMMIT, None)
    if pause:
        environment[PAUSE_BEFORE_COMMIT] = str(pause)
    return subprocess.Popen(
        [sys.executable, "-m", "tests.integration.publish_child", *args],
        cwd=REPO, env=environment, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip


def child_state(store: Path, network: str) -> dict:
    process = child(store, "state", network)
    out, err = process.communicate(timeout=120)
    assert process.returncode == 0, err
    return json.loads(out)


def paused_before_commit(store: Path, output_dir: Path, network: str, marker: Path) -> tuple[subprocess.Popen, str]:
    """A publish in a process of its own, waiting just before its commit insert: artifacts written, no registry row."""
    process = child(store, "publish", str(output_dir), network, pause=marker)
    deadline = time.monotonic() + 120
    while not marker.exists():
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            pytest.fail(f"the publish never reached its commit: {process.communicate()[1][-2000:]}")
        time.sleep(0.1)
    time.sleep(0.2)  # the marker is written first, then the process sleeps
    return process, marker.read_text()


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL], ids=["SIGTERM", "SIGKILL"])
def test_a_publish_stopped_before_its_commit_leaves_no_registry_row(tmp_path: Path, sig: signal.Signals) -> None:
    """A real signal at the real point (between the artifact rows and the registry row), in a process of its own on a
    store of its own. SIGTERM: the run stops cleanly and removes its artifact rows on the way out. SIGKILL: they stay,
    unregistered and so never read, and the next publish removes them."""
    store, output_dir, network = tmp_path / "chdb", tmp_path / "models", "signalled"
    process, model_id = paused_before_commit(store, output_dir, network, tmp_path / "paused")
    process.send_signal(sig)
    _, err = process.communicate(timeout=120)
    if sig == signal.SIGTERM:
        assert process.returncode == EXIT_INTERRUPTED and "interrupted by SIGTERM" in err and "Traceback" not in err, err
    else:
        assert process.returncode == -signal.SIGKILL
    after = child_state(store, network)
    assert model_id not in after["registered"], "no registry row without its artifacts"
    assert after["artifacts"] == ({} if sig == signal.SIGTERM else {model_id: sorted(KINDS)})
    assert not output_dir.exists() or not list(output_dir.iterdir()), "the files are exported only after the commit"

    nxt = child(store, "publish", str(output_dir), network)
    out, err = nxt.communicate(timeout=120)
    assert nxt.returncode == 0, err
    committed = out.strip()
    final = child_state(store, network)
    assert final["registered"] == {committed: sorted(KINDS)}
    assert final["artifacts"] == {committed: sorted(KINDS)}, "the next publish removed the orphan"
    if sig == signal.SIGKILL:
        assert "removed the artifacts of 1 model(s) whose publish never committed" in err and model_id in err
    assert sorted(path.name for path in output_dir.iterdir()) == sorted(f"{committed}{suffix}" for suffix in KINDS.values())
