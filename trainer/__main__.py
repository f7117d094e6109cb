"""`python -m trainer --model-type alert_scorer|alert_ranker|cluster_scorer`: train, save, register."""

from __future__ import annotations

import argparse
from pathlib import Path

from trainer.arguments import iso_date
from trainer.cli import run_cli
from trainer.model_types import MODEL_TYPES
from trainer.train.pipeline import TrainRequest, train_model


def parse_args(argv: list[str] | None = None) -> TrainRequest:
    parser = argparse.ArgumentParser(prog="python -m trainer", description="Train a LightGBM model on a dbt-built training table.")
    parser.add_argument("--model-type", required=True, choices=MODEL_TYPES)
    parser.add_argument("--network", help="network (= ClickHouse database); default: the dbt project's network var")
    parser.add_argument("--start-date", type=iso_date, help="first processing date; default: the table's first")
    parser.add_argument("--end-date", type=iso_date, help="last processing date; default: the table's last")
    parser.add_argument("--output-dir", type=Path, default=Path("trained_models"))
    parser.add_argument("--force", action="store_true", help="train even when the same model already exists")
    parser.add_argument("--tune", type=int, default=0, metavar="N", help="Optuna trials before the final fit (default 0)")
    parser.add_argument("--test-fraction", type=float, default=0.2, help="share of the last dates held out (default 0.2)")
    parser.add_argument("--min-per-class", type=int, default=20, help="fewest rows of each label class (default 20)")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--families", help="comma-separated feature families to use (default: all), e.g. alert,network")
    parser.add_argument(
        "--review-capacity",
        type=int,
        metavar="N",
        help="items investigators review per day, for the triage metrics (default: a tenth of a median day)",
    )
    parser.add_argument("--workers", type=int, default=1, metavar="N", help="local ranks of a data-parallel run (default 1)")
    parser.add_argument("--machines", metavar="HOST:PORT,...", help="the ranks of a data-parallel run on several hosts, in rank order")
    parser.add_argument("--rank", type=int, default=0, help="this host's rank among --machines (default 0)")
    parser.add_argument(
        "--stall-seconds", type=float, default=120.0, help="a rank waiting on its peers this long without progress fails the run"
    )
    args = parser.parse_args(argv)
    return TrainRequest(
        model_type=args.model_type, network=args.network, start=args.start_date, end=args.end_date,
        output_dir=args.output_dir, force=args.force, tune_trials=args.tune, test_fraction=args.test_fraction,
        min_per_class=args.min_per_class, seed=args.seed,
        families=tuple(f.strip() for f in args.families.split(",") if f.strip()) if args.families else (),
        review_capacity=args.review_capacity, workers=args.workers, machines=args.machines, rank=args.rank,
        stall_seconds=args.stall_seconds,
    )  # fmt: skip


def main() -> None:
    outcome = train_model(parse_args())
    if outcome is None:  # a rank other than 0: rank 0 published
        return
    stats, metrics = outcome.metadata.data_stats, outcome.metadata.metrics
    status = "reused existing model" if outcome.reused else "trained"
    print(
        f"{status} {outcome.model_id}: {stats.rows} rows, {len(outcome.metadata.feature_names)} features, "
        f"test AUC {metrics['test_auc']:.3f}, cv AUC {metrics['cv_auc_mean']:.3f}±{metrics['cv_auc_std']:.3f}\n"
        f"  triage: {metrics['autoclose_at_recall_95_share']:.0%} of test items could be closed keeping 95 % of the positives; "
        f"at {metrics['review_capacity_per_day']} reviews a day precision {metrics['precision_at_capacity']:.2f}, "
        f"recall {metrics['recall_at_capacity']:.2f}; {metrics['tail_recall']:.0%} of positives in the bottom half of their day\n"
        f"  model:  {outcome.model_path}\n  report: {outcome.metadata.report_path}"
    )


if __name__ == "__main__":
    run_cli(main)
