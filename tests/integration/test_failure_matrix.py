"""The failure matrix: every bad input or state ends with a non-zero exit, one clear line and nothing written.

Each case runs a real entry point (`main` of the CLI module, in this process, which owns the embedded store)
and asserts: the exit code is not 0, stderr holds exactly one line and no traceback, the line names the
problem, and no model file, registry row or raw row appeared.
"""

from __future__ import annotations

import shutil
import signal
import sys
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tests.integration.support import copy_feature_tables
from trainer import __main__ as train_cli
from trainer.cli import run_cli
from trainer.ingest import RAW_TABLES
from trainer.ingest import __main__ as ingest_cli
from trainer.registry import __main__ as registry_cli
from trainer.sample_data import generate_drops
from trainer.score import __main__ as score_cli

NETWORK = "matrixnet"


@dataclass
class Outcome:
    code: int
    stderr: str
    stdout: str = ""


def run_main(main: Callable[[], None], argv: list[str], capsys: pytest.CaptureFixture[str]) -> Outcome:
    """Run a CLI entry point as `python -m` would, in this process; restore pytest's signal handlers after."""
    handlers = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    old_argv = sys.argv
    sys.argv = ["prog", *argv]
    capsys.readouterr()
    try:
        run_cli(main)
        code = 0
    except SystemExit as exit_:
        code = int(exit_.code or 0)
    finally:
        sys.argv = old_argv
        for sig, handler in handlers.items():
            signal.signal(sig, handler)
    captured = capsys.readouterr()
    return Outcome(code, captured.err, captured.out)


@pytest.fixture(scope="module")
def drops(test_root: Path) -> Path:
    root = test_root / "drops_matrix"
    generate_drops(NETWORK, date(2024, 1, 1), date(2024, 1, 2), root, seed=9, alerts_per_day=30)
    return root


def state(client, output_dir: Path) -> tuple[int, int, int, int, int]:
    """Model files, registry rows, model artifact rows, raw rows, and staging tables left behind (ingestion and scoring
    stage into `_` tables)."""
    models = len(list(output_dir.rglob("*"))) if output_dir.exists() else 0
    registry_rows = (
        int(client.command("SELECT count() FROM aml.trained_models")) if client.command("EXISTS TABLE aml.trained_models") else 0
    )
    artifact_rows = (
        int(client.command("SELECT count() FROM aml.model_artifacts")) if client.command("EXISTS TABLE aml.model_artifacts") else 0
    )
    raw = 0
    if client.command(f"EXISTS TABLE {NETWORK}.raw_alerts"):
        raw = sum(int(client.command(f"SELECT count() FROM {NETWORK}.{t.name}")) for t in RAW_TABLES)
    stages = int(client.command("SELECT count() FROM system.tables WHERE startsWith(name, '_')"))
    return models, registry_rows, artifact_rows, raw, stages


def _set(table: pa.Table, column: str, values: list) -> pa.Table:
    return table.set_column(table.schema.get_field_index(column), column, pa.array(values))


def _bad_drop(name: str) -> Callable[[pa.Table], pa.Table]:
    return {
        "missing column": lambda t: t.drop_columns(["volume_usd"]),
        "wrong type": lambda t: _set(t, "volume_usd", ["lots"] * t.num_rows),
        "null key": lambda t: _set(t, "alert_id", [None] * t.num_rows),
        "duplicate alert ids": lambda t: _set(t, "alert_id", ["same-id"] * t.num_rows),
        "nan amount": lambda t: _set(t, "volume_usd", [float("nan")] * t.num_rows),
        "infinite amount": lambda t: _set(t, "volume_usd", [float("inf")] * t.num_rows),
        "negative volume": lambda t: _set(t, "volume_usd", [-5.0] * t.num_rows),
    }[name]


TRAIN = [
    ("malformed date", ["--model-type", "alert_scorer", "--start-date", "2024-02-31"], "not an ISO date"),
    ("start after end", ["--model-type", "alert_scorer", "--start-date", "2024-03-01", "--end-date", "2024-02-01"], "is after end date"),
    (
        "window without alerts",
        ["--model-type", "alert_scorer", "--start-date", "2030-01-01", "--end-date", "2030-02-01"],
        "has no rows between",
    ),
    ("unknown network", ["--model-type", "alert_scorer", "--network", "solana"], "solana.training_alerts does not exist"),
    ("network with quote", ["--model-type", "alert_scorer", "--network", "eth'eum"], "network must match"),
    ("network with semicolon", ["--model-type", "alert_scorer", "--network", "eth;drop"], "network must match"),
    ("network with backtick", ["--model-type", "alert_scorer", "--network", "eth`x"], "network must match"),
    ("network with comment", ["--model-type", "alert_scorer", "--network", "eth--"], "network must match"),
    ("unknown model type", ["--model-type", "fraud_scorer"], "invalid choice: 'fraud_scorer'"),
    ("too few rows per class", ["--model-type", "cluster_scorer", "--min-per-class", "1000000"], "at least 1000000 of each"),
    (
        "one date only",
        ["--model-type", "alert_scorer", "--start-date", "2024-03-05", "--end-date", "2024-03-05", "--min-per-class", "1"],
        "holds 1 distinct date(s)",
    ),  # fmt: skip
    ("bad test fraction", ["--model-type", "alert_scorer", "--test-fraction", "1.5"], "test fraction must be between 0 and 1"),
    ("bad min per class", ["--model-type", "alert_scorer", "--min-per-class", "0"], "min-per-class must be at least 1"),
    ("unknown feature family", ["--model-type", "alert_scorer", "--families", "alert,astrology"], "unknown feature families"),
]


@pytest.mark.parametrize(("case", "argv", "message"), TRAIN, ids=[c[0] for c in TRAIN])
def test_trainer_failures(ethereum, client, capsys, tmp_path: Path, case: str, argv: list[str], message: str) -> None:
    output_dir = tmp_path / "models"
    before = state(client, output_dir)
    outcome = run_main(train_cli.main, [*argv, "--output-dir", str(output_dir)], capsys)
    assert_clean_failure(outcome, message)
    assert state(client, output_dir) == before


def test_one_class_labels(ethereum, client, capsys, tmp_path: Path) -> None:
    copy_feature_tables(client, "ethereum", "oneclass")
    client.command("DROP TABLE IF EXISTS oneclass.training_alerts")
    client.command("CREATE TABLE oneclass.training_alerts ENGINE = MergeTree ORDER BY tuple() AS "
                   "SELECT * REPLACE ('oneclass' AS network, toUInt8(0) AS label) FROM ethereum.training_alerts")  # fmt: skip
    output_dir = tmp_path / "models"
    before = state(client, output_dir)
    outcome = run_main(train_cli.main, ["--model-type", "alert_scorer", "--network", "oneclass", "--output-dir", str(output_dir)], capsys)
    assert_clean_failure(outcome, "has 0 positive and")
    assert state(client, output_dir) == before


def test_unwritable_output_directory(ethereum, client, capsys, tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    before = state(client, tmp_path / "none")
    outcome = run_main(train_cli.main, ["--model-type", "alert_scorer", "--output-dir", str(blocker / "models")], capsys)
    assert_clean_failure(outcome, "is not writable")
    assert state(client, tmp_path / "none") == before


INGEST = ["missing column", "wrong type", "null key", "duplicate alert ids", "nan amount", "infinite amount", "negative volume"]


@pytest.mark.parametrize("case", INGEST)
def test_bad_drop_failures(client, capsys, drops: Path, tmp_path: Path, case: str) -> None:
    source = tmp_path / "drops"
    shutil.copytree(drops, source)
    alerts = sorted((source / NETWORK).glob("*/*/alerts.parquet"))[0]
    pq.write_table(_bad_drop(case)(pq.read_table(alerts)), alerts)
    before = state(client, tmp_path / "none")
    outcome = run_main(ingest_cli.main, ["--network", NETWORK, "--source", str(source)], capsys)
    assert_clean_failure(outcome, str(alerts))
    assert state(client, tmp_path / "none") == before


@pytest.mark.parametrize(
    ("case", "content", "message"),
    [("empty file", b"", "file is empty"), ("truncated parquet", None, "not a readable parquet file")],
)
def test_broken_file_failures(client, capsys, drops: Path, tmp_path: Path, case: str, content: bytes | None, message: str) -> None:
    source = tmp_path / "drops"
    shutil.copytree(drops, source)
    target = sorted((source / NETWORK).glob("*/*/money_flows.parquet"))[0]
    target.write_bytes(content if content is not None else target.read_bytes()[: target.stat().st_size // 2])
    before = state(client, tmp_path / "none")
    outcome = run_main(ingest_cli.main, ["--network", NETWORK, "--source", str(source)], capsys)
    assert_clean_failure(outcome, message)
    assert state(client, tmp_path / "none") == before


def test_missing_source_directory(client, capsys, tmp_path: Path) -> None:
    outcome = run_main(ingest_cli.main, ["--network", NETWORK, "--source", str(tmp_path / "nowhere")], capsys)
    assert_clean_failure(outcome, "is not a directory")


def test_corrupted_model_file_on_scoring(ethereum, client, capsys, tmp_path: Path) -> None:
    from trainer.train.pipeline import TrainRequest, train_model

    outcome = train_model(TrainRequest("cluster_scorer", network="ethereum", output_dir=tmp_path, force=True), client=client)
    # Models load from the warehouse: the damage that matters is there (a local file is only an export).
    client.command("ALTER TABLE aml.model_artifacts UPDATE content = 'not really a model' WHERE model_id = {m:String} "
                   "AND kind = 'model' SETTINGS mutations_sync = 2", parameters={"m": outcome.model_id})  # fmt: skip
    result = run_main(score_cli.main, ["--model-type", "cluster_scorer", "--network", "ethereum", "--processing-date", "2024-03-20",
                                       "--model-id", outcome.model_id, "--output-dir", str(tmp_path)], capsys)  # fmt: skip
    assert_clean_failure(result, f"model {outcome.model_id} is corrupted in the warehouse")


def test_unknown_model_id_on_scoring(ethereum, client, capsys, tmp_path: Path) -> None:
    model_id = "alert_scorer_v999_20990101_000000"
    argv = ["--model-type", "alert_scorer", "--network", "ethereum", "--processing-date", "2024-03-20", "--model-id", model_id]
    result = run_main(score_cli.main, [*argv, "--output-dir", str(tmp_path)], capsys)
    assert_clean_failure(result, "no registered alert_scorer model (alert_scorer_v999_20990101_000000)")


def test_registry_rejects_bad_network(client, capsys) -> None:
    assert_clean_failure(run_main(registry_cli.main, ["--network", "x'; --"], capsys), "network must match")


def assert_clean_failure(outcome: Outcome, message: str) -> None:
    """Non-zero exit, no traceback, exactly one error line (the last one), naming the problem."""
    lines = [line for line in outcome.stderr.splitlines() if line.strip()]
    errors = [line for line in lines if " ERROR " in line or ": error: " in line]
    assert outcome.code != 0, outcome.stderr
    assert "Traceback" not in outcome.stderr
    assert len(errors) == 1 and errors[0] == lines[-1] and message in errors[0], outcome.stderr
