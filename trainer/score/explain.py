"""Why a score is what it is: the features that pushed it up or down the most, from LightGBM's per-row
contributions (pred_contrib), with their families."""

from __future__ import annotations

import json

import numpy as np

TOP_REASONS = 3
# Rows of a date explained by default: the highest scores, where investigators look (a busy chain's day has about
# 100k alerts, and LightGBM's TreeSHAP costs about 2 ms per row and model of a few hundred trees). Others get none.
EXPLAIN_TOP = 10_000


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
