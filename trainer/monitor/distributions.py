"""Training distributions: per feature (and for the score) the quantile bins of the training rows and the share of
rows in each, stored in the model's metadata. Scoring bins a day's rows with the same bins and the same rule and
compares the shares (drift.py).

The bins of a distribution, in order: missing (NULL, NaN or infinite), below the training range, the quantile bins
inside the range (bin k holds edges[k-1] < x <= edges[k]), above the training range. A value's inner bin is the
number of edges below it (searchsorted, side left). Features are compared as the float32 values the model reads; the
score as float64."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

QUANTILE_BINS = 10
PSI_WATCH = 0.1  # PSI from here on: a shift worth watching
PSI_DRIFT = 0.25  # PSI from here on: the population moved; check the feature and consider retraining
EPSILON = 1e-4  # floor of a bin's share in the PSI, so an empty bin counts as rare, not as infinitely surprising
SCORE = "(score)"  # the distribution of the model's own score, beside the features


@dataclass(frozen=True)
class Distribution:
    edges: list[float]  # inner quantile edges, strictly increasing
    low: float  # the training range; NaN when no training value was finite
    high: float
    shares: list[float]  # share of training rows per bin: missing, below, inner bins, above

    @property
    def labels(self) -> list[str]:
        """A name per bin, for plots and the feature_drift table."""
        inner = [f"<= {self.edges[0]:.6g}"] if self.edges else ["in range"]
        inner += [f"({a:.6g}, {b:.6g}]" for a, b in zip(self.edges, self.edges[1:], strict=False)]
        inner += [f"> {self.edges[-1]:.6g}"] if self.edges else []
        return ["missing", "below range", *inner, "above range"]

    def to_json(self) -> dict[str, object]:
        return asdict(self)


def bin_index(values: np.ndarray, edges: list[float], low: float, high: float) -> np.ndarray:
    """The bin of each value (see the module docstring); values are compared as float64."""
    x = values.astype(np.float64)
    inner = 2 + np.searchsorted(np.asarray(edges, dtype=np.float64), x, side="left")
    below, above = x < low, x > high
    return np.where(~np.isfinite(x), 0, np.where(below, 1, np.where(above, len(edges) + 3, inner)))


def distribution_of(values: np.ndarray) -> Distribution:
    """Quantile bins of `values` (one feature's training rows, or the training scores) and their shares."""
    x = values.astype(np.float64)
    finite = x[np.isfinite(x)]
    if finite.size == 0:
        return Distribution([], float("nan"), float("nan"), [1.0, 0.0, 0.0, 0.0])
    edges = np.unique(np.quantile(finite, np.linspace(0, 1, QUANTILE_BINS + 1)[1:-1], method="lower")).tolist()
    low, high = float(finite.min()), float(finite.max())
    counts = np.bincount(bin_index(x, edges, low, high), minlength=len(edges) + 4)
    return Distribution([float(e) for e in edges], low, high, (counts / x.size).tolist())


def training_distributions(features: np.ndarray, names: list[str], score: np.ndarray) -> dict[str, dict[str, object]]:
    """The distribution of every feature column of the training matrix and of the (out-of-fold) training scores."""
    distributions = {name: distribution_of(features[:, j]).to_json() for j, name in enumerate(names)}
    distributions[SCORE] = distribution_of(score).to_json()
    return distributions


def psi(expected: list[float], actual: list[float]) -> float:
    """The population stability index of two share vectors over the same bins, each share floored at EPSILON:
    sum((actual - expected) * ln(actual / expected))."""
    e = np.maximum(np.asarray(expected, dtype=np.float64), EPSILON)
    a = np.maximum(np.asarray(actual, dtype=np.float64), EPSILON)
    return float(np.sum((a - e) * np.log(a / e)))
