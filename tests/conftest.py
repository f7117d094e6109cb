"""Every test run gets a private embedded store, dbt target and log directory (set here before anything opens one);
tests/unit never opens them, tests/integration does (see its conftest)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent

# Test processes share two cores (two pytest-xdist workers, the test server, dbt's and the trainer's children): OpenMP
# threads that spin while they wait (LightGBM's default) take the cores the other processes need. Set before LightGBM
# is first imported; child processes inherit it.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
SESSION_ROOT = Path(os.environ.get("AML_TEST_ROOT", "")) if os.environ.get("AML_TEST_ROOT") else None


def _remove_stores_of_ended_runs(temporary: Path) -> None:
    """Test stores outlive their run (chDB cannot be shut down before the process exits); the next run removes
    those whose process has ended, judged by the store's process lock being free."""
    import fcntl
    import shutil
    import time

    def in_use(lock: Path) -> bool:
        with lock.open("a") as handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return True
        return False

    for root in temporary.glob("aml-tests-*"):
        # gw*: pytest-xdist workers; server: the store of tests/server's ClickHouse stand-in (another process)
        locks = [*root.glob("chdb/.process.lock"), *root.glob("gw*/chdb/.process.lock"), *root.glob("server/chdb/.process.lock")]
        if not locks:
            if time.time() - root.stat().st_mtime < 86400:
                continue  # a run that has not opened its store yet, or one that never did: left for a day
        elif any(in_use(lock) for lock in locks):
            continue  # a test run is using it
        shutil.rmtree(root, ignore_errors=True)


def pytest_configure(config: pytest.Config) -> None:
    # Point dbt and the trainer at a private store before anything opens one.
    import tempfile

    if SESSION_ROOT is None:
        _remove_stores_of_ended_runs(Path(tempfile.gettempdir()))
    root = SESSION_ROOT or Path(tempfile.mkdtemp(prefix="aml-tests-"))
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    if worker:  # pytest-xdist: each worker process is a session of its own, with a store of its own
        root = root / worker
        root.mkdir(parents=True, exist_ok=True)
    os.environ["AML_TEST_ROOT"] = str(root)
    os.environ["CHDB_PATH"] = str(root / "chdb")
    os.environ["DBT_TARGET_PATH"] = str(root / "dbt_target")
    os.environ["DBT_LOG_PATH"] = str(root / "dbt_logs")
    os.environ.pop("DBT_TARGET", None)
    os.chdir(REPO)
    if not (REPO / "profiles.yml").exists():
        (REPO / "profiles.yml").write_text((REPO / "profiles.yml.example").read_text())
