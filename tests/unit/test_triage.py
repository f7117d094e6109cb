"""Triage figures against an example small enough to compute by hand: two days of four items each.

    day 1: scores 0.9 (+) 0.8 (-) 0.3 (+) 0.1 (-)
    day 2: scores 0.7 (-) 0.6 (+) 0.2 (-) 0.05 (-)

Three positives, five negatives. By score: 0.9+ 0.8- 0.7- 0.6+ 0.3+ 0.2- 0.1- 0.05-.
"""

from __future__ import annotations

import numpy as np
import pytest

from trainer.evaluation.triage import at_capacity, auto_close, default_review_capacity, tail_recall, triage_metrics

LABEL = np.array([1, 0, 1, 0, 0, 1, 0, 0])
SCORE = np.array([0.9, 0.8, 0.3, 0.1, 0.7, 0.6, 0.2, 0.05])
DAY = np.array(["2025-12-31"] * 4 + ["2026-01-01"] * 4, dtype="datetime64[D]")


def test_auto_close_keeps_the_asked_share_of_positives() -> None:
    # Keeping 95 % of 3 positives keeps all 3: the threshold is the lowest positive's score, 0.3; below it are
    # 0.2, 0.1 and 0.05, all negative: 3 of 8 items closed, 3 of 5 negatives.
    assert auto_close(LABEL, SCORE, 0.95) == {"threshold": 0.3, "closed": 3, "closed_share": 0.375, "fp_reduction": 0.6, "recall_kept": 1.0}
    # Keeping 60 % needs 2 positives: 0.9 and 0.6; below 0.6 are 0.3 (+), 0.2, 0.1, 0.05.
    assert auto_close(LABEL, SCORE, 0.6) == {"threshold": 0.6, "closed": 4, "closed_share": 0.5, "fp_reduction": 0.6, "recall_kept": 2 / 3}


def test_ties_at_the_threshold_are_kept_together() -> None:
    label, score = np.array([1, 0, 0, 1]), np.array([0.9, 0.5, 0.5, 0.5])
    closing = auto_close(label, score, 1.0)
    assert closing["threshold"] == 0.5 and closing["closed"] == 0, "both negatives tie with the last positive"


def test_capacity_precision_and_recall_average_over_days() -> None:
    # Capacity 1: day 1 reviews 0.9 (+) of its 2 positives, day 2 reviews 0.7 (-) of its 1 positive.
    assert at_capacity(LABEL, SCORE, DAY, 1) == (0.5, 0.25)
    # Capacity 2: day 1 reviews 0.9, 0.8 (1 hit of 2), day 2 reviews 0.7, 0.6 (1 hit of 1).
    assert at_capacity(LABEL, SCORE, DAY, 2) == (0.5, 0.75)


def test_tail_recall_counts_positives_in_the_bottom_half_of_their_day() -> None:
    # Day 1 ranks 0.3 (+) third of four: buried. Day 2 ranks 0.6 (+) second of four: not buried.
    assert tail_recall(LABEL, SCORE, DAY) == pytest.approx(1 / 3)


def test_a_rankers_scores_give_the_same_figures_at_its_own_thresholds() -> None:
    scorer = triage_metrics(LABEL, SCORE, DAY)
    ranker = triage_metrics(LABEL, SCORE * 12.0 - 4.0, DAY)  # any increasing map: a lambdarank score
    assert scorer["review_capacity_per_day"] == ranker["review_capacity_per_day"] == 1 == default_review_capacity(DAY)
    for name in scorer:
        if name.endswith("_threshold"):
            assert ranker[name] == pytest.approx(scorer[name] * 12.0 - 4.0)
        else:
            assert ranker[name] == scorer[name], name
    assert scorer["autoclose_at_recall_99_alerts"] == 3 and scorer["tail_recall"] == pytest.approx(1 / 3)
    assert (scorer["precision_at_capacity"], scorer["recall_at_capacity"]) == (0.5, 0.25)


def test_cluster_grain_one_day_of_clusters() -> None:
    # Five clusters on one day, two positive (0.8, 0.4): keeping 95 % keeps both, closing the clusters below 0.4.
    label, score = np.array([0, 1, 0, 1, 0]), np.array([0.95, 0.8, 0.5, 0.4, 0.1])
    day = np.array(["2030-06-01"] * 5, dtype="datetime64[D]")
    metrics = triage_metrics(label, score, day, capacity=2)
    assert metrics["autoclose_at_recall_95_alerts"] == 1 and metrics["autoclose_at_recall_95_fp_reduction"] == pytest.approx(1 / 3)
    assert (metrics["precision_at_capacity"], metrics["recall_at_capacity"]) == (0.5, 0.5)
    assert metrics["tail_recall"] == 0.5, "0.4 ranks fourth of five"


def test_a_window_without_positives_has_no_threshold() -> None:
    metrics = triage_metrics(np.zeros(4, dtype=int), np.linspace(0, 1, 4), DAY[:4])
    assert metrics["autoclose_at_recall_95_threshold"] is None and metrics["tail_recall"] == 0.0
