"""The leakage guard: the split's rules checked again from the rows the trainer read, never from the split's SQL.

The split (trainer/evaluation/split.py) decides the parts with SQL predicates; re-running those predicates could
only restate them. The guard instead looks at what was read:
- the training rows' entities (64-bit hashes of their addresses) against the test rows' entities;
- each training row's label window, its date plus the horizon the labels were decided under, against the first
  test date read: a window reaching it means an outcome inside the test period decided that label;
- the features: one whose dbt lineage passes through a label model (a model deciding labels from outcomes after the
  row's date) is derived from a label, and one whose values on the test rows follow the label (a single value per
  class of the label or of the grade, not the same for all) or equal the label weight is a label.

A feature that reads labels known *before* the row's date (counterparty risk in the network family) reaches the
raw label table but no label model: lineage cannot see the time condition that makes it sound, so the line is
drawn at the label models. Any violation stops training in one line; the figures go to the metadata and the card.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from typing import Any, Protocol

import numpy as np

from trainer.errors import PipelineError

# Fewer rows of a class than this on the test part and the value check does not judge that split of the rows: a
# handful of rows can be constant within a class by chance.
MIN_ROWS_PER_CLASS = 10


class TracedFeature(Protocol):
    """What the guard reads of a feature's lineage (trainer.features.lineage.FeatureLineage)."""

    models: tuple[str, ...]
    unresolved: str | None


@dataclass(frozen=True)
class LeakageGuard:
    training_rows: int
    test_rows: int
    training_rows_sharing_a_test_address: int
    first_test_date: date
    last_training_label_window_end: date  # the latest training date plus the label horizon
    training_rows_labelled_from_test_start: int  # label window reaching the first test date
    label_columns_among_features: tuple[str, ...]
    features_derived_from_labels: dict[str, str]  # feature -> the label model its lineage passes through
    features_valued_as_labels: tuple[str, ...]
    features_without_traced_lineage: tuple[str, ...]  # the lineage check could not judge them

    def violations(self) -> list[str]:
        found = []
        if self.training_rows_sharing_a_test_address:
            found.append(f"{self.training_rows_sharing_a_test_address} training rows share an address with the test rows")
        if self.training_rows_labelled_from_test_start:
            found.append(
                f"{self.training_rows_labelled_from_test_start} training rows have a label window reaching the first test date "
                f"{self.first_test_date} (last ends {self.last_training_label_window_end})"
            )
        if self.label_columns_among_features:
            found.append(f"label columns among the features: {', '.join(self.label_columns_among_features)}")
        if self.features_derived_from_labels:
            derived = ", ".join(f"{name} (through {model})" for name, model in sorted(self.features_derived_from_labels.items()))
            found.append(f"features derived from labels: {derived}")
        if self.features_valued_as_labels:
            found.append(f"features whose test values follow the label: {', '.join(self.features_valued_as_labels)}")
        return found

    def check(self, what: str) -> None:
        """Stop training in one line naming every leak found."""
        found = self.violations()
        if found:
            raise PipelineError(f"leakage guard stopped training {what}: {'; '.join(found)}")

    def to_json(self) -> dict[str, Any]:
        return {
            "computed_from": "the rows read",
            "training_rows": self.training_rows,
            "test_rows": self.test_rows,
            "training_rows_sharing_a_test_address": self.training_rows_sharing_a_test_address,
            "first_test_date": str(self.first_test_date),
            "last_training_label_window_end": str(self.last_training_label_window_end),
            "training_rows_labelled_from_test_start": self.training_rows_labelled_from_test_start,
            "label_columns_among_features": list(self.label_columns_among_features),
            "features_derived_from_labels": dict(sorted(self.features_derived_from_labels.items())),
            "features_valued_as_labels": list(self.features_valued_as_labels),
            "features_without_traced_lineage": list(self.features_without_traced_lineage),
        }


def shared_entities(train_entity: np.ndarray, test_entity: np.ndarray) -> int:
    """Training rows whose entity hash is also a test row's."""
    return int(np.isin(train_entity, np.unique(test_entity)).sum())


def label_window_ends(train_dates: np.ndarray, horizon_days: int) -> np.ndarray:
    """Each training row's last date whose outcomes may decide its label."""
    return train_dates.astype("datetime64[D]") + np.timedelta64(horizon_days, "D")


def derived_from_labels(lineage: dict[str, TracedFeature], label_models: Iterable[str]) -> dict[str, str]:
    """Features whose lineage passes through a label model, each with the first such model of its walk."""
    models = set(label_models)
    return {
        name: next(model for model in traced.models if model in models)
        for name, traced in lineage.items()
        if models.intersection(traced.models)
    }


class LabelValues:
    """What `valued_as_labels` judges, gathered batch by batch as the test rows stream (no matrix of them is kept): per
    feature its least and greatest value within each class of the label and of the grade, and whether it has equalled
    the label weight on every row so far. A NaN in a class makes the class's range NaN, which never judges as one
    value."""

    def __init__(self, width: int) -> None:
        # Per target (label, grade): class -> (least values, greatest values, rows), one entry per feature.
        self._ranges: tuple[dict[int, tuple[np.ndarray, np.ndarray, int]], ...] = ({}, {})
        self._equals_weight = np.ones(width, dtype=bool)
        self._weight_range = (np.inf, -np.inf)

    def add(self, features: np.ndarray, label: np.ndarray, grade: np.ndarray, weight: np.ndarray) -> None:
        """Take in the rows of one batch: `features` rows x features, the others one value a row."""
        if label.size == 0:
            return
        weight = weight.astype(np.float32)
        self._equals_weight &= np.all(features == weight[:, None], axis=0)
        self._weight_range = (min(self._weight_range[0], float(weight.min())), max(self._weight_range[1], float(weight.max())))
        for ranges, target in zip(self._ranges, (label, grade), strict=True):
            order = np.argsort(target, kind="stable")
            classes, starts, counts = np.unique(target[order], return_index=True, return_counts=True)
            by_class = features[order]
            lows, highs = np.minimum.reduceat(by_class, starts, axis=0), np.maximum.reduceat(by_class, starts, axis=0)
            for value, low, high, rows in zip(classes.tolist(), lows, highs, counts.tolist(), strict=True):
                if value in ranges:
                    seen_low, seen_high, seen_rows = ranges[value]
                    low, high, rows = np.minimum(seen_low, low), np.maximum(seen_high, high), seen_rows + rows
                ranges[value] = (low, high, rows)

    def valued_as_labels(self, names: list[str]) -> tuple[str, ...]:
        """Features whose values on the rows taken in are a function of the label or the grade (one value within each
        class, not one value for all), or equal the label weight where the weight varies (a weight that is one value
        for all rows says nothing of the label, and a constant feature would equal it). A target is judged when it has
        two classes or more and each has at least MIN_ROWS_PER_CLASS rows."""
        varying_weight = self._weight_range[0] < self._weight_range[1]
        judged = [
            (np.stack([low for low, _, _ in ranges.values()]), np.stack([high for _, high, _ in ranges.values()]))
            for ranges in self._ranges
            if len(ranges) >= 2 and min(rows for _, _, rows in ranges.values()) >= MIN_ROWS_PER_CLASS
        ]
        found = []
        for j, name in enumerate(names):
            if varying_weight and self._equals_weight[j]:
                found.append(name)
            elif any(np.array_equal(lows[:, j], highs[:, j]) and np.unique(lows[:, j]).size > 1 for lows, highs in judged):
                found.append(name)
        return tuple(found)


def valued_as_labels(features: np.ndarray, names: list[str], label: np.ndarray, grade: np.ndarray, weight: np.ndarray) -> tuple[str, ...]:
    """`LabelValues.valued_as_labels` of rows held at once."""
    values = LabelValues(len(names))
    values.add(features, label, grade, weight)
    return values.valued_as_labels(names)


def guard(
    *,
    train_entity: np.ndarray,
    train_dates: np.ndarray,
    test_entity: np.ndarray,
    test_dates: np.ndarray,
    horizon_days: int,
    feature_names: list[str],
    features_valued_as_labels: tuple[str, ...],
    label_columns: set[str],
    lineage: dict[str, TracedFeature],
    label_models: Iterable[str],
) -> LeakageGuard:
    """The guard's figures from the rows read: both parts' entities and dates, the features whose test values follow
    the label (LabelValues, taken in as the test rows streamed) and each feature's lineage (empty when it could not be
    traced: every feature then counts as untraced)."""
    first_test = test_dates.astype("datetime64[D]").min()
    windows = label_window_ends(train_dates, horizon_days)
    return LeakageGuard(
        training_rows=int(train_entity.shape[0]),
        test_rows=int(test_entity.shape[0]),
        training_rows_sharing_a_test_address=shared_entities(train_entity, test_entity),
        first_test_date=first_test.item(),
        last_training_label_window_end=windows.max().item() if windows.size else first_test.item(),
        training_rows_labelled_from_test_start=int((windows >= first_test).sum()),
        label_columns_among_features=tuple(sorted(set(feature_names) & label_columns)),
        features_derived_from_labels=derived_from_labels(lineage, label_models),
        features_valued_as_labels=features_valued_as_labels,
        features_without_traced_lineage=tuple(name for name in feature_names if name not in lineage or lineage[name].unresolved),
    )
