"""Evaluation metrics against examples small enough to compute by hand."""

from __future__ import annotations

import numpy as np
import pytest

from trainer.evaluation.metrics import (
    auc_or_half,
    best_f1_threshold,
    binary_metrics,
    precision_recall_at_k,
    ranking_metrics,
    review_budgets,
)


def test_precision_and_recall_at_k_count_the_top_k_by_score() -> None:
    label = np.array([1, 0, 1, 0, 0, 1])
    score = np.array([0.9, 0.8, 0.7, 0.6, 0.5, 0.1])
    assert precision_recall_at_k(label, score, 2) == (0.5, pytest.approx(1 / 3))
    assert precision_recall_at_k(label, score, 3) == (pytest.approx(2 / 3), pytest.approx(2 / 3))
    assert precision_recall_at_k(label, score, 100) == (0.5, 1.0), "k beyond the rows reviews every row"


def test_binary_metrics_at_a_threshold() -> None:
    label = np.array([1, 1, 0, 0, 1, 0, 0, 0])
    score = np.array([0.9, 0.6, 0.7, 0.2, 0.3, 0.1, 0.4, 0.05])
    metrics = binary_metrics(label, score, threshold=0.5)
    # Predicted positive: 0.9 (tp), 0.6 (tp), 0.7 (fp). Positives: 3.
    assert metrics["test_precision"] == pytest.approx(2 / 3)
    assert metrics["test_recall"] == pytest.approx(2 / 3)
    assert metrics["test_f1"] == pytest.approx(2 / 3)
    # AUC by pair counting: of 3 x 5 positive-negative pairs, the positive scores higher in 12.
    assert metrics["test_auc"] == pytest.approx(12 / 15)
    assert metrics["test_positive_rate"] == pytest.approx(3 / 8)
    assert metrics["test_brier"] == pytest.approx(float(np.mean((score - label) ** 2)))
    assert metrics["precision_at_50"] == pytest.approx(3 / 8), "a budget above the rows reviews all of them"


def test_auc_is_one_half_when_one_class_is_missing() -> None:
    assert auc_or_half(np.array([1, 1, 1]), np.array([0.1, 0.5, 0.9])) == 0.5
    assert auc_or_half(np.array([0, 1]), np.array([0.2, 0.8])) == 1.0


def test_best_f1_threshold_separates_a_separable_set() -> None:
    label = np.array([0, 0, 0, 1, 1])
    score = np.array([0.1, 0.2, 0.3, 0.8, 0.9])
    assert best_f1_threshold(label, score) == pytest.approx(0.8)


def test_review_budgets_include_one_percent_of_the_rows() -> None:
    assert review_budgets(12_345) == {"50": 50, "100": 100, "1pct": 123}
    assert review_budgets(10)["1pct"] == 1


def test_ranking_metrics_average_over_dates_and_skip_single_row_groups() -> None:
    grade = np.array([3, 0, 0, 2, 1])  # date 1: three rows, date 2: one row, date 3: one row
    score = np.array([0.9, 0.5, 0.1, 0.4, 0.3])
    metrics = ranking_metrics(grade, score, np.array([3, 1, 1]))
    assert metrics["test_ndcg_at_10"] == pytest.approx(1.0), "date 1 is ranked perfectly; dates 2 and 3 have one row"
    assert metrics["test_map"] == pytest.approx(1.0)
    worst = ranking_metrics(np.array([0, 0, 3]), np.array([0.9, 0.5, 0.1]), np.array([3]))
    # DCG of the reversed order: grade 3 at rank 3 gives 3 / log2(4) = 1.5, against the ideal 3 / log2(2) = 3.
    assert worst["test_ndcg_at_10"] == pytest.approx(0.5)
    assert worst["test_map"] == pytest.approx(1 / 3)
