"""Shared fixtures: one embedded ClickHouse store per test session, real dbt builds, real training.

chDB allows one process per database directory, so this process owns the store: dbt runs in-process
through dbtRunner and the trainer through its Python API. Command-line tests that need a store of their
own get a separate directory.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SESSION_ROOT = Path(os.environ.get("AML_TEST_ROOT", "")) if os.environ.get("AML_TEST_ROOT") else None

START, END = date(2024, 1, 1), date(2024, 3, 31)


def _remove_stores_of_ended_runs(temporary: Path) -> None:
    """Test stores outlive their run (chDB cannot be shut down before the process exits); the next run removes
    those whose process has ended, judged by the store's process lock being free."""
    import fcntl
    import shutil
    import time

    for root in temporary.glob("aml-tests-*"):
        lock = root / "chdb" / ".process.lock"
        if not lock.exists():
            if time.time() - root.stat().st_mtime < 86400:
                continue  # a run that has not opened its store yet, or one that never did: left for a day
        else:
            with lock.open("a") as handle:
                try:
                    fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    continue  # a test run is using it
        shutil.rmtree(root, ignore_errors=True)


def pytest_configure(config: pytest.Config) -> None:
    # Point dbt and the trainer at a private store before anything opens one.
    import tempfile

    if SESSION_ROOT is None:
        _remove_stores_of_ended_runs(Path(tempfile.gettempdir()))
    root = SESSION_ROOT or Path(tempfile.mkdtemp(prefix="aml-tests-"))
    os.environ["AML_TEST_ROOT"] = str(root)
    os.environ["CHDB_PATH"] = str(root / "chdb")
    os.environ["DBT_TARGET_PATH"] = str(root / "dbt_target")
    os.environ["DBT_LOG_PATH"] = str(root / "dbt_logs")
    os.environ.pop("DBT_TARGET", None)
    os.chdir(REPO)
    if not (REPO / "profiles.yml").exists():
        (REPO / "profiles.yml").write_text((REPO / "profiles.yml.example").read_text())


@pytest.fixture(scope="session")
def test_root() -> Path:
    return Path(os.environ["AML_TEST_ROOT"])


@pytest.fixture(scope="session")
def client():
    from trainer.connection import connect

    return connect()


def run_dbt(*args: str) -> tuple[bool, str]:
    """Run dbt in this process; returns (success, everything dbt logged)."""
    import io
    from contextlib import redirect_stdout

    from dbt.cli.main import dbtRunner

    buffer = io.StringIO()
    with redirect_stdout(buffer):
        result = dbtRunner().invoke(list(args) + ["--no-use-colors", "--log-format", "text"])
    return result.success, buffer.getvalue() + (str(result.exception) if result.exception else "")


def dbt_vars(network: str, start: date | str = START, end: date | str = END, **extra: object) -> str:
    pairs = {"network": network, "start": str(start), "end": str(end), **extra}
    return "{" + ", ".join(f"{key}: '{value}'" for key, value in pairs.items()) + "}"


@dataclass
class BuiltNetwork:
    network: str
    drops: Path
    build_log: str


def build_network(
    test_root: Path,
    network: str,
    alerts_per_day: int,
    random_labels: bool = False,
    seed: int = 7,
    start: date = START,
    end: date = END,
    label_delay_days: int = 0,
    **build_vars: object,
) -> BuiltNetwork:
    from trainer.connection import connect
    from trainer.ingest import ingest
    from trainer.sample_data import generate_drops

    drops = test_root / f"drops_{network}"
    generate_drops(
        network, start, end, drops, seed=seed, alerts_per_day=alerts_per_day, random_labels=random_labels, label_delay_days=label_delay_days
    )
    ingest(connect(), network, drops)
    ok, log = run_dbt("build", "--vars", dbt_vars(network, start, end, **build_vars))
    assert ok, log[-3000:]
    return BuiltNetwork(network, drops, log)


def copy_feature_tables(client, source: str, target: str) -> None:
    """Empty copies of the feature and scoring tables of `source` in database `target`: a training table
    fabricated there resolves its feature contract against them."""
    client.command(f"CREATE DATABASE IF NOT EXISTS {target}")
    tables = client.query(
        "SELECT name FROM system.tables WHERE database = {d:String} AND (startsWith(name, 'int_') OR startsWith(name, 'scoring_'))",
        parameters={"d": source},
    ).result_rows
    for (name,) in tables:
        client.command(f"CREATE TABLE IF NOT EXISTS {target}.{name} AS {source}.{name}")


@pytest.fixture(scope="session")
def ethereum(test_root: Path, client) -> BuiltNetwork:
    """The sample window of network `ethereum`, ingested and built by dbt."""
    return build_network(test_root, "ethereum", alerts_per_day=80)


@pytest.fixture()
def output_dir(tmp_path: Path) -> Iterator[Path]:
    directory = tmp_path / "models"
    yield directory
