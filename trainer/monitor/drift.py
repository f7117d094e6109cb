"""Drift per scoring batch: the batch's feature rows (the float32 values the model read) and its scores are binned with
the model's training bins (distributions.bin_index, the one binning rule of training and scoring) and compared with the
training shares by the population stability index. The result, one row per feature with the shares per bin, replaces
the (date, model) partition of `feature_drift` in ClickHouse, where teams query it beside the scores.

PSI = sum over bins of (actual - expected) * ln(actual / expected), each share floored at EPSILON.

A batch's PSI is noisy: rows drawn from the training distribution itself give about (bins - 1) / rows, 0.15 for a
day of 80 alerts. So a level needs two things: the PSI (from 0.1 watch, from 0.25 drift: distributions.PSI_WATCH,
PSI_DRIFT) and a shift too large to be that noise: Pearson's chi-square test of the batch's shares against the
training shares, X2 = n * sum((actual - expected)^2 / expected), against a chi-square distribution with (cells - 1)
degrees of freedom; its tail probability is the row's p_value. The cells are the bins, except that values below or
above the training range count in the first or last inner bin (the range's ends are the training sample's extremes,
which a new value passes with a chance of about 1 / training rows without any drift), and a cell without a training
share (missing values where training had none) is floored at EPSILON like in the PSI: values there are a change. PSI
itself is no test statistic: its EPSILON floor makes one empty bin of a small batch weigh ln(share / EPSILON). n is
the batch's effective number of rows: the alerts of one address on one date share the address's features, so they
are not independent draws; with c_a alerts of address a (ModelSpec.entity_column), n = (sum c_a)^2 / sum c_a^2
(Kish's effective sample size; about half the rows of a sample-data day). A shift counts as significant when
p_value < SIGNIFICANCE / m, m the number of distributions the batch tests (Bonferroni: at most a 1 % chance that a
stationary batch shows any watch or drift among its ~160 distributions). A PSI above a threshold that is not
significant is ok. At 110k alerts a day the significance bound is PSI ~0.001, so there the PSI thresholds decide.

Features whose drift is expected by design (a calendar feature takes one value per scoring date, a counter only
grows, a history window fills up) declare so once, in their dbt yml (`meta: {drift: expected, drift_reason: ...}`,
carried in the model's feature contract: trainer/features/contract.py). Their rows keep the PSI, for plots, with
level 'expected' and the reason; they are not tested, so they neither count in m nor in the scoring warning.

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
EXPECTED = "expected"  # the level of a feature whose drift is expected by design


def ensure_monitoring_tables(client: Client, network: str) -> None:
    apply_ddl(client, network, sql_statements("trainer.monitor", "monitoring_tables.sql"))


def drift_level(value: float, significant: bool = True) -> str:
    """The level of a PSI whose shift is (or is not) significant; see the module docstring."""
    if not significant:
        return "ok"
    return "drift" if value >= PSI_DRIFT else "watch" if value >= PSI_WATCH else "ok"


def shift_p_value(expected: list[float], actual: list[float], rows: float) -> float:
    """The chance that `rows` independent rows drawn from the training shares `expected` (bins: missing, below, inner
    bins, above) differ from them at least as much as the shares `actual`: Pearson's chi-square test on the cells of
    the module docstring."""

    def cells_of(shares: list[float]) -> np.ndarray:
        # Out of the training range counts in the nearest inner bin; missing is a cell of its own.
        inner = np.asarray(shares[2:-1], dtype=np.float64)
        inner[0] += shares[1]
        inner[-1] += shares[-1]
        return np.concatenate([[shares[0]], inner])

    e, a = np.maximum(cells_of(expected), EPSILON), cells_of(actual)
    if rows <= 0:
        return 1.0
    return float(chi2.sf(rows * float(np.sum((a - e) ** 2 / e)), e.size - 1))


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
        p_value = shift_p_value(distribution.shares, actual, values.size if effective is None else effective)
        reason = reasons.get(name, "")
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
