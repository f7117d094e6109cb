"""A one-page PNG report beside each model: what a reviewer looks at before trusting it."""

from __future__ import annotations

import io
from collections import defaultdict
from typing import Any

import numpy as np
from matplotlib.figure import Figure
from sklearn.calibration import calibration_curve
from sklearn.metrics import precision_recall_curve, roc_curve


def render_report(title: str, label: np.ndarray, score: np.ndarray, gain_by_family: dict[str, float], metrics: dict[str, Any]) -> bytes:
    """ROC, precision-recall, precision@k, calibration, gain by feature family and the triage trade-off, as PNG
    bytes."""
    figure = Figure(figsize=(15, 9))  # no pyplot: no global figure state, no GUI backend
    axes = figure.subplots(2, 3)
    figure.suptitle(title)
    has_both = 0 < label.sum() < label.size
    roc, pr, at_k, calibration, importance, triage = axes.flat
    if has_both:
        fpr, tpr, _ = roc_curve(label, score)
        roc.plot(fpr, tpr)
        precision, recall, _ = precision_recall_curve(label, score)
        pr.plot(recall, precision)
    roc.plot([0, 1], [0, 1], linestyle="--", color="grey")
    roc.set(title="ROC (test)", xlabel="false positive rate", ylabel="true positive rate")
    pr.axhline(label.mean(), linestyle="--", color="grey")
    pr.set(title="Precision-recall (test)", xlabel="recall", ylabel="precision")
    order = np.argsort(-score, kind="stable")
    ks = np.unique(np.geomspace(1, label.size, num=min(label.size, 500)).astype(int))  # a log axis needs no more points
    at_k.plot(ks, np.cumsum(label[order])[ks - 1] / ks)
    at_k.set(title="Precision@k (test)", xlabel="alerts reviewed (k)", ylabel="precision", xscale="log")
    # Binary models score probabilities; a ranker's scores are only an order, so they are scaled to [0, 1].
    is_probability = score.min() >= 0 and score.max() <= 1
    spread = score.max() - score.min()
    scaled = score if is_probability else (score - score.min()) / spread if spread > 0 else np.full_like(score, 0.5)
    if has_both:
        observed, predicted = calibration_curve(label, scaled, n_bins=10, strategy="quantile")
        calibration.plot(predicted, observed, marker="o")
    calibration.plot([0, 1], [0, 1], linestyle="--", color="grey")
    calibration.set(
        title="Calibration (test)",
        xlabel="predicted probability" if is_probability else "score scaled to [0, 1]",
        ylabel="observed positive rate",
    )
    families = sorted(gain_by_family, key=gain_by_family.get)
    importance.barh(families, [gain_by_family[f] for f in families])
    importance.set(title="Gain by feature family", xlabel="share of total gain")
    _triage_panel(triage, label, score, metrics)
    # Fixed margins: the layout never changes, and tight_layout would recompute it on every report.
    figure.subplots_adjust(left=0.06, right=0.98, bottom=0.07, top=0.91, wspace=0.35, hspace=0.35)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=80, metadata={"Software": None})
    return buffer.getvalue()


def gain_by_family(feature_names: list[str], gains: np.ndarray, families: dict[str, str]) -> dict[str, float]:
    total = float(gains.sum()) or 1.0
    grouped: dict[str, float] = defaultdict(float)
    for name, gain in zip(feature_names, gains, strict=True):
        grouped[families[name]] += float(gain) / total
    return dict(grouped)


def _triage_panel(axis: Any, label: np.ndarray, score: np.ndarray, metrics: dict[str, Any]) -> None:
    """Share of items that could be closed unreviewed against the share of positives kept, with the 95 % and 99 %
    points, and the daily-capacity figures in the title."""
    positives = label.sum()
    if positives:
        order = np.argsort(-score, kind="stable")
        kept = np.cumsum(label[order]) / positives  # reviewing the top k keeps this share of the positives
        closed = 1 - np.arange(1, label.size + 1) / label.size  # and closes the rest
        axis.plot(kept, closed)
        for recall in (95, 99):
            share = metrics.get(f"autoclose_at_recall_{recall}_share")
            if share is not None:
                axis.plot([recall / 100], [share], marker="o", color="black")
                axis.annotate(f"{recall} %: close {share:.0%}", (recall / 100, share), textcoords="offset points", xytext=(-90, 8))
    axis.set(
        title=(
            f"Triage (test): at {metrics.get('review_capacity_per_day')} a day P {metrics.get('precision_at_capacity', 0):.2f} "
            f"R {metrics.get('recall_at_capacity', 0):.2f}, tail {metrics.get('tail_recall', 0):.0%}"
        ),
        xlabel="share of positives kept (reviewed)",
        ylabel="share of items closed unreviewed",
        xlim=(0, 1.02),
        ylim=(0, 1.02),
    )
