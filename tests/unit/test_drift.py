"""Training distributions, the population stability index against hand computations, and the drift rows of a batch."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.stats import chi2

from tests.support.metadata import sample_metadata
from trainer.monitor.distributions import EPSILON, PSI_DRIFT, bin_index, distribution_of, effective_rows, psi, training_distributions
from trainer.monitor.drift import SIMULATIONS, batch_drift_rows, drift_level, shift_p_value
from trainer.registry.metadata import ModelMetadata


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
    distributions = training_distributions(features, ["a", "b", "c"], np.linspace(0, 1, 200), rows=150.0)
    assert list(distributions) == ["a", "b", "c", "(score)"]
    assert all(sum(d["shares"]) == pytest.approx(1.0) and d["rows"] == 150.0 for d in distributions.values())


def test_batch_drift_rows_level_each_column_and_the_score_most_drifted_first() -> None:
    rng = np.random.default_rng(1)
    training = rng.normal(size=(2000, 2)).astype(np.float32)
    metadata = sample_metadata(
        [{"name": "steady", "family": "alert"}, {"name": "shifted", "family": "network"}],
        training_distributions=training_distributions(training, ["steady", "shifted"], np.linspace(0, 1, 2000)),
    )
    batch = rng.normal(size=(2000, 2)).astype(np.float32)
    batch[:, 1] += 3.0
    rows = batch_drift_rows(metadata, ["steady", "shifted"], batch, np.linspace(0, 1, 2000))
    assert [row["feature"] for row in rows][0] == "shifted"
    by_name = {row["feature"]: row for row in rows}
    assert by_name["shifted"]["level"] == "drift" and by_name["shifted"]["family"] == "network"
    assert by_name["steady"]["level"] == "ok" and by_name["(score)"]["psi"] == pytest.approx(0.0, abs=1e-9)
    assert all(row["rows"] == 2000 and sum(row["actual"]) == pytest.approx(1.0) for row in rows)
    assert [drift_level(value) for value in (0.05, 0.1, 0.25)] == ["ok", "watch", "drift"]


def drift_metadata(training: np.ndarray, names: list[str], expected: dict[str, str] | None = None) -> ModelMetadata:
    """A model's metadata as drift reads it: training distributions and the feature contract, with the reasons of
    the features whose drift is expected by design."""
    reasons = expected or {}
    return sample_metadata(
        [{"name": n, "family": "alert"} | ({"drift_reason": reasons[n]} if n in reasons else {}) for n in names],
        training_distributions=training_distributions(training, names, np.linspace(0, 1, training.shape[0])),
    )


FEATURES = [f"f{j:03d}" for j in range(160)]


def test_a_stationary_small_batch_of_many_features_shows_no_drift() -> None:
    """80 rows of 160 features drawn from the training distribution: PSI of several features passes 0.25 by chance
    alone, and none of them is a significant shift."""
    rng = np.random.default_rng(3)
    metadata = drift_metadata(rng.normal(size=(5000, 160)).astype(np.float32), FEATURES)
    batch = rng.normal(size=(80, 160)).astype(np.float32)
    rows = batch_drift_rows(metadata, FEATURES, batch, np.linspace(0, 1, 80))
    assert sum(row["psi"] >= PSI_DRIFT for row in rows) >= 5, "the PSI alone would cry wolf"
    assert {row["level"] for row in rows} == {"ok"}
    assert all(0 < row["p_value"] <= 1 for row in rows)


def test_a_feature_multiplied_by_a_thousand_is_drift_and_first() -> None:
    rng = np.random.default_rng(4)
    training = rng.lognormal(size=(5000, 160)).astype(np.float32)
    metadata = drift_metadata(training, FEATURES, {"f000": "calendar: one value per scoring date"})
    batch = rng.lognormal(size=(80, 160)).astype(np.float32)
    batch[:, 7] *= 1000
    batch[:, 0] = 42.0  # the expected-by-design feature moves as much, and stays out of the ranking
    rows = batch_drift_rows(metadata, FEATURES, batch, np.linspace(0, 1, 80))
    assert (rows[0]["feature"], rows[0]["level"]) == ("f007", "drift") and rows[0]["p_value"] < 1e-100
    assert [row["feature"] for row in rows if row["level"] == "drift"] == ["f007"]


def test_an_expected_feature_is_reported_with_its_reason_and_never_tested() -> None:
    rng = np.random.default_rng(5)
    names = ["day_of_month", "steady"]
    metadata = drift_metadata(rng.integers(1, 29, size=(3000, 2)).astype(np.float32), names, {"day_of_month": "calendar: one value"})
    batch = np.column_stack([np.full(80, 31.0), rng.integers(1, 29, 80)]).astype(np.float32)
    rows = batch_drift_rows(metadata, names, batch, np.linspace(0, 1, 80))
    by_name = {row["feature"]: row for row in rows}
    assert (by_name["day_of_month"]["level"], by_name["day_of_month"]["reason"]) == ("expected", "calendar: one value")
    assert by_name["day_of_month"]["psi"] > 5, "its PSI is kept, for plots"
    assert rows[-1]["feature"] == "day_of_month", "after every tested distribution"
    assert by_name["steady"]["reason"] == "" and by_name["steady"]["level"] == "ok"


def test_rows_sharing_an_entity_weigh_less_in_the_significance() -> None:
    """A moderate shift is significant in 2000 independent rows, not when they are 2000 alerts of 20 addresses."""
    rng = np.random.default_rng(6)
    metadata = drift_metadata(rng.normal(size=(5000, 1)).astype(np.float32), ["x"])
    batch = (rng.normal(size=(2000, 1)) + 0.4).astype(np.float32)
    independent = batch_drift_rows(metadata, ["x"], batch, np.linspace(0, 1, 2000))[0]
    clustered = batch_drift_rows(metadata, ["x"], batch, np.linspace(0, 1, 2000), effective=20.0)[0]
    assert independent["psi"] == clustered["psi"] >= 0.1
    assert independent["level"] != "ok" and clustered["level"] == "ok"


def test_shift_p_value_by_hand() -> None:
    # Bins: missing, below, two inner bins, above; no cell sparse at 100 rows. One sample (no reference rows):
    # X2 = 100 * (0.1^2 / 0.2 + 0.05^2 / 0.4 + 0.05^2 / 0.4) = 6.25, 2 df.
    shares = [0.2, 0.0, 0.4, 0.4, 0.0]
    assert shift_p_value(shares, [0.1, 0.0, 0.45, 0.45, 0.0], 100) == pytest.approx(math.exp(-6.25 / 2))
    # Below the reference range counts in the first inner bin: no shift.
    assert shift_p_value(shares, [0.2, 0.1, 0.3, 0.4, 0.0], 100) == pytest.approx(1.0)
    assert shift_p_value(shares, [0.1, 0.0, 0.45, 0.45, 0.0], 0) == 1.0
    # Two samples, 100 and 300 rows: pooled shares (0.175, 0.4125, 0.4125), X2 = 75 * (0.01 / 0.175 + 2 * 0.0025 / 0.4125).
    two_sample = 75 * (0.01 / 0.175 + 2 * 0.0025 / 0.4125)
    assert shift_p_value(shares, [0.1, 0.0, 0.45, 0.45, 0.0], 100, 300) == pytest.approx(math.exp(-two_sample / 2))


def test_a_smaller_reference_makes_the_same_shift_less_significant() -> None:
    shares, batch = [0.0, 0.0, 0.5, 0.5, 0.0], [0.0, 0.0, 0.3, 0.7, 0.0]
    one_sample = shift_p_value(shares, batch, 200)
    assert one_sample < shift_p_value(shares, batch, 200, 5000) < shift_p_value(shares, batch, 200, 300) < 0.01


def test_a_rare_value_in_a_small_batch_is_simulated_not_read_off_the_chi_square() -> None:
    """A day of 30 clusters against a reference of 377: 8 clusters in a cell the reference fills 6 % of (1.8 expected).
    The chi-square's tail, too light for so sparse a cell, calls it significant among 24 distributions; the p-value
    simulated for the same statistic does not."""
    reference = [0.0, 0.0, 0.764, 0.087, 0.089, 0.06, 0.0]
    batch = [0.0, 0.0, 22 / 30, 0.0, 0.0, 8 / 30, 0.0]
    r, a = np.array(reference[2:6]), np.array(batch[2:6])
    pooled = (377 * r + 30 * a) / 407
    bound = 0.01 / 24
    assert chi2.sf(30 * 377 / 407 * float(np.sum((a - r) ** 2 / pooled)), 3) < bound < shift_p_value(reference, batch, 30, 377) < 0.01
    assert shift_p_value(reference, batch, 30, 377) == shift_p_value(reference, batch, 30, 377), "seeded"


def test_shift_p_value_of_a_feature_without_finite_reference_values() -> None:
    # Bins: missing, below, in range, above; every reference row missing, half the batch's not: as far beyond the
    # reference as the simulation can tell.
    assert shift_p_value([1.0, 0.0, 0.0, 0.0], [0.5, 0.0, 0.5, 0.0], 80) == pytest.approx(1 / (SIMULATIONS + 1))
    assert shift_p_value([1.0, 0.0, 0.0, 0.0], [1.0, 0.0, 0.0, 0.0], 80) > 0.5


def test_effective_rows_count_the_rows_of_one_group_as_fewer() -> None:
    assert effective_rows(np.array([1, 2, 3, 4])) == 4.0
    # Groups of 2, 1 and 1 rows (address and date): 4^2 / (4 + 1 + 1).
    assert effective_rows(np.array([[7, 1], [7, 1], [8, 1], [7, 2]])) == pytest.approx(16 / 6)
