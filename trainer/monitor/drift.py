"""Drift per scoring batch: the batch's feature rows (the float32 values the model read) and its scores are binned with
the bins of the model's reference rows (distributions.py: the test part of its training window; bin_index, the one
binning rule of training and scoring) and compared with their shares by the population stability index. The result,
one row per feature with the shares per bin, replaces the (date, model) partition of `feature_drift` in ClickHouse,
where teams query it beside the scores.

PSI = sum over bins of (actual - expected) * ln(actual / expected), each share floored at EPSILON.

A batch's PSI is noisy: rows drawn from the reference distribution itself give about (bins - 1) / rows, 0.15 for a
day of 80 alerts. So a level needs two things: the PSI (from 0.1 watch, from 0.25 drift: distributions.PSI_WATCH,
PSI_DRIFT) and a shift too large to be that noise, tested on the cells of the bins: the bins, except that values below
or above the reference range count in the first or last inner bin (the range's ends are the reference sample's
extremes, which a new value passes with a chance of about 1 / reference rows without any drift). The reference is a
sample too (distributions.py: the test part of the training window), so the test is Pearson's chi-square test of
homogeneity of two samples, the batch (n rows, shares a) and the reference (N rows, shares r): pooled shares
p = (N r + n a) / (N + n), X2 = n N / (n + N) * sum((a - r)^2 / p) over the cells either sample fills, against a
chi-square distribution with (cells - 1) degrees of freedom; its tail probability is the row's p_value. Models
trained before the reference's rows were recorded test the batch against the shares alone (N infinite: p = r, each
floored at EPSILON like in the PSI, so values in a cell the reference never filled are a change). That tail is too
light where a cell expects fewer than MIN_CELL_ROWS of the batch's rows, as cells of a day of 30 clusters do: one
rare value more then reads as a shift far beyond the Bonferroni bound below. There, when the chi-square p-value is
below SIGNIFICANCE, it is replaced by the share of pairs of samples drawn from the pooled shares whose X2 is at least
the batch's (up to SIMULATIONS pairs, fewer once 50 reached it; seeded, so the same batch gives the same p-value, at
least 1 / (SIMULATIONS + 1), below the Bonferroni bound of up to 1000 distributions). PSI itself is no test
statistic: its EPSILON floor makes one empty bin of a small batch weigh ln(share / EPSILON).

n and N are effective numbers of rows: the alerts of one address on one date share the address's features, so they
are not independent draws; with c_a alerts of address a (ModelSpec.entity_column) on a date, n = (sum c_a)^2 /
sum c_a^2 (Kish's effective sample size, distributions.effective_rows). A
shift counts as significant when p_value < SIGNIFICANCE / m, m the number of distributions the batch tests
(Bonferroni: at most a 1 % chance that a stationary batch shows any watch or drift among its ~160 distributions). A
PSI above a threshold that is not significant is ok. At 110k alerts a day the significance bound is PSI ~0.001, so
there the PSI thresholds decide.

Features whose drift is expected by design (a calendar feature takes one value per scoring date, a counter grows
with the age of the data, a per-date aggregate is one value shared by many rows) declare so once, in their dbt yml
(`meta: {drift: expected, drift_reason: ...}`, carried in the model's feature contract: trainer/features/contract.py).
Their rows keep the PSI, for plots, with level 'expected' and the reason; they are not tested (p_value NaN), so they
neither count in m nor in the scoring warning.

The scoring process holds the batch's rows already, so binning them here costs a fraction of a second. Binning them
again inside ClickHouse (one row per feature and alert, joined with the bins) took 3-5 s a day at 10M alerts (110k
alerts and 163 distributions a day), and kept a second copy of the binning rule in SQL."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import numpy as np
from clickhouse_connect.driver.client import Client
from loguru import logger
from scipy.stats import chi2

from trainer.model_types import ModelSpec
from trainer.monitor.distributions import EPSILON, PSI_DRIFT, PSI_WATCH, SCORE, Distribution, bin_index, psi
from trainer.registry.artifacts import feature_families
from trainer.registry.metadata import ModelMetadata
from trainer.store.connection import apply_ddl, qualified_name, quote_identifier, sql_statements
from trainer.store.partitions import staging_table, swap_partition

STAGE_PREFIX = "_drift_"
DRIFT_COLUMNS = [
    "processing_date", "model_version", "model_type", "feature", "family", "rows", "psi", "level", "bin_labels",
    "expected_shares", "actual_shares", "computed_at", "p_value", "reason",
]  # fmt: skip
SIGNIFICANCE = 0.01  # family-wise: the chance that a batch without drift shows any significant shift (Bonferroni)
MIN_CELL_ROWS = 5  # a cell expecting fewer of the batch's rows makes the chi-square's tail too light: simulate
SIMULATIONS = 100_000  # pairs of samples simulated at most for a sparse table's p-value
SIMULATION_CHUNK = 10_000
EXPECTED = "expected"  # the level of a feature whose drift is expected by design


def ensure_monitoring_tables(client: Client, network: str) -> None:
    apply_ddl(client, network, sql_statements("trainer.monitor", "monitoring_tables.sql"))


def drift_level(value: float, significant: bool = True) -> str:
    """The level of a PSI whose shift is (or is not) significant; see the module docstring."""
    if not significant:
        return "ok"
    return "drift" if value >= PSI_DRIFT else "watch" if value >= PSI_WATCH else "ok"


def cells_of(shares: list[float]) -> np.ndarray:
    """The test's cells of a bin share vector (missing, below, inner bins, above): out of the reference range counts
    in the nearest inner bin; missing is a cell of its own."""
    inner = np.asarray(shares[2:-1], dtype=np.float64)
    inner[0] += shares[1]
    inner[-1] += shares[-1]
    return np.concatenate([[shares[0]], inner])


def shift_p_value(expected: list[float], actual: list[float], rows: float, reference_rows: float = 0.0) -> float:
    """The chance that a batch of `rows` effective rows and a reference of `reference_rows` (0: the shares alone),
    both drawn from one distribution, differ at least as much as the batch's shares `actual` differ from the
    reference's `expected` (bins: missing, below, inner bins, above); see the module docstring."""
    if rows <= 0:
        return 1.0
    r, a = cells_of(expected), cells_of(actual)
    filled = (r > 0) | (a > 0)
    r, a = r[filled], a[filled]
    if reference_rows > 0:
        pooled, scale = (reference_rows * r + rows * a) / (reference_rows + rows), rows * reference_rows / (rows + reference_rows)
    else:
        r = pooled = np.maximum(r, EPSILON)
        scale = rows
    if r.size < 2:
        return 1.0
    observed = scale * float(np.sum((a - r) ** 2 / pooled))
    p_value = float(chi2.sf(observed, r.size - 1))
    if p_value >= SIGNIFICANCE or rows * float(pooled.min()) >= MIN_CELL_ROWS:
        return p_value
    # Sparse cells: simulate the two samples (or the batch alone) under no shift, in chunks, until enough simulated
    # pairs differ as much for the p-value to be known within about 15 % (it is then far above any Bonferroni bound).
    rng, shares = np.random.default_rng(0), pooled / pooled.sum()
    n, big = max(round(rows), 1), round(reference_rows)
    as_large = drawn = 0
    while drawn < SIMULATIONS and as_large < 50:
        batch = rng.multinomial(n, shares, size=SIMULATION_CHUNK) / n
        reference = rng.multinomial(big, shares, size=SIMULATION_CHUNK) / big if big >= 1 else r
        as_large += int(np.count_nonzero(scale * np.sum((batch - reference) ** 2 / pooled, axis=1) >= observed * (1 - 1e-9)))
        drawn += SIMULATION_CHUNK
    return float((1 + as_large) / (1 + drawn))


def expected_drift_reasons(metadata: ModelMetadata) -> dict[str, str]:
    """The features of the model whose drift is expected by design, with the reason their yml gives."""
    return {f["name"]: f["drift_reason"] for f in metadata.feature_contract.features if f.get("drift_reason")}


def effective_rows(client: Client, network: str, spec: ModelSpec, processing_date: date, rows: int) -> float:
    """The batch's effective number of independent rows (module docstring); `rows` when the spec has no entity."""
    if not spec.entity_column:
        return float(rows)
    effective = client.command(
        f"SELECT sum(c) * sum(c) / sum(c * c) FROM (SELECT count() AS c FROM {qualified_name(network, spec.scoring_table)} "
        f"WHERE network = {{network:String}} AND processing_date = {{day:Date}} GROUP BY {quote_identifier(spec.entity_column)})",
        parameters={"network": network, "day": processing_date},
    )
    return float(effective) if effective else float(rows)


def batch_drift_rows(
    metadata: ModelMetadata, names: list[str], features: np.ndarray, score: np.ndarray, effective: float | None = None
) -> list[dict[str, Any]]:
    """PSI and p-value of every feature column of the batch (`features`, in the order of `names`) and of its scores
    against the model's training distributions, with their levels (module docstring; `effective`: the batch's
    effective number of rows, default its rows): the tested distributions most drifted first (ties by feature name),
    then the features whose drift is expected by design."""
    distributions = metadata.training_distributions
    families = feature_families(metadata)
    reasons = expected_drift_reasons(metadata)
    columns = [(name, families[name], features[:, j]) for j, name in enumerate(names)] + [(SCORE, "score", score)]
    tested = sum(name not in reasons for name, _, _ in columns)
    rows = []
    for name, family, values in columns:
        distribution = Distribution(**distributions[name])
        counts = np.bincount(bin_index(values, distribution.edges, distribution.low, distribution.high), minlength=len(distribution.shares))
        actual = (counts / max(values.size, 1)).tolist()
        value = psi(distribution.shares, actual)
        reason = reasons.get(name, "")
        rows_tested = values.size if effective is None else effective
        p_value = float("nan") if reason else shift_p_value(distribution.shares, actual, rows_tested, distribution.rows)
        level = EXPECTED if reason else drift_level(value, p_value < SIGNIFICANCE / tested)
        rows.append({"feature": name, "family": family, "rows": int(values.size), "psi": value, "p_value": p_value, "level": level,
                     "reason": reason, "labels": distribution.labels, "expected": distribution.shares, "actual": actual})  # fmt: skip
    return sorted(rows, key=lambda row: (row["level"] == EXPECTED, -row["psi"], row["feature"]))


def write_drift(
    client: Client,
    network: str,
    spec: ModelSpec,
    metadata: ModelMetadata,
    processing_date: date,
    names: list[str],
    features: np.ndarray,
    score: np.ndarray,
) -> list[dict[str, Any]]:
    """Compute the PSI of every feature and of the score for one scoring batch, replace the batch's partition of
    feature_drift with them, and return its rows, most drifted first (expected-by-design features last). Models
    without training distributions (trained before they were recorded) get a warning and no rows."""
    ensure_monitoring_tables(client, network)
    version = metadata.model_id
    if not metadata.training_distributions:
        logger.bind(model_version=version).warning("model has no training distributions (trained before they were recorded): no drift")
        return []
    effective = effective_rows(client, network, spec, processing_date, int(score.size))
    rows = batch_drift_rows(metadata, names, features, score, effective)
    logger.bind(processing_date=str(processing_date), rows=int(score.size), effective_rows=round(effective, 1)).debug("drift computed")
    computed_at = datetime.now(UTC).replace(microsecond=0, tzinfo=None)
    records = [
        [processing_date, version, spec.name, row["feature"], row["family"], row["rows"], row["psi"], row["level"], row["labels"],
         row["expected"], row["actual"], computed_at, row["p_value"], row["reason"]]
        for row in rows
    ]  # fmt: skip
    with staging_table(client, network, "feature_drift", STAGE_PREFIX) as stage:
        client.insert(f"{quote_identifier(network)}.{quote_identifier(stage)}", records, column_names=DRIFT_COLUMNS)
        swap_partition(
            client, network, "feature_drift", stage, {"day": (processing_date, "Date"), "version": (version, "String")}, empty=False
        )
    return [{key: row[key] for key in ("feature", "family", "psi", "p_value", "level", "reason", "rows")} for row in rows]
