"""`python -m trainer.sample_data --network N --start D --end D --out DIR`: write seeded sample raw drops."""

from __future__ import annotations

import argparse
import datetime as dt
import pathlib

from trainer.cli import run_cli
from trainer.sample_data.drops import SampleDataError, generate_drops


def _parse_date(option: str, value: str) -> dt.date:
    """An ISO date, or a SampleDataError naming the option, so run_cli prints one line instead of a traceback."""
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise SampleDataError(f"{option} {value!r} is not a valid date in YYYY-MM-DD form.") from None


def _build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m trainer.sample_data",
        description="Write seeded sample raw drops (alerts, features, clusters, money flows, address labels).",
    )
    parser.add_argument("--network", required=True, help="network name, e.g. ethereum")
    parser.add_argument("--start", required=True, help="first processing date (YYYY-MM-DD)")
    parser.add_argument("--end", required=True, help="last processing date (YYYY-MM-DD)")
    parser.add_argument("--out", required=True, type=pathlib.Path, help="output root directory")
    parser.add_argument("--seed", type=int, default=42, help="random seed (default 42)")
    parser.add_argument("--alerts-per-day", type=int, default=150, help="alerts per processing date (default 150)")
    parser.add_argument("--window-days", type=int, default=7, help="drop window in days (default 7)")
    parser.add_argument(
        "--random-labels",
        action="store_true",
        help="draw label risk levels independently of the hidden risk (leakage checks)",
    )
    parser.add_argument(
        "--label-delay-days",
        type=int,
        default=0,
        help="publish each label found during the window this many days later, as closed investigations are (default 0)",
    )
    return parser


def main(argv: list[str] | None = None) -> None:
    """Parse the command line and write the drops; argv defaults to sys.argv[1:]."""
    args = _build_parser().parse_args(argv)
    generate_drops(
        args.network,
        _parse_date("--start", args.start),
        _parse_date("--end", args.end),
        args.out,
        seed=args.seed,
        alerts_per_day=args.alerts_per_day,
        window_days=args.window_days,
        random_labels=args.random_labels,
        label_delay_days=args.label_delay_days,
    )


if __name__ == "__main__":
    run_cli(main)
