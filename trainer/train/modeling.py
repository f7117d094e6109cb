"""LightGBM for the three model types: datasets, grouped cross-validation, Optuna tuning, the final fit."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

import lightgbm as lgb
import numpy as np
import optuna
from loguru import logger
from sklearn.model_selection import GroupKFold

from trainer.errors import PipelineError
from trainer.evaluation.extract import TrainingData
from trainer.evaluation.metrics import auc_or_half
from trainer.evaluation.split import group_sizes
from trainer.model_types import ModelSpec

MAX_ROUNDS = 1000
EARLY_STOPPING_ROUNDS = 40
CV_FOLDS = 5
# From this many training rows on (a busy chain's quarter), each of the cross-validation's fits costs minutes: 3 folds
# instead of 5 (each still trains on two thirds of a million rows or more), and gradient-based one-side sampling
# (GOSS: every boosting round reads the 20 % rows of largest gradient and a 10 % sample of the rest, instead of
# 80 % bagging) make a round about 2.5x cheaper, and a learning rate of 0.1 instead of 0.05 needs about half the
# rounds (at 10M alerts, 1.4M training rows: 235 trees instead of 634, cross-validation and final fit 257 s instead of
# 790 s, test AUC 0.902 instead of 0.904). Smaller windows keep the parameters they had.
LARGE_TRAINING_ROWS = 1_000_000
LARGE_CV_FOLDS = 3
LARGE_LEARNING_RATE = 0.1
# GOSS keeps half of the rows or fewer (20 % + 10 %) in a copy of their bins made every round: at 30M training rows
# 1.5 GB beside the bins themselves. From this many training rows on it keeps 51 % (20 % + 31 %), where LightGBM reads
# the sampled rows in place; a round then costs about 1.6 times as much (benchmarks/README.md, issue 33).
HUGE_TRAINING_ROWS = 10_000_000
HUGE_OTHER_RATE = 0.31


def base_params(spec: ModelSpec, seed: int) -> dict[str, Any]:
    """Parameters that make a run reproducible to the byte on the same data."""
    objective = (
        {"objective": "lambdarank", "metric": "ndcg", "eval_at": [10, 50]} if spec.is_ranker else {"objective": "binary", "metric": "auc"}
    )
    return {
        **objective,
        "learning_rate": 0.05,
        "num_leaves": 31,
        "min_data_in_leaf": 20,
        "feature_fraction": 0.8,
        "bagging_fraction": 0.8,
        "bagging_freq": 1,
        "lambda_l2": 1.0,
        "seed": seed,
        "deterministic": True,
        # Column-wise histograms read the binned feature groups themselves. Row-wise ones first copy every row's bins
        # into a row-major store of their own, as large as the bins again (benchmarks/README.md, issue 33).
        "force_col_wise": True,
        "num_threads": 2,
        "verbosity": -1,
    }


def scaled_params(params: dict[str, Any], training_rows: int) -> dict[str, Any]:
    """`params` for a training part of `training_rows` rows: from LARGE_TRAINING_ROWS on, GOSS (it replaces bagging)
    and LARGE_LEARNING_RATE; from HUGE_TRAINING_ROWS on, GOSS without its copy of the sampled rows' bins."""
    if training_rows < LARGE_TRAINING_ROWS:
        return params
    large = {**params, "data_sample_strategy": "goss", "bagging_fraction": 1.0, "bagging_freq": 0, "learning_rate": LARGE_LEARNING_RATE}
    return large if training_rows < HUGE_TRAINING_ROWS else {**large, "other_rate": HUGE_OTHER_RATE}


def training_params(spec: ModelSpec, seed: int, training_rows: int, tuned: bool) -> dict[str, Any]:
    """The parameters the training rows are binned and trained with. Tuning trains every trial on the same bins, so it
    turns LightGBM's pre-filter of features off (a trial may lower min_data_in_leaf below what the bins were made for)."""
    params = scaled_params(base_params(spec, seed), training_rows)
    return {**params, "feature_pre_filter": False} if tuned else params


def cv_folds(training_rows: int) -> int:
    return CV_FOLDS if training_rows < LARGE_TRAINING_ROWS else LARGE_CV_FOLDS


@dataclass
class CrossValidation:
    fold_scores: list[float] = field(default_factory=list)  # AUC (binary) or NDCG@10 (ranker) per fold
    fold_aucs: list[float] = field(default_factory=list)
    best_iterations: list[int] = field(default_factory=list)
    out_of_fold: np.ndarray | None = None

    @property
    def rounds(self) -> int:
        return max(10, int(round(float(np.mean(self.best_iterations))))) if self.best_iterations else 100


def bin_rows(data: TrainingData, spec: ModelSpec, params: dict[str, Any]) -> lgb.Dataset:
    """The rows binned by LightGBM once, for the cross-validation folds and the final fit alike. `params` take
    part in binning, so the bins serve only runs with the same parameters."""
    common = {"feature_name": data.feature_names, "free_raw_data": True, "params": params}
    if spec.is_ranker:
        dataset = lgb.Dataset(data.features, label=data.grade, group=group_sizes(data.processing_date), **common)
    else:
        dataset = lgb.Dataset(data.features, label=data.label, weight=data.weight, **common)
    return dataset.construct()


class FoldSets(Protocol):
    """Fold `fold`'s fit and validation Datasets: the training rows whose `fold_of_row` is not `fold`, and those whose
    it is, in their order."""

    def __call__(self, fold_of_row: np.ndarray, fold: int) -> tuple[lgb.Dataset, lgb.Dataset]: ...


def subset_folds(binned: lgb.Dataset) -> FoldSets:
    """Folds as LightGBM subsets of the binned training part: copies of their rows' bins (query groups are recut by
    LightGBM)."""

    def fold_sets(fold_of_row: np.ndarray, fold: int) -> tuple[lgb.Dataset, lgb.Dataset]:
        return binned.subset(np.flatnonzero(fold_of_row != fold)), binned.subset(np.flatnonzero(fold_of_row == fold))

    return fold_sets


def cross_validate(
    train: TrainingData, binned: lgb.Dataset | FoldSets, spec: ModelSpec, params: dict[str, Any], on_fold: Any = None
) -> CrossValidation:
    """Cross-validation grouped by entity: no address is in a fold's training and validation rows at once.

    `binned` is the training part binned with `params` (bin_rows), each fold a LightGBM subset of those bins, or what
    makes a fold's Datasets (`FoldSets`: the folds of a huge training part are binned from the stream,
    trainer/train/streamed_folds.py). Either way no float copy of the fold's rows is made, and the folds, their
    positions in `train`, are the same.
    """
    fold_sets = subset_folds(binned) if isinstance(binned, lgb.Dataset) else binned
    entities = np.unique(train.entity).size
    folds = min(cv_folds(train.rows), entities)
    if folds < 2:
        raise PipelineError(f"cross-validation needs at least 2 distinct addresses in the training part, found {entities}")
    result = CrossValidation(out_of_fold=np.zeros(train.rows, dtype=np.float64))
    fold_of_row = validation_folds(train, folds)
    for fold in range(folds):
        fit_rows = train.rows - int(np.count_nonzero(fold_of_row == fold))
        # Bagging draws a whole number of rows: a fold this small would draw none, and LightGBM would abort.
        if params.get("bagging_freq") and int(params.get("bagging_fraction", 1.0) * fit_rows) < 1:
            raise PipelineError(
                f"cross-validation fold {fold + 1} of {folds} trains on {fit_rows} row(s), too few to bag "
                f"{params['bagging_fraction']:.0%} of; the training part needs more labelled rows"
            )
        best = _BestValidation()
        best_iteration, best_score = _train_fold(params, *fold_sets(fold_of_row, fold), best)
        # The fold's positions are found after it trained, not held through it (8 bytes a training row).
        valid_index = np.flatnonzero(fold_of_row == fold)
        prediction = best.prediction
        result.out_of_fold[valid_index] = prediction
        result.best_iterations.append(best_iteration)
        result.fold_aucs.append(auc_or_half(train.label[valid_index], prediction))
        score = best_score["valid_0"]["ndcg@10"] if spec.is_ranker else result.fold_aucs[-1]
        result.fold_scores.append(float(score))
        logger.bind(fold=fold + 1, folds=folds, rounds=result.best_iterations[-1], score=round(float(score), 4)).info(
            "cross-validation fold finished"
        )
        if on_fold is not None:
            on_fold(fold, float(np.mean(result.fold_scores)))
    return result


def validation_folds(train: TrainingData, folds: int) -> np.ndarray:
    """Each training row's validation fold (GroupKFold by entity), one byte a row. GroupKFold's generator holds its own
    arrays while it is iterated (at 10M rows about 400 MB beside the fold's indices): drawn at once, they are let go
    before any fold trains."""
    fold_of_row = np.empty(train.rows, dtype=np.int8)
    for fold, (_, valid_index) in enumerate(GroupKFold(n_splits=folds).split(train.label, groups=train.entity)):
        fold_of_row[valid_index] = fold
    return fold_of_row


def _train_fold(params: dict[str, Any], fit_set: lgb.Dataset, valid_set: lgb.Dataset, best: _BestValidation) -> tuple[int, dict]:
    """Train one fold with early stopping; its best iteration and scores. The fold's Datasets and model are let go on
    return, before the next fold's are made."""
    booster = lgb.train(
        params, fit_set, num_boost_round=MAX_ROUNDS, valid_sets=[valid_set],
        feval=best.capture, callbacks=[best, lgb.early_stopping(EARLY_STOPPING_ROUNDS, first_metric_only=True, verbose=False)],
    )  # fmt: skip
    return int(booster.best_iteration or MAX_ROUNDS), booster.best_score


class _BestValidation:
    """The validation rows' predictions at the best iteration, as LightGBM computed them while training (its own
    scores of the binned validation rows): no float copy of the rows is needed to predict them again. The best
    iteration is the first to reach the highest first metric, as early stopping picks it (both metrics grow)."""

    def __init__(self) -> None:
        self.latest: np.ndarray | None = None
        self.best_score: float | None = None
        self.prediction = np.empty(0)

    def capture(self, predictions: np.ndarray, _data: lgb.Dataset) -> tuple[str, float, bool]:
        self.latest = predictions  # LightGBM's buffer, overwritten at the next iteration: copied in `keep`
        return "captured", 0.0, True

    def __call__(self, env: Any) -> None:  # a callback: it runs after the evaluation, before early stopping's
        score = float(env.evaluation_result_list[0][2])
        if self.best_score is None or score > self.best_score:
            self.best_score, self.prediction = score, np.array(self.latest, dtype=np.float64)


def fit(train_set: lgb.Dataset, params: dict[str, Any], rounds: int) -> lgb.Booster:
    return lgb.train(params, train_set, num_boost_round=rounds)


def tune(
    train: TrainingData, binned: lgb.Dataset | FoldSets, spec: ModelSpec, params: dict[str, Any], trials: int, seed: int
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Seeded TPE search over the main LightGBM knobs, pruning trials whose early folds fall behind. Every trial
    trains on the same bins (`binned`, made with `feature_pre_filter` off, so a trial may lower min_data_in_leaf);
    folds binned from the stream (`FoldSets`) read the training rows from the table again for every fold of every trial."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)

    def objective(trial: optuna.Trial) -> float:
        candidate = {
            **params,
            "learning_rate": trial.suggest_float("learning_rate", 0.02, 0.2, log=True),
            "num_leaves": trial.suggest_int("num_leaves", 8, 128, log=True),
            "min_data_in_leaf": trial.suggest_int("min_data_in_leaf", 10, 200, log=True),
            "feature_fraction": trial.suggest_float("feature_fraction", 0.5, 1.0),
            "lambda_l2": trial.suggest_float("lambda_l2", 1e-3, 10.0, log=True),
        }

        def report(fold: int, running_mean: float) -> None:
            trial.report(running_mean, fold)
            if trial.should_prune():
                raise optuna.TrialPruned()

        score = float(np.mean(cross_validate(train, binned, spec, candidate, on_fold=report).fold_scores))
        logger.bind(trial=trial.number, score=round(score, 4)).info("tuning trial finished")
        return score

    study = optuna.create_study(
        direction="maximize",
        sampler=optuna.samplers.TPESampler(seed=seed),
        pruner=optuna.pruners.MedianPruner(n_startup_trials=3, n_warmup_steps=1),
    )
    study.optimize(objective, n_trials=trials)
    pruned = sum(t.state == optuna.trial.TrialState.PRUNED for t in study.trials)
    summary = {
        "trials": len(study.trials),
        "pruned": pruned,
        "best_trial": study.best_trial.number,
        "best_cv_score": float(study.best_value),
        "best_params": study.best_params,
        "sampler": "TPESampler",
        "seed": seed,
    }
    return {**params, **study.best_params}, summary
