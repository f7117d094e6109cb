"""The table-based TreeSHAP returns what LightGBM's own pred_contrib returns, on models and rows it never saw: missing
values under each missing-value rule, zeros and values LightGBM rounds to zero, features split on again and again
along one path, trees too wide for one decision key, constant trees, and row counts over one chunk."""

from __future__ import annotations

import lightgbm as lgb
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from trainer.score import tree_shap
from trainer.score.tree_shap import contributions, forest_of

OBJECTIVES = ["binary", "lambdarank", "regression"]


def train(features: np.ndarray, label: np.ndarray, objective: str, rounds: int = 8, **params: object) -> lgb.Booster:
    group = [features.shape[0] // 4] * 3 + [features.shape[0] - 3 * (features.shape[0] // 4)]
    dataset = lgb.Dataset(features, label, group=group if objective == "lambdarank" else None)
    parameters = {"objective": objective, "verbose": -1, "min_data_in_leaf": 2, "min_data_in_bin": 1, "seed": 7, **params}
    return lgb.train(parameters, dataset, num_boost_round=rounds)


def assert_same_as_lightgbm(booster: lgb.Booster, rows: np.ndarray) -> None:
    expected = booster.predict(rows, pred_contrib=True)
    computed = contributions(booster, rows)
    assert computed.shape == expected.shape
    np.testing.assert_allclose(computed, expected, rtol=1e-9, atol=1e-9 * max(1.0, float(np.abs(expected).max())))


def rows_with_edge_values(rng: np.random.Generator, n_rows: int, n_features: int, missing_share: float) -> np.ndarray:
    """Continuous values with repeats, exact zeros, values LightGBM rounds to zero and NaNs."""
    values = np.round(rng.normal(size=(n_rows, n_features)), int(rng.integers(0, 3)))
    values[rng.random(values.shape) < 0.1] = 0.0
    values[rng.random(values.shape) < 0.02] = 1e-40
    values[rng.random(values.shape) < missing_share] = np.nan
    return values


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.integers(0, 2**32 - 1),
    objective=st.sampled_from(OBJECTIVES),
    n_features=st.integers(1, 6),
    num_leaves=st.integers(2, 80),
    missing_share=st.sampled_from([0.0, 0.15]),
    use_missing=st.booleans(),
    zero_as_missing=st.booleans(),
    float32=st.booleans(),
)
def test_contributions_equal_lightgbm_pred_contrib(
    seed: int,
    objective: str,
    n_features: int,
    num_leaves: int,
    missing_share: float,
    use_missing: bool,
    zero_as_missing: bool,
    float32: bool,
) -> None:
    rng = np.random.default_rng(seed)
    features = rows_with_edge_values(rng, 400, n_features, missing_share)
    signal = np.nan_to_num(features).sum(axis=1) + rng.normal(scale=0.5, size=400)
    label = (signal > np.median(signal)).astype(float) if objective != "regression" else signal
    booster = train(features, label, objective, num_leaves=num_leaves, use_missing=use_missing, zero_as_missing=zero_as_missing)
    assert forest_of(booster) is not None
    rows = rows_with_edge_values(rng, 300, n_features, missing_share)
    assert_same_as_lightgbm(booster, rows.astype(np.float32) if float32 else rows)


def test_a_path_splitting_one_feature_many_times_and_a_tree_wider_than_one_key() -> None:
    rng = np.random.default_rng(3)
    features = rng.normal(size=(2_000, 2))
    label = (np.sin(4 * features[:, 0]) + 0.1 * features[:, 1] > 0).astype(float)
    booster = train(features, label, "binary", rounds=5, num_leaves=120, max_bin=1023)
    internal_nodes = max(tree["num_leaves"] - 1 for tree in booster.dump_model()["tree_info"])
    assert internal_nodes > tree_shap.BITS_PER_KEY
    assert_same_as_lightgbm(booster, rng.normal(size=(500, 2)))


def test_constant_trees_count_in_the_expected_value_only() -> None:
    features = np.random.default_rng(5).normal(size=(200, 3))
    booster = train(features, np.ones(200) * 2.5, "regression", rounds=3)
    assert all(tree["num_leaves"] == 1 for tree in booster.dump_model()["tree_info"])
    assert_same_as_lightgbm(booster, features[:20])


def test_rows_over_one_chunk(monkeypatch: pytest.MonkeyPatch) -> None:
    rng = np.random.default_rng(11)
    features = rng.normal(size=(600, 4))
    booster = train(features, (features[:, 0] > 0).astype(float), "binary", num_leaves=15)
    monkeypatch.setattr(tree_shap, "ROWS_PER_CHUNK", 64)
    assert_same_as_lightgbm(booster, rng.normal(size=(333, 4)).astype(np.float32))


def test_models_it_does_not_reproduce_are_explained_by_lightgbm() -> None:
    rng = np.random.default_rng(13)
    features = np.column_stack([rng.integers(0, 6, size=300), rng.normal(size=300)]).astype(float)
    label = (features[:, 0] % 2 == 0).astype(float)
    categorical = lgb.train(
        {"objective": "binary", "verbose": -1, "min_data_in_leaf": 2, "min_data_per_group": 2, "cat_smooth": 1},
        lgb.Dataset(features, label, categorical_feature=[0]),
        num_boost_round=5,
    )
    assert any("==" in str(tree) for tree in categorical.dump_model()["tree_info"])
    assert forest_of(categorical) is None
    assert_same_as_lightgbm(categorical, features[:50])
    classes = rng.integers(0, 3, size=300).astype(float)
    multiclass = lgb.train({"objective": "multiclass", "num_class": 3, "verbose": -1}, lgb.Dataset(features, classes), 3)
    assert forest_of(multiclass) is None
