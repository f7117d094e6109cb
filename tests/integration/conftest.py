"""Scenario fixtures: one embedded ClickHouse store per test session, real dbt builds, real training.

chDB allows one process per database directory, so this process owns the store: dbt runs in-process
through dbtRunner and the trainer through its Python API. Command-line tests that need a store of their
own get a separate directory.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.support import BuiltNetwork, build_network


@pytest.fixture(scope="session")
def test_root() -> Path:
    return Path(os.environ["AML_TEST_ROOT"])


@pytest.fixture(scope="session")
def client():
    from trainer.store.connection import connect

    return connect()


@pytest.fixture(scope="session")
def ethereum(test_root: Path, client) -> BuiltNetwork:
    """The sample window of network `ethereum`, ingested and built by dbt."""
    return build_network(test_root, "ethereum", alerts_per_day=80)


@pytest.fixture()
def output_dir(tmp_path: Path) -> Iterator[Path]:
    directory = tmp_path / "models"
    yield directory
