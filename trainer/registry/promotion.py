"""Promotion: moving an alias to a model, and the gate a challenger must pass to become champion.

The gate re-scores both models on one out-of-time window of the finished training table, never comparing figures
copied from two metadata files whose test windows differ. The window starts at the later of the two models'
out-of-time starts (neither model trained on a date from there on, nor on a label decided by an outcome from there
on: the split's purge rule, `ModelMetadata.out_of_time_from`) and runs to the table's last date; its rows are those whose
address has no row before the window, so neither model saw their addresses in training. Each configured metric
must then improve by at least its minimum absolute and relative change (MLflow-style thresholds; the default asks
the candidate not to lose on the type's primary metric) and reach its minimum value. `--force` overrides a refusal
and is recorded with the comparison in the alias history.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from clickhouse_connect.driver.client import Client
from loguru import logger

from trainer.errors import PipelineError
from trainer.evaluation.extract import WINDOW, extract_rows, table_window
from trainer.evaluation.metrics import window_metrics
from trainer.features.contract import check_table
from trainer.model_types import ModelSpec, model_spec
from trainer.registry.aliases import AliasChange, AliasConflictError, AliasState, alias_states, check_alias, ensure_alias_history, record
from trainer.registry.artifacts import model_contract
from trainer.registry.table import list_models
from trainer.registry.warehouse import load_registered
from trainer.store.connection import qualified_name
from trainer.store.settings import StoreSettings

# Rows of the comparison window whose address has no earlier row in the table (bound: network, start, end).
UNSEEN_ADDRESSES = "address NOT IN (SELECT address FROM {table} WHERE network = {network:String} AND processing_date < {start:Date})"


@dataclass(frozen=True)
class MetricThreshold:
    """What a candidate must achieve on one metric against the champion (MLflow's MetricThreshold)."""

    metric: str
    min_absolute_change: float = 0.0
    min_relative_change: float = 0.0
    min_value: float | None = None
    greater_is_better: bool = True

    def failure(self, candidate: float, champion: float | None) -> str | None:
        """Why the candidate fails this threshold, or None when it passes."""
        if self.min_value is not None and (candidate < self.min_value if self.greater_is_better else candidate > self.min_value):
            return f"{self.metric} {candidate:.4f} is below the minimum value {self.min_value:.4f}"
        if champion is None:
            return None
        change = (candidate - champion) if self.greater_is_better else (champion - candidate)
        relative = change / abs(champion) if champion else 0.0
        if change < self.min_absolute_change or relative < self.min_relative_change:
            return (
                f"{self.metric} {candidate:.4f} against {champion:.4f}: change {change:+.4f} ({relative:+.1%}) is below the minimum "
                f"{self.min_absolute_change:+.4f} ({self.min_relative_change:+.1%})"
            )
        return None


def default_thresholds(spec: ModelSpec) -> list[MetricThreshold]:
    """The candidate must not lose on the type's primary metric (AUC for scorers, NDCG@10 for the ranker)."""
    return [MetricThreshold(spec.primary_metric)]


@dataclass
class Comparison:
    start: date
    end: date
    rows: int
    positives: int
    candidate: dict[str, Any]
    champion: dict[str, Any]

    def to_json(self) -> dict[str, Any]:
        return {"window": [str(self.start), str(self.end)], "rows": self.rows, "positives": self.positives,
                "candidate": self.candidate, "champion": self.champion}  # fmt: skip


@dataclass
class PromotionOutcome:
    model_id: str
    alias: str
    previous: str | None
    comparison: Comparison | None
    forced: bool
    refused_because: list[str]


def registered_model(client: Client, database: str, model_id: str, model_type: str | None, network: str | None) -> dict[str, Any]:
    """A registry row by id, or the newest of a type and network for `latest`."""
    if model_id == "latest":
        if not model_type or not network:
            raise PipelineError("promote latest needs --model-type and --network")
        rows = list_models(client, database, model_type=model_type, network=network)
    else:
        rows = [row for row in list_models(client, database) if row["model_id"] == model_id]
    if not rows:
        raise PipelineError(f"no registered model {model_id!r}" + (f" of type {model_type} for network {network}" if model_type else ""))
    return rows[0]


def compare_on_window(
    client: Client,
    spec: ModelSpec,
    network: str,
    candidate: dict[str, Any],
    champion: dict[str, Any],
    output_dir: Path,
    review_capacity: int | None,
    database: str,
) -> Comparison:
    """Re-score candidate and champion (registry rows, their models loaded from the warehouse of `database`) on the
    same out-of-time, address-unseen window of the finished training table."""
    models = {}
    for role, row in (("candidate", candidate), ("champion", champion)):
        booster, metadata = load_registered(client, database, row, output_dir)
        models[role] = (booster, metadata)
    held = table_window(client, network, spec.training_table)
    start = max(metadata.out_of_time_from() for _, metadata in models.values())
    if held is None or held[1] < start:
        raise PipelineError(
            f"{network}.{spec.training_table} holds no dates from {start} on, where both models are out of time: build a later window"
        )
    end = held[1]
    table = qualified_name(network, spec.training_table)
    where = WINDOW + " AND " + UNSEEN_ADDRESSES.replace("{table}", table)
    parameters = {"network": network, "start": start, "end": end}
    rows, positives = client.query(f"SELECT count(), countIf(label = 1) FROM {table} WHERE {where}", parameters=parameters).result_rows[0]
    if rows == 0 or positives == 0:
        raise PipelineError(
            f"the comparison window {start}..{end} of {network}.{spec.training_table} has {rows} rows with unseen addresses and "
            f"{positives} positives: too few to compare; build a longer window or promote with --force"
        )
    figures = {}
    for role, (booster, metadata) in models.items():
        contract = model_contract(client, network, spec, metadata, spec.training_table)
        check_table(client, network, contract)
        data = extract_rows(client, network, spec, contract, where, parameters, int(rows))
        score = booster.predict(data.features)
        threshold = metadata.metrics.get("threshold")
        figures[role] = window_metrics(spec, data.label, data.grade, score, data.processing_date, threshold, review_capacity)
    return Comparison(start, end, int(rows), int(positives), figures["candidate"], figures["champion"])


def promote(
    client: Client,
    settings: StoreSettings,
    model_id: str,
    alias: str,
    output_dir: Path,
    model_type: str | None = None,
    network: str | None = None,
    thresholds: list[MetricThreshold] | None = None,
    force: bool = False,
    actor: str | None = None,
    reason: str = "",
    review_capacity: int | None = None,
) -> PromotionOutcome:
    """Give `alias` to a registered model. To become champion a model must pass the gate against the current
    champion (unless `force`); a refusal raises one line with both figures and records nothing."""
    database = settings.registry_database
    check_alias(alias)
    ensure_alias_history(client, database)
    row = registered_model(client, database, model_id, model_type, network)
    spec = model_spec(row["model_type"])
    network, model_id = row["network"], row["model_id"]
    states = alias_states(client, database)
    expected = states.get((network, spec.name, alias), AliasState(None, 0))
    previous = expected.holder
    if previous == model_id:
        return PromotionOutcome(model_id, alias, previous, None, False, [])
    comparison, failures = None, []
    if alias == "champion":
        thresholds = thresholds or default_thresholds(spec)
        champion = registered_model(client, database, previous, None, None) if previous else None
        try:
            if champion is not None:
                comparison = compare_on_window(client, spec, network, row, champion, output_dir, review_capacity, database)
        except PipelineError as error:
            if not force:
                raise
            failures.append(f"comparison not possible: {error}")
        for threshold in thresholds:
            candidate_value = comparison.candidate.get(threshold.metric) if comparison else row_metric(row, threshold.metric)
            champion_value = comparison.champion.get(threshold.metric) if comparison else None
            if candidate_value is None:
                known = sorted(comparison.candidate if comparison else json.loads(row["metrics_json"]))
                raise PipelineError(f"unknown metric {threshold.metric!r} for {spec.name}; known: {', '.join(known)}")
            failure = threshold.failure(float(candidate_value), None if champion_value is None else float(champion_value))
            if failure:
                failures.append(failure)
        if failures and not force:
            window = f" on {comparison.start}..{comparison.end} ({comparison.rows} rows)" if comparison else ""
            raise PipelineError(
                f"refused: {model_id} does not pass the gate against champion {previous}{window}: {'; '.join(failures)}; "
                "promote with --force to override"
            )
    change = AliasChange(
        network, spec.name, alias, model_id, "promote", reason=reason, forced=bool(failures) and force,
        comparison_json=json.dumps({**(comparison.to_json() if comparison else {}), "previous": previous, "gate_failures": failures}),
    )  # fmt: skip
    if actor:
        change.actor = actor
    # Compare-and-set against the state the gate compared with: a champion that changed meanwhile fails this one.
    record(client, database, change, expected)
    challenger = states.get((network, spec.name, "challenger"), AliasState(None, 0))
    if alias == "champion" and challenger.holder == model_id:
        demotion = AliasChange(network, spec.name, "challenger", model_id, "demote", actor=change.actor, reason="promoted to champion")
        try:
            record(client, database, demotion, challenger)
        except AliasConflictError as conflict:  # the challenger moved meanwhile: it is no longer this model's to drop
            logger.bind(model_id=model_id).warning(str(conflict))
    logger.bind(model_id=model_id, alias=alias, previous=previous, forced=change.forced, actor=change.actor).info("alias moved")
    return PromotionOutcome(model_id, alias, previous, comparison, change.forced, failures)


def demote(client: Client, settings: StoreSettings, model_id: str, alias: str, actor: str | None = None, reason: str = "") -> str:
    """Take `alias` from the model holding it; fails in one line when the model does not hold it."""
    database = settings.registry_database
    check_alias(alias)
    ensure_alias_history(client, database)
    row = registered_model(client, database, model_id, None, None)
    expected = alias_states(client, database).get((row["network"], row["model_type"], alias), AliasState(None, 0))
    if expected.holder != row["model_id"]:
        raise PipelineError(f"{row['model_id']} is not the {alias} of {row['model_type']} on {row['network']}")
    change = AliasChange(row["network"], row["model_type"], alias, row["model_id"], "demote", reason=reason)
    if actor:
        change.actor = actor
    record(client, database, change, expected)
    return row["model_id"]


def row_metric(row: dict[str, Any], metric: str) -> float | None:
    """A metric of a registry row (its metrics_json), for the gate's minimum values when there is no champion."""
    value = json.loads(row["metrics_json"]).get(metric)
    return None if value is None else float(value)
