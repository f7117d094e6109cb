"""Train one model end to end: contract, leak-free split (planned in SQL), extraction, CV, fit, evaluation, files,
registry row."""

from __future__ import annotations

import hashlib
import json
import resource
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import numpy as np
from clickhouse_connect.driver.client import Client
from loguru import logger

from trainer import __version__, modeling, registry
from trainer.config import StoreSettings, load_store_settings, project_var
from trainer.connection import connect, validate_network
from trainer.contract import MODEL_TYPES, FeatureContract, load_contract
from trainer.errors import PipelineError
from trainer.evaluate import auc_or_half, best_f1_threshold, binary_metrics, ranking_metrics
from trainer.extract import check_table, extract_rows, fingerprint, table_name, table_window, window_parameters
from trainer.labels import label_maturity
from trainer.report import gain_by_family, render_report
from trainer.split import check_classes, group_sizes, plan_holdout
from trainer.storage import (
    Artifacts,
    artifact_stem,
    artifacts_on_disk,
    ensure_writable,
    leftover_temporaries,
    output_dir_lock,
    remove_artifacts,
    write_artifacts,
)


@dataclass
class TrainRequest:
    model_type: str
    network: str | None = None
    start: date | None = None
    end: date | None = None
    output_dir: Path = Path("trained_models")
    force: bool = False
    tune_trials: int = 0
    test_fraction: float = 0.2
    min_per_class: int = 20
    seed: int = 42
    families: tuple[str, ...] = ()  # empty: every family of the contract
    excluded_features: tuple[str, ...] = ()  # features of the contract left out (ablations)


def peak_rss_mb() -> float:
    """Peak resident memory of this process so far (ru_maxrss is KiB on Linux, bytes on macOS)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return round(peak / (2**20 if sys.platform == "darwin" else 2**10), 1)


class PhaseTimer:
    """Wall seconds per phase of a run and the process's peak resident memory at the end of each phase,
    recorded into the model's metadata."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}
        self.peak_rss_mb: dict[str, float] = {"start": peak_rss_mb()}

    @contextmanager
    def phase(self, name: str) -> Iterator[None]:
        started = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[name] = round(time.perf_counter() - started, 3)
            self.peak_rss_mb[name] = peak_rss_mb()


@dataclass
class TrainOutcome:
    model_id: str
    model_path: Path
    metadata: dict[str, Any]
    reused: bool = False


def _config_key(request: TrainRequest, network: str, start: date, end: date, fingerprint: str, contract: FeatureContract) -> str:
    """What makes two trainings the same: type, network, window, data, contract and every knob."""
    payload = {
        "model_type": request.model_type, "network": network, "start": str(start), "end": str(end),
        "data": fingerprint, "contract": contract.fingerprint(), "tune": request.tune_trials,
        "test_fraction": request.test_fraction, "families": sorted(request.families),
        "excluded_features": sorted(request.excluded_features), "min_per_class": request.min_per_class, "seed": request.seed,
        "params": modeling.base_params(request.model_type, request.seed), "version": __version__,
    }  # fmt: skip
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()[:24]


def _existing_model(client: Client, settings: StoreSettings, config_key: str, output_dir: Path) -> dict[str, Any] | None:
    """A registered model of the same configuration whose files are complete in this output directory."""
    for row in registry.list_models(client, settings.registry_database, config_key=config_key):
        model_path = Path(row["model_path"])
        if model_path.parent.resolve() == output_dir and model_path.is_file() and Path(row["metadata_path"]).is_file():
            return row
    return None


def train_model(request: TrainRequest, client: Client | None = None, settings: StoreSettings | None = None) -> TrainOutcome:
    if request.model_type not in MODEL_TYPES:
        raise PipelineError(f"unknown model type {request.model_type!r}; choose one of {', '.join(MODEL_TYPES)}")
    network = validate_network(request.network or str(project_var("network")))
    if request.start and request.end and request.start > request.end:
        raise PipelineError(f"start date {request.start} is after end date {request.end}")
    if request.min_per_class < 1:
        raise PipelineError(f"min-per-class must be at least 1, got {request.min_per_class}")
    if not 0 < request.test_fraction < 1:
        raise PipelineError(f"test fraction must be between 0 and 1, got {request.test_fraction}")
    output_dir = ensure_writable(request.output_dir)
    settings = settings or load_store_settings()
    if client is None:
        with connect(settings) as own_client:  # closed on return: the embedded engine then exits in 0.1 s, not 0.6 s
            return train_model(request, own_client, settings)
    contract = load_contract(request.model_type, client, network)
    if request.families:
        contract = contract.restricted_to(request.families)
    if request.excluded_features:
        contract = contract.without(request.excluded_features)
    check_table(client, network, contract)
    held = table_window(client, network, contract.table)
    if held is None:
        raise PipelineError(f"{network}.{contract.table} holds no rows for network {network}: run dbt build for it")
    start, end = request.start or held[0], request.end or held[1]
    log = logger.bind(model_type=request.model_type, network=network, window=f"{start}..{end}")

    timings = PhaseTimer()
    table = table_name(network, contract)
    with timings.phase("split"):
        holdout = plan_holdout(
            client,
            table,
            window_parameters(network, start, end),
            request.test_fraction,
            request.min_per_class,
            f"{network}.{contract.table}",
        )
    maturity = label_maturity(client, network, contract.table, start)
    log.bind(
        label_horizon_days=maturity.horizon_days,
        labels_mature_through=str(maturity.mature_through),
        immature_rows_left_out=maturity.immature_rows,
    ).info("labels are outcomes within the horizon; rows whose horizon is still open are left out")
    check_classes(holdout.train, request.min_per_class, f"the training part (before {holdout.test_start})")
    check_classes(holdout.test, 1, f"the test part (from {holdout.test_start})")
    log.bind(
        train_rows=holdout.train.rows, test_rows=holdout.test.rows, dropped_shared=holdout.train_rows_dropped_for_shared_entities
    ).info("out-of-time split planned")
    registry.ensure_registry(client, settings.registry_database)
    data_fingerprint = fingerprint(client, network, contract, holdout.parameters)
    config_key = _config_key(request, network, start, end, data_fingerprint, contract)
    existing = None if request.force else _existing_model(client, settings, config_key, output_dir)
    if existing:
        log.bind(model_id=existing["model_id"]).info("model already trained on this data and configuration; use --force to train again")
        metadata = json.loads(Path(existing["metadata_path"]).read_text())
        return TrainOutcome(existing["model_id"], Path(existing["model_path"]), metadata, reused=True)

    with timings.phase("extract"):
        train, test = (
            extract_rows(client, network, contract, holdout.where(part, table), holdout.parameters, counts.rows)
            for part, counts in (("train", holdout.train), ("test", holdout.test))
        )
        if fingerprint(client, network, contract, holdout.parameters) != data_fingerprint:
            raise PipelineError(f"{network}.{contract.table} changed while it was read; run again")
    log.bind(train_rows=train.rows, test_rows=test.rows, matrix_mb=round((train.features.nbytes + test.features.nbytes) / 2**20, 1)).info(
        "training and test rows extracted"
    )

    params = modeling.base_params(request.model_type, request.seed)
    tuning = None
    if request.tune_trials > 0:
        params, tuning = modeling.tune(train, request.model_type, params, request.tune_trials, request.seed)
        log.bind(best_cv_score=round(tuning["best_cv_score"], 4), trials=tuning["trials"]).info("tuning finished")
    with timings.phase("dataset_construction"):
        binned = modeling.bin_rows(train, request.model_type, params)
    with timings.phase("cross_validation"):
        cv = modeling.cross_validate(train, binned, request.model_type, params)
    log.bind(cv_score=round(float(np.mean(cv.fold_scores)), 4), rounds=cv.rounds).info("cross-validation finished")
    train_label, train_positive_rate = train.label, float(train.label.mean())
    del train  # the final fit trains on the bins the cross-validation used, not on the float matrix
    with timings.phase("final_fit"):
        booster = modeling.fit(binned, params, cv.rounds)
    del binned
    evaluation_started = time.perf_counter()
    score = booster.predict(test.features)

    if modeling.is_ranker(request.model_type):
        metrics = ranking_metrics(test.grade, score, group_sizes(test.processing_date))
        metrics["test_auc"] = auc_or_half(test.label, score)
        metrics["cv_ndcg_mean"], metrics["cv_ndcg_std"] = float(np.mean(cv.fold_scores)), float(np.std(cv.fold_scores))
    else:
        metrics = binary_metrics(test.label, score, best_f1_threshold(train_label, cv.out_of_fold))
    metrics["cv_auc_mean"], metrics["cv_auc_std"] = float(np.mean(cv.fold_aucs)), float(np.std(cv.fold_aucs))

    families = {feature.name: feature.family for feature in contract.features}
    family_gain = gain_by_family(contract.names, booster.feature_importance(importance_type="gain"), families)
    with output_dir_lock(output_dir):
        recover_orphans(client, settings, output_dir)
        version = registry.next_version(client, settings.registry_database, request.model_type, network)
        created_at = datetime.now(UTC)
        stem = artifact_stem(request.model_type, version, created_at.strftime("%Y%m%d_%H%M%S"))
        artifacts = Artifacts(output_dir / f"{stem}.txt", output_dir / f"{stem}.json", output_dir / f"{stem}.png")
        metadata = {
            "model_id": stem,
            "model_type": request.model_type,
            "version": version,
            "timestamp": created_at.isoformat(),
            "network": network,
            "training_period": {
                "start": str(start),
                "end": str(end),
                "test_start": str(holdout.test_start),
                "test_fraction": request.test_fraction,
                **{key: value for key, value in maturity.to_json().items() if key != "immature_label_rows_left_out"},
            },
            "data_stats": {
                "rows": holdout.window.rows,
                "train_rows": holdout.train.rows,
                "test_rows": holdout.test.rows,
                "train_rows_dropped_for_shared_entities": holdout.train_rows_dropped_for_shared_entities,
                "immature_label_rows_left_out": maturity.immature_rows,
                "positives": holdout.window.positives,
                "train_positive_rate": train_positive_rate,
                "test_positive_rate": float(test.label.mean()),
                "distinct_dates": holdout.distinct_dates,
                "fingerprint": data_fingerprint,
            },
            "metrics": metrics,
            "hyperparameters": {**params, "num_boost_round": cv.rounds},
            "feature_names": contract.names,
            "num_trees": booster.num_trees(),
            "feature_contract": {"table": contract.table, "fingerprint": contract.fingerprint(), "features": contract.to_json()},
            "gain_by_family": family_gain,
            "dbt_models": contract.producers,
            "tuning": tuning,
            "config_key": config_key,
            "project_version": __version__,
            "report_path": str(artifacts.report_path),
            "timings_s": {**timings.seconds, "evaluate_and_save": round(time.perf_counter() - evaluation_started, 3)},
            "peak_rss_mb": peak_rss_mb(),
            "peak_rss_mb_by_phase": timings.peak_rss_mb,
        }
        report = render_report(f"{stem} ({network}, {start}..{end})", test.label, score, family_gain)
        write_artifacts(artifacts, booster.model_to_string(), metadata, report)
        try:
            registry.insert(client, settings.registry_database, registry.row_from_metadata(metadata, artifacts.model_path))
        except BaseException:
            remove_artifacts(artifacts)
            raise
    log.bind(model_id=stem, test_auc=round(metrics["test_auc"], 4), path=str(artifacts.model_path)).info("model trained and registered")
    return TrainOutcome(stem, artifacts.model_path, metadata)


def recover_orphans(client: Client, settings: StoreSettings, output_dir: Path) -> None:
    """Finish or undo what a crashed run left in the output directory.

    A complete file set (model, metadata, report) without a registry row was saved by a run that died
    before registering it: it is registered now from its metadata. An incomplete set, or leftover temporary
    files, cannot be trusted and is removed.
    """
    registered = {row["model_id"] for row in registry.list_models(client, settings.registry_database)}
    for temporary in leftover_temporaries(output_dir):
        temporary.unlink(missing_ok=True)
        logger.bind(path=str(temporary)).warning("removed a temporary file left by an interrupted run")
    for model_id, artifacts in artifacts_on_disk(output_dir).items():
        if model_id in registered:
            continue
        complete = all(path.is_file() for path in artifacts.all())
        metadata = None
        if complete:
            try:
                metadata = json.loads(artifacts.metadata_path.read_text())
            except ValueError:
                metadata = None
        if metadata is None or metadata.get("model_id") != model_id:
            remove_artifacts(artifacts)
            logger.bind(model_id=model_id).warning("removed the incomplete files of a model that was never registered")
            continue
        registry.insert(client, settings.registry_database, registry.row_from_metadata(metadata, artifacts.model_path))
        logger.bind(model_id=model_id).warning("registered a complete model whose run stopped before registering it")
