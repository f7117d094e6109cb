"""Why a score is what it is: the features that pushed it up or down the most, from the model's exact per-row SHAP
contributions (trainer/score/tree_shap.py), with their families."""

from __future__ import annotations

import json

import numpy as np

from trainer.registry.metadata import ModelMetadata

TOP_REASONS = 3


def explained_rows(metadata: ModelMetadata) -> int:
    """How many of a date's highest scores are explained by default: the model's review capacity per day, the queue
    investigators read (`--review-capacity` at training, else a tenth of the median day's training rows).
    Exact contributions cost about 0.15 ms a row for a model of a few hundred trees (trainer/score/tree_shap.py;
    LightGBM's own TreeSHAP, 1-2 ms), so explaining every row of a busy chain's day would still dominate scoring. A
    model without a recorded capacity has every row explained (0)."""
    return metadata.review_capacity_per_day() or 0


def explanations(contributions: np.ndarray, feature_names: list[str], families: dict[str, str], top: int = TOP_REASONS) -> list[str]:
    """The `top` features pushing each score up or down the most, as one JSON string per row. `contributions` has one
    column per feature plus the expected value last; ties keep the feature order."""
    per_feature = contributions[:, :-1]
    order = np.argsort(-np.abs(per_feature), axis=1, kind="stable")[:, :top]
    reasons = []
    for row, columns in zip(per_feature, order, strict=True):
        reasons.append(
            json.dumps(
                [
                    {"feature": feature_names[j], "family": families[feature_names[j]], "contribution": round(float(row[j]), 5)}
                    for j in columns
                ]
            )
        )
    return reasons
