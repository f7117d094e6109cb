"""Metrics of a scored test set: classification quality at review budgets, calibration, ranking quality."""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.metrics import average_precision_score, brier_score_loss, ndcg_score, precision_recall_curve, roc_auc_score

from trainer.evaluation.split import group_sizes
from trainer.evaluation.triage import triage_metrics
from trainer.model_types import ModelSpec


def review_budgets(rows: int) -> dict[str, int]:
    """How many alerts an analyst team reviews: 50, 100 and 1 % of the alerts."""
    return {"50": 50, "100": 100, "1pct": max(1, int(round(rows * 0.01)))}


def best_f1_threshold(label: np.ndarray, score: np.ndarray) -> float:
    """The score threshold with the highest F1 on validation data."""
    precision, recall, thresholds = precision_recall_curve(label, score)
    f1 = np.where(precision + recall > 0, 2 * precision * recall / np.maximum(precision + recall, 1e-12), 0)
    return float(thresholds[int(np.argmax(f1[:-1]))]) if thresholds.size else 0.5


def precision_recall_at_k(label: np.ndarray, score: np.ndarray, k: int) -> tuple[float, float]:
    order = np.argsort(-score, kind="stable")[:k]
    hits = float(label[order].sum())
    positives = float(label.sum())
    return hits / max(len(order), 1), hits / positives if positives else 0.0


def auc_or_half(label: np.ndarray, score: np.ndarray) -> float:
    return float(roc_auc_score(label, score)) if 0 < label.sum() < label.size else 0.5


def binary_metrics(label: np.ndarray, score: np.ndarray, threshold: float) -> dict[str, float]:
    predicted = score >= threshold
    true_positives = float((predicted & (label == 1)).sum())
    precision = true_positives / max(float(predicted.sum()), 1.0)
    recall = true_positives / max(float(label.sum()), 1.0)
    metrics = {
        "test_auc": auc_or_half(label, score),
        "test_pr_auc": float(average_precision_score(label, score)) if label.sum() else 0.0,
        "test_precision": precision,
        "test_recall": recall,
        "test_f1": 2 * precision * recall / (precision + recall) if precision + recall else 0.0,
        "threshold": threshold,
        "test_brier": float(brier_score_loss(label, np.clip(score, 0, 1))),
        "test_positive_rate": float(label.mean()),
    }
    for name, k in review_budgets(label.size).items():
        metrics[f"precision_at_{name}"], metrics[f"recall_at_{name}"] = precision_recall_at_k(label, score, k)
    return metrics


def ranking_metrics(grade: np.ndarray, score: np.ndarray, sizes: np.ndarray) -> dict[str, float]:
    """NDCG@10, NDCG@50 and MAP (relevant = grade >= 2) averaged over query groups (processing dates)."""
    ndcg10, ndcg50, average_precisions = [], [], []
    start = 0
    for size in sizes:
        group_grade, group_score = grade[start : start + size], score[start : start + size]
        start += size
        if size < 2:
            continue
        ndcg10.append(ndcg_score([group_grade], [group_score], k=10))
        ndcg50.append(ndcg_score([group_grade], [group_score], k=50))
        relevant = (group_grade >= 2).astype(int)
        if 0 < relevant.sum():
            average_precisions.append(average_precision_score(relevant, group_score))
    return {
        "test_ndcg_at_10": float(np.mean(ndcg10)) if ndcg10 else 0.0,
        "test_ndcg_at_50": float(np.mean(ndcg50)) if ndcg50 else 0.0,
        "test_map": float(np.mean(average_precisions)) if average_precisions else 0.0,
    }


def window_metrics(
    spec: ModelSpec,
    label: np.ndarray,
    grade: np.ndarray,
    score: np.ndarray,
    processing_date: np.ndarray,
    threshold: float | None,
    review_capacity: int | None,
) -> dict[str, Any]:
    """Every metric of a model on a scored window of its training table, rows sorted by date: the type's own
    (binary metrics at `threshold`, or ranking metrics per date) and the triage figures. Training and the promotion
    gate both judge models with it."""
    if spec.is_ranker:
        metrics: dict[str, Any] = ranking_metrics(grade, score, group_sizes(processing_date))
        metrics["test_auc"] = auc_or_half(label, score)
    else:
        metrics = binary_metrics(label, score, 0.5 if threshold is None else threshold)
    return metrics | triage_metrics(label, score, processing_date, review_capacity)
