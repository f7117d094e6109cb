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

from tests.integration.support import BuiltNetwork, build_network, dbt_vars, run_dbt

# dbt's unit tests read fixed inputs, not the window, so the builds of this tier leave them out, as trainer.daily's do
# (dbt reads DBT_EXCLUDE_RESOURCE_TYPES at each command). The modules that run them say so with `with_unit_tests`: the
# unit tests themselves, and the builds of unusual windows and fuzzed drops, where a unit test must never fail.
UNIT_TESTS_LEFT_OUT = {"DBT_EXCLUDE_RESOURCE_TYPES": "unit_test"}
os.environ.update(UNIT_TESTS_LEFT_OUT)

# The modules that take longest (`--durations`, 2026-11-30), in the order `make test` hands them to its two processes
# (`--dist loadfile --no-loadscope-reorder`): the longest first, so that no process is left with a long module while
# the other has finished. Modules not listed follow in their usual order.
LONGEST_FIRST = [
    "test_daily_build.py",
    "test_dbt_build.py",
    "test_contract_fuzzing.py",
    "test_leakage.py",
    "test_monitoring.py",
    "test_trainer.py",
    "test_other_windows.py",
    "test_failure_matrix.py",
    "test_daily_loop.py",
    "test_faults.py",
]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Longest modules first (a stable sort: the tests of a module keep their order)."""
    rank = {name: position for position, name in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))


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


@pytest.fixture(scope="session")
def ethereum_docs(test_root: Path, ethereum: BuiltNetwork) -> Path:
    """dbt's manifest (with compiled SQL) and catalog of the built ethereum window, from `dbt docs generate` into a
    target directory of their own, so the builds of other tests do not replace them; returns the manifest's path.
    The feature lineage (catalogue, lineage docs) reads them."""
    target = test_root / "dbt_docs_target"
    ok, log = run_dbt("docs", "generate", "--target-path", str(target), "--vars", dbt_vars("ethereum"))
    assert ok, log[-3000:]
    return target / "manifest.json"


@pytest.fixture(scope="module")
def with_unit_tests() -> Iterator[None]:
    """The module's dbt builds run the unit tests too."""
    with pytest.MonkeyPatch.context() as environment:
        for name in UNIT_TESTS_LEFT_OUT:
            environment.delenv(name)
        yield


@pytest.fixture()
def output_dir(tmp_path: Path) -> Iterator[Path]:
    directory = tmp_path / "models"
    yield directory
