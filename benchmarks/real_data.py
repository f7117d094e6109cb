"""Real-data benchmark: the pipeline on the XBlock Ethereum phishing subgraph, against plain LightGBM on the raw
columns on exactly the same split.

    python -m benchmarks.real_data --source DIR [--workdir /tmp/aml-real-data] [--alert-after-flows 3]

DIR holds edges.csv and nodes_labels.txt (the T-EDGE sample; its README says what they hold). The source is mapped
into upstream drops (benchmarks/real_data_mapping.py writes the mapping down), ingested, built with `dbt build` and
trained as alert_scorer, each step its own process on a store of its own in --workdir (the repository's store is
untouched). Then, in this process on the same store: alert_scorer again without each feature family (the ablation),
and the reference: the same learner (the trainer's LightGBM parameters, grouped cross-validation for the rounds and
final fit) on the raw columns alone, the alert's numeric columns and every numeric raw_features column the address
family passes on, for exactly the training and test rows of the trainer's own out-of-time split. Prints markdown:
the mapping's counts, the split, test AUC, PR-AUC and the triage figures of both, the ablation, and a paired
bootstrap interval of the AUC difference on the test rows. Not a test: nothing here asserts a target.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import shutil
import sys
from pathlib import Path
from typing import Any

import lightgbm as lgb
import numpy as np
from clickhouse_connect.driver.client import Client

from benchmarks.real_data_mapping import ALERT_AFTER_FLOWS, LABEL_HORIZON_DAYS, map_drops, read_subgraph, write_drops
from benchmarks.run import machine, run_phase
from trainer.cli import run_cli
from trainer.errors import PipelineError
from trainer.evaluation.extract import TrainingData, extract_rows, window_parameters
from trainer.evaluation.metrics import auc_or_half, best_f1_threshold, window_metrics
from trainer.evaluation.split import Holdout, plan_holdout
from trainer.features.contract import load_contract
from trainer.ingest.raw_tables import address_feature_columns
from trainer.model_types import model_spec
from trainer.store.connection import connect, qualified_name, quote_identifier
from trainer.store.settings import load_store_settings
from trainer.train import modeling
from trainer.train.pipeline import TrainRequest, train_model

NETWORK = "ethereum"
SPEC = model_spec("alert_scorer")
RAW_ALERT_COLUMNS = ("alert_confidence_score", "volume_usd")  # the alert's numeric columns
BOOTSTRAP_SAMPLES = 2000
FIGURES = (
    ("test AUC", "test_auc", "{:.3f}"),
    ("test PR-AUC", "test_pr_auc", "{:.3f}"),
    ("auto-close share at 95 % recall", "autoclose_at_recall_95_share", "{:.1%}"),
    ("its false-positive reduction", "autoclose_at_recall_95_fp_reduction", "{:.1%}"),
    ("precision at capacity", "precision_at_capacity", "{:.2f}"),
    ("recall at capacity", "recall_at_capacity", "{:.2f}"),
    ("tail recall", "tail_recall", "{:.2f}"),
)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.real_data", description=__doc__.splitlines()[0])
    parser.add_argument("--source", type=Path, required=True, help="the directory holding edges.csv and nodes_labels.txt")
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/aml-real-data"))
    parser.add_argument("--alert-after-flows", type=int, default=ALERT_AFTER_FLOWS)
    args = parser.parse_args()
    shutil.rmtree(args.workdir, ignore_errors=True)
    args.workdir.mkdir(parents=True)
    mapped = map_drops(read_subgraph(args.source), NETWORK, args.alert_after_flows, LABEL_HORIZON_DAYS)
    write_drops(mapped, args.workdir / "drops", NETWORK)
    start, end = min(mapped.drops), max(mapped.drops)
    print(f"Machine: {machine()}\n")
    print(f"Mapping: {len(mapped.drops)} weekly drops {start}..{end}, {len(mapped.alerts)} alerts (each at its account's "
          f"money flow number {args.alert_after_flows}; {mapped.unalerted_accounts} labelled accounts have fewer flows), "
          f"{sum(d['money_flows.parquet'].num_rows for d in mapped.drops.values()):,} money flows delivered; labels past the "
          f"{LABEL_HORIZON_DAYS}-day horizon {mapped.labels_past_horizon}, never arriving {mapped.labels_never_arriving}.\n")  # fmt: skip
    env = {
        "CHDB_PATH": str(args.workdir / "chdb"),
        "DBT_TARGET_PATH": str(args.workdir / "target"),
        "DBT_LOG_PATH": str(args.workdir / "logs"),
    }
    os.environ.update(env)  # the phases below and this process's own connection use the benchmark's store
    python, dbt = sys.executable, str(Path(sys.executable).with_name("dbt"))
    phases = {
        "ingest": [python, "-m", "trainer.ingest", "--network", NETWORK, "--source", str(args.workdir / "drops")],
        # Only what alert_scorer trains on, and the tests of nothing else: the source has no clusters, so the gates
        # of the cluster tables would fail.
        "dbt build": [
            dbt,
            "build",
            "--select",
            "+training_alerts",
            "--indirect-selection",
            "cautious",
            "--vars",
            f"{{network: {NETWORK}, start: '{start}', end: '{end}'}}",
        ],
        "train alert_scorer": [python, "-m", "trainer", "--model-type", "alert_scorer", "--output-dir", str(args.workdir / "models")],
    }
    for name, command in phases.items():
        wall, rss, _ = run_phase(command, dict(os.environ))
        print(f"- {name}: {wall:.1f} s, peak RSS {rss:,.0f} MB")
    settings = load_store_settings()
    with connect(settings) as client:
        report(client, settings, args.workdir / "models")


def report(client: Client, settings: Any, output_dir: Path) -> None:
    """Train the pipeline's variants and the raw-column reference on the same split, and print the figures."""
    pipeline = train_model(TrainRequest("alert_scorer", network=NETWORK, output_dir=output_dir), client, settings)
    metadata = pipeline.metadata
    period, table = metadata.training_period, qualified_name(NETWORK, SPEC.training_table)
    holdout = plan_holdout(client, table, window_parameters(NETWORK, period.start, period.end), period.test_fraction, 20, table)
    if holdout.test_start != period.test_start:
        raise PipelineError(f"the split planned again starts its test at {holdout.test_start}, the trainer's at {period.test_start}")
    contract = load_contract(SPEC, client, NETWORK)
    booster = lgb.Booster(model_file=str(pipeline.model_path))
    test = extract_rows(client, NETWORK, SPEC, contract, holdout.where("test", table), holdout.parameters, holdout.test.rows)
    pipeline_score = booster.predict(test.features)
    reference, reference_names, reference_score = raw_reference(client, holdout, table, test.label)
    print(f"\nSplit (the trainer's): training rows {holdout.train.rows} ({holdout.train.positives} phishing), test rows "
          f"{holdout.test.rows} ({holdout.test.positives} phishing) from {holdout.test_start}; review capacity "
          f"{metadata.metrics['review_capacity_per_day']} alerts a week.\n")  # fmt: skip
    print(f"| figure (test window) | pipeline, every family ({len(contract.names)} features) | raw columns, plain LightGBM "
          f"({len(reference_names)}) |\n|---|---:|---:|")  # fmt: skip
    for name, key, fmt in FIGURES:
        print(f"| {name} | {fmt.format(metadata.metrics[key])} | {fmt.format(reference[key])} |")
    low, high = paired_auc_interval(test.label, pipeline_score, reference_score)
    print(f"\nAUC difference, pipeline - reference: {metadata.metrics['test_auc'] - reference['test_auc']:+.3f} "
          f"(paired bootstrap over the test rows, {BOOTSTRAP_SAMPLES} samples, 95 %: {low:+.3f} .. {high:+.3f})\n")  # fmt: skip
    families = sorted({feature.family for feature in contract.features})
    print("| features used | columns | test AUC | test PR-AUC |\n|---|---:|---:|---:|")
    print(f"| every family | {len(contract.names)} | {metadata.metrics['test_auc']:.3f} | {metadata.metrics['test_pr_auc']:.3f} |")
    ablation = dataclasses.replace(settings, registry_database="aml_real_data_ablation")
    for family in families:
        chosen = tuple(f for f in families if f != family)
        request = TrainRequest("alert_scorer", network=NETWORK, output_dir=output_dir / "ablation", families=chosen, force=True)
        metrics = train_model(request, client, ablation).metadata.metrics
        columns = len(contract.restricted_to(chosen).names)
        print(f"| all but {family} | {columns} | {metrics['test_auc']:.3f} | {metrics['test_pr_auc']:.3f} |")
    print(f"| raw columns (reference) | {len(reference_names)} | {reference['test_auc']:.3f} | {reference['test_pr_auc']:.3f} |")


def raw_columns(client: Client, holdout: Holdout, table: str, part: str) -> TrainingData:
    """The raw columns of the rows of one part of the split: the alert's numeric columns and its address's raw_features
    row of the same drop, beside the training table's label, weight and entity, ordered as the trainer orders rows."""
    features = [name for name in address_feature_columns(client, NETWORK) if name != "processing_date"]
    names = [*RAW_ALERT_COLUMNS, *features]
    selected = ", ".join(
        [f"toFloat32(alerts.{quote_identifier(name)})" for name in RAW_ALERT_COLUMNS]
        + [f"toFloat32(features.{quote_identifier(name)})" for name in features]
    )
    result = client.query(
        "SELECT rows.processing_date, cityHash64(rows.address), rows.label, rows.label_weight, rows.relevance_grade, "
        f"{selected} FROM (SELECT * FROM {table} WHERE {holdout.where(part, table)}) AS rows "
        f"LEFT JOIN {qualified_name(NETWORK, 'raw_alerts')} AS alerts "
        "ON alerts.alert_id = rows.alert_id AND alerts.processing_date = rows.processing_date "
        f"LEFT JOIN {qualified_name(NETWORK, 'raw_features')} AS features "
        "ON features.address = rows.address AND features.processing_date = rows.processing_date "
        "ORDER BY rows.processing_date, rows.alert_id",
        parameters=holdout.parameters,
    )
    columns = list(zip(*result.result_rows, strict=True))
    return TrainingData(
        features=np.asfortranarray(np.array(columns[5:], dtype=np.float32).T),
        label=np.array(columns[2], dtype=np.uint8),
        weight=np.array(columns[3], dtype=np.float32),
        grade=np.array(columns[4], dtype=np.uint8),
        processing_date=np.array(columns[0], dtype="datetime64[D]"),
        entity=np.array(columns[1], dtype=np.uint64),
        feature_names=names,
    )


def raw_reference(client: Client, holdout: Holdout, table: str, test_label: np.ndarray) -> tuple[dict[str, Any], list[str], np.ndarray]:
    """The trainer's learner on the raw columns: its parameters, grouped cross-validation for the rounds and the
    threshold, the final fit; its metrics, the columns it read and its scores, on the test rows the pipeline was
    scored on (`test_label`, in the same order)."""
    train, test = (raw_columns(client, holdout, table, part) for part in ("train", "test"))
    if not np.array_equal(test.label, test_label):
        raise PipelineError("the raw columns' test rows are not the pipeline's test rows")
    params = modeling.scaled_params(modeling.base_params(SPEC, 42), train.rows)
    binned = modeling.bin_rows(train, SPEC, params)
    cv = modeling.cross_validate(train, binned, SPEC, params)
    score = modeling.fit(binned, params, cv.rounds).predict(test.features)
    threshold = best_f1_threshold(train.label, cv.out_of_fold)
    return window_metrics(SPEC, test.label, test.grade, score, test.processing_date, threshold, None), train.feature_names, score


def paired_auc_interval(label: np.ndarray, first: np.ndarray, second: np.ndarray) -> tuple[float, float]:
    """The 2.5 and 97.5 percentiles of AUC(first) - AUC(second) over test rows resampled with replacement."""
    rng = np.random.default_rng(42)
    differences = []
    for _ in range(BOOTSTRAP_SAMPLES):
        rows = rng.integers(0, label.size, label.size)
        differences.append(auc_or_half(label[rows], first[rows]) - auc_or_half(label[rows], second[rows]))
    low, high = np.percentile(differences, [2.5, 97.5])
    return float(low), float(high)


if __name__ == "__main__":
    run_cli(main)
