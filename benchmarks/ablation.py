"""Feature-family ablation of alert_scorer: all families, alert-only, each family left out, and the address family
cut back to the 34 upstream columns the project kept by hand before it passed on every numeric upstream column.

    python -m benchmarks.ablation [--network ethereum]

Runs on the finished training table (after `make demo` or `dbt build`). Models go to a temporary directory
and a scratch registry database (`aml_ablation`), so the real registry is untouched. Prints a markdown table.
"""

from __future__ import annotations

import argparse
import dataclasses
import tempfile
from pathlib import Path

from trainer.cli import run_cli
from trainer.features.contract import load_contract
from trainer.model_types import model_spec
from trainer.store.connection import connect
from trainer.store.settings import load_store_settings
from trainer.train.pipeline import TrainRequest, train_model

# The hand-picked address features of the project before every numeric upstream column became a feature.
FORMER_ADDRESS_FEATURES = (
    "has_address_features", "degree_in", "degree_out", "unique_counterparties", "total_in_usd", "total_out_usd",
    "total_volume_usd", "max_tx_usd", "tx_total_count", "activity_days", "volume_cv", "flow_concentration",
    "regularity_score", "burst_factor", "reciprocity_ratio", "counterparty_concentration", "velocity_score",
    "structuring_score", "night_transaction_ratio", "weekend_transaction_ratio", "small_transaction_ratio", "pagerank",
    "betweenness", "clustering_coefficient", "khop2_count", "behavioral_anomaly_score", "graph_anomaly_score",
    "neighborhood_anomaly_score", "global_anomaly_score", "suspicious_pattern_score", "completeness_score",
    "is_mixer_like", "is_exchange_like", "is_new_address", "is_dormant_reactivated",
)  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.ablation", description=__doc__.splitlines()[0])
    parser.add_argument("--network", default="ethereum")
    args = parser.parse_args()
    settings = dataclasses.replace(load_store_settings(), registry_database="aml_ablation")
    client = connect(settings)
    contract = load_contract(model_spec("alert_scorer"), client, args.network)
    families = tuple(sorted({feature.family for feature in contract.features}))
    former = tuple(f.name for f in contract.features if f.family == "address" and f.name not in FORMER_ADDRESS_FEATURES)
    variants: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
        "all families": (families, ()),
        "all families, address cut to the former 34 columns": (families, former),
        "alert only": (("alert",), ()),
    }
    variants |= {f"all but {family}": (tuple(f for f in families if f != family), ()) for family in families}
    rows = []
    with client, tempfile.TemporaryDirectory() as scratch:
        for name, (chosen, excluded) in variants.items():
            request = TrainRequest(
                "alert_scorer", network=args.network, output_dir=Path(scratch), families=chosen, excluded_features=excluded, force=True
            )
            metrics = train_model(request, client=client, settings=settings).metadata.metrics
            n_features = len(contract.restricted_to(chosen).without(excluded).names)
            rows.append(
                f"| {name} | {n_features} | {metrics['test_auc']:.3f} | {metrics['test_pr_auc']:.3f} | {metrics['precision_at_100']:.2f} |"
            )
    print("| features used | columns | test AUC | test PR-AUC | precision@100 |")
    print("|---|---|---|---|---|")
    print("\n".join(rows))


if __name__ == "__main__":
    run_cli(main)
