"""Training parameters of large windows: GOSS instead of bagging, a larger learning rate and fewer folds from
LARGE_TRAINING_ROWS on."""

from __future__ import annotations

import lightgbm as lgb
import numpy as np

from trainer.model_types import model_spec
from trainer.train import modeling
from trainer.train.modeling import CV_FOLDS, LARGE_CV_FOLDS, LARGE_LEARNING_RATE, LARGE_TRAINING_ROWS, base_params, cv_folds, scaled_params


def test_small_windows_keep_their_parameters_and_folds() -> None:
    params = base_params(model_spec("alert_scorer"), seed=1)
    assert scaled_params(params, LARGE_TRAINING_ROWS - 1) == params
    assert cv_folds(LARGE_TRAINING_ROWS - 1) == CV_FOLDS


def test_large_windows_sample_by_gradient_and_use_fewer_folds() -> None:
    params = base_params(model_spec("alert_scorer"), seed=1)
    large = scaled_params(params, LARGE_TRAINING_ROWS)
    assert large["data_sample_strategy"] == "goss" and large["bagging_fraction"] == 1.0 and large["bagging_freq"] == 0
    assert large["learning_rate"] == LARGE_LEARNING_RATE > params["learning_rate"]
    scaled = ("bagging", "data_sample", "learning_rate")
    assert {k: v for k, v in large.items() if not k.startswith(scaled)} == {k: v for k, v in params.items() if not k.startswith(scaled)}
    assert cv_folds(LARGE_TRAINING_ROWS) == LARGE_CV_FOLDS < CV_FOLDS


def test_huge_windows_sample_more_than_half_of_the_rows_so_lightgbm_copies_none() -> None:
    params = base_params(model_spec("alert_scorer"), seed=1)
    assert "other_rate" not in scaled_params(params, modeling.HUGE_TRAINING_ROWS - 1), "LightGBM's default: 10 % of the rest"
    huge = scaled_params(params, modeling.HUGE_TRAINING_ROWS)
    assert huge["data_sample_strategy"] == "goss" and huge.get("top_rate", 0.2) + huge["other_rate"] > 0.5


def test_lightgbm_accepts_the_large_window_parameters_for_every_objective() -> None:
    rng = np.random.default_rng(3)
    features = rng.random((600, 5), dtype=np.float32)
    label = (features[:, 0] + rng.random(600) > 1).astype(int)
    cases = [("alert_scorer", LARGE_TRAINING_ROWS), ("alert_ranker", LARGE_TRAINING_ROWS), ("alert_scorer", modeling.HUGE_TRAINING_ROWS)]
    for model_type, rows in cases:
        params = scaled_params(base_params(model_spec(model_type), seed=1), rows)
        group = [100] * 6 if model_type == "alert_ranker" else None
        booster = lgb.train(params, lgb.Dataset(features, label=label, group=group), num_boost_round=5)
        assert booster.num_trees() == 5
