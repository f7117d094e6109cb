"""Cross-validation folds binned from the stream, for training parts too large to hold their bins twice.

A LightGBM subset copies its rows' bins: the folds of one binned Dataset hold the bins about twice (the whole, plus the
fold's fit and validation rows), 4.9 GB each at 30M training rows by 162 features. From `STREAMED_FOLDS_ROWS` training
rows on, the training part is therefore never binned whole before the final fit:

- the training rows are read once without their features (labels, weights, grades, dates, entities: 22 bytes a row),
  and the grouped folds are planned on those arrays exactly as for the binned Dataset (`modeling.cross_validate`);
- each fold streams the training rows again, in the same order, and bins each row into the fold's fit or validation
  Dataset against the reference bins: one stream fills both, and no float row outlives its batch;
- after the cross-validation the rows stream once more, into the one Dataset of the final fit.

The bins are the subset path's (the same reference, the same rows in the same order), so the folds, the out-of-fold
scores and the model are too. Every stream re-reads the table: it must yield the rows of the first read in the same
order, which each batch's addresses are checked against, and the run's fingerprint check still closes it.
The data-parallel ranks (trainer/train/rank.py) keep subsets of their shard's bins: a rank holds 1/N of the rows.
"""

from __future__ import annotations

import ctypes
from dataclasses import dataclass
from typing import Any

import lightgbm as lgb
import numpy as np
import pyarrow as pa
from clickhouse_connect.driver.client import Client
from loguru import logger

from trainer.errors import PipelineError
from trainer.evaluation.extract import LEADING, TrainingData, feature_block, read_rows, rows_query
from trainer.evaluation.split import group_sizes
from trainer.model_types import ModelSpec
from trainer.store.arrow import arrow_batches
from trainer.store.connection import SqlName, qualified_name
from trainer.train import modeling
from trainer.train.dataset import BinnedTraining, bin_training, reference_bins

# From this many training rows on (those of GOSS without its copy: 30M rows' bins are 4.9 GB), the folds stream.
STREAMED_FOLDS_ROWS = modeling.HUGE_TRAINING_ROWS
ENTITY = LEADING.index("entity")


@dataclass
class RowStream:
    """One read of the training rows, by date and key (`rows_query`), to run as often as a fold needs it."""

    client: Client
    query: SqlName
    parameters: dict[str, Any]
    rows: int
    what: str  # the table, for messages


@dataclass
class StreamedTraining:
    """The training part as its arrays (features left out) and its reference bins; its rows are binned from the table
    for each fold and for the final fit, one binning held at a time."""

    data: TrainingData
    reference: lgb.Dataset
    sample_rows: int  # rows the bin boundaries were found on
    stream: RowStream
    spec: ModelSpec
    params: dict[str, Any]  # the parameters the rows are binned with

    def fold_sets(self, fold_of_row: np.ndarray, fold: int) -> tuple[lgb.Dataset, lgb.Dataset]:
        """The fold's fit and validation Datasets, binned from one stream of the training rows."""
        part = (fold_of_row == fold).astype(np.int8)  # 0: fit, 1: validation
        fit_set, valid_set = self._binned(part, 2)
        logger.bind(fit_rows=fit_set.num_data(), validation_rows=valid_set.num_data()).info("fold binned from the training rows' stream")
        return fit_set, valid_set

    def final_set(self) -> lgb.Dataset:
        """Every training row binned, for the final fit, once the folds' Datasets are let go."""
        (full,) = self._binned(np.zeros(self.data.rows, dtype=np.int8), 1)
        logger.bind(rows=self.data.rows).info("training rows binned from their stream for the final fit")
        return full

    def _binned(self, part: np.ndarray, parts: int) -> list[lgb.Dataset]:
        """Row i of the stream into Dataset `part[i]` (-1: none), each labelled, weighted and grouped as a subset of
        the whole would be (a ranker's query groups recut to the kept rows of each date)."""
        names = self.data.feature_names
        kept = [part == index for index in range(parts)]
        datasets = [_empty_dataset(self.reference, int(np.count_nonzero(rows)), names, self.params) for rows in kept]
        stream, read = self.stream, 0
        with arrow_batches(stream.client, stream.query, stream.parameters) as batches:
            for batch in batches:
                size = batch.num_rows
                entity = batch.column(ENTITY).to_numpy(zero_copy_only=False)
                if read + size > stream.rows or not np.array_equal(entity, self.data.entity[read : read + size]):
                    raise PipelineError(f"{stream.what} changed while it was read; run again")
                block = feature_block(batch, len(names))
                del batch, entity  # the engine's block is let go before LightGBM bins its rows
                for dataset, rows in zip(datasets, kept, strict=True):
                    chosen = rows[read : read + size]
                    _push(dataset, block if chosen.all() else block[chosen])
                read += size
        if read != stream.rows:
            raise PipelineError(f"{stream.what} changed while it was read; run again")
        for dataset, rows in zip(datasets, kept, strict=True):
            _label(dataset, self.data, rows, self.spec)
        release_freed_memory()
        return datasets


def _empty_dataset(reference: lgb.Dataset, rows: int, names: list[str], params: dict[str, Any]) -> lgb.Dataset:
    """A Dataset of `rows` rows to be pushed, binned against `reference`. This is what LightGBM's own Sequence path
    does (`Dataset.__init_from_seqs`: `_init_from_ref_dataset`, then `_push_rows`), called here directly because that
    path reads one Sequence to its end: one stream could fill two Datasets only by holding the other's float rows."""
    dataset = lgb.Dataset(None, reference=reference, feature_name=names, params=params, free_raw_data=True)
    return dataset._init_from_ref_dataset(rows, reference.construct()._handle)


def _push(dataset: lgb.Dataset, block: np.ndarray) -> None:
    """Bin `block`'s rows (row-major float32) into `dataset`; LightGBM finishes the Dataset with its last row."""
    if block.shape[0]:
        dataset._push_rows(np.ascontiguousarray(block))


def _label(dataset: lgb.Dataset, data: TrainingData, rows: np.ndarray, spec: ModelSpec) -> None:
    dataset.set_feature_name(data.feature_names)

    def kept(values: np.ndarray) -> np.ndarray:
        return values if rows.all() else values[rows]

    if spec.is_ranker:
        dataset.set_label(kept(data.grade))
        dataset.set_group(group_sizes(kept(data.processing_date)))
    else:
        dataset.set_label(kept(data.label))
        dataset.set_weight(kept(data.weight))
    # LightGBM's Python Dataset keeps a copy of what it set, read back from its C++ side (8 bytes a row for a label and
    # a weight); nothing reads it while training, and get_label / get_weight read it back again when asked.
    dataset.label = dataset.weight = None


def release_freed_memory() -> None:
    """Hand the heap freed by a stream back to the system (Arrow's pool, then glibc's) before LightGBM trains: its
    large buffers are mapped afresh, so freed heap would stay resident beside them."""
    pa.default_memory_pool().release_unused()
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):  # not glibc: nothing to trim
        pass


def leading_rows(stream: RowStream, names: list[str]) -> TrainingData:
    """The training rows' arrays, read without their features (`rows_query` of no feature: the same rows, order and
    row count check as every later stream)."""
    return read_rows(stream.client, stream.query, stream.parameters, stream.rows, names, 0, stream.what)


def streams_folds(rows: int) -> bool:
    return rows >= STREAMED_FOLDS_ROWS


def training_part(
    client: Client,
    network: str,
    spec: ModelSpec,
    names: list[str],
    table_name: str,
    where: SqlName,
    parameters: dict[str, Any],
    rows: int,
    params: dict[str, Any],
) -> BinnedTraining | StreamedTraining:
    """The `rows` training rows matching `where`, ready for cross-validation and the final fit: binned once as they
    stream (their folds LightGBM subsets of those bins), or from STREAMED_FOLDS_ROWS on their arrays and reference bins
    alone, the rows binned again from the table for each fold and for the final fit."""
    if not streams_folds(rows):
        return bin_training(client, network, spec, names, table_name, where, parameters, rows, params)
    table, what = qualified_name(network, table_name), f"{network}.{table_name}"
    data = leading_rows(RowStream(client, rows_query(table, spec, [], where), parameters, rows, what), names)
    reference, sample_rows = reference_bins(client, table, spec, names, where, parameters, rows, params)
    stream = RowStream(client, rows_query(table, spec, names, where), parameters, rows, what)
    logger.bind(network=network, table=table_name, rows=rows, sample_rows=sample_rows, features=len(names)).info(
        "training rows read without their features; each fold and the final fit bin them from the table again"
    )
    return StreamedTraining(data, reference, sample_rows, stream, spec, params)
