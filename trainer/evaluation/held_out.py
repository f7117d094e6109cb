"""The test part, read once after the final fit, scored as it streams from ClickHouse.

Each Arrow batch is scored by the model and taken in by the leakage guard's value check (leakage.LabelValues), then
let go. What stays is each row's arrays (label, grade, weight, date, entity) and score, and the features of every
k-th row for the drift reference: never the float matrix of the whole test part, which would be as large as the
training part's bins again (a fifth of the window's rows at 4 bytes a value, where the bins hold 1).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import lightgbm as lgb
import numpy as np
from clickhouse_connect.driver.client import Client

from trainer.errors import PipelineError
from trainer.evaluation.extract import LEADING, TrainingData, feature_block, joined_arrays, leading_arrays, rows_query, training_data
from trainer.evaluation.leakage import LabelValues
from trainer.model_types import ModelSpec
from trainer.store.arrow import arrow_batches
from trainer.store.connection import SqlName

# The drift reference is drawn on at most this many test rows (every k-th in date and key order, so every date keeps
# its share): the quantile bins of 200,000 values move by less than a bin's share in a thousand, and a window's test
# part up to this size is its reference whole.
REFERENCE_ROWS = 200_000


@dataclass
class ScoredTestPart:
    data: TrainingData  # the arrays of every test row, features left out (zero columns)
    score: np.ndarray  # the model's score of every test row
    reference_rows: np.ndarray  # positions of the rows kept for the drift reference
    reference_features: np.ndarray  # their float32 features, rows x features
    features_valued_as_labels: tuple[str, ...]  # the leakage guard's value check over every test row


def reference_step(rows: int) -> int:
    """Every how many test rows one is kept for the drift reference."""
    return max(1, math.ceil(rows / REFERENCE_ROWS))


def score_test_part(
    client: Client,
    table: SqlName,
    spec: ModelSpec,
    names: list[str],
    where: SqlName,
    parameters: dict[str, Any],
    rows: int,
    booster: lgb.Booster,
    what: str,
) -> ScoredTestPart:
    """Read the `rows` rows of `table` matching `where` (by date and key), scoring and checking them batch by batch."""
    step = reference_step(rows)
    reference_rows = np.arange(0, rows, step)
    reference = np.empty((reference_rows.size, len(names)), dtype=np.float32)
    score = np.empty(rows, dtype=np.float64)
    label_values = LabelValues(len(names))
    parts: dict[str, list[np.ndarray]] = {name: [] for name in LEADING}
    read = 0
    with arrow_batches(client, rows_query(table, spec, names, where), parameters) as batches:
        for batch in batches:
            size = batch.num_rows
            if read + size > rows:
                raise PipelineError(f"{what} changed while it was read; run again")
            leading, block = leading_arrays(batch), feature_block(batch, len(names))
            score[read : read + size] = booster.predict(block)
            label_values.add(block, leading["label"], leading["grade"], leading["weight"])
            first = -read % step  # the batch's first row whose position is a multiple of step
            kept = block[first::step]
            reference[(read + first) // step : (read + first) // step + kept.shape[0]] = kept
            for name, values in leading.items():
                parts[name].append(values)
            read += size
    if read != rows:
        raise PipelineError(f"{what} changed while it was read; run again")
    data = training_data(joined_arrays(parts), names)
    return ScoredTestPart(data, score, reference_rows, reference, label_values.valued_as_labels(names))
