"""Training distributions, the population stability index against hand computations, and the drift rows of a batch."""

from __future__ import annotations

import math

import numpy as np
import pytest

from trainer.monitor.distributions import EPSILON, bin_index, distribution_of, psi, training_distributions
from trainer.monitor.drift import batch_drift_rows, drift_level


def test_psi_of_two_bins_by_hand() -> None:
    # (0.25 - 0.5) ln(0.25 / 0.5) + (0.75 - 0.5) ln(0.75 / 0.5)
    assert psi([0.5, 0.5], [0.25, 0.75]) == pytest.approx(0.25 * math.log(2) + 0.25 * math.log(1.5))
    assert psi([0.2, 0.3, 0.5], [0.2, 0.3, 0.5]) == 0.0
    # An empty bin counts as EPSILON, not as an infinite surprise.
    assert psi([1.0, 0.0], [0.0, 1.0]) == pytest.approx(2 * (1 - EPSILON) * math.log(1 / EPSILON))


def test_deciles_of_one_to_a_hundred_with_missing_values() -> None:
    values = np.concatenate([np.arange(1, 101, dtype=np.float32), [np.nan, np.inf]])
    distribution = distribution_of(values)
    assert distribution.edges == [10.0, 20.0, 30.0, 40.0, 50.0, 60.0, 70.0, 80.0, 90.0]
    assert (distribution.low, distribution.high) == (1.0, 100.0)
    assert distribution.shares == pytest.approx([2 / 102, 0.0] + [10 / 102] * 10 + [0.0])
    assert len(distribution.labels) == len(distribution.shares) == 13
    assert distribution.labels[:3] == ["missing", "below range", "<= 10"] and distribution.labels[-2:] == ["> 90", "above range"]


def test_bins_of_new_values_use_the_training_edges() -> None:
    distribution = distribution_of(np.arange(1, 101, dtype=np.float32))
    new = np.array([0.5, 1, 10, 10.5, 90, 90.5, 100, 101, np.nan])
    expected = [1, 2, 2, 3, 10, 11, 11, 12, 0]  # below, first bin (edge inclusive), ..., above, missing
    assert bin_index(new, distribution.edges, distribution.low, distribution.high).tolist() == expected


def test_a_constant_or_empty_feature_keeps_a_valid_distribution() -> None:
    constant = distribution_of(np.zeros(50, dtype=np.float32))
    assert constant.edges == [0.0] and constant.shares == [0.0, 0.0, 1.0, 0.0, 0.0]
    empty = distribution_of(np.full(3, np.nan, dtype=np.float32))
    assert empty.shares[0] == 1.0 and len(empty.labels) == len(empty.shares)


def test_every_feature_and_the_score_get_a_distribution() -> None:
    features = np.random.default_rng(0).normal(size=(200, 3)).astype(np.float32)
    distributions = training_distributions(features, ["a", "b", "c"], np.linspace(0, 1, 200))
    assert list(distributions) == ["a", "b", "c", "(score)"]
    assert all(sum(d["shares"]) == pytest.approx(1.0) for d in distributions.values())


def test_batch_drift_rows_level_each_column_and_the_score_most_drifted_first() -> None:
    rng = np.random.default_rng(1)
    training = rng.normal(size=(2000, 2)).astype(np.float32)
    metadata = {
        "training_distributions": training_distributions(training, ["steady", "shifted"], np.linspace(0, 1, 2000)),
        "feature_contract": {"features": [{"name": "steady", "family": "alert"}, {"name": "shifted", "family": "network"}]},
    }
    batch = rng.normal(size=(2000, 2)).astype(np.float32)
    batch[:, 1] += 3.0
    rows = batch_drift_rows(metadata, ["steady", "shifted"], batch, np.linspace(0, 1, 2000))
    assert [row["feature"] for row in rows][0] == "shifted"
    by_name = {row["feature"]: row for row in rows}
    assert by_name["shifted"]["level"] == "drift" and by_name["shifted"]["family"] == "network"
    assert by_name["steady"]["level"] == "ok" and by_name["(score)"]["psi"] == pytest.approx(0.0, abs=1e-9)
    assert all(row["rows"] == 2000 and sum(row["actual"]) == pytest.approx(1.0) for row in rows)
    assert [drift_level(value) for value in (0.05, 0.1, 0.25)] == ["ok", "watch", "drift"]
