"""Security: no SQL is built from user input, credentials never reach logs or files."""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path

from loguru import logger

from trainer.config import load_store_settings
from trainer.pipeline import TrainRequest, train_model

SOURCES = sorted((Path(__file__).resolve().parent.parent / "trainer").glob("*.py"))
SQL = re.compile(r"\b(SELECT|INSERT|ALTER|CREATE|DROP|DELETE|DESCRIBE|EXISTS|FROM|WHERE)\b")

# What may be interpolated into SQL text: identifiers that went through quote_identifier or validate_network,
# fragments assembled from those or from the constants of trainer.ingest.RAW_TABLES, and the constant predicates
# of trainer.extract and trainer.split (WINDOW, TEST_ROWS, test_addresses), whose values are bound. Every other
# interpolation must be a bound parameter ({name:Type} in the SQL, parameters=... in the call).
SAFE_NAMES = {
    "database", "table", "target", "stage", "key", "grade", "where", "feature_sql", "columns", "expressions", "sql", "name",
    "column", "statement", "quote_identifier", "quoted", "network", "STAGE_PREFIX", "REGISTRY_TABLE", "_table", "COLUMNS",
    "conditions", "join", "WINDOW", "TEST_ROWS", "test_addresses",
}  # fmt: skip


def _interpolated_names(node: ast.JoinedStr) -> set[str]:
    names = set()
    for value in node.values:
        if isinstance(value, ast.FormattedValue):
            for inner in ast.walk(value.value):
                if isinstance(inner, ast.Name):
                    names.add(inner.id)
                elif isinstance(inner, ast.Attribute):
                    names.add(inner.attr)
    return names


def test_sql_text_interpolates_only_validated_identifiers() -> None:
    offenders = []
    for path in SOURCES:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.JoinedStr):
                text = "".join(v.value for v in node.values if isinstance(v, ast.Constant) and isinstance(v.value, str))
                if SQL.search(text) and text.strip()[:1].isupper():
                    unsafe = _interpolated_names(node) - SAFE_NAMES
                    if unsafe:
                        offenders.append(f"{path.name}:{node.lineno} interpolates {sorted(unsafe)}")
            if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Mod) and isinstance(node.left, ast.Constant):
                if isinstance(node.left.value, str) and SQL.search(node.left.value):
                    offenders.append(f"{path.name}:{node.lineno} builds SQL with %")
    assert not offenders, "SQL built from variables; bind them as parameters instead:\n" + "\n".join(offenders)


def test_network_reaches_sql_only_after_validation() -> None:
    for path in SOURCES:
        text = path.read_text()
        if re.search(r"f\"[^\"]*\b(FROM|INTO|TABLE)\b[^\"]*\{network\}", text):
            assert "validate_network" in text or "quote_identifier" in text, path.name


def test_password_never_reaches_logs_or_metadata(ethereum, client, tmp_path: Path, monkeypatch) -> None:
    secret = "s3cr3t-Pa55word-for-tests"
    monkeypatch.setenv("CLICKHOUSE_PASSWORD", secret)
    server = load_store_settings(target="server")
    assert server.password == secret
    assert secret not in repr(server) and secret not in server.describe()
    captured: list[str] = []
    sink = logger.add(lambda message: captured.append(str(message)), level="DEBUG", format="{message} {extra}")
    try:
        outcome = train_model(TrainRequest("cluster_scorer", network="ethereum", output_dir=tmp_path, force=True), client=client)
    finally:
        logger.remove(sink)
    assert captured and not any(secret in line for line in captured)
    for path in tmp_path.iterdir():
        if path.suffix in {".json", ".txt"}:
            assert secret not in path.read_text(), path.name
    assert secret not in json.dumps(outcome.metadata)
