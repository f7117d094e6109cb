"""Model files on disk: written atomically, loaded with their feature contract checked."""

from __future__ import annotations

import fcntl
import json
import os
import re
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import lightgbm as lgb
from clickhouse_connect.driver.client import Client

from trainer.errors import PipelineError
from trainer.features.contract import FeatureContract, load_contract
from trainer.model_types import ModelSpec

DEFAULT_OUTPUT_DIR = Path("trained_models")


@dataclass(frozen=True)
class Artifacts:
    model_path: Path
    metadata_path: Path
    report_path: Path
    card_path: Path  # the model card (Markdown); optional for completeness: models from before cards have none

    @classmethod
    def of(cls, directory: Path, stem: str) -> Artifacts:
        return cls(directory / f"{stem}.txt", directory / f"{stem}.json", directory / f"{stem}.png", directory / f"{stem}.md")

    def all(self) -> tuple[Path, Path, Path, Path]:
        return (self.model_path, self.metadata_path, self.report_path, self.card_path)

    def required(self) -> tuple[Path, Path, Path]:
        """The files without which a model is incomplete."""
        return (self.model_path, self.metadata_path, self.report_path)


def artifact_stem(model_type: str, version: int, timestamp: str) -> str:
    return f"{model_type}_v{version}_{timestamp}"


def ensure_writable(directory: Path) -> Path:
    """Create the output directory if needed and prove it is writable, before any training starts."""
    try:
        directory.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=directory, prefix=".probe-"):
            pass
    except OSError as error:
        raise PipelineError(f"output directory {directory} is not writable: {error.strerror or error}") from None
    return directory.resolve()


def _temporary_copy(path: Path, data: bytes) -> Path:
    """Write `data` to a hidden temporary file beside `path`, flushed to disk."""
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as file:
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return Path(temporary)


def write_artifacts(artifacts: Artifacts, model_text: str, metadata: dict[str, Any], report_png: bytes, card: str) -> None:
    """Write the four files under temporary names, then rename them into place; on any failure none remain."""
    payloads = {
        artifacts.model_path: model_text.encode(),
        artifacts.metadata_path: json.dumps(metadata, indent=2, sort_keys=True).encode(),
        artifacts.report_path: report_png,
        artifacts.card_path: card.encode(),
    }
    temporaries: dict[Path, Path] = {}
    try:
        for path, data in payloads.items():
            temporaries[path] = _temporary_copy(path, data)
        for path, temporary in temporaries.items():
            os.replace(temporary, path)
    except BaseException:
        for temporary in temporaries.values():
            temporary.unlink(missing_ok=True)
        remove_artifacts(artifacts)
        raise


ARTIFACT_NAME = re.compile(r"^(?P<stem>(?P<model_type>[a-z_]+)_v(?P<version>\d+)_(?P<timestamp>\d{8}_\d{6}))\.(txt|json|png|md)$")


@contextmanager
def output_dir_lock(directory: Path) -> Iterator[None]:
    """Serialise version allocation, file writing and registration among trainers sharing an output directory."""
    with open(directory / ".registry.lock", "a+") as handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


def artifacts_on_disk(directory: Path) -> dict[str, Artifacts]:
    """Every model file set in the output directory, complete or not, by model id."""
    found: dict[str, Artifacts] = {}
    for path in directory.iterdir():
        match = ARTIFACT_NAME.match(path.name)
        if match:
            stem = match.group("stem")
            found[stem] = Artifacts.of(directory, stem)
    return found


def leftover_temporaries(directory: Path) -> list[Path]:
    """Hidden temporary files of a write that never finished."""
    return [path for path in directory.glob(".*.tmp") if path.is_file()]


def remove_artifacts(artifacts: Artifacts) -> None:
    for path in artifacts.all():
        path.unlink(missing_ok=True)


def resolve_inside(output_dir: Path, model_path: str) -> Path:
    """A model path from the registry, accepted only when it lies inside the output directory."""
    root = output_dir.resolve()
    candidate = Path(model_path)
    resolved = (candidate if candidate.is_absolute() else root / candidate).resolve()
    if not resolved.is_relative_to(root):
        raise PipelineError(f"model path {model_path} lies outside the output directory {root}; refusing to load it")
    return resolved


def load_model(model_path: Path) -> tuple[lgb.Booster, dict[str, Any]]:
    """The booster and its metadata; a missing or corrupted file fails with one line."""
    metadata_path = model_path.with_suffix(".json")
    if not model_path.is_file() or not metadata_path.is_file():
        raise PipelineError(f"model files missing: {model_path} and {metadata_path} must both exist")
    try:
        metadata = json.loads(metadata_path.read_text())
        booster = lgb.Booster(model_str=model_path.read_text())
    except (ValueError, lgb.basic.LightGBMError) as error:
        raise PipelineError(f"model {model_path} is corrupted: {str(error).splitlines()[0][:160]}") from None
    if booster.feature_name() != metadata.get("feature_names"):
        raise PipelineError(f"model {model_path} does not match its metadata: the feature names differ")
    return booster, metadata


def feature_families(metadata: dict[str, Any]) -> dict[str, str]:
    """The family of each feature the model was trained on, by feature name, in the model's feature order."""
    return {feature["name"]: feature["family"] for feature in metadata["feature_contract"]["features"]}


def model_contract(client: Client, network: str, spec: ModelSpec, metadata: dict[str, Any], table: str) -> FeatureContract:
    """The contract of `table` as built now, limited to the model's feature families and checked to be the one the
    model was trained on: a rebuilt table with other columns is refused, never read with shifted features."""
    families = tuple(sorted(set(feature_families(metadata).values())))
    contract = load_contract(spec, client, network, table=table).restricted_to(families)
    check_contract(metadata, contract)
    return contract


def check_contract(metadata: dict[str, Any], contract: FeatureContract) -> None:
    """The current training table's feature contract is the one the model was trained on."""
    trained = [feature["name"] for feature in metadata["feature_contract"]["features"]]
    if trained != contract.names:
        missing = sorted(set(trained) - set(contract.names))
        added = sorted(set(contract.names) - set(trained))
        detail = (
            f"missing now: {', '.join(missing) or '-'}; new: {', '.join(added) or '-'}" if missing or added else "same columns, other order"
        )
        raise PipelineError(f"feature contract of {contract.table} no longer matches model {metadata['model_id']} ({detail})")
