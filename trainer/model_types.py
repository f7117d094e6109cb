"""Each model type described once: the tables it reads, its key and objective, where its scores go. Every stage
(contract, training, evaluation, scoring, catalogue) reads these specs instead of branching on a type's name.

Adding a model type is a new spec here plus its dbt marts (a training and a scoring table)."""

from __future__ import annotations

from dataclasses import dataclass

from trainer.errors import PipelineError


@dataclass(frozen=True)
class ModelSpec:
    name: str
    grain: str  # what one row and one score stand for: "alert" or "cluster"
    training_table: str  # dbt mart: one row per labelled entity of the window whose label is mature
    scoring_table: str  # dbt mart: one row per entity of the window, labelled or not
    label_model: str  # dbt model holding the labelled rows of the mature dates (label maturity is reported from it)
    key_column: str  # the row identifier of both marts and of the output table
    objective: str  # LightGBM objective: "binary" or "lambdarank"
    grade_column: str  # what the ranker learns (relevance grade); binary types learn `label`
    output_table: str  # where trainer.score writes, in the network's database
    explains: bool = False  # scored rows carry their top feature contributions (explain_json)
    # Rows of one date sharing this column (an address's alerts) share its features: drift counts them as fewer
    # independent rows (trainer/monitor/drift.py). Empty: every row is an entity of its own.
    entity_column: str = ""

    @property
    def is_ranker(self) -> bool:
        """A ranker learns an order within each processing date; its output is a rank, not a probability."""
        return self.objective == "lambdarank"

    @property
    def output_column(self) -> str:
        return "rank" if self.is_ranker else "score"

    @property
    def primary_metric(self) -> str:
        """The metric a challenger must not lose on to become champion (the default promotion gate)."""
        return "test_ndcg_at_10" if self.is_ranker else "test_auc"


MODEL_SPECS: dict[str, ModelSpec] = {
    spec.name: spec
    for spec in (
        ModelSpec(
            name="alert_scorer",
            grain="alert",
            training_table="training_alerts",
            scoring_table="scoring_alerts",
            label_model="int_alert_labels",
            key_column="alert_id",
            objective="binary",
            grade_column="relevance_grade",
            output_table="alert_scores",
            explains=True,
            entity_column="address",
        ),
        ModelSpec(
            name="alert_ranker",
            grain="alert",
            training_table="training_alerts",
            scoring_table="scoring_alerts",
            label_model="int_alert_labels",
            key_column="alert_id",
            objective="lambdarank",
            grade_column="relevance_grade",
            output_table="alert_rankings",
            entity_column="address",
        ),
        ModelSpec(
            name="cluster_scorer",
            grain="cluster",
            training_table="training_clusters",
            scoring_table="scoring_clusters",
            label_model="int_cluster_labels",
            key_column="cluster_id",
            objective="binary",
            grade_column="label",
            output_table="cluster_scores",
        ),
    )
}

MODEL_TYPES = tuple(MODEL_SPECS)


def model_spec(model_type: str) -> ModelSpec:
    """The spec of a model type; an unknown type fails with one line listing the known ones."""
    if model_type not in MODEL_SPECS:
        raise PipelineError(f"unknown model type {model_type!r}; choose one of {', '.join(MODEL_TYPES)}")
    return MODEL_SPECS[model_type]
