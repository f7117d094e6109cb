"""Drift per scoring batch, computed inside ClickHouse: the day's rows of the scoring mart (and the day's scores) are
binned with the model's training bins and compared with the training shares by the population stability index.
The result, one row per feature with the shares per bin, replaces the (date, model) partition of `feature_drift`.

PSI = sum over bins of (actual - expected) * ln(actual / expected), each share floored at EPSILON. Levels: below
0.1 ok, from 0.1 watch, from 0.25 drift (distributions.PSI_WATCH, PSI_DRIFT)."""

from __future__ import annotations

from datetime import date
from typing import Any

from clickhouse_connect.driver.client import Client
from loguru import logger

from trainer.features.contract import FeatureContract
from trainer.model_types import ModelSpec
from trainer.monitor.distributions import EPSILON, PSI_DRIFT, PSI_WATCH, SCORE, Distribution
from trainer.store.connection import IDENTIFIER, apply_ddl, qualified_name, quote_identifier, sql_statements
from trainer.store.partitions import staging_table, swap_partition

STAGE_PREFIX = "_drift_"

# The bin of `value` against a distribution's columns edges, low and high (see distributions.py).
BIN = "multiIf(NOT isFinite(value), 0, value < low, 1, value > high, length(edges) + 3, 2 + arrayCount(e -> e < value, edges))"

# Shares per bin of the day's values of each feature, and their PSI against the training shares. Bound: day,
# version, model_type, epsilon, watch, drift. {values} is a subquery of (feature, value) rows, {distributions} the
# model_distributions table (validated identifiers).
DRIFT_QUERY = """
SELECT {day:Date}, {version:String}, {model_type:String}, feature, family, rows,
       arraySum(arrayMap((a, e) -> (greatest(a, {epsilon:Float64}) - greatest(e, {epsilon:Float64}))
                                   * log(greatest(a, {epsilon:Float64}) / greatest(e, {epsilon:Float64})), actual, expected)) AS psi,
       multiIf(psi >= {drift:Float64}, 'drift', psi >= {watch:Float64}, 'watch', 'ok'), labels, expected, actual, now()
FROM (
    SELECT feature, any(bin_family) AS family, any(bin_labels) AS labels, any(bin_expected) AS expected, sum(n) AS rows,
           arrayMap(k -> arraySum(arrayMap(b -> if(b.1 = k, b.2, 0), groupArray((bin, n)))) / sum(n),
                    range(length(any(bin_expected)))) AS actual
    FROM (
        SELECT day.feature AS feature, BIN_EXPRESSION AS bin, count() AS n,
               any(dist.family) AS bin_family, any(dist.labels) AS bin_labels, any(dist.expected) AS bin_expected
        FROM (VALUES_SUBQUERY) AS day
        INNER JOIN (SELECT * FROM DISTRIBUTIONS WHERE model_version = {version:String}) AS dist ON day.feature = dist.feature
        GROUP BY feature, bin
    )
    GROUP BY feature
)
"""


def ensure_monitoring_tables(client: Client, network: str) -> None:
    apply_ddl(client, network, sql_statements("trainer.monitor", "monitoring_tables.sql"))


def load_distributions(client: Client, network: str, metadata: dict[str, Any]) -> bool:
    """Copy the model's training distributions from its metadata into model_distributions, once per model. False when
    the model was trained before distributions were recorded."""
    distributions = metadata.get("training_distributions")
    if not distributions:
        return False
    table = qualified_name(network, "model_distributions")
    version = metadata["model_id"]
    if client.command(f"SELECT count() FROM {table} WHERE model_version = {{v:String}}", parameters={"v": version}):
        return True
    families = {feature["name"]: feature["family"] for feature in metadata["feature_contract"]["features"]}
    rows = []
    for name, stored in distributions.items():
        distribution = Distribution(**stored)
        family = "score" if name == SCORE else families[name]
        rows.append(
            [version, name, family, distribution.edges, distribution.low, distribution.high, distribution.shares, distribution.labels]
        )
    columns = ["model_version", "feature", "family", "edges", "low", "high", "expected", "labels"]
    client.insert(f"{quote_identifier(network)}.model_distributions", rows, column_names=columns)
    return True


def _values_subquery(network: str, spec: ModelSpec, contract: FeatureContract) -> str:
    """(feature, value) rows of the day: every feature of the scoring mart as the float32 the model reads, and the
    score from the output table. Feature names are validated identifiers, written as quoted literals and columns."""
    pairs = []
    for name in contract.names:
        if not IDENTIFIER.match(name):
            raise ValueError(f"not a feature identifier: {name!r}")
        pairs.append("('" + name + "', toFloat64(toFloat32(" + quote_identifier(name) + ")))")
    features = (
        "SELECT kv.1 AS feature, kv.2 AS value FROM "
        + qualified_name(network, contract.table)
        + " ARRAY JOIN ["
        + ", ".join(pairs)
        + "] AS kv "
        "WHERE network = {network:String} AND processing_date = {day:Date}"
    )
    score = (
        "SELECT '" + SCORE + "' AS feature, toFloat64(score) AS value FROM " + qualified_name(network, spec.output_table) + " "
        "WHERE processing_date = {day:Date} AND model_version = {version:String}"
    )
    return features + " UNION ALL " + score


def write_drift(
    client: Client, network: str, spec: ModelSpec, metadata: dict[str, Any], contract: FeatureContract, processing_date: date
) -> list[dict[str, Any]]:
    """Compute the PSI of every feature and of the score for one scoring batch inside ClickHouse, replace the batch's
    partition of feature_drift, and return its rows, most drifted first. Models without training distributions
    (trained before they were recorded) get a warning and no rows."""
    ensure_monitoring_tables(client, network)
    version = metadata["model_id"]
    if not load_distributions(client, network, metadata):
        logger.bind(model_version=version).warning("model has no training distributions (trained before they were recorded): no drift")
        return []
    drift_select = (
        DRIFT_QUERY.replace("BIN_EXPRESSION", BIN)
        .replace("VALUES_SUBQUERY", _values_subquery(network, spec, contract))
        .replace("DISTRIBUTIONS", qualified_name(network, "model_distributions"))
    )
    parameters = {"network": network, "day": processing_date, "version": version, "model_type": spec.name,
                  "epsilon": EPSILON, "watch": PSI_WATCH, "drift": PSI_DRIFT}  # fmt: skip
    with staging_table(client, network, "feature_drift", STAGE_PREFIX) as stage:
        client.command(f"INSERT INTO {qualified_name(network, stage)} {drift_select}", parameters=parameters)
        swap_partition(
            client, network, "feature_drift", stage, {"day": (processing_date, "Date"), "version": (version, "String")}, empty=False
        )
    result = client.query(
        f"SELECT feature, family, psi, level, rows FROM {qualified_name(network, 'feature_drift')} "
        "WHERE processing_date = {day:Date} AND model_version = {version:String} ORDER BY psi DESC, feature",
        parameters={"day": processing_date, "version": version},
    )
    return [dict(zip(result.column_names, row, strict=True)) for row in result.result_rows]
