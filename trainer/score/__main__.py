"""`python -m trainer.score --model-type T --processing-date D [--model-id champion|challenger|latest|ID]`: score one
processing date with a registered model (the champion by default) and write the scores to the type's output table."""

from __future__ import annotations

import argparse
from pathlib import Path

from trainer.arguments import check_at_least, iso_date
from trainer.cli import run_cli
from trainer.model_types import MODEL_TYPES
from trainer.registry.artifacts import DEFAULT_OUTPUT_DIR
from trainer.score.scoring import score_date
from trainer.score.summary import print_outcome


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m trainer.score", description="Score one processing date with a registered model.")
    parser.add_argument("--model-type", required=True, choices=MODEL_TYPES)
    parser.add_argument("--processing-date", required=True, type=iso_date, help="YYYY-MM-DD")
    parser.add_argument("--model-id", default="champion", help="champion (default), challenger, latest, or a registered model id")
    parser.add_argument("--network", help="default: the dbt project's network var")
    parser.add_argument(
        "--output-dir", type=Path, default=DEFAULT_OUTPUT_DIR, help="files of models from before the warehouse (default trained_models/)"
    )
    parser.add_argument("--no-drift", action="store_true", help="skip the drift of the batch against the model's reference distributions")
    parser.add_argument(
        "--explain-top",
        type=int,
        help="explain the N highest scores of the date (default: the model's review capacity per day; 0: every row)",
    )
    args = parser.parse_args()
    if args.explain_top is not None:
        check_at_least("--explain-top", args.explain_top, 0)
    outcome = score_date(
        args.model_type,
        args.processing_date,
        args.network,
        args.model_id,
        args.output_dir,
        drift=not args.no_drift,
        explain_top=args.explain_top,
    )
    print_outcome(outcome, args.model_type)


if __name__ == "__main__":
    run_cli(main)
