"""The feature contract: which columns of a training or scoring table are features, of which family, made by which
dbt model, meaning what.

dbt and the built tables are the source of truth, never a list of the trainer's own:
- a mart's yml lists its keys and labels; every other column of the built table is a feature. Columns that
  follow the raw schema (the address family passes on every numeric upstream column) or a vocabulary var
  (one-hot columns) are therefore features without anyone listing them;
- each feature comes from a feature model (an `int_` model whose yml sets `meta: {feature_family: ...}`): the
  most upstream model holding the column is its producer, and the producer's family is the feature's family;
- a feature's meaning is its column description in the producer's yml, else the description the producer's
  `meta.vocabulary_columns` gives a one-hot column, else the description of the raw_features column it passes on;
- a feature whose distribution moves by design (calendar, counters growing with the data's age, per-date
  aggregates) says so once, on its column in the producer's yml: `meta: {drift: expected, drift_reason: "..."}`. The
  reason travels in the contract into the model's metadata, and drift monitoring reports the feature with it instead
  of warning.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from clickhouse_connect.driver.client import Client

from trainer.errors import PipelineError
from trainer.model_types import ModelSpec
from trainer.store.connection import require_built_table, table_columns
from trainer.store.settings import project_dir


@dataclass(frozen=True)
class Feature:
    name: str
    family: str
    producer: str  # the dbt model that computes the column
    description: str = ""
    drift_reason: str = ""  # non-empty: its distribution moves by design (column meta drift: expected), and why


@dataclass(frozen=True)
class FeatureContract:
    table: str
    features: tuple[Feature, ...]

    @property
    def names(self) -> list[str]:
        return [feature.name for feature in self.features]

    @property
    def producers(self) -> list[str]:
        return sorted({feature.producer for feature in self.features} | {self.table})

    def fingerprint(self) -> str:
        payload = json.dumps([[f.name, f.family] for f in self.features])
        return hashlib.sha256(payload.encode()).hexdigest()[:16]

    def restricted_to(self, families: tuple[str, ...]) -> FeatureContract:
        """The same contract limited to some feature families (for ablations)."""
        unknown = sorted(set(families) - {feature.family for feature in self.features})
        if unknown:
            known = ", ".join(sorted({feature.family for feature in self.features}))
            raise PipelineError(f"unknown feature families for {self.table}: {', '.join(unknown)} (known: {known})")
        return FeatureContract(self.table, tuple(f for f in self.features if f.family in families))

    def without(self, names: tuple[str, ...]) -> FeatureContract:
        """The same contract less some features (for ablations)."""
        unknown = sorted(set(names) - set(self.names))
        if unknown:
            raise PipelineError(f"{self.table} has no features {', '.join(unknown)}")
        return FeatureContract(self.table, tuple(f for f in self.features if f.name not in names))

    def to_json(self) -> list[dict[str, str]]:
        return [
            {"name": f.name, "family": f.family, "producer": f.producer} | ({"drift_reason": f.drift_reason} if f.drift_reason else {})
            for f in self.features
        ]


def manifest_path() -> Path:
    """dbt's manifest, where dbt wrote it: DBT_TARGET_PATH (honoured by dbt too), else target/."""
    return project_dir() / os.environ.get("DBT_TARGET_PATH", "target") / "manifest.json"


def _meta(node: dict) -> dict:
    return node.get("config", {}).get("meta") or node.get("meta") or {}


def _vocabulary_description(node: dict, column: str) -> str:
    """The meaning of a one-hot column of an open vocabulary, from the producer's meta.vocabulary_columns."""
    for prefix, source_column in (_meta(node).get("vocabulary_columns") or {}).items():
        if column.startswith(prefix):
            value = column[len(prefix) :]
            if value == "other":
                return f"1 when {source_column} is none of the listed values (an unknown or empty value), else 0."
            return f"1 when {source_column} is {value!r} (compared in lower case), else 0."
    return ""


def _expected_drift(node: dict, column: str, where: str) -> str:
    """The reason a column's drift is expected by design, from its `meta: {drift: expected, drift_reason: ...}` in
    the producer's yml; empty when it declares none."""
    entry = node["columns"].get(column, {})
    meta = entry.get("config", {}).get("meta") or entry.get("meta") or {}
    if "drift" not in meta:
        return ""
    reason = str(meta.get("drift_reason") or "").strip()
    if meta["drift"] != "expected" or not reason:
        raise PipelineError(
            f"column {column} of {where}{node['name']}: meta.drift must be 'expected' with a non-empty meta.drift_reason, "
            f"got drift={meta['drift']!r}, drift_reason={reason!r}"
        )
    return reason


def read_manifest(manifest: Path | None = None) -> dict[str, Any]:
    """dbt's manifest as written by the last dbt command; missing means dbt has not built anything yet."""
    manifest = manifest or manifest_path()
    if not manifest.is_file():
        raise PipelineError(f"no dbt manifest at {manifest}: run dbt build first")
    return json.loads(manifest.read_text())


def load_contract(spec: ModelSpec, client: Client, network: str, table: str | None = None, manifest: Path | None = None) -> FeatureContract:
    """The feature contract of the model type's training table (or of `table`) as built in `network`."""
    return contract_from_manifest(
        read_manifest(manifest),
        table or spec.training_table,
        lambda model: table_columns(client, network, model),
        where=f"{network}.",
        hint=f"run dbt build for network {network}",
    )


def contract_from_manifest(
    manifest: dict[str, Any], table: str, columns_of: Callable[[str], list[str]], where: str = "", hint: str = "run dbt build"
) -> FeatureContract:
    """The contract of `table` from dbt's manifest and the built columns of each model (`columns_of(model)`, empty
    when the model's table does not exist). `where` prefixes table names in messages (the network's database)."""
    nodes = manifest["nodes"]
    models = {node["name"]: node for node in nodes.values() if node["resource_type"] == "model"}
    if table not in models:
        raise PipelineError(f"dbt project has no model {table!r}; the dbt manifest is stale or foreign")
    built = columns_of(table)
    if not built:
        raise PipelineError(f"table {where}{table} does not exist: {hint}")
    columns_by_model: dict[str, set[str]] = {}

    def built_columns(model: str) -> set[str]:
        if model not in columns_by_model:
            columns_by_model[model] = set(columns_of(model))
            if not columns_by_model[model]:
                raise PipelineError(f"table {where}{model}, which {table} is built from, does not exist: {hint}")
        return columns_by_model[model]

    def producer(model: dict, column: str) -> dict:
        """The most upstream feature model (not staging) holding the column: where the feature is made."""
        for uid in model["depends_on"]["nodes"]:
            parent = nodes.get(uid)
            if parent and parent["resource_type"] == "model" and "staging" not in parent["fqn"] and column in built_columns(parent["name"]):
                return producer(parent, column)
        return model

    raw_descriptions = {
        name: column.get("description", "")
        for source in manifest.get("sources", {}).values()
        if source["name"] == "raw_features"
        for name, column in source["columns"].items()
    }
    node = models[table]
    features = []
    for column in built:
        if column in node["columns"]:
            continue  # keys and labels: the mart's yml lists them, and only them
        made_by = producer(node, column)
        family = _meta(made_by).get("feature_family")
        if not family:
            raise PipelineError(
                f"column {column} of {where}{table} comes from {made_by['name']}, which declares no meta.feature_family: "
                f"list it in {table}'s yml if it is not a feature"
            )
        described = made_by["columns"].get(column, {}).get("description", "")
        description = described or _vocabulary_description(made_by, column) or raw_descriptions.get(column, "")
        features.append(
            Feature(
                name=column,
                family=str(family),
                producer=made_by["name"],
                description=description,
                drift_reason=_expected_drift(made_by, column, where),
            )
        )
    if not features:
        raise PipelineError(f"table {where}{table} has no feature columns (every column is listed in its yml)")
    return FeatureContract(table=table, features=tuple(features))


def check_table(client: Client, network: str, contract: FeatureContract) -> None:
    """The contract's table exists in the network and has every column the contract names."""
    require_built_table(client, network, contract.table)
    present = set(table_columns(client, network, contract.table))
    missing = [name for name in contract.names if name not in present]
    if missing:
        raise PipelineError(f"table {network}.{contract.table} lacks feature columns of its contract: {', '.join(missing)}")
