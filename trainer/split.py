"""Leak-free evaluation splits: the last dates are the test set and no entity sits on both sides."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from trainer.errors import PipelineError
from trainer.extract import TrainingData


@dataclass
class HoldoutSplit:
    train: TrainingData
    test: TrainingData
    test_start: str  # first test date, ISO
    train_rows_dropped_for_shared_entities: int


def check_classes(data: TrainingData, min_per_class: int, what: str) -> None:
    positives = int(data.label.sum())
    negatives = data.rows - positives
    if positives < min_per_class or negatives < min_per_class:
        raise PipelineError(f"{what} has {positives} positive and {negatives} negative rows; at least {min_per_class} of each are needed")


def out_of_time_split(data: TrainingData, test_fraction: float) -> HoldoutSplit:
    """Hold out the last `test_fraction` of the dates; drop training rows whose entity also appears in the test."""
    if not 0 < test_fraction < 1:
        raise PipelineError(f"test fraction must be between 0 and 1, got {test_fraction}")
    dates = np.unique(data.processing_date)
    if dates.size < 2:
        raise PipelineError(f"the window holds {dates.size} distinct date(s); an out-of-time holdout needs at least 2")
    test_dates = max(1, int(round(dates.size * test_fraction)))
    test_start = dates[dates.size - test_dates]
    in_test = data.processing_date >= test_start
    test_entities = np.unique(data.entity[in_test])
    shared = ~in_test & np.isin(data.entity, test_entities)
    train_mask = ~in_test & ~shared
    if not train_mask.any():
        raise PipelineError(
            f"no training rows left: all {int((~in_test).sum())} rows before {test_start} share an address with the test dates"
        )
    if not in_test.any():
        raise PipelineError("the test set is empty after the out-of-time split")
    return HoldoutSplit(
        train=data.subset(train_mask),
        test=data.subset(in_test),
        test_start=str(test_start),
        train_rows_dropped_for_shared_entities=int(shared.sum()),
    )


def group_sizes(processing_date: np.ndarray) -> np.ndarray:
    """Query-group sizes of rows sorted by date: one group per processing date (one network per table)."""
    _, counts = np.unique(processing_date, return_counts=True)
    return counts
