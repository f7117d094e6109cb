"""The server tier: dbt-clickhouse (`type: clickhouse`, `driver: http`) and the trainer's clickhouse-connect client
on the `server` target of profiles.yml, the code path users run against a real ClickHouse server.

With CLICKHOUSE_HOST set in the environment the tier runs against that server (CLICKHOUSE_PORT, CLICKHOUSE_USER,
CLICKHOUSE_PASSWORD, CLICKHOUSE_SECURE as the profile reads them); it creates and replaces the databases it uses
(the registry's `aml`, the test networks), so point it at a scratch server. Otherwise the session starts
tests.support.clickhouse_http, the embedded engine behind ClickHouse's HTTP interface, on a private directory.
The tier's session fixture sets DBT_TARGET=server (tests/conftest.py clears it for the other tiers) before any of its
tests opens a store, and puts it back when the session ends.
"""

from __future__ import annotations

import os
import secrets
import select
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import REPO

GIVEN_SERVER = "CLICKHOUSE_HOST" in os.environ
STARTUP_SECONDS = 60
# The started server's password: distinctive, so that a search for it in logs, files and tables finds nothing else.
SESSION_PASSWORD = "pw-" + secrets.token_hex(12)
LOG_LEVEL = os.environ.get("CLICKHOUSE_HTTP_LOG_LEVEL", "WARNING")  # INFO: one line per query in <root>/server/clickhouse_http.log


def start_server(root: Path) -> tuple[subprocess.Popen[bytes], int]:
    """tests.support.clickhouse_http on `root`/server/chdb (not `root`/chdb, which the integration tier's store takes
    when both tiers run in one session), requiring the password in CLICKHOUSE_PASSWORD; returns the process and the
    port it chose."""
    (root / "server").mkdir(exist_ok=True)
    command = ["-m", "tests.support.clickhouse_http", "--path", str(root / "server" / "chdb"), "--port", "0", "--log-level", LOG_LEVEL,
               "--password-env", "CLICKHOUSE_PASSWORD"]  # fmt: skip
    with (root / "server" / "clickhouse_http.log").open("ab") as log:
        process = subprocess.Popen([sys.executable, *command], cwd=REPO, stdout=subprocess.PIPE, stderr=log)
    assert process.stdout is not None
    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline:
        if select.select([process.stdout], [], [], 0.5)[0]:
            line = process.stdout.readline().decode()
            if line.startswith("listening on "):
                return process, int(line.rsplit(":", 1)[1])
        if process.poll() is not None:
            break
    process.kill()
    raise RuntimeError(f"the test ClickHouse server did not start; see {root / 'server' / 'clickhouse_http.log'}")


@pytest.fixture(scope="session", autouse=True)
def clickhouse_server() -> Iterator[str]:
    """Where the tier's ClickHouse is, as `host:port`: the one CLICKHOUSE_HOST names, or one started for the session
    with a password of its own (SESSION_PASSWORD), which the profile's server target then carries, so that the password
    travels the code path dbt and the trainer take. DBT_TARGET is `server` meanwhile, for dbt and the trainer alike."""
    environment = pytest.MonkeyPatch()
    environment.setenv("DBT_TARGET", "server")
    process = None
    try:
        if not GIVEN_SERVER:
            environment.setenv("CLICKHOUSE_PASSWORD", SESSION_PASSWORD)
            process, port = start_server(Path(os.environ["AML_TEST_ROOT"]))
            environment.setenv("CLICKHOUSE_HOST", "127.0.0.1")
            environment.setenv("CLICKHOUSE_PORT", str(port))
        yield f"{os.environ['CLICKHOUSE_HOST']}:{os.environ.get('CLICKHOUSE_PORT', '8123')}"
    finally:
        environment.undo()
        if process is not None:
            process.terminate()
            try:
                assert process.wait(timeout=30) == 0, "the test ClickHouse server did not stop cleanly on SIGTERM"
            finally:
                process.kill()


@pytest.fixture(scope="session")
def test_root() -> Path:
    return Path(os.environ["AML_TEST_ROOT"])


@pytest.fixture(scope="session", autouse=True)
def trainer_log(test_root: Path) -> Iterator[Path]:
    """Everything the trainer logs in this process during the tier, with its structured context, in
    <root>/server/trainer.log, where test_secrets looks for the password."""
    from loguru import logger

    path = test_root / "server" / "trainer.log"
    path.parent.mkdir(exist_ok=True)
    sink = logger.add(path, level="DEBUG", format="{time} {level} {message} {extra}")
    yield path
    logger.remove(sink)


@pytest.fixture(scope="session")
def client(clickhouse_server: str):
    from trainer.store.connection import connect
    from trainer.store.settings import load_store_settings

    settings = load_store_settings()
    assert settings.kind == "clickhouse", "the server tier runs on the profile's server target"
    return connect(settings)


NETWORK = "server_flow"  # a database of its own: on a real server the tier touches no other network
REGISTRY_DB = "aml"
MODEL_TYPES = ("alert_scorer", "alert_ranker", "cluster_scorer")


@pytest.fixture(scope="session")
def built(client, test_root: Path):
    """The sample window ingested by the trainer and built by `dbt build` (its data tests and unit tests included)."""
    from tests.integration.support import build_network

    return build_network(test_root, NETWORK, alerts_per_day=60)


@pytest.fixture(scope="session")
def trained(client, built, tmp_path_factory) -> dict:
    """A model of each type trained on the built window, by model type."""
    from trainer.train.pipeline import TrainRequest, train_model

    output_dir = tmp_path_factory.mktemp("server_models")
    return {t: train_model(TrainRequest(model_type=t, network=NETWORK, output_dir=output_dir), client=client) for t in MODEL_TYPES}


# Modules in the order their state builds up: the protocol, then the parity with the embedded engine (before any later
# day changes the window), the flow and its models reloaded elsewhere, ingest, the concurrent processes, which add days
# and models, and last the search for the password in everything the tier wrote.
MODULE_ORDER = ["test_clickhouse_http.py", "test_parity.py", "test_server_flow.py", "test_model_reload.py", "test_server_ingest.py",
                "test_concurrency.py", "test_secrets.py"]  # fmt: skip


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    rank = {name: position for position, name in enumerate(MODULE_ORDER)}
    here = Path(__file__).parent
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)) if item.path.parent == here else -1)
