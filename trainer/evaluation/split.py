"""Leak-free evaluation split, planned in SQL: the last dates are the test set and no address sits on both sides.

The split is decided before any feature is read. Per-date label counts give the test dates; one grouped
query counts the rows of each part. The trainer then streams the training rows and the test rows as two
queries into two matrices: no float copy of either part is made, and rows dropped for sharing an address
with the test dates are never read.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

import numpy as np
from clickhouse_connect.driver.client import Client

from trainer.arguments import check_fraction
from trainer.errors import PipelineError
from trainer.evaluation.extract import WINDOW

# The parts, as predicates over the window (bound parameters: network, start, end, test_start). `{table}` is the
# quoted table name. A training row's address never appears on a test date.
TEST_ROWS = "processing_date >= {test_start:Date}"
TEST_ADDRESSES = "SELECT address FROM {table} WHERE " + WINDOW + " AND " + TEST_ROWS
TRAIN_ROWS = "processing_date < {test_start:Date} AND address NOT IN (" + TEST_ADDRESSES + ")"


@dataclass
class LabelCounts:
    positives: int = 0
    negatives: int = 0

    @property
    def rows(self) -> int:
        return self.positives + self.negatives


@dataclass
class Holdout:
    test_start: date
    parameters: dict[str, Any]  # network, start, end and test_start, bound into the part predicates
    window: LabelCounts
    train: LabelCounts
    test: LabelCounts
    train_rows_dropped_for_shared_entities: int
    distinct_dates: int

    def where(self, part: str, table: str) -> str:
        """The SQL predicate selecting the rows of `part` ("train" or "test") of the quoted `table`."""
        predicate = {"train": TRAIN_ROWS, "test": TEST_ROWS}[part]
        return WINDOW + " AND " + predicate.replace("{table}", table)


def check_classes(counts: LabelCounts, min_per_class: int, what: str) -> None:
    if counts.positives < min_per_class or counts.negatives < min_per_class:
        raise PipelineError(
            f"{what} has {counts.positives} positive and {counts.negatives} negative rows; at least {min_per_class} of each are needed"
        )


def plan_holdout(client: Client, table: str, parameters: dict[str, Any], test_fraction: float, min_per_class: int, what: str) -> Holdout:
    """Hold out the last `test_fraction` of the window's dates of the quoted `table`; drop training rows whose
    address also appears on a test date. Fails with one line when the window is empty, has too few rows of a
    class, or cannot be split."""
    check_fraction("test fraction", test_fraction)
    per_date = client.query(
        f"SELECT processing_date, countIf(label = 1), count() FROM {table} WHERE {WINDOW} "
        "GROUP BY processing_date ORDER BY processing_date",
        parameters=parameters,
    ).result_rows
    if not per_date:
        raise PipelineError(f"{what} has no rows between {parameters['start']} and {parameters['end']}")
    positives = sum(row[1] for row in per_date)
    window = LabelCounts(positives, sum(row[2] for row in per_date) - positives)
    check_classes(window, min_per_class, f"{what} for {parameters['start']}..{parameters['end']}")
    if len(per_date) < 2:
        raise PipelineError(f"the window holds {len(per_date)} distinct date(s); an out-of-time holdout needs at least 2")
    test_start = first_test_date([row[0] for row in per_date], test_fraction)
    bound = {**parameters, "test_start": test_start}
    test_addresses = TEST_ADDRESSES.replace("{table}", table)
    parts = {"train": LabelCounts(), "test": LabelCounts(), "dropped": LabelCounts()}
    for part, part_positives, rows in client.query(
        f"SELECT multiIf({TEST_ROWS}, 'test', address IN ({test_addresses}), 'dropped', 'train') AS part, countIf(label = 1), count() "
        f"FROM {table} WHERE {WINDOW} GROUP BY part",
        parameters=bound,
    ).result_rows:
        parts[part] = LabelCounts(part_positives, rows - part_positives)
    if parts["train"].rows == 0:
        raise PipelineError(
            f"no training rows left: all {parts['dropped'].rows} rows before {test_start} share an address with the test dates"
        )
    return Holdout(
        test_start=test_start,
        parameters=bound,
        window=window,
        train=parts["train"],
        test=parts["test"],
        train_rows_dropped_for_shared_entities=parts["dropped"].rows,
        distinct_dates=len(per_date),
    )


def leakage_guard(client: Client, table: str, holdout: Holdout, feature_names: list[str], label_columns: set[str]) -> dict[str, Any]:
    """The split checked after planning, in SQL, for the model card: training rows sharing an address with a test
    row (0 by construction), whether the last training date lies before the first test date, and label columns
    among the features (none by construction: the contract leaves out what the mart's yml lists)."""
    where = holdout.where("train", table)
    test_addresses = TEST_ADDRESSES.replace("{table}", table)
    shared, last_training = client.query(
        f"SELECT countIf(address IN ({test_addresses})), max(processing_date) FROM {table} WHERE {where}", parameters=holdout.parameters
    ).result_rows[0]
    return {
        "training_rows_sharing_a_test_address": int(shared),
        "training_ends_before_test": bool(last_training < holdout.test_start),
        "label_columns_among_features": sorted(set(feature_names) & label_columns),
    }


def first_test_date(dates: list[date], test_fraction: float) -> date:
    """The first of the last `test_fraction` of the window's distinct dates, sorted ascending: at least one date is
    held out, and rounding decides between two counts (10 dates at 0.25 hold out 2, at 0.26 hold out 3)."""
    test_dates = max(1, int(round(len(dates) * test_fraction)))
    return dates[len(dates) - test_dates]


def group_sizes(processing_date: np.ndarray) -> np.ndarray:
    """Query-group sizes of rows sorted by date: one group per processing date (one network per table)."""
    _, counts = np.unique(processing_date, return_counts=True)
    return counts
