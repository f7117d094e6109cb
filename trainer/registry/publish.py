"""Publishing a model: its files and its registry row appear together or not at all.

Version allocation, writing and registration run under a lock on the output directory, so trainers sharing it
get distinct versions. The files are written atomically (registry.artifacts); a failure to register removes
them. A run killed between the two leaves files without a row: the next publish in that directory finishes or
undoes it (recover_orphans)."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from clickhouse_connect.driver.client import Client
from loguru import logger

from trainer.registry import table as registry
from trainer.registry.artifacts import (
    Artifacts,
    artifact_stem,
    artifacts_on_disk,
    leftover_temporaries,
    output_dir_lock,
    remove_artifacts,
    write_artifacts,
)
from trainer.store.settings import StoreSettings


def publish_model(
    client: Client,
    settings: StoreSettings,
    output_dir: Path,
    model_type: str,
    network: str,
    model_text: str,
    metadata_for: Callable[[str, int, str, Path], dict[str, Any]],
    report_for: Callable[[str], bytes],
    card_for: Callable[[dict[str, Any]], str],
) -> tuple[str, Path, dict[str, Any]]:
    """Allocate the next version, write model, metadata (metadata_for(model_id, version, created_at, report_path)),
    report (report_for(model_id)) and model card (card_for(metadata), also kept in the metadata as `model_card`),
    and register the model. Returns its id, model path and metadata."""
    with output_dir_lock(output_dir):
        recover_orphans(client, settings, output_dir)
        version = registry.next_version(client, settings.registry_database, model_type, network)
        created_at = datetime.now(UTC)
        stem = artifact_stem(model_type, version, created_at.strftime("%Y%m%d_%H%M%S"))
        artifacts = Artifacts.of(output_dir, stem)
        metadata = metadata_for(stem, version, created_at.isoformat(), artifacts.report_path)
        metadata["model_card"] = card = card_for(metadata)
        write_artifacts(artifacts, model_text, metadata, report_for(stem), card)
        try:
            registry.insert(client, settings.registry_database, registry.row_from_metadata(metadata, artifacts.model_path))
        except BaseException:
            remove_artifacts(artifacts)
            raise
    return stem, artifacts.model_path, metadata


def recover_orphans(client: Client, settings: StoreSettings, output_dir: Path) -> None:
    """Finish or undo what a crashed run left in the output directory.

    A complete file set (model, metadata, report) without a registry row was saved by a run that died
    before registering it: it is registered now from its metadata. An incomplete set, or leftover temporary
    files, cannot be trusted and is removed.
    """
    registered = {row["model_id"] for row in registry.list_models(client, settings.registry_database)}
    for temporary in leftover_temporaries(output_dir):
        temporary.unlink(missing_ok=True)
        logger.bind(path=str(temporary)).warning("removed a temporary file left by an interrupted run")
    for model_id, artifacts in artifacts_on_disk(output_dir).items():
        if model_id in registered:
            continue
        complete = all(path.is_file() for path in artifacts.required())
        metadata = None
        if complete:
            try:
                metadata = json.loads(artifacts.metadata_path.read_text())
            except ValueError:
                metadata = None
        if metadata is None or metadata.get("model_id") != model_id:
            remove_artifacts(artifacts)
            logger.bind(model_id=model_id).warning("removed the incomplete files of a model that was never registered")
            continue
        registry.insert(client, settings.registry_database, registry.row_from_metadata(metadata, artifacts.model_path))
        logger.bind(model_id=model_id).warning("registered a complete model whose run stopped before registering it")
