"""A model card per model, generated from its metadata (never written by hand): what a model-risk reviewer asks
for, beside the model files as Markdown and inside the metadata as the same text."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from trainer.model_types import model_spec
from trainer.registry.metadata import ModelMetadata

PURPOSES = {
    ("alert", False): "scores each alert with the probability that its address turns out high risk within the label horizon",
    ("alert", True): "orders each processing date's alerts for review by their relevance grade",
    ("cluster", False): "scores each alert cluster with the probability that one of its addresses turns out high risk",
}

# What the pipeline does not check, stated in every card.
LIMITATIONS = (
    "The model expects drops that follow the raw contract (trainer/ingest/raw_tables.sql): five parquet files per "
    "processing date and drop window, checked at ingestion (columns, types, keys, dates, finite non-negative amounts).",
    "Labels are upstream's analyst and vendor labels: their quality, and whether an investigation was ever opened, "
    "are not checked. An address never labelled within the horizon is not a training row.",
    "Open vocabularies (typologies, address and cluster types) beyond the configured lists are counted as `*_other`; "
    "a vocabulary that changes meaning upstream is not detected.",
    "Features may read labels of other addresses known before the row's date (counterparty risk in the network "
    "family): lineage cannot see that time condition, so the leakage guard refuses only features whose lineage passes "
    "through a label model; dbt unit tests pin the condition.",
    "Drift is monitored per scoring batch (feature_drift); PSI of small batches is noisy, and calendar features drift by design.",
)


def _figure(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4f}"
    return "-" if value is None else str(value)


def _names(names: Any) -> str:
    """A recorded list (or mapping) of feature names for one line; "-" when the guard did not record it."""
    if names is None:
        return "-"
    return ", ".join(f"`{name}`" for name in names) or "none"


def render_model_card(metadata: ModelMetadata, descriptions: dict[str, str], lineage: dict[str, str] | None = None) -> str:
    """The card's Markdown. `descriptions` gives each feature's meaning (the contract's), `lineage` its raw source
    columns (or why they could not be resolved); without lineage the card says how to get it."""
    spec = model_spec(metadata.model_type)
    period, stats, metrics = metadata.training_period, metadata.data_stats, metadata.metrics
    environment = metadata.environment
    lines = [
        f"# Model card: {metadata.model_id}",
        "",
        "## Purpose",
        "",
        f"`{spec.name}` (LightGBM, objective `{spec.objective}`, one row per {spec.grain}) {PURPOSES[(spec.grain, spec.is_ranker)]}. "
        f"Network `{metadata.network}`, version {metadata.version}, trained {metadata.timestamp.isoformat()}. Scores are written to "
        f"`{spec.output_table}` by `python -m trainer.score`; investigators see them when the model holds the `champion` alias.",
        "",
        "## Training data",
        "",
        "| item | value |",
        "|---|---|",
        f"| window | {period.start} .. {period.end} (training table `{metadata.feature_contract.table}`) |",
        f"| out-of-time test from | {period.test_start} (last {period.test_fraction:.0%} of the dates) |",
        f"| rows | {stats.rows} labelled: {stats.train_rows} training, {stats.test_rows} test, "
        f"{_figure(stats.train_rows_purged_for_label_horizon)} rows before the test dates purged because their label window "
        f"reaches the first test date, {stats.train_rows_dropped_for_shared_entities} training rows dropped for sharing an "
        "address with the test dates |",
        f"| positives | {stats.positives} ({stats.train_positive_rate:.1%} of training rows, "
        f"{stats.test_positive_rate:.1%} of test rows) |",
        f"| label rule | the address's latest risk level known within {period.label_horizon_days} days after the "
        f"{spec.grain}'s processing date (high or critical = positive); labels mature through {period.labels_mature_through}; "
        f"{stats.immature_label_rows_left_out} rows with immature labels left out |",
        f"| data fingerprint | `{stats.fingerprint}` (rows and an order-free hash of every value read) |",
        f"| feature contract | {len(metadata.feature_names)} features, fingerprint `{metadata.feature_contract.fingerprint}` |",
        "",
        "## Features",
        "",
    ]
    by_family: dict[str, list[str]] = defaultdict(list)
    for feature in metadata.feature_contract.features:
        by_family[feature["family"]].append(feature["name"])
    gain = metadata.gain_by_family
    for family in sorted(by_family, key=lambda f: -gain.get(f, 0.0)):
        lines += [f"### {family} ({len(by_family[family])} features, {gain.get(family, 0.0):.1%} of the gain)", ""]
        lines += ["| feature | meaning | raw columns |", "|---|---|---|"]
        for name in by_family[family]:
            meaning = " ".join(descriptions.get(name, "").split()).replace("|", "\\|") or "(not described)"
            raw = (
                lineage.get(name, "not resolved: no lineage entry")
                if lineage is not None
                else "not traced: the dbt manifest could not be read"
            )
            lines.append(f"| `{name}` | {meaning} | {raw} |")
        lines.append("")
    lines += [
        "## Evaluation",
        "",
        "Protocol: the last dates of the window are the test set (out of time); rows before them whose label window (date "
        "plus label horizon) reaches the first test date are purged, so no training label was decided by an outcome of "
        "the test period; training rows whose address appears on a test date are dropped (entity-disjoint); "
        "cross-validation folds on the training part are grouped by address and "
        "set the number of boosting rounds and, for scorers, the decision threshold (from out-of-fold scores, never from "
        "test rows). Calibration: the Brier score below and the calibration curve in the PNG report.",
        "",
        "| metric | test |",
        "|---|---|",
    ]
    lines += [f"| `{name}` | {_figure(metrics[name])} |" for name in sorted(metrics)]
    guard = metadata.leakage_guard
    lines += [
        "",
        "## Leakage guard",
        "",
        f"Computed from {guard.get('computed_from', 'the split (before the guard checked the rows read)')}: "
        f"{_figure(guard.get('training_rows'))} training and {_figure(guard.get('test_rows'))} test rows, their address "
        "hashes, dates and label windows, the test rows' feature values and each feature's dbt lineage. Any finding stops training.",
        "",
        f"- Training rows sharing an address with a test row: {_figure(guard.get('training_rows_sharing_a_test_address'))} (must be 0).",
        f"- Training rows whose label window reaches the first test date {_figure(guard.get('first_test_date'))}: "
        f"{_figure(guard.get('training_rows_labelled_from_test_start'))} (must be 0; the last window ends "
        f"{_figure(guard.get('last_training_label_window_end'))}).",
        f"- Label columns among the features: {', '.join(guard.get('label_columns_among_features', [])) or 'none'} (must be none).",
        f"- Features whose lineage passes through a label model: {_names(guard.get('features_derived_from_labels'))} (must be none).",
        f"- Features whose test values follow the label, the grade or the label weight: {_names(guard.get('features_valued_as_labels'))} "
        "(must be none).",
        f"- Features whose lineage could not be traced (not judged by lineage): {_names(guard.get('features_without_traced_lineage'))}.",
        "- Features read only data at or before the alert's processing date (dbt unit tests pin the history rules), and "
        "the project's test suite trains on random labels and requires test AUC near 0.5.",
        "",
        "## Known limitations",
        "",
        *[f"- {limitation}" for limitation in LIMITATIONS],
        "",
        "## Reproduce",
        "",
        "```bash",
        f"dbt build --vars '{{network: {metadata.network}, start: {period.start}, end: {period.end}, "
        f"label_horizon_days: {period.label_horizon_days}}}'",
        metadata.command or f"python -m trainer --model-type {spec.name} --network {metadata.network}",
        "```",
        "",
        "The data fingerprint above must match for the same model bytes (LightGBM is seeded and deterministic). Versions: "
        + ", ".join(f"{name} {version}" for name, version in sorted(environment.items())),
        "",
    ]
    return "\n".join(lines)
