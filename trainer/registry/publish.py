"""Publishing a model: its artifacts and its registry row appear together in the warehouse, or not at all.

1. The version is claimed in the warehouse (registry.table.claim_version): distinct across processes and hosts,
   without a lock.
2. The four artifacts are inserted into `model_artifacts` and the server hashes what it stored
   (registry.warehouse.write_artifact_rows).
3. The `trained_models` row, pinning those checksums, is inserted: the commit. It is checked once more that the
   artifacts are still there (an orphan cleanup of another publisher could only remove them after a stall of an hour).
4. The files are exported to the output directory (`<model_id>.txt`, `.json`, `.png`, `.md`): a copy for the
   training host; nothing loads a model from them.

A failure before the commit deletes the model's artifact rows; a process killed there leaves them without a
registry row, where no reader looks, and the next publish removes them (registry.warehouse.remove_orphans).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from clickhouse_connect.driver.client import Client
from loguru import logger

from trainer.errors import PipelineError, first_line
from trainer.registry import table as registry
from trainer.registry import warehouse
from trainer.registry.artifacts import (
    Artifacts,
    artifact_stem,
    artifacts_on_disk,
    leftover_temporaries,
    load_model,
    payloads_of,
    remove_artifacts,
    write_payloads,
)
from trainer.registry.metadata import ModelMetadata
from trainer.store.connection import qualified_name
from trainer.store.settings import StoreSettings

# Test hook: when set, a publish writes the model id to this file and waits just before its commit insert, so that a
# test can signal the process at that point.
PAUSE_BEFORE_COMMIT = "AML_TEST_PAUSE_BEFORE_COMMIT"


def publish_model(
    client: Client,
    settings: StoreSettings,
    output_dir: Path,
    model_type: str,
    network: str,
    model_text: str,
    metadata_for: Callable[[str, int, datetime, Path], ModelMetadata],
    report_for: Callable[[str], bytes],
    card_for: Callable[[ModelMetadata], str],
) -> tuple[str, Path, ModelMetadata]:
    """Claim the next version, build metadata (metadata_for(model_id, version, created_at, report_path)), report
    (report_for(model_id)) and model card (card_for(metadata), also kept in the metadata as `model_card`), write them to
    the warehouse and register the model; then export the files to `output_dir`. Returns its id, exported model path
    and metadata."""
    database = settings.registry_database
    registry.ensure_registry(client, database)
    warehouse.remove_orphans(client, database)
    tidy_output_dir(client, database, output_dir)
    version = registry.claim_version(client, database, model_type, network)
    created_at = datetime.now(UTC)
    stem = artifact_stem(network, model_type, version, created_at.strftime("%Y%m%d_%H%M%S"))
    files = Artifacts.of(output_dir, stem)
    metadata = metadata_for(stem, version, created_at, files.report_path)
    card = card_for(metadata)
    metadata = replace(metadata, model_card=card)  # the card renders the rest of the record, then travels in it
    payloads = payloads_of(model_text, metadata, report_for(stem), card)
    with warehouse.publishing(stem):
        try:
            checksums = warehouse.write_artifact_rows(client, database, stem, payloads)
            _pause_before_commit(stem)
            registry.insert(client, database, registry.row_from_metadata(metadata, files.model_path, checksums))
            _check_committed(client, database, stem, checksums)
        except BaseException:
            _discard(client, database, stem)
            raise
    logger.bind(model_id=stem, kinds=", ".join(sorted(checksums))).info("model artifacts and registry row written to the warehouse")
    export_files(files, payloads, stem)
    return stem, files.model_path, metadata


def export_files(files: Artifacts, payloads: dict[str, bytes], model_id: str) -> None:
    """The local export after the commit; a failure says the model is registered and how to export it again."""
    try:
        files.model_path.parent.mkdir(parents=True, exist_ok=True)
        write_payloads(files, payloads)
    except OSError as error:
        raise PipelineError(
            f"model {model_id} is registered, but its files could not be written to {files.model_path.parent}: "
            f"{error.strerror or error}; export them with `python -m trainer.registry export {model_id} --to DIR`"
        ) from None


def reuse_registered(client: Client, settings: StoreSettings, row: dict[str, Any], output_dir: Path) -> tuple[Path, ModelMetadata] | None:
    """A registered model for reuse by a training run: its files exported from the warehouse into `output_dir`
    (model path and metadata). A model registered before the warehouse kept artifacts is reused only when its files
    are complete in `output_dir`; None otherwise."""
    if not registry.pinned_checksums(row):
        model_path = Path(row["model_path"])
        if model_path.parent.resolve() == output_dir.resolve() and model_path.is_file() and model_path.with_suffix(".json").is_file():
            return model_path, load_model(model_path)[1]
        return None
    try:
        payloads = warehouse.read_artifacts(client, settings.registry_database, row)
    except PipelineError as error:  # a damaged model is not reused: this run trains a new one
        logger.bind(model_id=row["model_id"]).warning(f"not reused: {error}")
        return None
    files = Artifacts.of(output_dir, row["model_id"])
    export_files(files, payloads, row["model_id"])
    return files.model_path, warehouse.parse_metadata(payloads["metadata"], row["model_id"])


def _pause_before_commit(model_id: str) -> None:
    marker = os.environ.get(PAUSE_BEFORE_COMMIT)
    if marker:
        Path(marker).write_text(model_id)
        time.sleep(120)


def _check_committed(client: Client, database: str, model_id: str, checksums: dict[str, str]) -> None:
    """After the commit the artifacts must still be there; if not, the registry row is taken back."""
    try:
        warehouse.verify_artifact_rows(client, database, model_id, checksums)
    except PipelineError as error:
        client.command(
            f"ALTER TABLE {qualified_name(database, registry.REGISTRY_TABLE)} DELETE WHERE model_id = {{m:String}}",
            parameters={"m": model_id},
            settings={"mutations_sync": 2},
        )
        raise PipelineError(f"{error}; its artifacts vanished while it was published, so it was not registered: train it again") from None


def _discard(client: Client, database: str, model_id: str) -> None:
    """Remove the artifact rows of a publish that did not commit; what cannot be removed now is an orphan the next
    publish removes."""
    try:
        warehouse.discard_artifact_rows(client, database, [model_id])
    except Exception as error:  # the original failure is what the caller must see
        logger.bind(model_id=model_id).warning(f"artifacts of an uncommitted publish left for the next publish: {first_line(error)}")


def tidy_output_dir(client: Client, database: str, output_dir: Path) -> None:
    """Remove what an interrupted export or a crashed run of the file-based registry left in the output directory:
    temporary files, and incomplete file sets of models that are not registered."""
    if not output_dir.is_dir():
        return
    for temporary in leftover_temporaries(output_dir):
        temporary.unlink(missing_ok=True)
        logger.bind(path=str(temporary)).warning("removed a temporary file left by an interrupted run")
    on_disk = artifacts_on_disk(output_dir)
    if not on_disk:
        return
    registered = {row["model_id"] for row in registry.list_models(client, database)}
    for model_id, files in on_disk.items():
        if model_id not in registered and not all(path.is_file() for path in files.required()):
            remove_artifacts(files)
            logger.bind(model_id=model_id).warning("removed the incomplete files of a model that was never registered")
