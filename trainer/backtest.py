"""`python -m trainer.backtest --model-type T --start D --end D [--model-id champion|ID] [--network N]`: the realized
performance of past scores now that their labels are known (trainer.monitor.backtest)."""

from __future__ import annotations

import argparse
from pathlib import Path

from trainer.arguments import iso_date, resolve_network
from trainer.cli import run_cli
from trainer.model_types import MODEL_TYPES, model_spec
from trainer.monitor.backtest import backtest
from trainer.registry.artifacts import DEFAULT_OUTPUT_DIR
from trainer.store.connection import connect
from trainer.store.settings import load_store_settings


def _figure(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m trainer.backtest", description="Realized performance of past scores.")
    parser.add_argument("--model-type", required=True, choices=MODEL_TYPES)
    parser.add_argument("--start", required=True, type=iso_date, help="first scoring date (YYYY-MM-DD)")
    parser.add_argument("--end", required=True, type=iso_date, help="last scoring date (YYYY-MM-DD)")
    parser.add_argument("--model-id", help="one model: an id, champion or challenger (default: every model that scored)")
    parser.add_argument("--network", help="default: the dbt project's network var")
    parser.add_argument("--review-capacity", type=int, metavar="N", help="items reviewed per day (default: the model's)")
    parser.add_argument(
        "--output-dir",
        type=Path,
        default=DEFAULT_OUTPUT_DIR,
        help="backtest PNGs; files of models from before the warehouse (default trained_models/)",
    )
    args = parser.parse_args()
    spec, network, settings = model_spec(args.model_type), resolve_network(args.network), load_store_settings()
    with connect(settings) as client:
        results = backtest(
            client, settings.registry_database, spec, network, args.start, args.end, args.output_dir, args.model_id, args.review_capacity
        )
    print(f"{'date':<11} {'model':<40} {'scored':>7} {'labelled':>8} {'pos':>5} {'auc':>6} {'p@cap':>6} {'r@cap':>6} {'pos<thr':>7}")
    for version, days in results.items():
        for day in days:
            print(
                f"{day.processing_date!s:<11} {version:<40} {day.scored:>7} {day.labelled:>8} {day.positives:>5} {_figure(day.auc):>6} "
                f"{_figure(day.precision_at_capacity):>6} {_figure(day.recall_at_capacity):>6} {_figure(day.positives_below_threshold):>7}"
            )
        if not days:
            print(f"{'-':<11} {version:<40} no scored date of the range has mature labels yet")


if __name__ == "__main__":
    run_cli(main)
