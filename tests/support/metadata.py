"""Model metadata for tests: the version-1 layout the trainer wrote before the typed record (a checked-in fixture,
trimmed to three features), and a record built from it with chosen fields replaced."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

from trainer.registry.metadata import ContractRecord, ModelMetadata

V1_FIXTURE = Path(__file__).parents[1] / "unit" / "fixtures" / "metadata_v1.json"


def v1_metadata_dict() -> dict[str, Any]:
    """A model's metadata exactly as the trainer wrote it before `schema_version` (a fresh copy per call)."""
    return json.loads(V1_FIXTURE.read_text())


def sample_metadata(features: list[dict[str, Any]] | None = None, **changes: Any) -> ModelMetadata:
    """A complete record; `features` replaces the contract's features (and the feature names with theirs)."""
    record = ModelMetadata.from_dict(v1_metadata_dict(), "fixture")
    if features is not None:
        contract = ContractRecord(table=record.feature_contract.table, fingerprint="test", features=tuple(features))
        record = replace(record, feature_contract=contract, feature_names=tuple(contract.names()))
    return replace(record, **changes)
