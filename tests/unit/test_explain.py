"""Score explanations: the features that moved each score the most, by absolute contribution."""

from __future__ import annotations

import json

import numpy as np

from tests.support.metadata import sample_metadata
from trainer.score.explain import explained_rows, explanations


def test_top_contributions_by_absolute_value_with_families() -> None:
    names = ["a", "b", "c", "d"]
    families = {"a": "alert", "b": "network", "c": "address", "d": "cluster"}
    contributions = np.array(
        [
            [0.1, -0.9, 0.3, 0.0, 0.5],  # last column: the expected value, never a reason
            [0.2, 0.2, -0.2, 0.05, -3.0],  # a three-way tie keeps the feature order
        ]
    )
    first, second = (json.loads(reason) for reason in explanations(contributions, names, families, top=2))
    assert first == [
        {"feature": "b", "family": "network", "contribution": -0.9},
        {"feature": "c", "family": "address", "contribution": 0.3},
    ]
    assert [reason["feature"] for reason in second] == ["a", "b"]


def test_one_reason_string_per_row() -> None:
    contributions = np.zeros((5, 3))
    reasons = explanations(contributions, ["x", "y"], {"x": "alert", "y": "alert"})
    assert len(reasons) == 5 and all(len(json.loads(reason)) == 2 for reason in reasons)


def test_a_model_explains_its_review_capacity_and_an_older_model_every_row() -> None:
    assert explained_rows(sample_metadata(metrics={"review_capacity_per_day": 550})) == 550
    assert explained_rows(sample_metadata(metrics={"test_auc": 0.9})) == explained_rows(sample_metadata(metrics={})) == 0
