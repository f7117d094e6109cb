"""Cross-validation and the final fit of one rank of a data-parallel run, in lockstep with the other ranks.

Every rank trains each fold on its own rows of that fold (LightGBM's data-parallel learner sums the ranks' histograms),
so every rank holds the same trees. Folds come from the address hash (`ranks.fold_of`), the same on every rank. Early
stopping must stop every rank at the same round: each round the ranks sum their validation figures (AUC weighted by
validation rows; for a ranker NDCG@10 summed over query groups, which is exact since a group is whole on one rank),
and all decide on the sum. At the end rank 0 gathers every rank's labels and out-of-fold scores: the fold AUCs and
the decision threshold are computed over every training row, as one process computes them.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

import lightgbm as lgb
import numpy as np
from loguru import logger

from trainer.errors import PipelineError
from trainer.evaluation.extract import TrainingData, training_data
from trainer.evaluation.metrics import auc_or_half
from trainer.model_types import ModelSpec
from trainer.train import modeling
from trainer.train.coordination import Coordinator, Watchdog
from trainer.train.ranks import Ranks, fold_of, network_params

GATHERED = ("label", "weight", "grade", "processing_date", "entity")


def gathered_arrays(train: TrainingData) -> dict[str, np.ndarray]:
    """The arrays of training rows a rank sends to rank 0 and rank 0 hands to its launcher (dates as day numbers)."""
    arrays = {name: np.asarray(getattr(train, name)) for name in GATHERED}
    arrays["processing_date"] = arrays["processing_date"].astype("datetime64[D]").astype(np.int64)
    return arrays


@dataclass
class RankFit:
    """What rank 0 evaluates and publishes: the model every rank holds, the cross-validation over every training row,
    and every rank's training arrays in rank order (features left out)."""

    booster: lgb.Booster
    cv: modeling.CrossValidation
    train: TrainingData


class _LockstepStopping:
    """Early stopping on the figures summed over every rank; keeps this rank's validation predictions at the best round."""

    def __init__(self, coordinator: Coordinator, watchdog: Watchdog, weight: float, rounds: int) -> None:
        self.coordinator, self.watchdog, self.weight, self.rounds = coordinator, watchdog, weight, rounds
        self.latest: np.ndarray | None = None
        self.best_score, self.best_iteration = -np.inf, 0
        self.prediction = np.empty(0)

    def capture(self, predictions: np.ndarray, _data: lgb.Dataset) -> tuple[str, float, bool]:
        self.latest = predictions
        return "captured", 0.0, True

    def __call__(self, env: Any) -> None:
        self.watchdog.beat()
        local = float(env.evaluation_result_list[0][2]) if self.weight else 0.0
        score_sum, weight = self.coordinator.allreduce_sum(np.array([local * self.weight, self.weight]))
        score = score_sum / weight if weight else 0.0
        if score > self.best_score:
            self.best_score, self.best_iteration = score, env.iteration
            self.prediction = np.array(self.latest if self.latest is not None else [], dtype=np.float64)
        if env.iteration - self.best_iteration >= self.rounds:
            raise lgb.callback.EarlyStopException(self.best_iteration, [("lockstep", "score", score, True)])


def validation_weight(spec: ModelSpec, train: TrainingData, valid_index: np.ndarray) -> float:
    """How much this rank's validation rows count in the summed score: its query groups (NDCG is a mean over groups),
    else its rows."""
    if spec.is_ranker:
        return float(np.unique(train.processing_date[valid_index]).size)
    return float(valid_index.size)


def cross_validate(
    train: TrainingData, binned: lgb.Dataset, spec: ModelSpec, params: dict[str, Any], ranks: Ranks, coordinator: Coordinator,
    watchdog: Watchdog, total_rows: int,
) -> tuple[modeling.CrossValidation, np.ndarray]:  # fmt: skip
    """This rank's part of the cross-validation: every fold's best round (the same on every rank) and its
    out-of-fold scores, with each row's fold. Each fold trains on LightGBM subsets of the rank's bins: a rank holds
    1/N of the rows, so the folds are not streamed from the table as a huge part's are in one process
    (trainer/train/streamed_folds.py)."""
    folds = modeling.cv_folds(total_rows)
    fold = fold_of(train.entity, folds)
    result = modeling.CrossValidation(out_of_fold=np.zeros(train.rows, dtype=np.float64))
    network = network_params(params, ranks)
    for number in range(folds):
        fit_index, valid_index = np.flatnonzero(fold != number), np.flatnonzero(fold == number)
        if fit_index.size == 0:
            raise PipelineError(f"rank {ranks.rank} holds no training rows outside fold {number + 1}: use fewer ranks")
        stopping = _LockstepStopping(coordinator, watchdog, validation_weight(spec, train, valid_index), modeling.EARLY_STOPPING_ROUNDS)
        # A rank with no rows of this fold validates on one row of its own, weighted zero in the sum.
        valid = binned.subset(valid_index if valid_index.size else fit_index[:1])
        with watchdog.waiting(f"cross-validation fold {number + 1}"):
            lgb.train(
                network, binned.subset(fit_index), num_boost_round=modeling.MAX_ROUNDS, valid_sets=[valid],
                feval=stopping.capture, callbacks=[stopping],
            )  # fmt: skip
        if valid_index.size:
            result.out_of_fold[valid_index] = stopping.prediction
        result.best_iterations.append(stopping.best_iteration + 1)
        result.fold_scores.append(float(stopping.best_score))
        logger.bind(rank=ranks.rank, fold=number + 1, folds=folds, rounds=result.best_iterations[-1]).info(
            "cross-validation fold finished on every rank"
        )
    return result, fold


def fit(
    train: TrainingData, binned: lgb.Dataset, spec: ModelSpec, params: dict[str, Any], ranks: Ranks, coordinator: Coordinator,
    watchdog: Watchdog, total_rows: int,
) -> RankFit | None:  # fmt: skip
    """Cross-validate and fit in lockstep with the other ranks; rank 0 gets what it publishes, the others None."""
    cv, fold = cross_validate(train, binned, spec, params, ranks, coordinator, watchdog, total_rows)
    network = network_params(params, ranks)
    with watchdog.waiting("the final fit"):
        booster = lgb.train(network, binned, num_boost_round=cv.rounds, callbacks=[lambda _env: watchdog.beat()])
        arrays = gathered_arrays(train)
        digest = np.frombuffer(hashlib.sha256(booster.model_to_string().encode()).digest(), dtype=np.uint8)
        gathered = coordinator.gather({**arrays, "fold": fold, "out_of_fold": cv.out_of_fold, "model_sha256": digest})
    if gathered is None:
        return None
    digests = {part.pop("model_sha256").tobytes().hex() for part in gathered}
    if len(digests) != 1:
        raise PipelineError(f"the {ranks.size} ranks ended with {len(digests)} different models; nothing was published")
    logger.bind(ranks=ranks.size, model_sha256=digests.pop()[:16]).info("every rank holds the same model")
    joined = {name: np.concatenate([part[name] for part in gathered]) for name in gathered[0]}
    every = training_data(joined, train.feature_names)
    global_cv = modeling.CrossValidation(fold_scores=cv.fold_scores, best_iterations=cv.best_iterations, out_of_fold=joined["out_of_fold"])
    for number in range(len(cv.best_iterations)):
        rows = joined["fold"] == number
        global_cv.fold_aucs.append(auc_or_half(every.label[rows], global_cv.out_of_fold[rows]))
    if not spec.is_ranker:  # the fold score of a binary model is its AUC over every rank's validation rows
        global_cv.fold_scores = list(global_cv.fold_aucs)
    return RankFit(booster, global_cv, every)
