"""The figures investigators decide by, on a scored test window: how many alerts could be closed without review
while keeping almost every true case, how good the queue is at the team's daily review capacity, and how many true
cases a day's ranking buries in its bottom half. The same figures serve alerts and clusters (one row = one item to
review) and scorers and rankers (only the order and the score threshold matter)."""

from __future__ import annotations

import math

import numpy as np

KEPT_RECALLS = (0.95, 0.99)
DEFAULT_CAPACITY_SHARE = 0.10  # without --review-capacity: a tenth of the median day's volume


def default_review_capacity(processing_date: np.ndarray) -> int:
    """A tenth of the median number of items per processing date, at least 1."""
    _, per_day = np.unique(processing_date, return_counts=True)
    return max(1, math.ceil(float(np.median(per_day)) * DEFAULT_CAPACITY_SHARE)) if per_day.size else 1


def auto_close(label: np.ndarray, score: np.ndarray, kept_recall: float) -> dict[str, float | None]:
    """The highest score threshold that keeps at least `kept_recall` of the positives at or above it, and what
    closing everything below it would save: the items closed (count and share) and the share of negatives closed
    (the false-positive reduction at that recall). Ties at the threshold are kept, never split."""
    positives = int(label.sum())
    if positives == 0 or label.size == 0:
        return {"threshold": None, "closed": 0, "closed_share": 0.0, "fp_reduction": 0.0, "recall_kept": 0.0}
    order = np.argsort(-score, kind="stable")
    found = np.cumsum(label[order])
    needed = math.ceil(kept_recall * positives - 1e-9)
    k = int(np.searchsorted(found, needed))  # the first position holding `needed` positives
    threshold = float(score[order[k]])
    closed = score < threshold
    negatives = label.size - positives
    return {
        "threshold": threshold,
        "closed": int(closed.sum()),
        "closed_share": float(closed.mean()),
        "fp_reduction": float((closed & (label == 0)).sum() / negatives) if negatives else 0.0,
        "recall_kept": float(label[~closed].sum() / positives),
    }


def per_day(processing_date: np.ndarray) -> list[np.ndarray]:
    """The row indices of each processing date."""
    order = np.argsort(processing_date, kind="stable")
    _, starts = np.unique(processing_date[order], return_index=True)
    return np.split(order, starts[1:]) if order.size else []


def at_capacity(label: np.ndarray, score: np.ndarray, processing_date: np.ndarray, capacity: int) -> tuple[float, float]:
    """Precision and recall when investigators review the `capacity` highest-scored items of each day, averaged
    over the days (recall over the days that have a positive)."""
    precisions, recalls = [], []
    for rows in per_day(processing_date):
        top = rows[np.argsort(-score[rows], kind="stable")[:capacity]]
        hits = float(label[top].sum())
        precisions.append(hits / top.size)
        if label[rows].sum():
            recalls.append(hits / float(label[rows].sum()))
    return (float(np.mean(precisions)) if precisions else 0.0, float(np.mean(recalls)) if recalls else 0.0)


def tail_recall(label: np.ndarray, score: np.ndarray, processing_date: np.ndarray) -> float:
    """The share of positives ranked in the bottom half of their day (rank > n / 2, 1 = highest score): the true
    cases a review that stops half-way through the day would miss."""
    buried = 0
    for rows in per_day(processing_date):
        rank = np.empty(rows.size, dtype=np.int64)
        rank[np.argsort(-score[rows], kind="stable")] = np.arange(1, rows.size + 1)
        buried += int(label[rows][rank > rows.size / 2].sum())
    positives = int(label.sum())
    return buried / positives if positives else 0.0


def triage_metrics(
    label: np.ndarray, score: np.ndarray, processing_date: np.ndarray, capacity: int | None = None
) -> dict[str, float | None]:
    """Every triage figure of a scored window, as metric names of the model's metadata. Without a positive the
    auto-close thresholds are None."""
    capacity = capacity or default_review_capacity(processing_date)
    metrics: dict[str, float | None] = {"review_capacity_per_day": capacity}
    for recall in KEPT_RECALLS:
        closing = auto_close(label, score, recall)
        name = f"autoclose_at_recall_{round(recall * 100)}"
        metrics |= {
            f"{name}_threshold": closing["threshold"],
            f"{name}_alerts": closing["closed"],
            f"{name}_share": closing["closed_share"],
            f"{name}_fp_reduction": closing["fp_reduction"],
        }
    metrics["precision_at_capacity"], metrics["recall_at_capacity"] = at_capacity(label, score, processing_date, capacity)
    metrics["tail_recall"] = tail_recall(label, score, processing_date)
    return metrics
