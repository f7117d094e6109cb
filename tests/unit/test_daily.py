"""The daily loop refuses a window that holds none of the new drops before it opens the store or runs dbt."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from trainer.daily import run_daily
from trainer.errors import PipelineError


def drops_on(source: Path, *days: str) -> Path:
    for day in days:
        (source / "ethereum" / day / "1d").mkdir(parents=True)
    return source


def test_a_start_after_the_newest_drop_is_refused(tmp_path: Path) -> None:
    source = drops_on(tmp_path, "2024-04-01", "2024-04-02")
    with pytest.raises(PipelineError, match=r"^start date 2024-05-01 is after end date 2024-04-02$"):
        run_daily("ethereum", source, date(2024, 5, 1), ["alert_scorer"])


def test_a_window_that_holds_no_new_drop_is_refused(tmp_path: Path) -> None:
    source = drops_on(tmp_path, "2024-04-01")
    with pytest.raises(PipelineError, match=r"no drop under .* is dated inside the window 2024-01-01\.\.2024-03-31: nothing to score"):
        run_daily("ethereum", source, date(2024, 1, 1), ["alert_scorer"], end=date(2024, 3, 31))


def test_a_bad_network_is_refused(tmp_path: Path) -> None:
    with pytest.raises(PipelineError, match="network must match"):
        run_daily("eth; drop", drops_on(tmp_path, "2024-04-01"), date(2024, 1, 1), ["alert_scorer"])
