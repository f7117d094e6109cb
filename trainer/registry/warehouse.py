"""Model artifacts in the warehouse: written, checked by the server, read back by any host, cleaned when orphaned.

A model's four artifacts (LightGBM model text, metadata JSON, report PNG, model card) are rows of `model_artifacts`
(registry.table) keyed by model id and kind, each with its sha256. Publishing writes them first and has the server
hash what it stored; only then is the `trained_models` row written, pinning those checksums: the commit record. Every
read starts from a registry row and checks each artifact against the checksum the row pins, so artifact rows without
a registry row are never read; the next publish removes them once their writer is known to be gone (a dead process
of this host) or they are older than ORPHAN_GRACE. Models registered before the warehouse kept artifacts pin none:
they load from their files at the recorded path inside the output directory, or fail in one line that names
`python -m trainer.registry import-files DIR`, which uploads them (import_files).
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import lightgbm as lgb
from clickhouse_connect.driver.client import Client
from loguru import logger

from trainer.errors import PipelineError
from trainer.registry.artifacts import (
    KINDS,
    REQUIRED_KINDS,
    Artifacts,
    artifacts_on_disk,
    ensure_writable,
    load_model,
    parse_metadata,
    parse_model,
    resolve_inside,
    write_payloads,
)
from trainer.registry.metadata import ModelMetadata
from trainer.registry.table import ARTIFACTS_TABLE, REGISTRY_TABLE, list_models, pinned_checksums, writer_identity
from trainer.store.connection import qualified_name

ORPHAN_GRACE_SECONDS = 3600  # a publish takes seconds between its artifact rows and its registry row
IMPORT_HINT = "python -m trainer.registry import-files DIR"

_in_flight: set[str] = set()  # model ids this process is publishing now: their artifact rows are not orphans
_in_flight_lock = threading.Lock()


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@contextmanager
def publishing(model_id: str) -> Iterator[None]:
    """Mark `model_id` as being published by this process, so that its own orphan cleanup leaves its rows alone."""
    with _in_flight_lock:
        _in_flight.add(model_id)
    try:
        yield
    finally:
        with _in_flight_lock:
            _in_flight.discard(model_id)


def write_artifact_rows(client: Client, database: str, model_id: str, payloads: dict[str, bytes]) -> dict[str, str]:
    """Insert one row per artifact and have the server hash what it stored; returns the sha256 by kind. Fails in one
    line when the warehouse does not hold exactly what was written."""
    checksums = {kind: sha256(data) for kind, data in payloads.items()}
    writer = writer_identity()
    client.insert(
        qualified_name(database, ARTIFACTS_TABLE),
        [[model_id, kind, data, checksums[kind], len(data), writer] for kind, data in payloads.items()],
        column_names=["model_id", "kind", "content", "sha256", "size", "writer"],
    )
    verify_artifact_rows(client, database, model_id, checksums)
    return checksums


def verify_artifact_rows(client: Client, database: str, model_id: str, checksums: dict[str, str]) -> None:
    """The warehouse holds each artifact of `model_id` with the given sha256, hashed by the server from the stored
    bytes (nothing is downloaded)."""
    stored = client.query(
        f"SELECT kind, lower(hex(SHA256(content))) FROM {qualified_name(database, ARTIFACTS_TABLE)} WHERE model_id = {{m:String}}",
        parameters={"m": model_id},
    ).result_rows
    held: dict[str, set[str]] = {}
    for kind, digest in stored:
        held.setdefault(kind, set()).add(digest)
    for kind, expected in sorted(checksums.items()):
        if expected not in held.get(kind, set()):
            found = ", ".join(sorted(digest[:12] for digest in held.get(kind, set()))) or "nothing"
            raise PipelineError(f"model {model_id}: the warehouse holds {found} for its {kind} artifact, not the {expected[:12]} written")


def discard_artifact_rows(client: Client, database: str, model_ids: list[str]) -> None:
    """Delete the artifact rows of models that have no registry row. The condition is evaluated by the mutation
    itself, so a model committed meanwhile keeps its artifacts."""
    if not model_ids:
        return
    client.command(
        f"ALTER TABLE {qualified_name(database, ARTIFACTS_TABLE)} DELETE WHERE model_id IN {{ids:Array(String)}} "
        f"AND model_id NOT IN (SELECT model_id FROM {qualified_name(database, REGISTRY_TABLE)})",
        parameters={"ids": model_ids},
        settings={"mutations_sync": 2, "allow_nondeterministic_mutations": 1},
    )


def _writer_is_gone(writer: str, model_id: str) -> bool:
    """Whether the process that wrote an orphan is known to have ended: a process of this host (and process
    namespace) that no longer runs, or this very process when it is not publishing that model."""
    host, namespace, pid = (writer.split("|") + ["", "", ""])[:3]
    mine_host, mine_namespace, mine_pid = writer_identity().split("|")
    if (host, namespace) != (mine_host, mine_namespace) or not pid.isdigit():
        return False
    if pid == mine_pid:
        with _in_flight_lock:
            return model_id not in _in_flight
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


def remove_orphans(client: Client, database: str) -> list[str]:
    """Remove the artifact rows left without a registry row by publishes that stopped before their commit: those of
    a writer known to be gone at once, any other after ORPHAN_GRACE_SECONDS (it may be a publish running elsewhere).
    Returns the model ids removed."""
    rows = client.query(
        f"SELECT model_id, any(writer), min(created_at) < now64(6) - toIntervalSecond({{grace:UInt32}}) "
        f"FROM {qualified_name(database, ARTIFACTS_TABLE)} "
        f"WHERE model_id NOT IN (SELECT model_id FROM {qualified_name(database, REGISTRY_TABLE)}) GROUP BY model_id",
        parameters={"grace": ORPHAN_GRACE_SECONDS},
    ).result_rows
    orphans = sorted(model_id for model_id, writer, stale in rows if stale or _writer_is_gone(writer, model_id))
    if orphans:
        discard_artifact_rows(client, database, orphans)
        logger.bind(models=", ".join(orphans)).warning(f"removed the artifacts of {len(orphans)} model(s) whose publish never committed")
    return orphans


def read_artifacts(client: Client, database: str, row: dict[str, Any], kinds: tuple[str, ...] | None = None) -> dict[str, bytes]:
    """The artifacts of a registered model (those of `kinds`, default every one its row pins), each checked against
    the sha256 its registry row pins. A model whose row pins none (registered before) fails naming the import."""
    model_id, pinned = row["model_id"], pinned_checksums(row)
    if not pinned:
        raise PipelineError(
            f"model {model_id} was registered before artifacts were kept in the warehouse and has none there: "
            f"upload its files with `{IMPORT_HINT}` on a host that has them"
        )
    wanted = [kind for kind in (kinds or tuple(pinned)) if kind in pinned]
    result = client.query(
        f"SELECT kind, content FROM {qualified_name(database, ARTIFACTS_TABLE)} "
        "WHERE model_id = {m:String} AND kind IN {k:Array(String)}",
        parameters={"m": model_id, "k": wanted},
        column_formats={"content": "bytes"},
    )
    found: dict[str, list[bytes]] = {}
    for kind, content in result.result_rows:
        found.setdefault(kind, []).append(content)
    payloads = {}
    for kind in wanted:
        intact = [content for content in found.get(kind, []) if sha256(content) == pinned[kind]]
        if intact:
            payloads[kind] = intact[0]
            continue
        if found.get(kind):
            actual = sha256(found[kind][0])
            raise PipelineError(
                f"model {model_id} is corrupted in the warehouse: its {kind} artifact has sha256 {actual[:12]}, its registry row pins "
                f"{pinned[kind][:12]}; upload an intact copy with `{IMPORT_HINT}` or train it again"
            )
        raise PipelineError(
            f"model {model_id} is incomplete in the warehouse: no {kind} artifact in {database}.{ARTIFACTS_TABLE}; "
            f"upload it with `{IMPORT_HINT}` or train it again"
        )
    for kind in kinds or ():
        if kind not in payloads and kind in REQUIRED_KINDS:
            raise PipelineError(f"model {model_id} pins no {kind} artifact in its registry row")
    return payloads


def _legacy_files(row: dict[str, Any], output_dir: Path) -> Path:
    """The model file of a model registered before the warehouse kept artifacts: at its recorded path, accepted
    only inside the output directory; otherwise one line that says how to migrate it."""
    model_id = row["model_id"]
    try:
        model_path = resolve_inside(output_dir, row["model_path"])
    except PipelineError:
        model_path = None
    if model_path is None or not model_path.is_file() or not model_path.with_suffix(".json").is_file():
        raise PipelineError(
            f"model {model_id} was registered before artifacts were kept in the warehouse and its files are not at "
            f"{row['model_path']} inside {output_dir.resolve()}: upload them with `{IMPORT_HINT}` on the host that has them"
        )
    logger.bind(model_id=model_id, path=str(model_path)).warning(f"loading a model from local files; upload it with `{IMPORT_HINT}`")
    return model_path


def load_registered(client: Client, database: str, row: dict[str, Any], output_dir: Path) -> tuple[lgb.Booster, ModelMetadata]:
    """The booster and metadata of a registered model, from the warehouse (checked against its registry row); a model
    registered before the warehouse kept artifacts from its local files (see _legacy_files)."""
    if not pinned_checksums(row):
        return load_model(_legacy_files(row, output_dir))
    payloads = read_artifacts(client, database, row, ("model", "metadata"))
    return parse_model(payloads["model"], payloads["metadata"], row["model_id"])


def load_registered_metadata(client: Client, database: str, row: dict[str, Any], output_dir: Path) -> ModelMetadata:
    """The metadata of a registered model, without parsing its booster."""
    if not pinned_checksums(row):
        return parse_metadata(_legacy_files(row, output_dir).with_suffix(".json").read_bytes(), row["model_id"])
    return parse_metadata(read_artifacts(client, database, row, ("metadata",))["metadata"], row["model_id"])


def export_model(client: Client, database: str, row: dict[str, Any], directory: Path) -> Artifacts:
    """Write a registered model's artifacts from the warehouse into `directory` as the files training writes
    (<model_id>.txt, .json, .png, .md), atomically."""
    payloads = read_artifacts(client, database, row)
    files = Artifacts.of(ensure_writable(directory), row["model_id"])
    write_payloads(files, payloads)
    return files


@dataclass
class ImportOutcome:
    imported: list[str] = field(default_factory=list)
    already: list[str] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)  # model id -> why


def import_files(client: Client, database: str, directory: Path) -> ImportOutcome:
    """Upload the local files of registered models into the warehouse: models registered before it kept artifacts
    (their rows then pin the uploaded checksums) and models whose warehouse copy is damaged (when the files match
    what their rows pin). File sets of unregistered or unknown models, or incomplete ones, are skipped and named."""
    if not directory.is_dir():
        raise PipelineError(f"{directory} is not a directory")
    registered = {row["model_id"]: row for row in list_models(client, database)}
    outcome = ImportOutcome()
    for model_id, files in sorted(artifacts_on_disk(directory).items()):
        row = registered.get(model_id)
        if row is None:
            outcome.skipped[model_id] = "not registered"
            continue
        pinned = pinned_checksums(row)
        if pinned:
            try:
                read_artifacts(client, database, row)
                outcome.already.append(model_id)
                continue
            except PipelineError:
                pass  # damaged in the warehouse: repaired below from files that match the pins
        paths = files.by_kind()
        if not all(paths[kind].is_file() for kind in REQUIRED_KINDS):
            outcome.skipped[model_id] = "incomplete: " + ", ".join(paths[kind].name for kind in REQUIRED_KINDS if not paths[kind].is_file())
            continue
        payloads = {kind: path.read_bytes() for kind, path in paths.items() if path.is_file()}
        try:
            parse_model(payloads["model"], payloads["metadata"], model_id)
            if parse_metadata(payloads["metadata"], model_id).model_id != model_id:
                raise PipelineError(f"the metadata of {model_id} names another model")
        except PipelineError as error:
            outcome.skipped[model_id] = str(error)
            continue
        if pinned:
            mismatched = [kind for kind, digest in pinned.items() if kind not in payloads or sha256(payloads[kind]) != digest]
            if mismatched:
                outcome.skipped[model_id] = f"the files differ from what its registry row pins ({', '.join(mismatched)})"
                continue
            payloads = {kind: payloads[kind] for kind in pinned}
        checksums = write_artifact_rows(client, database, model_id, payloads)
        if not pinned:
            client.command(
                f"ALTER TABLE {qualified_name(database, REGISTRY_TABLE)} UPDATE artifacts_json = {{pins:String}} "
                "WHERE model_id = {m:String} AND artifacts_json = ''",
                parameters={"pins": json.dumps(checksums, sort_keys=True), "m": model_id},
                settings={"mutations_sync": 2},
            )
        outcome.imported.append(model_id)
        logger.bind(model_id=model_id, kinds=", ".join(sorted(checksums))).info("model files uploaded to the warehouse")
    return outcome


__all__ = [
    "KINDS",
    "ImportOutcome",
    "discard_artifact_rows",
    "export_model",
    "import_files",
    "load_registered",
    "load_registered_metadata",
    "publishing",
    "read_artifacts",
    "remove_orphans",
    "verify_artifact_rows",
    "write_artifact_rows",
]
