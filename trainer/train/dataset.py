"""The training rows binned by LightGBM as they stream from ClickHouse, never held as one float matrix.

Bin boundaries come from a deterministic sample of the training rows drawn in ClickHouse (the rows of smallest
key hash, as many as LightGBM samples to find bins by itself). The training Dataset is then built against that
reference from the Arrow record batches in order (`lightgbm.Sequence`, read slice after slice): LightGBM keeps about
one byte per value once binned (a feature of at most 256 bins) instead of the matrix's four. Labels, weights, grades,
dates and entities come out as arrays, for the ranker's groups, the grouped cross-validation and the leakage guard.

When the training part holds no more rows than the sample, the sample is every training row, so the bins, and the
model, are those of the matrix path (`modeling.bin_rows`).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import lightgbm as lgb
import numpy as np
import pyarrow as pa
from clickhouse_connect.driver.client import Client
from loguru import logger

from trainer.errors import PipelineError
from trainer.evaluation.extract import (
    LEADING,
    TrainingData,
    feature_block,
    joined_arrays,
    leading_arrays,
    row_select,
    rows_query,
    training_data,
)
from trainer.evaluation.split import group_sizes
from trainer.model_types import ModelSpec
from trainer.store.arrow import arrow_batches, stream_rows
from trainer.store.connection import SqlName, qualified_name, quote_identifier
from trainer.train.modeling import subset_folds

# LightGBM's own default sample for finding bins (bin_construct_sample_cnt): the reference sample is that large.
REFERENCE_SAMPLE_ROWS = 200_000
# Rows handed to LightGBM per push: each push copies one row-major slice of this many rows.
PUSH_ROWS = 65_536


@dataclass
class BinnedTraining:
    """The training part: its arrays (features left out: zero columns) and LightGBM's binned Dataset of it."""

    data: TrainingData
    dataset: lgb.Dataset
    sample_rows: int  # rows the bin boundaries were found on

    def fold_sets(self, fold_of_row: np.ndarray, fold: int) -> tuple[lgb.Dataset, lgb.Dataset]:
        """A cross-validation fold's fit and validation rows: LightGBM subsets of the bins (`modeling.subset_folds`)."""
        return subset_folds(self.dataset)(fold_of_row, fold)

    def final_set(self) -> lgb.Dataset:
        return self.dataset


def reference_sample(
    client: Client, table: SqlName, spec: ModelSpec, names: list[str], where: SqlName, parameters: dict[str, Any], rows: int
) -> np.ndarray:
    """The float32 features of at most REFERENCE_SAMPLE_ROWS training rows: those of smallest key hash, the same on every
    run and every host."""
    size = sample_size(rows)
    query = sample_query(table, spec, names, where)
    _, features = stream_rows(client, query, {**parameters, "sample_rows": size}, size, LEADING, len(names), f"the sample of {table}")
    return features


def sample_size(rows: int) -> int:
    return min(rows, REFERENCE_SAMPLE_ROWS)


def sample_query(table: SqlName, spec: ModelSpec, names: list[str], where: SqlName) -> SqlName:
    """The reference sample's rows (bound: `sample_rows` and the parameters of `where`). The rows are chosen on their
    keys alone, then read in the table's order: ordering the feature columns of every training row to keep the first
    ones would hold them all in the engine at once (the whole float matrix, which the streamed Dataset exists to
    avoid), and sorting the chosen rows by their hash would hold all of theirs. LightGBM finds the same bins in any
    order of the sample's rows: it uses them all (no more than its bin_construct_sample_cnt) and sorts each feature."""
    key = quote_identifier(spec.key_column)
    hashed = f"cityHash64({key}), {key}"
    chosen = f"SELECT {hashed} FROM {table} WHERE {where} ORDER BY {hashed} LIMIT {{sample_rows:UInt32}}"
    return SqlName(f"{row_select(spec, names)} FROM {table} WHERE {where} AND ({hashed}) IN ({chosen}) ORDER BY processing_date, {key}")


def features_of(batches: Iterator[pa.RecordBatch], rows: int, width: int, what: str) -> np.ndarray:
    """The float32 features of `rows` streamed rows as one row-major matrix (the reference sample read from a file)."""
    stream = _ArrowRows(batches, rows, width, what)
    features = stream[0:rows] if rows else np.empty((0, width), dtype=np.float32)
    stream.finish()
    return features


class _ArrowRows(lgb.Sequence):
    """The feature columns of an Arrow batch stream as a LightGBM Sequence read in order, slice after slice (what
    LightGBM does when it builds a Dataset against a reference). The leading columns are kept as arrays on the way."""

    batch_size = PUSH_ROWS

    def __init__(self, batches: Iterator[pa.RecordBatch], rows: int, width: int, what: str) -> None:
        self._batches, self._rows, self._width, self._what = batches, rows, width, what
        self._pending: list[pa.RecordBatch] = []
        self._pending_rows = 0
        self.read = 0
        self.leading: dict[str, list[np.ndarray]] = {name: [] for name in LEADING}

    def __len__(self) -> int:
        return self._rows

    def __getitem__(self, index: int | slice | list[int]) -> np.ndarray:
        if not isinstance(index, slice) or index.start != self.read:
            raise PipelineError(f"{self._what}: LightGBM read the training rows out of order")  # only in-order slices stream
        wanted = index.stop - index.start
        while self._pending_rows < wanted:
            batch = next(self._batches, None)
            if batch is None:
                raise PipelineError(f"{self._what} changed while it was read; run again")
            for name, values in leading_arrays(batch).items():
                self.leading[name].append(values)
            self._pending.append(batch)
            self._pending_rows += batch.num_rows
        table = pa.Table.from_batches(self._pending).slice(0, wanted)
        rest = pa.Table.from_batches(self._pending).slice(wanted)
        self._pending, self._pending_rows = rest.to_batches(), rest.num_rows
        self.read += wanted
        return feature_block(table, self._width)

    def finish(self) -> dict[str, np.ndarray]:
        if self._pending_rows or next(self._batches, None) is not None:
            raise PipelineError(f"{self._what} changed while it was read; run again")
        return joined_arrays(self.leading)


def reference_dataset(sample: np.ndarray, names: list[str], params: dict[str, Any]) -> lgb.Dataset:
    """LightGBM's bin boundaries, found on the sample rows with the training parameters."""
    return lgb.Dataset(sample, feature_name=names, params=params, free_raw_data=True).construct()


def reference_bins(
    client: Client, table: SqlName, spec: ModelSpec, names: list[str], where: SqlName, parameters: dict[str, Any], rows: int,
    params: dict[str, Any],
) -> tuple[lgb.Dataset, int]:  # fmt: skip
    """LightGBM's bin boundaries for the `rows` training rows matching `where`, and the sample rows they were found on.
    The sample's floats are let go once the bins are found: they are not held while the rows stream."""
    sample = reference_sample(client, table, spec, names, where, parameters, rows)
    return reference_dataset(sample, names, params), int(sample.shape[0])


def bin_training(
    client: Client,
    network: str,
    spec: ModelSpec,
    names: list[str],
    table_name: str,
    where: SqlName,
    parameters: dict[str, Any],
    rows: int,
    params: dict[str, Any],
) -> BinnedTraining:
    """Bin the `rows` training rows matching the SQL predicate `where` (ordered by date and key) as they stream."""
    table = qualified_name(network, table_name)
    what = f"{network}.{table_name}"
    reference, sample_rows = reference_bins(client, table, spec, names, where, parameters, rows, params)
    with arrow_batches(client, rows_query(table, spec, names, where), parameters) as batches:
        data, binned = bin_batches(iter(batches), rows, spec, names, reference, params, what)
    logger.bind(network=network, table=table_name, rows=rows, sample_rows=sample_rows, features=len(names)).info(
        "training rows binned as they streamed"
    )
    return BinnedTraining(data, binned, sample_rows)


def bin_batches(
    batches: Iterator[pa.RecordBatch],
    rows: int,
    spec: ModelSpec,
    names: list[str],
    reference: lgb.Dataset,
    params: dict[str, Any],
    what: str,
) -> tuple[TrainingData, lgb.Dataset]:
    """Bin `rows` streamed rows (`_select`'s columns, ordered by date and key) against `reference`: their arrays, with
    the features left out, and LightGBM's Dataset with labels and weights, or grades and query groups for a ranker."""
    stream = _ArrowRows(batches, rows, len(names), what)
    dataset = lgb.Dataset([stream], reference=reference, feature_name=names, params=params, free_raw_data=True).construct()
    data = training_data(stream.finish(), names)
    if spec.is_ranker:
        dataset.set_label(data.grade)
        dataset.set_group(group_sizes(data.processing_date))
    else:
        dataset.set_label(data.label)
        dataset.set_weight(data.weight)
    return data, dataset
