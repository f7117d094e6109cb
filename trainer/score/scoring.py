"""Score one processing date with a registered model and write the scores back to ClickHouse: load the model,
extract the date's rows, predict, write the date's partition, and record the batch.

Each model type writes its spec's output table in the network's database (alert_scorer with the top contributing
features of each score), and every run leaves a `batch_metadata` trail (PROCESSING, then COMPLETED or FAILED with
the error). Re-scoring a date with the same model replaces its partition in one step; a failed run leaves the
previous scores intact.
"""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import lightgbm as lgb
import numpy as np
import pyarrow as pa
from clickhouse_connect.driver.client import Client
from clickhouse_connect.driver.exceptions import ClickHouseError
from loguru import logger

from trainer.arguments import resolve_network
from trainer.errors import PipelineError, first_line
from trainer.features.contract import FeatureContract, check_table
from trainer.model_types import ModelSpec, model_spec
from trainer.monitor.distributions import PSI_DRIFT
from trainer.monitor.drift import EXPECTED, SIGNIFICANCE, write_drift
from trainer.registry.artifacts import DEFAULT_OUTPUT_DIR, feature_families, model_contract
from trainer.registry.metadata import ModelMetadata
from trainer.registry.table import resolve_model
from trainer.registry.warehouse import load_registered
from trainer.score.explain import explained_rows, explanations
from trainer.score.tables import ensure_scoring_tables
from trainer.score.tree_shap import contributions as shap_contributions
from trainer.store.arrow import stream_rows
from trainer.store.connection import connect, qualified_name, quote_identifier
from trainer.store.partitions import staging_table, swap_partition
from trainer.store.settings import StoreSettings, load_store_settings

STAGE_PREFIX = "_scoring_"


@dataclass
class ScoringOutcome:
    batch_id: str
    model_version: str
    table: str
    rows: int
    latency_ms: dict[str, int] = field(default_factory=dict)
    top: list[dict[str, Any]] = field(default_factory=list)
    drift: list[dict[str, Any]] = field(default_factory=list)  # PSI per feature and for the score, most drifted first


@dataclass
class ScoringData:
    features: np.ndarray  # float32, rows x features, column-major
    keys: pa.ChunkedArray  # alert or cluster ids, as Arrow strings
    processing_date: date


class Batch:
    """The batch_metadata trail of one run: a PROCESSING row first, then COMPLETED or FAILED (the newest wins), with
    the latency of each step so far."""

    def __init__(self, client: Client, network: str, spec: ModelSpec, processing_date: date) -> None:
        self.client, self.network = client, network
        self.values: dict[str, Any] = {
            "batch_id": str(uuid.uuid4()), "processing_date": processing_date, "model_type": spec.name, "model_version": "",
            "status": "PROCESSING", "error_message": "", "input_rows": 0, "output_rows": 0, "latency_ms_json": "{}",
            "drift_status": "", "drift_error": "",
        }  # fmt: skip
        self.latency: dict[str, int] = {}
        self._clock = time.perf_counter()
        self.record("PROCESSING")

    def lap(self, step: str) -> None:
        now = time.perf_counter()
        self.latency[step] = int(round((now - self._clock) * 1000))
        self._clock = now

    def record(self, status: str, error_message: str = "") -> None:
        values = {**self.values, "status": status, "error_message": error_message, "updated_at": datetime.now(UTC)}
        if status != "PROCESSING":
            values["latency_ms_json"] = json.dumps(self.latency)
        columns = list(values)
        self.client.insert(f"{quote_identifier(self.network)}.batch_metadata", [[values[c] for c in columns]], column_names=columns)


def score_date(
    model_type: str,
    processing_date: date,
    network: str | None = None,
    model_id: str = "champion",
    output_dir: Path = DEFAULT_OUTPUT_DIR,
    client: Client | None = None,
    settings: StoreSettings | None = None,
    drift: bool = True,
    explain_top: int | None = None,
) -> ScoringOutcome:
    """Score every row of one processing date with a registered model: the champion by default, or `challenger`,
    `latest` or a model id; then write the batch's drift against the training distributions (unless `drift` is off).
    Explaining types explain the `explain_top` highest scores of the date (None: the model's review capacity per day;
    0: every row)."""
    spec = model_spec(model_type)
    network = resolve_network(network)
    settings = settings or load_store_settings()
    if client is None:
        with connect(settings) as own_client:  # closed on return: the embedded engine then exits at once
            return score_date(model_type, processing_date, network, model_id, output_dir, own_client, settings, drift, explain_top)
    ensure_scoring_tables(client, network)
    batch = Batch(client, network, spec, processing_date)
    try:
        booster, metadata, contract = load_scoring_model(client, settings, spec, network, model_id, output_dir)
        batch.values["model_version"] = metadata.model_id
        batch.lap("load_model")
        data = extract_date(client, network, spec, contract, processing_date)
        batch.values["input_rows"] = len(data.keys)
        batch.lap("extract")
        score = booster.predict(data.features)
        batch.lap("predict")
        explained = explained_rows(metadata) if explain_top is None else explain_top
        output = score_rows(spec, booster, metadata, contract, data, score, batch, explained)
        write_scores(client, network, spec, output, processing_date, metadata.model_id)
        batch.lap("write")
        batch.values["output_rows"] = output.num_rows
        drifts = batch_drift(client, network, spec, metadata, contract, data, score, batch) if drift else []
        if not drift:
            batch.values["drift_status"] = "off"
        batch.lap("drift")
    except BaseException as error:
        # Every failure leaves a FAILED batch row; expected ones surface as one line, bugs keep their traceback.
        message = first_line(error)
        batch.record("FAILED", message)
        if isinstance(error, ClickHouseError):
            raise PipelineError(f"scoring {processing_date} failed: {message}") from None
        raise
    batch.record("COMPLETED")
    outcome = ScoringOutcome(batch.values["batch_id"], metadata.model_id, spec.output_table, output.num_rows, batch.latency, drift=drifts)
    if spec.explains:
        outcome.top = top_scores(spec, data, score, output)
    logger.bind(
        network=network, model_version=outcome.model_version, processing_date=str(processing_date), rows=outcome.rows, **batch.latency
    ).info(f"scores written to {spec.output_table}")
    # Features whose drift is expected by design are reported in feature_drift with their reason, never warned about.
    drifted = [row for row in drifts if row["level"] == "drift"]
    tested = sum(row["level"] != EXPECTED for row in drifts)
    if drifted:
        logger.bind(processing_date=str(processing_date), features=", ".join(row["feature"] for row in drifted[:10])).warning(
            f"{len(drifted)} of {tested} distributions drifted from training "
            f"(PSI >= {PSI_DRIFT}, significant at {SIGNIFICANCE:.0%} over the batch's {tested}, Bonferroni)"
        )
    return outcome


def load_scoring_model(
    client: Client, settings: StoreSettings, spec: ModelSpec, network: str, model_id: str, output_dir: Path
) -> tuple[lgb.Booster, dict[str, Any], FeatureContract]:
    """The model and the scoring table's contract restricted to the model's families, checked to be the contract the
    model was trained on: a rebuilt table with other columns is refused, not scored with shifted features. The model
    loads from the warehouse (`output_dir` serves only models registered before the warehouse kept artifacts)."""
    row = resolve_model(client, settings.registry_database, spec.name, network, model_id)
    booster, metadata = load_registered(client, settings.registry_database, row, output_dir)
    return booster, metadata, model_contract(client, network, spec, metadata, spec.scoring_table)


def extract_date(client: Client, network: str, spec: ModelSpec, contract: FeatureContract, processing_date: date) -> ScoringData:
    """Every row of the scoring table for one processing date, labelled or not, ordered by key."""
    check_table(client, network, contract)
    table = qualified_name(network, contract.table)
    key = quote_identifier(spec.key_column)
    where = "network = {network:String} AND processing_date = {day:Date}"
    parameters = {"network": network, "day": processing_date}
    rows = int(client.command(f"SELECT count() FROM {table} WHERE {where}", parameters=parameters))
    if rows == 0:
        raise PipelineError(f"{network}.{contract.table} has no rows for {processing_date}: run dbt build for a window holding it")
    feature_sql = ", ".join(f"toFloat32({quote_identifier(name)})" for name in contract.names)
    query = f"SELECT {key}, {feature_sql} FROM {table} WHERE {where} ORDER BY {key}"
    columns, features = stream_rows(client, query, parameters, rows, ["key"], len(contract.names), f"{network}.{contract.table}")
    return ScoringData(features=features, keys=columns["key"], processing_date=processing_date)


def score_rows(
    spec: ModelSpec,
    booster: lgb.Booster,
    metadata: ModelMetadata,
    contract: FeatureContract,
    data: ScoringData,
    score: np.ndarray,
    batch: Batch,
    explain_top: int = 0,
) -> pa.Table:
    """The output rows in the column order of the spec's output table: a ranker's rows also carry their rank within
    the date (1 = review first); an explaining type adds the top feature contributions of the `explain_top` highest
    scores (0: of every score), and an empty explain_json to the others."""
    created_at = datetime.now(UTC).replace(microsecond=0, tzinfo=None)
    columns: dict[str, Any] = {"processing_date": pa.array([data.processing_date] * len(data.keys), pa.date32())}
    columns[spec.key_column] = data.keys
    if spec.is_ranker:
        rank = np.empty(score.size, dtype=np.int32)
        rank[np.argsort(-score, kind="stable")] = np.arange(1, score.size + 1, dtype=np.int32)
        columns["rank"] = pa.array(rank)
    columns["score"] = pa.array(score, pa.float64())
    columns["model_version"] = pa.array([metadata.model_id] * score.size, pa.string())
    if spec.explains:
        families_by_name = feature_families(metadata)
        explained = np.arange(score.size)
        if 0 < explain_top < score.size:
            explained = np.sort(np.argsort(-score, kind="stable")[:explain_top])
        contributions = shap_contributions(booster, data.features[explained])
        reasons = np.full(score.size, "", dtype=object)
        reasons[explained] = explanations(contributions, contract.names, families_by_name)
        columns["explain_json"] = pa.array(reasons.tolist(), pa.string())
        batch.lap("explain")
    columns["created_at"] = pa.array([created_at] * score.size, pa.timestamp("s"))
    return pa.table(columns)


def write_scores(client: Client, network: str, spec: ModelSpec, output: pa.Table, processing_date: date, model_version: str) -> None:
    """Replace the (date, model) partition of the output table with `output` in one step."""
    with staging_table(client, network, spec.output_table, STAGE_PREFIX) as stage:
        client.insert_arrow(qualified_name(network, stage), output)
        partition = {"day": (processing_date, "Date"), "version": (model_version, "String")}
        swap_partition(client, network, spec.output_table, stage, partition, empty=False)


def batch_drift(
    client: Client,
    network: str,
    spec: ModelSpec,
    metadata: ModelMetadata,
    contract: FeatureContract,
    data: ScoringData,
    score: np.ndarray,
    batch: Batch,
) -> list[dict[str, Any]]:
    """The batch's drift rows. The scores are already written and valid, so a drift failure leaves the batch
    COMPLETED, without drift rows for it: it is reported as an error line and recorded in the batch's drift_status and
    drift_error, where monitoring finds it."""
    try:
        rows = write_drift(client, network, spec, metadata, data.processing_date, list(contract.names), data.features, score)
    except ClickHouseError as error:
        message = first_line(error)
        batch.values.update(drift_status="failed", drift_error=message)
        logger.bind(processing_date=str(data.processing_date), model_version=metadata.model_id).error(f"drift not computed: {message}")
        return []
    batch.values["drift_status"] = "written" if rows else "skipped"
    return rows


def top_scores(spec: ModelSpec, data: ScoringData, score: np.ndarray, output: pa.Table, count: int = 10) -> list[dict[str, Any]]:
    """The `count` highest scores of the date with their reasons, for the command line."""
    order = np.argsort(-score, kind="stable")[:count]
    keys, reasons = data.keys.to_pylist(), output.column("explain_json")
    return [{spec.key_column: keys[i], "score": float(score[i]), "reasons": json.loads(reasons[int(i)].as_py() or "[]")} for i in order]
