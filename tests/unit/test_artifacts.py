"""Model files on disk: atomic writes, what a crashed run leaves, loading with checks."""

from __future__ import annotations

import json
from pathlib import Path

import lightgbm as lgb
import numpy as np
import pytest

from trainer.errors import PipelineError
from trainer.features.contract import Feature, FeatureContract
from trainer.registry import artifacts
from trainer.registry.artifacts import (
    Artifacts,
    artifacts_on_disk,
    check_contract,
    leftover_temporaries,
    load_model,
    resolve_inside,
    write_artifacts,
)


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
    write_artifacts(written, "model", {"model_id": "m"}, b"png", "# card")
    assert all(path.is_file() for path in written.all()) and not leftover_temporaries(tmp_path)
    assert json.loads(written.metadata_path.read_text()) == {"model_id": "m"}

    failing = files(tmp_path, "alert_scorer_v2_20250101_000001")
    real, calls = artifacts._temporary_copy, []

    def fail_on_third(path: Path, data: bytes) -> Path:
        calls.append(path)
        if len(calls) == 3:
            raise OSError("disk full")
        return real(path, data)

    monkeypatch.setattr(artifacts, "_temporary_copy", fail_on_third)
    with pytest.raises(OSError, match="disk full"):
        write_artifacts(failing, "model", {"model_id": "m2"}, b"png", "# card")
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
    model.with_suffix(".json").write_text(json.dumps({"feature_names": ["f0", "f1"]}))
    loaded, metadata = load_model(model)
    assert loaded.feature_name() == ["f0", "f1"] and metadata["feature_names"] == ["f0", "f1"]
    model.with_suffix(".json").write_text(json.dumps({"feature_names": ["f1", "f0"]}))
    with pytest.raises(PipelineError, match="does not match its metadata"):
        load_model(model)
    model.write_text("tree\nnot a model")
    with pytest.raises(PipelineError, match="is corrupted"):
        load_model(model)


def test_contract_check_names_what_changed() -> None:
    metadata = {"model_id": "m", "feature_contract": {"features": [{"name": "a"}, {"name": "b"}]}}
    same = FeatureContract("scoring_alerts", (Feature("a", "alert", "p"), Feature("b", "alert", "p")))
    check_contract(metadata, same)
    with pytest.raises(PipelineError, match="missing now: b; new: c"):
        check_contract(metadata, FeatureContract("scoring_alerts", (Feature("a", "alert", "p"), Feature("c", "alert", "p"))))
    with pytest.raises(PipelineError, match="same columns, other order"):
        check_contract(metadata, FeatureContract("scoring_alerts", (Feature("b", "alert", "p"), Feature("a", "alert", "p"))))
