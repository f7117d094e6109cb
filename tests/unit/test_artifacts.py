"""Model files: the artifacts as bytes, their atomic export, what a crashed run leaves, loading with checks; who
wrote an orphan artifact row."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import lightgbm as lgb
import numpy as np
import pytest

from tests.support.metadata import sample_metadata
from trainer.errors import PipelineError
from trainer.features.contract import Feature, FeatureContract
from trainer.registry import artifacts, warehouse
from trainer.registry.artifacts import (
    KINDS,
    Artifacts,
    artifacts_on_disk,
    check_contract,
    leftover_temporaries,
    load_model,
    parse_model,
    payloads_of,
    resolve_inside,
    write_artifacts,
    write_payloads,
)
from trainer.registry.table import pinned_checksums, row_from_metadata, writer_identity


def files(directory: Path, stem: str = "alert_scorer_v1_20250101_000000") -> Artifacts:
    return Artifacts.of(directory, stem)


def small_model() -> lgb.Booster:
    rng = np.random.default_rng(0)
    features = rng.normal(size=(200, 2))
    label = (features[:, 0] > 0).astype(int)
    data = lgb.Dataset(features, label=label, feature_name=["f0", "f1"], params={"verbosity": -1})
    return lgb.train({"objective": "binary", "verbosity": -1, "num_threads": 1, "seed": 1}, data, num_boost_round=3)


def test_four_files_are_written_or_none(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    written = files(tmp_path)
    write_artifacts(written, "model", sample_metadata(model_id="m"), b"png", "# card")
    assert all(path.is_file() for path in written.all()) and not leftover_temporaries(tmp_path)
    assert json.loads(written.metadata_path.read_text())["model_id"] == "m"

    failing = files(tmp_path, "alert_scorer_v2_20250101_000001")
    real, calls = artifacts._temporary_copy, []

    def fail_on_third(path: Path, data: bytes) -> Path:
        calls.append(path)
        if len(calls) == 3:
            raise OSError("disk full")
        return real(path, data)

    monkeypatch.setattr(artifacts, "_temporary_copy", fail_on_third)
    with pytest.raises(OSError, match="disk full"):
        write_artifacts(failing, "model", sample_metadata(model_id="m2"), b"png", "# card")
    assert not any(path.exists() for path in failing.all()) and not leftover_temporaries(tmp_path)
    assert set(artifacts_on_disk(tmp_path)) == {"alert_scorer_v1_20250101_000000"}


def test_files_found_on_disk_by_model_id(tmp_path: Path) -> None:
    (tmp_path / "cluster_scorer_v3_20251231_235959.txt").write_text("x")
    (tmp_path / "notes.txt").write_text("not a model")
    (tmp_path / ".cluster_scorer_v3_20251231_235959.txt.abc.tmp").write_text("half")
    found = artifacts_on_disk(tmp_path)
    assert list(found) == ["cluster_scorer_v3_20251231_235959"]
    assert found["cluster_scorer_v3_20251231_235959"].report_path.name == "cluster_scorer_v3_20251231_235959.png"
    assert [path.name for path in leftover_temporaries(tmp_path)] == [".cluster_scorer_v3_20251231_235959.txt.abc.tmp"]


def test_model_paths_must_lie_inside_the_output_directory(tmp_path: Path) -> None:
    assert resolve_inside(tmp_path, "m.txt") == (tmp_path / "m.txt").resolve()
    assert resolve_inside(tmp_path, str(tmp_path / "sub" / "m.txt")) == (tmp_path / "sub" / "m.txt").resolve()
    for outside in ("../m.txt", "/etc/passwd", str(tmp_path / ".." / "m.txt")):
        with pytest.raises(PipelineError, match="outside the output directory"):
            resolve_inside(tmp_path, outside)


def test_load_model_checks_files_and_names(tmp_path: Path) -> None:
    booster = small_model()
    model = tmp_path / "m.txt"
    with pytest.raises(PipelineError, match="model files missing"):
        load_model(model)
    model.write_text(booster.model_to_string())
    model.with_suffix(".json").write_text(sample_metadata([{"name": "f0", "family": "alert"}, {"name": "f1", "family": "alert"}]).to_json())
    loaded, metadata = load_model(model)
    assert loaded.feature_name() == ["f0", "f1"] and metadata.feature_names == ("f0", "f1")
    model.with_suffix(".json").write_text(sample_metadata(feature_names=("f1", "f0")).to_json())
    with pytest.raises(PipelineError, match="does not match its metadata"):
        load_model(model)
    model.write_text("tree\nnot a model")
    with pytest.raises(PipelineError, match="is corrupted"):
        load_model(model)


def test_contract_check_names_what_changed() -> None:
    metadata = sample_metadata([{"name": "a", "family": "alert"}, {"name": "b", "family": "alert"}], model_id="m")
    same = FeatureContract("scoring_alerts", (Feature("a", "alert", "p"), Feature("b", "alert", "p")))
    check_contract(metadata, same)
    with pytest.raises(PipelineError, match="missing now: b; new: c"):
        check_contract(metadata, FeatureContract("scoring_alerts", (Feature("a", "alert", "p"), Feature("c", "alert", "p"))))
    with pytest.raises(PipelineError, match="same columns, other order"):
        check_contract(metadata, FeatureContract("scoring_alerts", (Feature("b", "alert", "p"), Feature("a", "alert", "p"))))


def test_the_exported_files_are_the_warehouse_bytes(tmp_path: Path) -> None:
    png = b"\x89PNG\r\n\x1a\n" + bytes(range(256))
    metadata = sample_metadata(model_id="m", metrics={"b": 1, "a": [1.5]})
    payloads = payloads_of("model text", metadata, png, "# card ü")
    assert list(payloads) == list(KINDS)
    assert json.loads(payloads["metadata"]) == metadata.to_dict() and payloads["card"] == "# card ü".encode()
    written = files(tmp_path)
    write_payloads(written, payloads)
    assert {kind: path.read_bytes() for kind, path in written.by_kind().items()} == payloads
    write_artifacts(files(tmp_path, "alert_scorer_v2_20250101_000000"), "model text", metadata, png, "# card ü")
    assert files(tmp_path, "alert_scorer_v2_20250101_000000").metadata_path.read_bytes() == payloads["metadata"], "one serialisation"


def test_a_model_parses_from_its_bytes_or_fails_in_one_line_naming_it() -> None:
    text = small_model().model_to_string().encode()
    record = sample_metadata([{"name": "f0", "family": "alert"}, {"name": "f1", "family": "alert"}])
    booster, metadata = parse_model(text, record.to_json().encode(), "m1")
    assert booster.num_trees() == 3 and metadata == record
    for model, meta, message in (
        (text, b"{not json", "model m1 is corrupted: its metadata is not JSON"),
        (text, b"[1, 2]", "model m1 is corrupted: its metadata is not a JSON object"),
        (b"tree\nnot a model", record.to_json().encode(), "model m1 is corrupted"),
        (b"\xff\xfe", record.to_json().encode(), "model m1 is corrupted"),
        (text, replace(record, feature_names=("f1", "f0")).to_json().encode(), "model m1 does not match its metadata"),
        (text, b'{"feature_names": ["f0", "f1"]}', "model m1: metadata lacks field `model_id`"),
    ):
        with pytest.raises(PipelineError, match=message) as failure:
            parse_model(model, meta, "m1")
        assert len(str(failure.value).splitlines()) == 1


def test_the_registry_row_pins_the_checksums() -> None:
    metadata = sample_metadata(model_id="m")
    pinned = row_from_metadata(metadata, None, {"model": "ab", "metadata": "cd"})
    assert pinned.model_path == "" and pinned_checksums({"artifacts_json": pinned.artifacts_json}) == {"model": "ab", "metadata": "cd"}
    legacy = row_from_metadata(metadata, Path("/models/m.txt"))
    assert (legacy.artifacts_json, legacy.report_path) == ("", "/models/m.png") and pinned_checksums({"artifacts_json": ""}) == {}


def test_an_orphan_is_removed_at_once_only_when_its_writer_is_known_to_be_gone() -> None:
    import subprocess
    import sys

    host, namespace, pid = writer_identity().split("|")
    ended = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True, check=True)
    assert warehouse._writer_is_gone(f"{host}|{namespace}|{ended.stdout.strip()}", "m"), "a process of this host that ended"
    assert not warehouse._writer_is_gone(f"other-host|{namespace}|{ended.stdout.strip()}", "m"), "another host: wait for the grace"
    assert not warehouse._writer_is_gone(f"{host}|other-namespace|{ended.stdout.strip()}", "m"), "another container"
    assert not warehouse._writer_is_gone(f"{host}|{namespace}|1", "m"), "a running process"
    assert warehouse._writer_is_gone(f"{host}|{namespace}|{pid}", "m"), "this process, not publishing that model"
    with warehouse.publishing("m"):
        assert not warehouse._writer_is_gone(f"{host}|{namespace}|{pid}", "m"), "this process, publishing it now"
    assert not warehouse._writer_is_gone("garbage", "m")
