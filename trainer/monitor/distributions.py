"""Training distributions: per feature (and for the score) the quantile bins of the model's reference rows and the
share of rows in each, stored in the model's metadata. Scoring bins a day's rows with the same bins and the same rule
and compares the shares (drift.py).

The reference rows are the test part of the training window (its last dates, every labelled row of them) and the
score's reference is the final model's scores of them, not the training part and its out-of-fold scores. The training
part is no sample of what scoring sees: the split drops every training row whose address recurs on a test date
(trainer/evaluation/split.py), which removes most rows of the addresses alerted again and again, and its first dates
precede the history windows (7 and 30 days, an address's earlier alerts) filling up. Both shifted the history and
per-address features (alerts_1d, alerts_30d, net_in_degree, volume_vs_own_history, ...) against any later day.

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
    shares: list[float]  # share of reference rows per bin: missing, below, inner bins, above
    rows: float = 0.0  # the reference's effective number of rows (drift.py); 0: not recorded (older models)

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
    """Quantile bins of `values` (one feature's reference rows, or the model's scores of them) and their shares."""
    x = values.astype(np.float64)
    finite = x[np.isfinite(x)]
    if finite.size == 0:
        return Distribution([], float("nan"), float("nan"), [1.0, 0.0, 0.0, 0.0])
    edges = np.unique(np.quantile(finite, np.linspace(0, 1, QUANTILE_BINS + 1)[1:-1], method="lower")).tolist()
    low, high = float(finite.min()), float(finite.max())
    counts = np.bincount(bin_index(x, edges, low, high), minlength=len(edges) + 4)
    return Distribution([float(e) for e in edges], low, high, (counts / x.size).tolist())


def effective_rows(groups: np.ndarray) -> float:
    """Kish's effective number of rows when the rows of one group share their values: (sum c)^2 / sum c^2 over the
    group sizes c; `groups` holds each row's group, one value or one row of values per row (drift.py says which
    rows form a group)."""
    _, sizes = np.unique(groups, axis=0, return_counts=True)
    sizes = sizes.astype(np.float64)
    return float(sizes.sum() ** 2 / np.sum(sizes**2)) if sizes.size else 0.0


def training_distributions(features: np.ndarray, names: list[str], score: np.ndarray, rows: float = 0.0) -> dict[str, dict[str, object]]:
    """The distribution of every feature column of the reference rows and of the model's scores of them; `rows` is
    their effective number of rows."""
    columns = [(name, features[:, j]) for j, name in enumerate(names)] + [(SCORE, score)]
    return {name: {**distribution_of(values).to_json(), "rows": rows} for name, values in columns}


def psi(expected: list[float], actual: list[float]) -> float:
    """The population stability index of two share vectors over the same bins, each share floored at EPSILON:
    sum((actual - expected) * ln(actual / expected))."""
    e = np.maximum(np.asarray(expected, dtype=np.float64), EPSILON)
    a = np.maximum(np.asarray(actual, dtype=np.float64), EPSILON)
    return float(np.sum((a - e) * np.log(a / e)))
