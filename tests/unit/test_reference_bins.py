"""The reference sample is read in the table's order, not sorted by its key hash (trainer/train/dataset.py,
sample_query): that holds only because LightGBM finds the same bins in any order of the sample's rows."""

from __future__ import annotations

import lightgbm as lgb
import numpy as np

from trainer.model_types import MODEL_SPECS
from trainer.train import dataset, modeling


def sample_rows(rows: int) -> tuple[np.ndarray, np.ndarray]:
    """Features with what the marts hold: many distinct values, few distinct values, missing values, mostly zeros."""
    generator = np.random.default_rng(11)
    features = generator.normal(size=(rows, 5)).astype(np.float32)
    features[:, 1] = np.round(features[:, 1] * 3)
    features[generator.random(rows) < 0.3, 2] = np.nan
    features[:, 3] = np.where(generator.random(rows) < 0.97, 0.0, generator.random(rows))
    features[:, 4] = generator.integers(0, 600, rows)  # more distinct values than bins
    label = (features[:, 0] + np.nan_to_num(features[:, 2]) + generator.normal(size=rows) > 0).astype(np.float32)
    return features, label


def test_the_bins_and_the_model_do_not_depend_on_the_order_of_the_sample_rows() -> None:
    features, label = sample_rows(20_000)
    spec = MODEL_SPECS["alert_scorer"]
    params = modeling.training_params(spec, seed=42, training_rows=len(label), tuned=False)
    names = [f"f{j}" for j in range(features.shape[1])]
    sample = features[::2]
    assert len(sample) <= dataset.REFERENCE_SAMPLE_ROWS

    def model(order: np.ndarray) -> tuple[str, np.ndarray]:
        reference = dataset.reference_dataset(np.ascontiguousarray(sample[order]), names, params)
        training = lgb.Dataset(features, label=label, reference=reference, feature_name=names, params=params)
        booster = lgb.train({**params, "verbose": -1}, training, num_boost_round=20)
        return booster.model_to_string().split("parameters:")[0], booster.predict(features[:500])

    in_order = model(np.arange(len(sample)))
    for seed in (1, 2):
        shuffled = model(np.random.default_rng(seed).permutation(len(sample)))
        assert shuffled[0] == in_order[0]
        np.testing.assert_array_equal(shuffled[1], in_order[1])
