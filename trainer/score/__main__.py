"""`python -m trainer.score --model-type T --processing-date D [--model-id ID | --model-id latest]`: score one
processing date with a registered model and write the scores to the model type's output table."""

from __future__ import annotations

import argparse
from pathlib import Path

from trainer.arguments import iso_date
from trainer.cli import run_cli
from trainer.model_types import MODEL_TYPES, model_spec
from trainer.registry.artifacts import DEFAULT_OUTPUT_DIR
from trainer.score.scoring import score_date


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m trainer.score", description="Score one processing date with a registered model.")
    parser.add_argument("--model-type", required=True, choices=MODEL_TYPES)
    parser.add_argument("--processing-date", required=True, type=iso_date, help="YYYY-MM-DD")
    parser.add_argument("--model-id", default="latest", help="a registered model id, or latest (default)")
    parser.add_argument("--network", help="default: the dbt project's network var")
    parser.add_argument("--output-dir", type=Path, default=DEFAULT_OUTPUT_DIR, help="where the models are (default trained_models/)")
    args = parser.parse_args()
    outcome = score_date(args.model_type, args.processing_date, args.network, args.model_id, args.output_dir)
    print(f"{outcome.rows} rows written to {outcome.table} by {outcome.model_version} (batch {outcome.batch_id})")
    key = model_spec(args.model_type).key_column
    for position, row in enumerate(outcome.top, start=1):
        reasons = ", ".join(f"{r['feature']} ({r['family']}, {r['contribution']:+.2f})" for r in row["reasons"])
        print(f"{position:>2}. {row[key]}  score {row['score']:.3f}  because {reasons}")


if __name__ == "__main__":
    run_cli(main)
