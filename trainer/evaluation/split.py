"""Leak-free evaluation split, planned in SQL: the last dates are the test set, no training label was decided inside
the test period (purged), and no address sits on both sides.

The split is decided before any feature is read. Per-date label counts give the test dates; one grouped
query counts the rows of each part. The trainer then streams the training rows and the test rows as two
queries into two matrices: no float copy of either part is made, and rows purged or dropped are never read.
Whether the rows read keep these rules is checked afterwards from the rows themselves (trainer/evaluation/leakage.py).
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
from trainer.store.connection import SqlName

# The parts, as predicates over the window (bound parameters: network, start, end, test_start). `{table}` is the
# quoted table name. Rows before the test dates are purged when their label window (the date plus the horizon the row
# was labelled under) reaches the first test date: outcomes inside the test period decided their labels. Of the rest,
# those whose address appears on a test date are dropped; the others are the training rows.
TEST_ROWS = "processing_date >= {test_start:Date}"
PURGED_ROWS = "addDays(processing_date, label_horizon_days) >= {test_start:Date}"
TEST_ADDRESSES = "SELECT address FROM {table} WHERE " + WINDOW + " AND " + TEST_ROWS
SHARED_ROWS = "address IN (" + TEST_ADDRESSES + ")"


def part_of_row() -> SqlName:
    """The SQL expression naming each row's part: 'test', 'purged', 'dropped' (shares a test address) or 'train'."""
    return SqlName(f"multiIf({TEST_ROWS}, 'test', {PURGED_ROWS}, 'purged', {SHARED_ROWS}, 'dropped', 'train')")


def train_rows() -> SqlName:
    """The predicate of the training rows: the window's rows that are neither test, purged nor dropped."""
    return SqlName(f"NOT ({TEST_ROWS}) AND NOT ({PURGED_ROWS}) AND NOT ({SHARED_ROWS})")


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
    train_rows_purged_for_label_horizon: int  # their label window reaches the first test date
    distinct_dates: int

    def where(self, part: str, table: SqlName) -> SqlName:
        """The SQL predicate selecting the rows of `part` ("train" or "test") of the quoted `table`."""
        predicate = {"train": train_rows(), "test": TEST_ROWS}[part]
        return SqlName(WINDOW + " AND " + predicate.replace("{table}", table))


def check_classes(counts: LabelCounts, min_per_class: int, what: str) -> None:
    if counts.positives < min_per_class or counts.negatives < min_per_class:
        raise PipelineError(
            f"{what} has {counts.positives} positive and {counts.negatives} negative rows; at least {min_per_class} of each are needed"
        )


def plan_holdout(
    client: Client, table: SqlName, parameters: dict[str, Any], test_fraction: float, min_per_class: int, what: str
) -> Holdout:
    """Hold out the last `test_fraction` of the window's dates of the quoted `table`; purge the rows before them whose
    label window reaches the first test date, and drop those whose address also appears on a test date. Fails with
    one line when the window is empty, has too few rows of a class, or cannot be split."""
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
    parts = {"train": LabelCounts(), "test": LabelCounts(), "purged": LabelCounts(), "dropped": LabelCounts()}
    for part, part_positives, rows in client.query(
        f"SELECT {part_of_row().replace('{table}', table)} AS part, countIf(label = 1), count() FROM {table} WHERE {WINDOW} GROUP BY part",
        parameters=bound,
    ).result_rows:
        parts[part] = LabelCounts(part_positives, rows - part_positives)
    if parts["train"].rows == 0:
        raise PipelineError(
            f"no training rows left: of the rows before {test_start}, {parts['purged'].rows} have a label window reaching it and "
            f"{parts['dropped'].rows} share an address with the test dates"
        )
    return Holdout(
        test_start=test_start,
        parameters=bound,
        window=window,
        train=parts["train"],
        test=parts["test"],
        train_rows_dropped_for_shared_entities=parts["dropped"].rows,
        train_rows_purged_for_label_horizon=parts["purged"].rows,
        distinct_dates=len(per_date),
    )


def first_test_date(dates: list[date], test_fraction: float) -> date:
    """The first of the last `test_fraction` of the window's distinct dates, sorted ascending: at least one date is
    held out, and rounding decides between two counts (10 dates at 0.25 hold out 2, at 0.26 hold out 3)."""
    test_dates = max(1, int(round(len(dates) * test_fraction)))
    return dates[len(dates) - test_dates]


def group_sizes(processing_date: np.ndarray) -> np.ndarray:
    """Query-group sizes of rows sorted by date: one group per processing date (one network per table)."""
    _, counts = np.unique(processing_date, return_counts=True)
    return counts
