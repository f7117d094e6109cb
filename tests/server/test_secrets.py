"""The profile's password on the server path: it travels with every request of dbt and the trainer (the tier's server
refuses requests without it), and never lands in a log, a file, a table or an error message. Runs last in the tier, so
that everything the tier's dbt builds, training runs, scorings and commands wrote is searched."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import clickhouse_connect
import pytest
from clickhouse_connect.driver.exceptions import DatabaseError

from tests.conftest import REPO
from tests.integration.support import dbt_vars, run_dbt
from tests.server.conftest import GIVEN_SERVER, NETWORK, REGISTRY_DB
from trainer.errors import PipelineError
from trainer.store.connection import connect, qualified_name
from trainer.store.settings import load_store_settings

WRONG_PASSWORD = "wrong-" + "Pa55word-never-valid"
# The engine's data files: compressed columns, which a search for text cannot read; the tables are searched by query.
STORE_DIRECTORIES = {"chdb"}


@pytest.fixture(scope="module")
def password(clickhouse_server: str) -> str:
    secret = load_store_settings().password
    if not secret:
        pytest.skip("the given server takes no password: there is none to keep secret")
    return secret


def files_holding(text: str, *roots: Path) -> list[str]:
    """Every file under `roots` (the engine's data directories left out) whose bytes hold `text`."""
    needle, found = text.encode(), []
    for root in roots:
        for path in root.rglob("*"):
            if path.is_file() and not STORE_DIRECTORIES & set(path.relative_to(root).parts[:-1]) and needle in path.read_bytes():
                found.append(str(path))
    return found


def tables_holding(client, text: str, databases: tuple[str, ...]) -> list[str]:
    """Every table of `databases` (views left out) with a row whose text holds `text`."""
    tables = client.query(
        "SELECT database, name FROM system.tables WHERE database IN {d:Array(String)} AND NOT is_temporary AND engine NOT LIKE '%View'",
        parameters={"d": list(databases)},
    ).result_rows
    return [
        f"{database}.{table}"
        for database, table in tables
        if client.command(
            f"SELECT count() FROM {qualified_name(database, table)} WHERE position(formatRow('TSV', *), {{p:String}}) > 0",
            parameters={"p": text},
        )
    ]


def test_the_server_refuses_requests_without_the_password(password: str) -> None:
    if GIVEN_SERVER:
        pytest.skip("the given server's authentication is its own")
    host, port = os.environ["CLICKHOUSE_HOST"], int(os.environ["CLICKHOUSE_PORT"])
    for given in ("", WRONG_PASSWORD):
        with pytest.raises(DatabaseError, match="AUTHENTICATION_FAILED"):
            clickhouse_connect.get_client(host=host, port=port, username="default", password=given)
    assert clickhouse_connect.get_client(host=host, port=port, username="default", password=password).command("SELECT 1") == 1


def test_a_failing_connection_names_no_password(password: str) -> None:
    settings = load_store_settings()
    assert password not in repr(settings) and password not in settings.describe()
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    for failing in (replace(settings, password=WRONG_PASSWORD), replace(settings, host="127.0.0.1", port=closed_port)):
        with pytest.raises(PipelineError) as refused:
            connect(failing).command("SELECT 1")
        message = str(refused.value)
        assert message.startswith("cannot open ClickHouse at ") and "\n" not in message, message
        assert password not in message and WRONG_PASSWORD not in message, message


def test_commands_that_fail_on_the_password_say_so_in_one_line_without_it(password: str) -> None:
    """A trainer command and dbt, each given a wrong password, fail naming the refusal, never the password."""
    environment = {**os.environ, "CLICKHOUSE_PASSWORD": WRONG_PASSWORD}
    command = [sys.executable, "-m", "trainer.registry", "--latest", "--network", NETWORK]
    failed = subprocess.run(command, cwd=REPO, env=environment, capture_output=True, text=True, timeout=120)
    assert failed.returncode == 2 and failed.stderr.count("\n") == 1 and "AUTHENTICATION_FAILED" in failed.stderr, failed.stderr
    if not GIVEN_SERVER:
        assert "516" in failed.stderr, failed.stderr
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("CLICKHOUSE_PASSWORD", WRONG_PASSWORD)
        ok, log = run_dbt("debug", "--vars", dbt_vars(NETWORK))
    assert not ok and "AUTHENTICATION_FAILED" in log, log[-3000:]
    for secret in (password, WRONG_PASSWORD):
        assert secret not in failed.stdout + failed.stderr and secret not in log


def test_no_log_file_or_table_holds_the_password(
    password: str, client, trained, trainer_log: Path, test_root: Path, tmp_path_factory
) -> None:
    """The trainer's log of the tier (every run in this process, with its structured context), dbt's logs and target
    files, the models' files (model, metadata, report, card), the exports, and every row of the registry and the
    network's tables: scores, batch metadata, drift, backtests, alias history and the artifacts in the warehouse."""
    assert trainer_log.stat().st_size > 0 and all(outcome.model_path.is_file() for outcome in trained.values())
    dbt_log = Path(os.environ["DBT_LOG_PATH"]) / "dbt.log"
    assert dbt_log.is_relative_to(test_root) and dbt_log.stat().st_size > 0
    assert files_holding(password, test_root, tmp_path_factory.getbasetemp()) == []
    assert tables_holding(client, password, (REGISTRY_DB, NETWORK)) == []
