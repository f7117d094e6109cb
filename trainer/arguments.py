"""The arguments every entry point shares, validated in one place before any SQL runs: the network (a ClickHouse
database name), the date window, fractions and minimum counts. The sample-data generator and dbt's macros apply
the same network rule."""

from __future__ import annotations

import argparse
import re
from datetime import date

from trainer.errors import PipelineError

# A network names a ClickHouse database, so it must be a plain identifier (dbt's validated_network macro agrees).
NETWORK_PATTERN = re.compile(r"^[a-z][a-z0-9_]{0,63}$")


def validate_network(network: str) -> str:
    if not isinstance(network, str) or not NETWORK_PATTERN.match(network):
        raise PipelineError(f"network must match {NETWORK_PATTERN.pattern}, got {network!r}")
    return network


def resolve_network(network: str | None) -> str:
    """The network asked for, else the dbt project's `network` var; validated either way."""
    if network is None:
        from trainer.store.settings import project_var

        network = str(project_var("network"))
    return validate_network(network)


def check_window(start: date | None, end: date | None) -> None:
    if start and end and start > end:
        raise PipelineError(f"start date {start} is after end date {end}")


def check_fraction(name: str, value: float) -> float:
    if not 0 < value < 1:
        raise PipelineError(f"{name} must be between 0 and 1, got {value}")
    return value


def check_at_least(name: str, value: int, minimum: int) -> int:
    if value < minimum:
        raise PipelineError(f"{name} must be at least {minimum}, got {value}")
    return value


def iso_date(text: str) -> date:
    """argparse type: an ISO date YYYY-MM-DD."""
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an ISO date YYYY-MM-DD: {text!r}") from None
