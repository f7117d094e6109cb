"""The promotion gate's thresholds, MLflow-style: minimum absolute and relative change, minimum value."""

from __future__ import annotations

from trainer.model_types import MODEL_SPECS
from trainer.registry.promotion import MetricThreshold, default_thresholds


def test_minimum_absolute_and_relative_change() -> None:
    gate = MetricThreshold("test_auc", min_absolute_change=0.01, min_relative_change=0.02)
    assert gate.failure(0.90, 0.85) is None, "+0.05 and +5.9 % pass"
    assert "change +0.0050 (+0.6%) is below the minimum +0.0100 (+2.0%)" in gate.failure(0.855, 0.85)
    assert gate.failure(0.8575, 0.85) is not None, "+0.0075 misses the absolute minimum"
    relative_only = MetricThreshold("test_auc", min_relative_change=0.1)
    assert relative_only.failure(0.94, 0.85) is None and relative_only.failure(0.93, 0.85) is not None


def test_lower_is_better_and_minimum_value() -> None:
    brier = MetricThreshold("test_brier", min_absolute_change=0.0, greater_is_better=False)
    assert brier.failure(0.10, 0.12) is None and brier.failure(0.13, 0.12) is not None
    floor = MetricThreshold("test_auc", min_value=0.7)
    assert floor.failure(0.65, None) == "test_auc 0.6500 is below the minimum value 0.7000"
    assert floor.failure(0.75, None) is None, "without a champion only the minimum value applies"


def test_default_gate_is_not_losing_on_the_primary_metric() -> None:
    assert [t.metric for t in default_thresholds(MODEL_SPECS["alert_scorer"])] == ["test_auc"]
    assert [t.metric for t in default_thresholds(MODEL_SPECS["alert_ranker"])] == ["test_ndcg_at_10"]
    assert default_thresholds(MODEL_SPECS["cluster_scorer"])[0].failure(0.80, 0.80) is None, "a tie passes"
