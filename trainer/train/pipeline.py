"""Train one model: plan, extract, fit, evaluate, publish. Each phase is a function below; `train_model` runs them
in order, and nothing is written before publish."""

from __future__ import annotations

import hashlib
import json
import platform
import time
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

import lightgbm as lgb
import numpy as np
from clickhouse_connect.driver.client import Client
from loguru import logger

from trainer import __version__
from trainer.arguments import check_at_least, check_fraction, check_window, resolve_network
from trainer.errors import PipelineError
from trainer.evaluation import leakage
from trainer.evaluation.extract import TrainingData, fingerprint, read_rows, rows_query, table_window, window_parameters
from trainer.evaluation.held_out import ScoredTestPart, score_test_part
from trainer.evaluation.metrics import best_f1_threshold, window_metrics
from trainer.evaluation.split import Holdout, check_classes, group_sizes, plan_holdout
from trainer.features.catalogue import raw_columns_text
from trainer.features.contract import FeatureContract, check_table, load_contract, read_manifest
from trainer.features.lineage import FeatureLineage, LineageResolver, catalog_from_store
from trainer.model_types import MODEL_SPECS, ModelSpec, model_spec
from trainer.monitor.distributions import effective_rows, training_distributions
from trainer.registry import table as registry
from trainer.registry.artifacts import ensure_writable
from trainer.registry.metadata import ContractRecord, DataStats, ModelMetadata, TrainingPeriod
from trainer.registry.model_card import render_model_card
from trainer.registry.publish import publish_model, reuse_registered
from trainer.store.arrow import arrow_batches
from trainer.store.connection import SqlName, connect, qualified_name
from trainer.store.settings import StoreSettings, load_store_settings
from trainer.train import launch, lockstep, modeling
from trainer.train.dataset import BinnedTraining, reference_sample, sample_size
from trainer.train.labels import LabelMaturity, label_maturity
from trainer.train.rank import train_rank
from trainer.train.ranks import (
    binary_first_round_hessian,
    lambdarank_first_round_hessian,
    parse_machines,
    rank_params,
    shard_where,
)
from trainer.train.report import gain_by_family, render_report
from trainer.train.streamed_folds import StreamedTraining, training_part
from trainer.train.timing import PhaseTimer, peak_rss_mb


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
    review_capacity: int | None = None  # items reviewed per day for the triage metrics; None: a tenth of a median day
    workers: int = 1  # local ranks of a data-parallel run (trainer/train/launch.py); 1: one process
    machines: str | None = None  # host:port,... of a data-parallel run on several hosts, this process being `rank`
    rank: int = 0
    stall_seconds: float = 120.0  # a rank waiting on its peers this long without progress fails the run


@dataclass
class TrainOutcome:
    model_id: str
    model_path: Path
    metadata: ModelMetadata
    reused: bool = False


@dataclass
class TrainingPlan:
    """What a run will train on, decided before any feature is read."""

    spec: ModelSpec
    network: str
    start: date
    end: date
    contract: FeatureContract
    holdout: Holdout
    maturity: LabelMaturity
    data_fingerprint: str
    config_key: str
    output_dir: Path
    # Filled once the run is known to train (not reuse): each feature's lineage through dbt's compiled SQL (None: not
    # traceable), then the leakage guard's figures, computed from the rows read.
    lineage: dict[str, FeatureLineage] | None = None
    leakage_guard: dict[str, Any] = field(default_factory=dict)


@dataclass
class FittedModel:
    booster: lgb.Booster
    params: dict[str, Any]
    cv: modeling.CrossValidation
    tuning: dict[str, Any] | None
    train_label: np.ndarray
    train_positive_rate: float


def train_model(request: TrainRequest, client: Client | None = None, settings: StoreSettings | None = None) -> TrainOutcome | None:
    """Train, save and register one model; reuse the registered one when data and configuration are unchanged. A rank
    other than 0 of a run on several hosts trains its part and returns None: rank 0 publishes."""
    spec = model_spec(request.model_type)
    network = resolve_network(request.network)
    check_window(request.start, request.end)
    check_at_least("min-per-class", request.min_per_class, 1)
    check_fraction("test fraction", request.test_fraction)
    if request.review_capacity is not None:
        check_at_least("review capacity", request.review_capacity, 1)
    output_dir = ensure_writable(request.output_dir)
    settings = settings or load_store_settings()
    check_ranks(request, settings)
    if client is None:
        with connect(settings) as own_client:  # closed on return: the embedded engine then exits at once
            return train_model(request, own_client, settings)
    timings = PhaseTimer()
    plan = plan_training(request, spec, network, output_dir, client, settings, timings)
    log = logger.bind(model_type=spec.name, network=network, window=f"{plan.start}..{plan.end}")
    existing = None if request.force else reusable_model(client, settings, plan)
    if existing:
        log.bind(model_id=existing.model_id).info("model already trained on this data and configuration; use --force to train again")
        return existing
    plan.lineage = feature_lineage_or_none(client, network, plan.contract)
    if request.workers > 1 or request.machines:
        return train_data_parallel(client, settings, request, plan, timings)
    params = modeling.training_params(spec, request.seed, plan.holdout.train.rows, tuned=request.tune_trials > 0)
    binned = extract_training(client, plan, params, timings)
    fitted = fit(binned, params, request, plan, timings)
    train = binned.data
    del binned  # the bins are let go: the test part streams in beside the model and the training arrays alone
    test = score_test(client, plan, fitted.booster, timings)
    plan.leakage_guard = guard_leakage(plan, train, test)
    evaluation_started = time.perf_counter()
    metrics = evaluate(fitted, test, plan, request.review_capacity)
    outcome = publish(client, settings, request, plan, fitted, test, metrics, timings, evaluation_started)
    log.bind(model_id=outcome.model_id, test_auc=round(metrics["test_auc"], 4), path=str(outcome.model_path)).info(
        "model trained and registered"
    )
    return outcome


def plan_training(
    request: TrainRequest,
    spec: ModelSpec,
    network: str,
    output_dir: Path,
    client: Client,
    settings: StoreSettings,
    timings: PhaseTimer,
) -> TrainingPlan:
    """Resolve the feature contract and the window, plan the out-of-time split in SQL and fingerprint the data.

    Everything that can fail on the data (missing table, empty window, one class, no split) fails here, before a
    feature is read or a file is written."""
    contract = load_contract(spec, client, network)
    if request.families:
        contract = contract.restricted_to(request.families)
    if request.excluded_features:
        contract = contract.without(request.excluded_features)
    check_table(client, network, contract)
    held = table_window(client, network, contract.table)
    if held is None:
        raise PipelineError(f"{network}.{contract.table} holds no rows for network {network}: run dbt build for it")
    start, end = request.start or held[0], request.end or held[1]
    log = logger.bind(model_type=spec.name, network=network, window=f"{start}..{end}")
    with timings.phase("split"):
        holdout = plan_holdout(
            client,
            qualified_name(network, contract.table),
            window_parameters(network, start, end),
            request.test_fraction,
            request.min_per_class,
            f"{network}.{contract.table}",
        )
    maturity = label_maturity(client, network, spec, start)
    log.bind(
        label_horizon_days=maturity.horizon_days,
        labels_mature_through=str(maturity.mature_through),
        immature_rows_left_out=maturity.immature_rows,
    ).info("labels are outcomes within the horizon; rows whose horizon is still open are left out")
    check_classes(holdout.train, request.min_per_class, f"the training part (before {holdout.test_start})")
    check_classes(holdout.test, 1, f"the test part (from {holdout.test_start})")
    log.bind(
        train_rows=holdout.train.rows,
        test_rows=holdout.test.rows,
        purged_label_horizon=holdout.train_rows_purged_for_label_horizon,
        dropped_shared=holdout.train_rows_dropped_for_shared_entities,
    ).info("out-of-time split planned")
    registry.ensure_registry(client, settings.registry_database)
    data_fingerprint = fingerprint(client, network, spec, contract, holdout.parameters)
    config_key = _config_key(request, spec, network, start, end, data_fingerprint, contract)
    return TrainingPlan(spec, network, start, end, contract, holdout, maturity, data_fingerprint, config_key, output_dir)


def _config_key(
    request: TrainRequest, spec: ModelSpec, network: str, start: date, end: date, data_fingerprint: str, contract: FeatureContract
) -> str:
    """What makes two trainings the same: type, network, window, data, contract and every knob."""
    payload = {
        "model_type": spec.name, "network": network, "start": str(start), "end": str(end),
        "data": data_fingerprint, "contract": contract.fingerprint(), "tune": request.tune_trials,
        "test_fraction": request.test_fraction, "families": sorted(request.families),
        "excluded_features": sorted(request.excluded_features), "min_per_class": request.min_per_class, "seed": request.seed,
        "params": modeling.base_params(spec, request.seed), "version": __version__, "review_capacity": request.review_capacity,
        **({"ranks": rank_count(request)} if rank_count(request) > 1 else {}),  # a data-parallel model is another model
    }  # fmt: skip
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()[:24]


def reusable_model(client: Client, settings: StoreSettings, plan: TrainingPlan) -> TrainOutcome | None:
    """A registered model of the same configuration, from whichever host trained it: training again would give the
    same bytes. Its files are exported from the warehouse into this output directory (registry.publish)."""
    for row in registry.list_models(client, settings.registry_database, config_key=plan.config_key):
        reused = reuse_registered(client, settings, row, plan.output_dir)
        if reused:
            return TrainOutcome(row["model_id"], *reused, reused=True)
    return None


def extract_training(client: Client, plan: TrainingPlan, params: dict[str, Any], timings: PhaseTimer) -> BinnedTraining | StreamedTraining:
    """Bin the training rows with `params` as they stream (trainer/train/dataset.py); a huge training part is read
    without its features, and its folds and final fit bin it from the table (trainer/train/streamed_folds.py)."""
    with timings.phase("extract"):
        table = qualified_name(plan.network, plan.contract.table)
        holdout = plan.holdout
        binned = training_part(
            client, plan.network, plan.spec, plan.contract.names, plan.contract.table, holdout.where("train", table),
            holdout.parameters, holdout.train.rows, params,
        )  # fmt: skip
    logger.bind(
        model_type=plan.spec.name, network=plan.network, train_rows=binned.data.rows, reference_sample_rows=binned.sample_rows
    ).info("training rows binned")
    return binned


def score_test(client: Client, plan: TrainingPlan, booster: lgb.Booster, timings: PhaseTimer) -> ScoredTestPart:
    """Score the test rows as they stream (trainer/evaluation/held_out.py), then prove the table did not change while
    either part was read (the fingerprint the plan was made on still holds)."""
    what = f"{plan.network}.{plan.contract.table}"
    with timings.phase("score_test"):
        table = qualified_name(plan.network, plan.contract.table)
        holdout = plan.holdout
        test = score_test_part(
            client, table, plan.spec, plan.contract.names, holdout.where("test", table), holdout.parameters, holdout.test.rows,
            booster, what,
        )  # fmt: skip
        if fingerprint(client, plan.network, plan.spec, plan.contract, holdout.parameters) != plan.data_fingerprint:
            raise PipelineError(f"{what} changed while it was read; run again")
    logger.bind(
        model_type=plan.spec.name, network=plan.network, test_rows=test.data.rows, drift_reference_rows=test.reference_rows.size
    ).info("test rows scored as they streamed")
    return test


def guard_leakage(plan: TrainingPlan, train: TrainingData, test: ScoredTestPart) -> dict[str, Any]:
    """The leakage guard on the rows read (trainer/evaluation/leakage.py): stops the run in one line on any leak,
    before anything is published, else returns its figures for the metadata and the card."""
    found = leakage.guard(
        train_entity=train.entity,
        train_dates=train.processing_date,
        test_entity=test.data.entity,
        test_dates=test.data.processing_date,
        horizon_days=plan.maturity.horizon_days,
        feature_names=plan.contract.names,
        features_valued_as_labels=test.features_valued_as_labels,
        label_columns={"label", "label_weight", plan.spec.grade_column},
        lineage=plan.lineage or {},
        label_models={spec.label_model for spec in MODEL_SPECS.values()},
    )
    found.check(f"of {plan.spec.name} on {plan.network}.{plan.contract.table}")
    return found.to_json()


def fit(
    binned: BinnedTraining | StreamedTraining, params: dict[str, Any], request: TrainRequest, plan: TrainingPlan, timings: PhaseTimer
) -> FittedModel:
    """Optionally tune, cross-validate by entity for the number of rounds, then fit the final model: all on the bins
    the training rows were streamed into, or on bins streamed again for each fold and for the final fit."""
    log = logger.bind(model_type=plan.spec.name, network=plan.network)
    train, tuning = binned.data, None
    if request.tune_trials > 0:
        if isinstance(binned, StreamedTraining):
            log.bind(trials=request.tune_trials, train_rows=train.rows).info(
                "tuning a huge training part reads its rows from the table again for every fold of every trial"
            )
        params, tuning = modeling.tune(train, binned.fold_sets, plan.spec, params, request.tune_trials, request.seed)
        log.bind(best_cv_score=round(tuning["best_cv_score"], 4), trials=tuning["trials"]).info("tuning finished")
    with timings.phase("cross_validation"):
        cv = modeling.cross_validate(train, binned.fold_sets, plan.spec, params)
    log.bind(cv_score=round(float(np.mean(cv.fold_scores)), 4), rounds=cv.rounds).info("cross-validation finished")
    with timings.phase("final_fit"):
        booster = modeling.fit(binned.final_set(), params, cv.rounds)
    params = {**params, "reference_sample_rows": binned.sample_rows}  # recorded: the bins were found on this many rows
    return FittedModel(booster, params, cv, tuning, train.label, float(train.label.mean()))


def rank_count(request: TrainRequest) -> int:
    return len(request.machines.split(",")) if request.machines else request.workers


def check_ranks(request: TrainRequest, settings: StoreSettings) -> None:
    """The data-parallel options, checked before any SQL runs."""
    check_at_least("workers", request.workers, 1)
    if request.machines:
        parse_machines(request.machines, request.rank)
        if request.workers > 1:
            raise PipelineError("--workers and --machines exclude each other: --machines starts one rank per host")
        if settings.kind == "chdb":
            raise PipelineError("--machines needs a ClickHouse server every host reaches (DBT_TARGET=server); on one host use --workers N")
    if rank_count(request) > 1 and request.tune_trials:
        raise PipelineError("--tune runs on one process: tune without --workers/--machines, then train data-parallel")


def train_data_parallel(
    client: Client, settings: StoreSettings, request: TrainRequest, plan: TrainingPlan, timings: PhaseTimer
) -> TrainOutcome | None:
    """Train on several ranks with LightGBM's data-parallel learner, each rank on its shard of the training rows
    (trainer/train/ranks.py), then, on rank 0 alone, guard, evaluate and publish as one process does."""
    spec, names, rows = plan.spec, plan.contract.names, plan.holdout.train.rows
    table = qualified_name(plan.network, plan.contract.table)
    where, parameters, what = plan.holdout.where("train", table), plan.holdout.parameters, f"{plan.network}.{plan.contract.table}"
    if spec.is_ranker:  # from every training row's grade, in order (16 bytes a row, let go here), alike on every host
        grades = read_rows(client, rows_query(table, spec, [], where), parameters, rows, names, 0, what)
        first_round_hessian = lambdarank_first_round_hessian(grades.grade, group_sizes(grades.processing_date))
        del grades
    else:
        first_round_hessian = binary_first_round_hessian(plan.holdout.train.positives, rows)
    params = rank_params(modeling.training_params(spec, request.seed, rows, tuned=False), spec, first_round_hessian, rows)
    with timings.phase("data_parallel_training"):
        if request.machines:
            fitted = train_rank_on_server(client, request, spec, names, table, where, parameters, rows, params, what)
        else:
            fitted = launch.train_locally(
                client, table, spec, names, where, parameters, rows, params, request.workers, request.stall_seconds, what
            )
    if fitted is None:
        logger.bind(rank=request.rank, model_type=spec.name).info("rank finished; rank 0 publishes the model")
        return None
    test = score_test(client, plan, fitted.booster, timings)
    plan.leakage_guard = guard_leakage(plan, fitted.train, test)
    # Recorded so that the model says how it was trained (README: why it can differ from one process's model).
    recorded = {**params, "tree_learner": "data", "num_machines": rank_count(request), "reference_sample_rows": sample_size(rows)}
    model = FittedModel(fitted.booster, recorded, fitted.cv, None, fitted.train.label, float(fitted.train.label.mean()))
    evaluation_started = time.perf_counter()
    metrics = evaluate(model, test, plan, request.review_capacity)
    outcome = publish(client, settings, request, plan, model, test, metrics, timings, evaluation_started)
    logger.bind(model_id=outcome.model_id, ranks=rank_count(request), test_auc=round(metrics["test_auc"], 4)).info(
        "data-parallel model trained and registered"
    )
    return outcome


def train_rank_on_server(
    client: Client, request: TrainRequest, spec: ModelSpec, names: list[str], table: SqlName, where: SqlName,
    parameters: dict[str, Any], rows: int, params: dict[str, Any], what: str,
) -> lockstep.RankFit | None:  # fmt: skip
    """This host's rank, reading the sample and its shard from the server itself (each host its nearest replica)."""
    ranks = parse_machines(request.machines or "", request.rank)
    bound = {**parameters, "ranks": ranks.size, "rank": ranks.rank}
    sharded = shard_where(where, spec)
    shard_rows = int(client.command(f"SELECT count() FROM {table} WHERE {sharded}", parameters=bound))
    return train_rank(
        ranks, spec, names, params, rows, request.stall_seconds,
        lambda: reference_sample(client, table, spec, names, where, parameters, rows),
        lambda: arrow_batches(client, rows_query(table, spec, names, sharded), bound), shard_rows, what,
    )  # fmt: skip


def evaluate(fitted: FittedModel, test: ScoredTestPart, plan: TrainingPlan, review_capacity: int | None) -> dict[str, Any]:
    """Score the out-of-time, entity-disjoint test rows. Binary types are judged at the threshold chosen on the
    out-of-fold scores of the training part (never on the test rows); rankers by NDCG and MAP per processing date;
    both by the triage figures investigators decide by (auto-close at fixed recall, the queue at the daily review
    capacity, positives buried in the bottom half of their day)."""
    cv, rows = fitted.cv, test.data
    threshold = None if plan.spec.is_ranker else best_f1_threshold(fitted.train_label, cv.out_of_fold)
    metrics = window_metrics(plan.spec, rows.label, rows.grade, test.score, rows.processing_date, threshold, review_capacity)
    if plan.spec.is_ranker:
        metrics["cv_ndcg_mean"], metrics["cv_ndcg_std"] = float(np.mean(cv.fold_scores)), float(np.std(cv.fold_scores))
    metrics["cv_auc_mean"], metrics["cv_auc_std"] = float(np.mean(cv.fold_aucs)), float(np.std(cv.fold_aucs))
    return metrics


def publish(
    client: Client,
    settings: StoreSettings,
    request: TrainRequest,
    plan: TrainingPlan,
    fitted: FittedModel,
    test: ScoredTestPart,
    metrics: dict[str, Any],
    timings: PhaseTimer,
    evaluation_started: float,
) -> TrainOutcome:
    """Write the model, its metadata and its report, then register it: all or nothing (registry.publish)."""
    contract, holdout = plan.contract, plan.holdout
    families = {feature.name: feature.family for feature in contract.features}
    family_gain = gain_by_family(contract.names, fitted.booster.feature_importance(importance_type="gain"), families)

    def metadata_for(model_id: str, version: int, created_at: datetime, report_path: Path) -> ModelMetadata:
        return ModelMetadata(
            model_id=model_id,
            model_type=plan.spec.name,
            version=version,
            timestamp=created_at,
            network=plan.network,
            training_period=TrainingPeriod(
                start=plan.start,
                end=plan.end,
                test_start=holdout.test_start,
                test_fraction=request.test_fraction,
                label_horizon_days=plan.maturity.horizon_days,
                labels_mature_through=plan.maturity.mature_through,
            ),
            data_stats=DataStats(
                rows=holdout.window.rows,
                train_rows=holdout.train.rows,
                test_rows=holdout.test.rows,
                train_rows_dropped_for_shared_entities=holdout.train_rows_dropped_for_shared_entities,
                train_rows_purged_for_label_horizon=holdout.train_rows_purged_for_label_horizon,
                immature_label_rows_left_out=plan.maturity.immature_rows,
                positives=holdout.window.positives,
                train_positive_rate=fitted.train_positive_rate,
                test_positive_rate=float(test.data.label.mean()),
                distinct_dates=holdout.distinct_dates,
                fingerprint=plan.data_fingerprint,
            ),
            metrics=metrics,
            hyperparameters={**fitted.params, "num_boost_round": fitted.cv.rounds},
            feature_names=tuple(contract.names),
            num_trees=fitted.booster.num_trees(),
            feature_contract=ContractRecord(table=contract.table, fingerprint=contract.fingerprint(), features=tuple(contract.to_json())),
            gain_by_family=family_gain,
            training_distributions=reference_distributions(test),
            dbt_models=tuple(contract.producers),
            tuning=fitted.tuning,
            leakage_guard=plan.leakage_guard,
            command=reproduce_command(request, plan),
            environment=environment(client),
            config_key=plan.config_key,
            project_version=__version__,
            report_path=str(report_path),
            timings_s={**timings.seconds, "evaluate_and_save": round(time.perf_counter() - evaluation_started, 3)},
            peak_rss_mb=peak_rss_mb(),
            peak_rss_mb_by_phase=timings.peak_rss_mb,
        )

    def report_for(model_id: str) -> bytes:
        return render_report(f"{model_id} ({plan.network}, {plan.start}..{plan.end})", test.data.label, test.score, family_gain, metrics)

    descriptions = {feature.name: feature.description for feature in contract.features}
    lineage = None if plan.lineage is None else {name: raw_columns_text(traced) for name, traced in plan.lineage.items()}

    def card_for(metadata: ModelMetadata) -> str:
        return render_model_card(metadata, descriptions, lineage)

    model_text = fitted.booster.model_to_string()
    model_id, model_path, metadata = publish_model(
        client, settings, plan.output_dir, plan.spec.name, plan.network, model_text, metadata_for, report_for, card_for
    )
    return TrainOutcome(model_id, model_path, metadata)


def reference_distributions(test: ScoredTestPart) -> dict[str, dict[str, object]]:
    """The drift reference (trainer/monitor/distributions.py says why the test part): the features of the test rows
    kept for it (all of a test part up to held_out.REFERENCE_ROWS) and the final model's scores of them, with their
    effective number of rows (one group per address and date)."""
    kept, rows = test.reference_rows, test.data
    groups = np.stack([rows.entity[kept], rows.processing_date[kept].astype(np.int64).astype(np.uint64)], axis=1)
    return training_distributions(test.reference_features, rows.feature_names, test.score[kept], effective_rows(groups))


def reproduce_command(request: TrainRequest, plan: TrainingPlan) -> str:
    """The command line that trains this model again on the same built table."""
    parts = [
        f"python -m trainer --model-type {plan.spec.name} --network {plan.network} --start-date {plan.start} --end-date {plan.end}",
        f"--test-fraction {request.test_fraction} --min-per-class {request.min_per_class} --seed {request.seed}",
    ]
    if request.tune_trials:
        parts.append(f"--tune {request.tune_trials}")
    if request.families:
        parts.append(f"--families {','.join(request.families)}")
    if request.review_capacity:
        parts.append(f"--review-capacity {request.review_capacity}")
    if rank_count(request) > 1:
        parts.append(f"--workers {rank_count(request)}" if not request.machines else f"--machines {request.machines} --rank I")
    command = " ".join(parts)
    return command + (f"  # excluded features (Python API): {', '.join(request.excluded_features)}" if request.excluded_features else "")


def environment(client: Client) -> dict[str, str]:
    """The versions a reproduction needs: this project, LightGBM, dbt, the ClickHouse engine, Python."""
    from importlib.metadata import PackageNotFoundError, version

    def installed(package: str) -> str:
        try:
            return version(package)
        except PackageNotFoundError:
            return "not installed"

    return {
        "aml-training": __version__,
        "lightgbm": lgb.__version__,
        "dbt-core": installed("dbt-core"),
        "dbt-clickhouse": installed("dbt-clickhouse"),
        "clickhouse": str(client.command("SELECT version()")),
        "python": platform.python_version(),
    }


def feature_lineage_or_none(client: Client, network: str, contract: FeatureContract) -> dict[str, FeatureLineage] | None:
    """Each feature's lineage, for the leakage guard and the model card's raw source columns, traced through the
    compiled SQL of the last dbt build with the built tables' columns. None (the card then says how to get them, the
    guard counts every feature as untraced) when dbt's manifest cannot be read."""
    try:
        manifest = read_manifest()
        built_for = {node["name"]: node.get("schema") for node in manifest["nodes"].values() if node["resource_type"] == "model"}
        resolver = LineageResolver(manifest, catalog_from_store(client, network, built_for.get(contract.table) or network))
        traced = resolver.features(contract.table, contract.features)
    except PipelineError as error:
        logger.bind(network=network).warning(f"model card without feature lineage: {error}")
        return None
    return traced
