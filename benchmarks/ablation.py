"""Feature-family ablation of alert_scorer: all families, alert-only, and each family left out.

    python -m benchmarks.ablation [--network ethereum]

Runs on the finished training table (after `make demo` or `dbt build`). Models go to a temporary directory
and a scratch registry database (`aml_ablation`), so the real registry is untouched. Prints a markdown table.
"""

from __future__ import annotations

import argparse
import dataclasses
import tempfile
from pathlib import Path

from trainer.cli_support import run_cli
from trainer.config import load_store_settings
from trainer.connection import connect
from trainer.contract import load_contract
from trainer.pipeline import TrainRequest, train_model


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.ablation", description=__doc__.splitlines()[0])
    parser.add_argument("--network", default="ethereum")
    args = parser.parse_args()
    settings = dataclasses.replace(load_store_settings(), registry_database="aml_ablation")
    client = connect(settings)
    families = sorted({feature.family for feature in load_contract("alert_scorer", client, args.network).features})
    variants = {"all families": tuple(families), "alert only": ("alert",)}
    variants |= {f"all but {family}": tuple(f for f in families if f != family) for family in families}
    rows = []
    with client, tempfile.TemporaryDirectory() as scratch:
        for name, chosen in variants.items():
            request = TrainRequest("alert_scorer", network=args.network, output_dir=Path(scratch), families=chosen, force=True)
            metrics = train_model(request, client=client, settings=settings).metadata["metrics"]
            n_features = len(load_contract("alert_scorer", client, args.network).restricted_to(chosen).names)
            rows.append(
                f"| {name} | {n_features} | {metrics['test_auc']:.3f} | {metrics['test_pr_auc']:.3f} | {metrics['precision_at_100']:.2f} |"
            )
    print("| features used | columns | test AUC | test PR-AUC | precision@100 |")
    print("|---|---|---|---|---|")
    print("\n".join(rows))


if __name__ == "__main__":
    run_cli(main)
