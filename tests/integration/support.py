"""What the scenario tests share: dbt run in this process, windows built from sample drops, copies of feature tables."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from pathlib import Path

START, END = date(2024, 1, 1), date(2024, 3, 31)


# dbt parses the project again whenever its vars change, and a test's vars change with its window: most of a short
# build's time. No parsed node reads the window (test_daily_loop's test_a_parse_does_not_depend_on_the_window), so the
# commands below reuse one parse per set of the other vars, as trainer.daily does with dbtRunner(manifest=...).
PARSE_REUSING_COMMANDS = {"build", "run", "test", "compile", "docs", "seed", "show"}
WINDOW_VARS = ("start", "end")
_parsed_projects: dict[tuple[object, ...], object] = {}


def project_fingerprint() -> tuple[int, int]:
    """How many files the dbt project has and the newest change among them: a test that edits the project gets a new
    parse."""
    from tests.conftest import REPO

    files = [REPO / "dbt_project.yml", REPO / "profiles.yml", *(path for path in (REPO / "dbt_project").rglob("*") if path.is_file())]
    return len(files), max(path.stat().st_mtime_ns for path in files)


def parsed_project(args: tuple[str, ...]):  # noqa: ANN201 - dbt's Manifest, imported lazily
    """The manifest the command `args` can reuse (its vars without the window), parsed once per such vars, the dbt
    target and the project's files; None for a command that parses by itself (parse, debug, ...)."""
    import json
    import os

    import yaml
    from dbt.cli.main import dbtRunner

    if not args or args[0] not in PARSE_REUSING_COMMANDS:
        return None
    given = yaml.safe_load(args[args.index("--vars") + 1]) if "--vars" in args else {}
    parse_vars = {name: value for name, value in (given or {}).items() if name not in WINDOW_VARS}
    key = (json.dumps(parse_vars, sort_keys=True, default=str), os.environ.get("DBT_TARGET"), project_fingerprint())
    if key not in _parsed_projects:
        result = dbtRunner().invoke(["parse", "--no-write-json", "--vars", json.dumps(parse_vars, default=str), "--log-level", "none"])
        if not result.success:
            return None  # the command itself parses and reports the problem
        _parsed_projects[key] = result.result
    return _parsed_projects[key]


def run_dbt(*args: str) -> tuple[bool, str]:
    """Run dbt in this process; returns (success, everything dbt logged)."""
    import io
    from contextlib import redirect_stdout

    from dbt.cli.main import dbtRunner

    buffer = io.StringIO()
    with redirect_stdout(buffer):
        manifest = parsed_project(args)
        result = dbtRunner(manifest=manifest).invoke(list(args) + ["--no-use-colors", "--log-format", "text"])
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
    from trainer.ingest import ingest
    from trainer.sample_data import generate_drops
    from trainer.store.connection import connect

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


def clone_network(client, source: str, target: str) -> None:
    """Every table of network `source` (views left out) copied into database `target` with the same engine, its
    `network` column (where it has one) set to `target`: a network of its own whose registry aliases no other test
    touches."""
    client.command(f"CREATE DATABASE IF NOT EXISTS {target}")
    tables = client.query(
        "SELECT t.name, countIf(c.name = 'network') > 0 FROM system.tables AS t "
        "INNER JOIN system.columns AS c ON c.database = t.database AND c.table = t.name "
        "WHERE t.database = {d:String} AND t.engine NOT LIKE '%View%' GROUP BY t.name",
        parameters={"d": source},
    ).result_rows
    for name, has_network in tables:
        select = f"SELECT * REPLACE ('{target}' AS network)" if has_network else "SELECT *"
        client.command(f"DROP TABLE IF EXISTS {target}.{name}")
        client.command(f"CREATE TABLE {target}.{name} AS {source}.{name}")
        client.command(f"INSERT INTO {target}.{name} {select} FROM {source}.{name}")


def assert_same_rows(expected, actual, label: str) -> None:
    """Two Arrow tables hold the same columns and rows, value by value: floats to 1e-12 relative (sums of floats may
    differ in the last bits with the engine's thread order), everything else exactly."""
    import numpy as np

    assert actual.column_names == expected.column_names, label
    assert actual.num_rows == expected.num_rows > 0, label
    for name in expected.column_names:
        left, right = expected.column(name).to_numpy(), actual.column(name).to_numpy()
        if left.dtype.kind == "f":
            np.testing.assert_allclose(right, left, rtol=1e-12, atol=0, err_msg=f"{label}.{name}")
        else:
            assert (left == right).all(), f"{label}.{name}"
