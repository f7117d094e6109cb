"""`python -m trainer.registry [--model-type T] [--network N] [--latest] [--json]`: the registered models, newest first."""

from __future__ import annotations

import argparse
import json
from datetime import date, datetime
from pathlib import Path
from typing import Any

from trainer.arguments import validate_network
from trainer.cli import run_cli
from trainer.model_types import MODEL_TYPES
from trainer.registry.table import ensure_registry, list_models
from trainer.store.connection import connect
from trainer.store.settings import load_store_settings


def _printable(row: dict[str, Any]) -> dict[str, Any]:
    return {key: (value.isoformat() if isinstance(value, date | datetime) else value) for key, value in row.items()}


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m trainer.registry", description="List trained models, newest first.")
    parser.add_argument("--model-type", choices=MODEL_TYPES)
    parser.add_argument("--network")
    parser.add_argument("--latest", action="store_true", help="only the newest model of each (model type, network)")
    parser.add_argument("--json", action="store_true", help="print rows as JSON")
    args = parser.parse_args()
    settings = load_store_settings()
    with connect(settings) as client:
        ensure_registry(client, settings.registry_database)
        rows = list_models(client, settings.registry_database, args.model_type, validate_network(args.network) if args.network else None)
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
    print(f"{'model_id':<44} {'network':<10} {'window':<23} {'rows':>8} {'test_auc':>8} {'cv_auc':>13}  path")
    for r in rows:
        window = f"{r['training_start_date']}..{r['training_end_date']}"
        cv = f"{r['cv_auc_mean']:.3f}±{r['cv_auc_std']:.3f}"
        print(
            f"{r['model_id']:<44} {r['network']:<10} {window:<23} {r['num_samples']:>8} {r['test_auc']:>8.3f} {cv:>13}  "
            f"{Path(r['model_path'])}"
        )


if __name__ == "__main__":
    run_cli(main)
