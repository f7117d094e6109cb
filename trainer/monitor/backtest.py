"""Realized performance: past scores joined, inside ClickHouse, with the labels known now, by the same as-of rule as
training (an item's label is what was known within label_horizon_days after its processing date, and only mature
labels count), on the dates out of time for the model by the split's rule: dates before `ModelMetadata.out_of_time_from`
(the model trained on them, or on labels decided by their outcomes) are left out. Per scoring date and model: AUC,
precision and recall at the review capacity, and the auto-close safety (the share of positives scored below the
model's auto-close threshold, which should stay near 5 %).
Results go to `backtest_results` (a rerun replaces the dates it evaluates) and to a PNG beside each model."""

from __future__ import annotations

import io
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path

from clickhouse_connect.driver.client import Client
from loguru import logger
from matplotlib.figure import Figure

from trainer.errors import PipelineError
from trainer.model_types import ModelSpec
from trainer.monitor.drift import ensure_monitoring_tables
from trainer.registry.metadata import ModelMetadata
from trainer.registry.table import list_models, resolve_model
from trainer.registry.warehouse import load_registered_metadata
from trainer.store.connection import qualified_name, quote_identifier, require_built_table, table_exists

# Per scoring date of one model: the scores joined with the labels of the same items (label tables hold mature dates
# only), the top `capacity` labelled items of each day by score, and the positives below the auto-close threshold.
# Bound: start, end, version, capacity, threshold (NaN: none). {scores} and {labels} are validated table names, {key}
# the key column.
REALIZED = """
SELECT processing_date, count() AS labelled, countIf(label = 1) AS positives,
       if(positives > 0 AND positives < labelled, arrayAUC(groupArray(score), groupArray(toUInt8(label = 1))), NULL) AS auc,
       arraySlice(arrayReverseSort(x -> x.1, groupArray((score, label))), 1, {capacity:UInt32}) AS top,
       arraySum(arrayMap(x -> toUInt32(x.2 = 1), top)) / length(top) AS precision_at_capacity,
       if(positives > 0, arraySum(arrayMap(x -> toUInt32(x.2 = 1), top)) / positives, NULL) AS recall_at_capacity,
       if(isNaN({threshold:Float64}) OR positives = 0, NULL, countIf(label = 1 AND score < {threshold:Float64}) / positives)
           AS positives_below_threshold
FROM SCORES AS s
INNER JOIN (SELECT processing_date, KEY, label FROM LABELS) AS l USING (processing_date, KEY)
WHERE s.processing_date BETWEEN {start:Date} AND {end:Date} AND s.model_version = {version:String}
GROUP BY processing_date
ORDER BY processing_date
"""


@dataclass
class RealizedDay:
    processing_date: date
    model_version: str
    scored: int
    labelled: int
    positives: int
    auc: float | None
    review_capacity: int
    precision_at_capacity: float
    recall_at_capacity: float | None
    autoclose_threshold: float | None
    positives_below_threshold: float | None


def scored_models(client: Client, network: str, spec: ModelSpec, start: date, end: date) -> dict[str, dict[date, int]]:
    """The models that scored dates of the range, with the rows they scored per date."""
    if not table_exists(client, network, spec.output_table):
        return {}
    result = client.query(
        f"SELECT model_version, processing_date, count() FROM {qualified_name(network, spec.output_table)} "
        "WHERE processing_date BETWEEN {start:Date} AND {end:Date} GROUP BY model_version, processing_date",
        parameters={"start": start, "end": end},
    )
    scored: dict[str, dict[date, int]] = {}
    for version, day, rows in result.result_rows:
        scored.setdefault(version, {})[day] = int(rows)
    return scored


def realized(
    client: Client,
    network: str,
    spec: ModelSpec,
    metadata: ModelMetadata,
    start: date,
    end: date,
    scored: dict[date, int],
    capacity: int | None,
) -> list[RealizedDay]:
    """The realized figures of one model per scoring date of the range that has mature labels and is out of time for
    the model."""
    require_built_table(client, network, spec.label_model)
    out_of_time = metadata.out_of_time_from()
    if start < out_of_time:
        logger.bind(model_version=metadata.model_id, out_of_time_from=str(out_of_time)).info(
            "dates before the model's out-of-time start are left out: it trained on them or on labels their outcomes decided"
        )
        start = out_of_time
    metrics = metadata.metrics
    capacity = capacity or metadata.review_capacity_per_day() or 1
    threshold = metrics.get("autoclose_at_recall_95_threshold")
    query = (
        REALIZED.replace("SCORES", qualified_name(network, spec.output_table))
        .replace("LABELS", qualified_name(network, spec.label_model))
        .replace("KEY", quote_identifier(spec.key_column))
    )
    parameters = {"start": start, "end": end, "version": metadata.model_id, "capacity": capacity,
                  "threshold": float("nan") if threshold is None else float(threshold)}  # fmt: skip
    rows = client.query(query, parameters=parameters).result_rows
    return [
        RealizedDay(
            day,
            metadata.model_id,
            scored.get(day, 0),
            int(labelled),
            int(positives),
            auc,
            capacity,
            float(precision),
            recall,
            threshold,
            below,
        )  # fmt: skip
        for day, labelled, positives, auc, _top, precision, recall, below in rows
    ]


def write_results(client: Client, network: str, spec: ModelSpec, days: list[RealizedDay]) -> None:
    """Append the days' figures; `evaluated_at` is the version column of backtest_results (a ReplacingMergeTree), so
    the newest evaluation of a (model, date) is the one that stays."""
    columns = ["processing_date", "model_version", "model_type", "scored", "labelled", "positives", "auc", "review_capacity",
               "precision_at_capacity", "recall_at_capacity", "autoclose_threshold", "positives_below_threshold"]  # fmt: skip
    evaluated_at = datetime.now(UTC).replace(microsecond=0, tzinfo=None)
    values = [[getattr(day, column) if column != "model_type" else spec.name for column in columns] + [evaluated_at] for day in days]
    columns.append("evaluated_at")
    if values:
        client.insert(f"{quote_identifier(network)}.backtest_results", values, column_names=columns)


def render_backtest(title: str, days: list[RealizedDay]) -> bytes:
    """Realized AUC, precision and recall at capacity, and the positives below the auto-close threshold, per date."""
    figure = Figure(figsize=(10, 5))
    axis = figure.subplots()
    dates = [day.processing_date for day in days]
    for name in ("auc", "precision_at_capacity", "recall_at_capacity", "positives_below_threshold"):
        values = [getattr(day, name) for day in days]
        axis.plot(dates, [float("nan") if value is None else value for value in values], marker="o", label=name)
    axis.set(title=title, xlabel="scoring date", ylabel="realized", ylim=(0, 1.02))
    axis.legend(loc="lower left")
    figure.autofmt_xdate()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=80, metadata={"Software": None})
    return buffer.getvalue()


def backtest(
    client: Client,
    registry_database: str,
    spec: ModelSpec,
    network: str,
    start: date,
    end: date,
    output_dir: Path,
    model_id: str | None = None,
    capacity: int | None = None,
) -> dict[str, list[RealizedDay]]:
    """Realized figures of every model that scored dates of the range (or of `model_id`: an id or an alias), written
    to backtest_results and to `<model>_backtest.png` beside each model."""
    if start > end:
        raise PipelineError(f"start date {start} is after end date {end}")
    ensure_monitoring_tables(client, network)
    models = scored_models(client, network, spec, start, end)
    if model_id:
        wanted = resolve_model(client, registry_database, spec.name, network, model_id)["model_id"]
        models = {version: days for version, days in models.items() if version == wanted}
    if not models:
        raise PipelineError(f"no {spec.name} scores in {network}.{spec.output_table} between {start} and {end}: score those dates first")
    registered = {row["model_id"]: row for row in list_models(client, registry_database, model_type=spec.name, network=network)}
    results = {}
    for version, scored in sorted(models.items()):
        if version not in registered:
            logger.bind(model_version=version).warning("scores of a model that is not registered: skipped")
            continue
        model_path = output_dir / f"{version}.txt"  # the model's name in the output directory, for its backtest PNG
        metadata = load_registered_metadata(client, registry_database, registered[version], output_dir)
        days = realized(client, network, spec, metadata, start, end, scored, capacity)
        write_results(client, network, spec, days)
        if days:
            output_dir.mkdir(parents=True, exist_ok=True)
            model_path.with_name(f"{version}_backtest.png").write_bytes(render_backtest(f"{version}: realized on {network}", days))
        results[version] = days
        logger.bind(model_version=version, dates=len(scored), dates_with_mature_labels=len(days)).info("backtest written")
    return results
