"""The registry from the command line.

    python -m trainer.registry [--model-type T] [--network N] [--latest] [--json]     the models, newest first, with aliases
    python -m trainer.registry promote MODEL_ID --alias champion|challenger [--force] [--min-change METRIC=X] ...
    python -m trainer.registry demote MODEL_ID --alias champion|challenger
    python -m trainer.registry history [--model-type T] [--network N] [--json]        every alias change, newest first
    python -m trainer.registry export MODEL_ID --to DIR                               the model's four files, from the warehouse
    python -m trainer.registry import-files DIR                                       upload the files of models registered before
                                                                                      the warehouse kept artifacts

MODEL_ID may be `latest` with --model-type and --network (the newest model of that type).
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import date, datetime
from pathlib import Path
from typing import Any

from trainer.arguments import validate_network
from trainer.cli import run_cli
from trainer.errors import PipelineError
from trainer.model_types import MODEL_TYPES, model_spec
from trainer.registry.aliases import ALIASES, alias_history, aliases_of
from trainer.registry.artifacts import DEFAULT_OUTPUT_DIR
from trainer.registry.promotion import MetricThreshold, default_thresholds, demote, promote, registered_model
from trainer.registry.table import ensure_registry, list_models, pinned_checksums
from trainer.registry.warehouse import export_model, import_files
from trainer.store.connection import connect
from trainer.store.settings import load_store_settings


def _printable(row: dict[str, Any]) -> dict[str, Any]:
    return {key: (value.isoformat() if isinstance(value, date | datetime) else value) for key, value in row.items()}


def _metric_values(pairs: list[str], option: str) -> dict[str, float]:
    values = {}
    for pair in pairs:
        metric, _, value = pair.partition("=")
        try:
            values[metric.strip()] = float(value)
        except ValueError:
            raise PipelineError(f"{option} takes METRIC=NUMBER, got {pair!r}") from None
    return values


def thresholds_from(args: argparse.Namespace, model_type: str) -> list[MetricThreshold]:
    """The gate: the type's default, plus or replaced by the thresholds given per metric."""
    changes = _metric_values(args.min_change, "--min-change")
    relative = _metric_values(args.min_relative_change, "--min-relative-change")
    minimum = _metric_values(args.min_value, "--min-value")
    named = sorted(set(changes) | set(relative) | set(minimum))
    if not named:
        return default_thresholds(model_spec(model_type))
    return [MetricThreshold(m, changes.get(m, 0.0), relative.get(m, 0.0), minimum.get(m)) for m in named]


def list_command(args: argparse.Namespace) -> None:
    settings = load_store_settings()
    with connect(settings) as client:
        ensure_registry(client, settings.registry_database)
        rows = list_models(client, settings.registry_database, args.model_type, validate_network(args.network) if args.network else None)
        held = aliases_of(client, settings.registry_database)
    for row in rows:
        row["aliases"] = held.get(row["model_id"], [])
    if args.latest:
        newest: dict[tuple[str, str], dict[str, Any]] = {}
        for row in rows:  # rows come newest first
            newest.setdefault((row["model_type"], row["network"]), row)
        rows = list(newest.values())
    if args.json:
        print(json.dumps([_printable(r) for r in rows], indent=2))
        return
    if not rows:
        print("no trained models yet")
        return
    print(f"{'model_id':<44} {'aliases':<20} {'network':<10} {'window':<23} {'rows':>8} {'test_auc':>8} {'cv_auc':>13}  artifacts")
    for r in rows:
        window = f"{r['training_start_date']}..{r['training_end_date']}"
        cv = f"{r['cv_auc_mean']:.3f}±{r['cv_auc_std']:.3f}"
        aliases = ",".join(r["aliases"]) or "-"
        print(
            f"{r['model_id']:<44} {aliases:<20} {r['network']:<10} {window:<23} {r['num_samples']:>8} {r['test_auc']:>8.3f} {cv:>13}  "
            f"{'warehouse' if pinned_checksums(r) else Path(r['model_path'])}"
        )


def promote_command(args: argparse.Namespace) -> None:
    settings = load_store_settings()
    network = validate_network(args.network) if args.network else None
    with connect(settings) as client:
        model_type = (
            args.model_type or registered_model(client, settings.registry_database, args.model_id, args.model_type, network)["model_type"]
        )
        outcome = promote(
            client, settings, args.model_id, args.alias, args.output_dir, args.model_type, network, thresholds_from(args, model_type),
            args.force, args.actor, args.reason, args.review_capacity,
        )  # fmt: skip
    if outcome.previous == outcome.model_id:
        print(f"{outcome.model_id} is already the {outcome.alias}")
        return
    print(f"{outcome.model_id} is now the {outcome.alias}" + (f" (was {outcome.previous})" if outcome.previous else ""))
    if outcome.comparison:
        comparison = outcome.comparison
        print(f"  compared on {comparison.start}..{comparison.end}: {comparison.rows} rows, {comparison.positives} positives")
        print(f"  {'metric':<40} {'candidate':>12} {'champion':>12}")
        for metric in sorted(set(comparison.candidate) & set(comparison.champion)):
            candidate, champion = comparison.candidate[metric], comparison.champion[metric]
            if isinstance(candidate, int | float) and isinstance(champion, int | float):
                print(f"  {metric:<40} {candidate:>12.4f} {champion:>12.4f}")
    if outcome.forced:
        print(f"  forced past the gate: {'; '.join(outcome.refused_because)}")


def demote_command(args: argparse.Namespace) -> None:
    settings = load_store_settings()
    with connect(settings) as client:
        model_id = demote(client, settings, args.model_id, args.alias, args.actor, args.reason)
    print(f"{model_id} is no longer the {args.alias}")


def history_command(args: argparse.Namespace) -> None:
    settings = load_store_settings()
    with connect(settings) as client:
        rows = alias_history(client, settings.registry_database, args.model_type, validate_network(args.network) if args.network else None)
    if args.json:
        print(json.dumps([_printable(r) for r in rows], indent=2))
        return
    for r in rows:
        forced = " FORCED" if r["forced"] else ""
        print(
            f"{r['changed_at']:%Y-%m-%d %H:%M:%S} {r['actor']:<12} {r['action']:<8} {r['alias']:<11} {r['model_id']}{forced}  {r['reason']}"
        )


def export_command(args: argparse.Namespace) -> None:
    settings = load_store_settings()
    network = validate_network(args.network) if args.network else None
    with connect(settings) as client:
        row = registered_model(client, settings.registry_database, args.model_id, args.model_type, network)
        files = export_model(client, settings.registry_database, row, args.to)
    for path in files.all():
        if path.is_file():
            print(path)


def import_files_command(args: argparse.Namespace) -> None:
    settings = load_store_settings()
    with connect(settings) as client:
        ensure_registry(client, settings.registry_database)
        outcome = import_files(client, settings.registry_database, args.directory)
    for model_id in outcome.imported:
        print(f"{model_id}: uploaded to the warehouse")
    for model_id in outcome.already:
        print(f"{model_id}: already in the warehouse")
    for model_id, why in outcome.skipped.items():
        print(f"{model_id}: skipped ({why})")
    if not outcome.imported and not outcome.already:
        raise PipelineError(f"no model files of a registered model in {args.directory}")


def parser_for(command: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=f"python -m trainer.registry{'' if command == 'list' else ' ' + command}")
    if command == "export":
        parser.add_argument("model_id", help="a registered model id, or latest (with --model-type and --network)")
        parser.add_argument("--to", required=True, type=Path, help="the directory to write the files into")
    if command == "import-files":
        parser.add_argument("directory", type=Path, help="a directory holding <model_id>.txt, .json, .png (and .md) files")
        return parser
    if command in ("promote", "demote"):
        parser.add_argument("model_id", help="a registered model id, or latest (with --model-type and --network)")
        parser.add_argument("--alias", required=True, choices=ALIASES)
        parser.add_argument("--actor", help="who makes the change (default: the login name)")
        parser.add_argument("--reason", default="", help="why, for the history")
    parser.add_argument("--model-type", choices=MODEL_TYPES)
    parser.add_argument("--network")
    if command == "promote":
        parser.add_argument("--force", action="store_true", help="promote although the gate refuses; recorded in the history")
        parser.add_argument("--min-change", action="append", default=[], metavar="METRIC=X", help="minimum absolute improvement")
        parser.add_argument("--min-relative-change", action="append", default=[], metavar="METRIC=X", help="minimum relative improvement")
        parser.add_argument("--min-value", action="append", default=[], metavar="METRIC=X", help="minimum value of the candidate")
        parser.add_argument("--review-capacity", type=int, metavar="N", help="items reviewed per day, for the triage metrics")
        parser.add_argument(
            "--output-dir", type=Path, default=DEFAULT_OUTPUT_DIR,
            help="where the files of models registered before the warehouse kept artifacts are (default trained_models/)",
        )  # fmt: skip
    if command in ("list", "history"):
        parser.add_argument("--json", action="store_true", help="print rows as JSON")
    if command == "list":
        parser.add_argument("--latest", action="store_true", help="only the newest model of each (model type, network)")
    return parser


COMMANDS = {
    "list": list_command, "promote": promote_command, "demote": demote_command, "history": history_command,
    "export": export_command, "import-files": import_files_command,
}  # fmt: skip


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    command = argv[0] if argv and argv[0] in COMMANDS else "list"
    rest = argv[1:] if argv and argv[0] in COMMANDS else argv
    COMMANDS[command](parser_for(command).parse_args(rest))


if __name__ == "__main__":
    run_cli(main)
