"""The command-line entry points: one clear line on bad input, no traceback, nothing written."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO


def run(args: list[str], chdb_path: Path | str | None = None) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    if chdb_path is not None:
        env["CHDB_PATH"] = str(chdb_path)
    return subprocess.run([sys.executable, *args], cwd=REPO, env=env, capture_output=True, text=True, timeout=300)


def test_unknown_model_type_lists_the_three(tmp_path: Path) -> None:
    result = run(["-m", "trainer", "--model-type", "fraud_scorer"], tmp_path / "db")
    assert result.returncode == 2
    assert "alert_scorer" in result.stderr and "alert_ranker" in result.stderr and "cluster_scorer" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["-m", "trainer", "--model-type", "alert_scorer", "--start-date", "2024-13-01"], "not an ISO date"),
        (["-m", "trainer", "--model-type", "alert_scorer", "--start-date", "2024-03-01", "--end-date", "2024-01-01"], "is after end date"),
        (["-m", "trainer", "--model-type", "alert_scorer", "--network", "eth'; DROP TABLE x --"], "network must match"),
        (["-m", "trainer.sample_data", "--network", "ethereum", "--start", "2024-02-01", "--end", "2024-01-01", "--out", "x"], "start"),
    ],
)
def test_bad_input_fails_with_one_line(tmp_path: Path, args: list[str], message: str) -> None:
    result = run(args, tmp_path / "db")
    assert result.returncode == 2
    assert message in result.stderr
    assert "Traceback" not in result.stderr


def test_missing_training_table_names_it(ethereum, tmp_path: Path) -> None:
    result = run(
        ["-m", "trainer", "--model-type", "alert_scorer", "--network", "nowhere", "--output-dir", str(tmp_path / "m")], tmp_path / "db"
    )
    assert result.returncode == 2
    assert "nowhere.training_alerts does not exist" in result.stderr
    assert not (tmp_path / "m").exists() or not any((tmp_path / "m").iterdir())


def test_store_held_by_another_process_is_named_and_its_spill_files_kept(client) -> None:
    held = os.environ["CHDB_PATH"]
    # A refused chDB start-up first empties the directory's tmp/ of the engine's temporary files, where the holder keeps
    # the buckets of its spilled joins: the second process must stop at the lock, before chDB starts.
    spilled_bucket = Path(held) / "tmp" / "tmp-spilled-join-bucket"
    spilled_bucket.parent.mkdir(exist_ok=True)
    spilled_bucket.write_bytes(b"bucket")
    try:
        result = run(["-m", "trainer.registry"], held)
        assert result.returncode == 2
        assert f"embedded ClickHouse directory {Path(held).resolve()} is in use by process {os.getpid()}" in result.stderr
        assert "Traceback" not in result.stderr
        assert spilled_bucket.exists()
    finally:
        spilled_bucket.unlink(missing_ok=True)


def test_registry_lists_json_on_an_empty_store(tmp_path: Path) -> None:
    result = run(["-m", "trainer.registry", "--json"], tmp_path / "db")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == []
