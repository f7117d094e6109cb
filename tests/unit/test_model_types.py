"""One spec per model type: what every stage reads, consistent with the dbt project and the output tables."""

from __future__ import annotations

import yaml

from tests.conftest import REPO
from trainer.model_types import MODEL_SPECS, MODEL_TYPES
from trainer.score.tables import output_columns, output_table_ddl

MODELS = REPO / "dbt_project" / "models"


def dbt_model_yml(name: str) -> dict:
    (path,) = MODELS.rglob(f"{name}.yml")
    (model,) = yaml.safe_load(path.read_text())["models"]
    return model


def test_every_spec_names_marts_the_dbt_project_builds_with_its_key_and_grade() -> None:
    for spec in MODEL_SPECS.values():
        for table in (spec.training_table, spec.scoring_table):
            assert list(MODELS.rglob(f"{table}.sql")), f"{spec.name}: dbt has no model {table}"
            listed = {column["name"] for column in dbt_model_yml(table)["columns"]}
            assert spec.key_column in listed, f"{table}'s yml lists no {spec.key_column}"
        listed = {column["name"] for column in dbt_model_yml(spec.training_table)["columns"]}
        assert {"label", "label_weight", spec.grade_column} <= listed, spec.name
        assert list(MODELS.rglob(f"{spec.label_model}.sql")), spec.label_model


def test_names_objectives_and_outputs() -> None:
    assert MODEL_TYPES == ("alert_scorer", "alert_ranker", "cluster_scorer")
    assert [spec.name for spec in MODEL_SPECS.values() if spec.is_ranker] == ["alert_ranker"]
    assert len({spec.output_table for spec in MODEL_SPECS.values()}) == len(MODEL_SPECS), "one output table per type"


def test_output_tables_keep_the_columns_existing_stores_hold() -> None:
    assert output_columns(MODEL_SPECS["alert_scorer"]) == [
        ("processing_date", "Date"), ("alert_id", "String"), ("score", "Float64"), ("model_version", "String"),
        ("explain_json", "String"), ("created_at", "DateTime"),
    ]  # fmt: skip
    assert [name for name, _ in output_columns(MODEL_SPECS["alert_ranker"])] == [
        "processing_date", "alert_id", "rank", "score", "model_version", "created_at",
    ]  # fmt: skip
    assert [name for name, _ in output_columns(MODEL_SPECS["cluster_scorer"])] == [
        "processing_date", "cluster_id", "score", "model_version", "created_at",
    ]  # fmt: skip
    ranker = output_table_ddl(MODEL_SPECS["alert_ranker"])
    assert "PARTITION BY (processing_date, model_version) ORDER BY (processing_date, `rank`)" in ranker
    assert ranker.startswith("CREATE TABLE IF NOT EXISTS `alert_rankings` (")


def test_no_stage_branches_on_a_model_type_or_table_name() -> None:
    """Every stage reads the spec; a type's name or tables written anywhere else would be a second description."""
    import ast

    named = set()
    for spec in MODEL_SPECS.values():
        named |= {spec.name, spec.training_table, spec.scoring_table, spec.label_model, spec.output_table}
    offenders = [
        f"{path.relative_to(REPO)}:{node.lineno} {node.value!r}"
        for path in sorted((REPO / "trainer").rglob("*.py"))
        if path.name != "model_types.py"
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.Constant) and node.value in named
    ]
    assert not offenders, offenders


def test_a_new_model_type_is_a_spec() -> None:
    """What a new spec gets from the stages without further code: its output table, its objective, its key."""
    from dataclasses import replace

    cluster_ranker = replace(MODEL_SPECS["cluster_scorer"], name="cluster_ranker", objective="lambdarank", output_table="cluster_rankings")
    assert cluster_ranker.is_ranker and cluster_ranker.output_column == "rank"
    ddl = output_table_ddl(cluster_ranker)
    assert "`cluster_rankings` (`processing_date` Date, `cluster_id` String, `rank` Int32, `score` Float64" in ddl
