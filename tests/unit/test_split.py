"""The parts of the out-of-time split that are plain arithmetic: which dates are held out, query groups, class checks."""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import pytest

from trainer.errors import PipelineError
from trainer.evaluation.split import PURGED_ROWS, TEST_ROWS, Holdout, LabelCounts, check_classes, first_test_date, group_sizes

DATES = [date(2025, 2, 25) + timedelta(days=i) for i in range(10)]  # across a month end, in another year


@pytest.mark.parametrize(
    ("fraction", "held_out"),
    [(0.2, 2), (0.25, 2), (0.26, 3), (0.5, 5), (0.01, 1), (0.99, 10)],
)
def test_the_last_share_of_distinct_dates_is_held_out(fraction: float, held_out: int) -> None:
    assert first_test_date(DATES, fraction) == DATES[len(DATES) - held_out]


def test_two_dates_hold_out_the_second() -> None:
    assert first_test_date(DATES[:2], 0.2) == DATES[1]


def test_group_sizes_count_rows_per_date_in_order() -> None:
    days = np.array(["2024-12-31", "2024-12-31", "2025-01-01", "2025-01-03", "2025-01-03", "2025-01-03"], dtype="datetime64[D]")
    assert group_sizes(days).tolist() == [2, 1, 3]


def test_class_check_names_both_counts() -> None:
    check_classes(LabelCounts(positives=5, negatives=5), 5, "the window")
    with pytest.raises(PipelineError, match="the window has 4 positive and 9 negative rows; at least 5 of each"):
        check_classes(LabelCounts(positives=4, negatives=9), 5, "the window")


def test_parts_are_predicates_with_bound_dates_only() -> None:
    holdout = Holdout(DATES[8], {}, LabelCounts(), LabelCounts(), LabelCounts(), 0, 0, 10)
    train, test = holdout.where("train", "`n`.`t`"), holdout.where("test", "`n`.`t`")
    assert test.endswith(TEST_ROWS) and "{test_start:Date}" in test
    assert "NOT (address IN (SELECT address FROM `n`.`t`" in train, "training rows share no address with the test dates"
    assert f"NOT ({PURGED_ROWS})" in train, "no training row's label window reaches the first test date"
    assert str(DATES[8]) not in train + test, "dates are bound as parameters, never written into the SQL"
