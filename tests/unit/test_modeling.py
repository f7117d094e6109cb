"""Cross-validation on training parts too small for LightGBM's bagging: one line, not a LightGBM abort."""

from __future__ import annotations

import numpy as np
import pytest

from trainer.errors import PipelineError
from trainer.evaluation.extract import TrainingData
from trainer.model_types import MODEL_SPECS
from trainer.train import modeling


def training_part(rows: int) -> TrainingData:
    """`rows` rows of one address each, labels alternating, over two dates."""
    generator = np.random.default_rng(7)
    return TrainingData(
        features=np.asfortranarray(generator.random((rows, 3), dtype=np.float32)),
        label=(np.arange(rows) % 2).astype(np.uint8),
        weight=np.ones(rows, dtype=np.float32),
        grade=(np.arange(rows) % 2).astype(np.uint8),
        processing_date=np.repeat(np.array(["2024-01-01", "2024-01-02"], dtype="datetime64[D]"), [rows // 2, rows - rows // 2]),
        entity=np.arange(rows, dtype=np.uint64),
        feature_names=["a", "b", "c"],
    )


def cross_validate(rows: int) -> modeling.CrossValidation:
    spec = MODEL_SPECS["alert_scorer"]
    params = modeling.base_params(spec, seed=42)
    data = training_part(rows)
    return modeling.cross_validate(data, modeling.bin_rows(data, spec, params), spec, params)


def test_a_fold_too_small_to_bag_fails_in_one_line() -> None:
    with pytest.raises(PipelineError, match=r"^cross-validation fold 1 of 2 trains on 1 row\(s\), too few to bag 80% of") as raised:
        cross_validate(rows=2)
    assert "\n" not in str(raised.value)


def test_folds_that_bag_a_row_train() -> None:
    assert len(cross_validate(rows=4).fold_scores) == 4
