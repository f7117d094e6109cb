"""The arguments every entry point shares, validated before any SQL runs."""

from __future__ import annotations

import argparse
from datetime import date

import pytest

from trainer.arguments import check_at_least, check_fraction, check_window, iso_date, validate_network
from trainer.errors import PipelineError
from trainer.model_types import model_spec


@pytest.mark.parametrize("network", ["ethereum", "bsc", "a", "tron_2", "x" * 64])
def test_plain_identifiers_are_networks(network: str) -> None:
    assert validate_network(network) == network


@pytest.mark.parametrize("network", ["", "Ethereum", "1chain", "eth-main", "x" * 65, "eth; DROP TABLE x", "eth`", "é"])
def test_anything_else_is_refused(network: str) -> None:
    with pytest.raises(PipelineError, match="network must match"):
        validate_network(network)


def test_window_fraction_and_counts() -> None:
    check_window(date(2025, 1, 1), date(2025, 1, 1))
    check_window(None, date(2020, 1, 1))
    with pytest.raises(PipelineError, match="start date 2025-01-02 is after end date 2025-01-01"):
        check_window(date(2025, 1, 2), date(2025, 1, 1))
    for bad in (0.0, 1.0, -0.1, 1.5):
        with pytest.raises(PipelineError, match="test fraction must be between 0 and 1"):
            check_fraction("test fraction", bad)
    with pytest.raises(PipelineError, match="min-per-class must be at least 1, got 0"):
        check_at_least("min-per-class", 0, 1)


def test_iso_dates_and_model_types() -> None:
    assert iso_date("2028-02-29") == date(2028, 2, 29)
    with pytest.raises(argparse.ArgumentTypeError, match="not an ISO date"):
        iso_date("2027-02-29")
    with pytest.raises(PipelineError, match="unknown model type 'alert_sorter'; choose one of alert_scorer, alert_ranker, cluster_scorer"):
        model_spec("alert_sorter")
