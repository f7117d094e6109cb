"""Leakage: with labels drawn at random, no feature may predict them."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import build_network
from trainer.pipeline import TrainRequest, train_model


def test_random_labels_give_test_auc_near_one_half(test_root: Path, client, tmp_path: Path) -> None:
    build_network(test_root, "leakcheck", alerts_per_day=150, random_labels=True, seed=5)
    outcome = train_model(TrainRequest(model_type="alert_scorer", network="leakcheck", output_dir=tmp_path), client=client)
    auc = outcome.metadata["metrics"]["test_auc"]
    assert abs(auc - 0.5) <= 0.05, f"test AUC {auc:.3f} with random labels: some feature leaks the label"
    assert outcome.metadata["data_stats"]["test_rows"] > 1000
