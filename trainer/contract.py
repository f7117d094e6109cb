"""The feature contract: which columns of a training table are features, of which family, made by which dbt model.

dbt is the source of truth: every feature column of a training table carries `meta: {feature: true, family: ...}`
in the table's yml. The trainer reads those from dbt's manifest, never from a list of its own.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path

from trainer.config import project_dir
from trainer.errors import PipelineError

MODEL_TYPES = ("alert_scorer", "alert_ranker", "cluster_scorer")

TRAINING_TABLES = {
    "alert_scorer": "training_alerts",
    "alert_ranker": "training_alerts",
    "cluster_scorer": "training_clusters",
}

# What each model type scores: every row of the window, labelled or not.
SCORING_TABLES = {
    "alert_scorer": "scoring_alerts",
    "alert_ranker": "scoring_alerts",
    "cluster_scorer": "scoring_clusters",
}

# The row identifier of each table (entity and label columns are shared).
KEY_COLUMNS = {
    "training_alerts": "alert_id",
    "training_clusters": "cluster_id",
    "scoring_alerts": "alert_id",
    "scoring_clusters": "cluster_id",
}


@dataclass(frozen=True)
class Feature:
    name: str
    family: str
    producer: str  # the dbt model that computes the column


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

    def to_json(self) -> list[dict[str, str]]:
        return [{"name": f.name, "family": f.family, "producer": f.producer} for f in self.features]


def manifest_path() -> Path:
    """dbt's manifest, where dbt wrote it: DBT_TARGET_PATH (honoured by dbt too), else target/."""
    return project_dir() / os.environ.get("DBT_TARGET_PATH", "target") / "manifest.json"


def load_contract(model_type: str, manifest: Path | None = None, table: str | None = None) -> FeatureContract:
    """The feature contract of the model type's training table (or of `table`), from dbt's manifest."""
    if model_type not in TRAINING_TABLES:
        raise PipelineError(f"unknown model type {model_type!r}; choose one of {', '.join(MODEL_TYPES)}")
    manifest = manifest or manifest_path()
    if not manifest.is_file():
        raise PipelineError(f"no dbt manifest at {manifest}: run dbt build first")
    nodes = json.loads(manifest.read_text())["nodes"]
    table = table or TRAINING_TABLES[model_type]
    models = {node["name"]: node for node in nodes.values() if node["resource_type"] == "model"}
    if table not in models:
        raise PipelineError(f"dbt project has no model {table!r}; the manifest at {manifest} is stale or foreign")
    node = models[table]

    def parents(model: dict) -> list[dict]:
        return [
            models[nodes[uid]["name"]] for uid in model["depends_on"]["nodes"] if uid in nodes and nodes[uid]["resource_type"] == "model"
        ]

    def producer(model: dict, column: str) -> str:
        """The most upstream feature model (not staging) declaring the column: where the feature is made."""
        for parent in parents(model):
            if column in parent["columns"] and "staging" not in parent["fqn"]:
                return producer(parent, column)
        return model["name"]

    features = []
    for column in node["columns"].values():
        meta = column.get("meta") or column.get("config", {}).get("meta") or {}
        if meta.get("feature"):
            family = str(meta.get("family", "unknown"))
            features.append(Feature(name=column["name"], family=family, producer=producer(node, column["name"])))
    if not features:
        raise PipelineError(f"model {table!r} declares no feature columns (meta: {{feature: true}}) in the manifest")
    return FeatureContract(table=table, features=tuple(features))
