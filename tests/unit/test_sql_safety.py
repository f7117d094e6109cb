"""No SQL text is built from user input: an AST scan of every source file for interpolations into SQL."""

from __future__ import annotations

import ast
import re

from tests.conftest import REPO

# Every Python file of the trainer's packages and of the dbt adapter: the scan follows the code into sub-packages.
SOURCES = sorted([*(REPO / "trainer").rglob("*.py"), *(REPO / "adapters").rglob("*.py")])
SQL = re.compile(r"\b(SELECT|INSERT|ALTER|CREATE|DROP|DELETE|DESCRIBE|EXISTS|FROM|WHERE)\b")

# What may be interpolated into SQL text: identifiers that went through quote_identifier, qualified_name or validate_network,
# fragments assembled from those or from the constants of trainer.ingest.RAW_TABLES, and the constant predicates
# of trainer.evaluation.extract and trainer.evaluation.split (WINDOW, TEST_ROWS, test_addresses), whose values are bound. Every other
# interpolation must be a bound parameter ({name:Type} in the SQL, parameters=... in the call).
SAFE_NAMES = {
    "database", "table", "target", "stage", "key", "grade", "where", "feature_sql", "columns", "expressions", "sql", "name",
    "column", "statement", "quote_identifier", "quoted", "network", "STAGE_PREFIX", "REGISTRY_TABLE", "_table", "COLUMNS",
    "conditions", "join", "WINDOW", "TEST_ROWS", "test_addresses",
    # trainer.ingest.sources: a FileSource's table expression (a constant file() call or a qualified_name) and the
    # qualified_name of an upload table; trainer.registry.aliases: an integer constant.
    "source", "upload", "DEDUPLICATION_WINDOW",
}  # fmt: skip


# Calls that validate what they are given (an identifier pattern) and return it quoted: safe whatever their arguments.
VALIDATING_CALLS = {"quote_identifier", "qualified_name"}


def _interpolated_names(node: ast.JoinedStr) -> set[str]:
    names = set()
    for value in node.values:
        if isinstance(value, ast.FormattedValue):
            call = value.value
            if isinstance(call, ast.Call) and isinstance(call.func, ast.Name) and call.func.id in VALIDATING_CALLS:
                continue
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
                        offenders.append(f"{path.relative_to(REPO)}:{node.lineno} interpolates {sorted(unsafe)}")
            if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Mod) and isinstance(node.left, ast.Constant):
                if isinstance(node.left.value, str) and SQL.search(node.left.value):
                    offenders.append(f"{path.relative_to(REPO)}:{node.lineno} builds SQL with %")
    assert not offenders, "SQL built from variables; bind them as parameters instead:\n" + "\n".join(offenders)


def test_network_reaches_sql_only_after_validation() -> None:
    for path in SOURCES:
        text = path.read_text()
        if re.search(r"f\"[^\"]*\b(FROM|INTO|TABLE)\b[^\"]*\{network\}", text):
            assert "validate_network" in text or "quote_identifier" in text, path.name


def test_the_scan_reaches_every_stage_package() -> None:
    trainer = REPO / "trainer"
    packages = {path.relative_to(trainer).parts[0] for path in SOURCES if path.is_relative_to(trainer) and path.parent != trainer}
    on_disk = {path.name for path in trainer.iterdir() if (path / "__init__.py").is_file()}
    assert packages == on_disk and {"store", "ingest", "train", "score", "registry"} <= packages, packages
