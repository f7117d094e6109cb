"""Model files: the four artifacts of a model as bytes (what the warehouse keeps, registry.warehouse), their local
export written atomically, and a model parsed and checked from its text and metadata."""

from __future__ import annotations

import os
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path

import lightgbm as lgb
from clickhouse_connect.driver.client import Client

from trainer.errors import PipelineError
from trainer.features.contract import FeatureContract, load_contract
from trainer.model_types import ModelSpec
from trainer.registry.metadata import ModelMetadata

DEFAULT_OUTPUT_DIR = Path("trained_models")

# The artifacts of a model by kind, with the suffix of their exported file; a model is complete with the first three
# (models from before model cards have no card).
KINDS = {"model": ".txt", "metadata": ".json", "report": ".png", "card": ".md"}
REQUIRED_KINDS = ("model", "metadata", "report")


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

    def by_kind(self) -> dict[str, Path]:
        return dict(zip(KINDS, self.all(), strict=True))


def payloads_of(model_text: str, metadata: ModelMetadata, report_png: bytes, card: str) -> dict[str, bytes]:
    """The bytes of each artifact, by kind: what the warehouse keeps and an export writes, byte for byte."""
    return {
        "model": model_text.encode(),
        "metadata": metadata.to_json().encode(),
        "report": report_png,
        "card": card.encode(),
    }


def artifact_stem(network: str, model_type: str, version: int, timestamp: str) -> str:
    """A model's id and file stem: versions count per network and model type, so the network is part of it."""
    return f"{network}_{model_type}_v{version}_{timestamp}"


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


def write_artifacts(artifacts: Artifacts, model_text: str, metadata: ModelMetadata, report_png: bytes, card: str) -> None:
    """Write the four files under temporary names, then rename them into place; on any failure none remain."""
    write_payloads(artifacts, payloads_of(model_text, metadata, report_png, card))


def write_payloads(artifacts: Artifacts, by_kind: dict[str, bytes]) -> None:
    """Write the given artifacts (by kind) as files under temporary names, then rename them into place; on any
    failure none of the set remains."""
    paths = artifacts.by_kind()
    payloads = {paths[kind]: data for kind, data in by_kind.items()}
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


ARTIFACT_NAME = re.compile(r"^(?P<stem>(?P<network_and_type>[a-z0-9_]+)_v(?P<version>\d+)_(?P<timestamp>\d{8}_\d{6}))\.(txt|json|png|md)$")


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


def load_model(model_path: Path) -> tuple[lgb.Booster, ModelMetadata]:
    """The booster and its metadata from local files; a missing or corrupted file fails with one line."""
    metadata_path = model_path.with_suffix(".json")
    if not model_path.is_file() or not metadata_path.is_file():
        raise PipelineError(f"model files missing: {model_path} and {metadata_path} must both exist")
    return parse_model(model_path.read_bytes(), metadata_path.read_bytes(), str(model_path))


def parse_model(model_text: bytes, metadata_json: bytes, name: str) -> tuple[lgb.Booster, ModelMetadata]:
    """The booster and its metadata from their bytes, checked to agree; `name` says which model in the one-line
    failure."""
    metadata = parse_metadata(metadata_json, name)
    try:
        booster = lgb.Booster(model_str=model_text.decode())
    except (ValueError, lgb.basic.LightGBMError) as error:
        raise PipelineError(f"model {name} is corrupted: {str(error).splitlines()[0][:160]}") from None
    if booster.feature_name() != list(metadata.feature_names):
        raise PipelineError(f"model {name} does not match its metadata: the feature names differ")
    return booster, metadata


def parse_metadata(metadata_json: bytes, name: str) -> ModelMetadata:
    """The typed record of a model's metadata JSON (registry.metadata); what it cannot read fails in one line."""
    return ModelMetadata.from_json(metadata_json, name)


def feature_families(metadata: ModelMetadata) -> dict[str, str]:
    """The family of each feature the model was trained on, by feature name, in the model's feature order."""
    return metadata.feature_contract.families()


def model_contract(client: Client, network: str, spec: ModelSpec, metadata: ModelMetadata, table: str) -> FeatureContract:
    """The contract of `table` as built now, limited to the model's feature families and checked to be the one the
    model was trained on: a rebuilt table with other columns is refused, never read with shifted features."""
    families = tuple(sorted(set(feature_families(metadata).values())))
    contract = load_contract(spec, client, network, table=table).restricted_to(families)
    check_contract(metadata, contract)
    return contract


def check_contract(metadata: ModelMetadata, contract: FeatureContract) -> None:
    """The current training table's feature contract is the one the model was trained on."""
    trained = metadata.feature_contract.names()
    if trained != contract.names:
        missing = sorted(set(trained) - set(contract.names))
        added = sorted(set(contract.names) - set(trained))
        detail = (
            f"missing now: {', '.join(missing) or '-'}; new: {', '.join(added) or '-'}" if missing or added else "same columns, other order"
        )
        raise PipelineError(f"feature contract of {contract.table} no longer matches model {metadata.model_id} ({detail})")
