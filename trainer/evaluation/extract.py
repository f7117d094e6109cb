"""Stream a finished training table from ClickHouse through Arrow into numpy arrays for LightGBM.

Features arrive as float32 record batches and are copied column by column into one preallocated matrix:
no pandas frame, no Python object per row. Entities travel as 64-bit hashes computed in SQL.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

import numpy as np
import pyarrow as pa
from clickhouse_connect.driver.client import Client
from loguru import logger

from trainer.errors import PipelineError
from trainer.features.contract import FeatureContract, check_table
from trainer.model_types import ModelSpec
from trainer.store.arrow import stream_rows
from trainer.store.connection import SqlName, qualified_name, quote_identifier

# The rows of a network's training window (bound parameters: network, start, end).
WINDOW = "network = {network:String} AND processing_date BETWEEN {start:Date} AND {end:Date}"
# The columns every read of training rows starts with (rows_query), before the float32 features.
LEADING = ["processing_date", "entity", "label", "weight", "grade"]


@dataclass
class TrainingData:
    features: np.ndarray  # float32, rows x features, column-major
    label: np.ndarray  # uint8
    weight: np.ndarray  # float32, the label's confidence
    grade: np.ndarray  # uint8 relevance grade (alert tables) or the label (cluster table)
    processing_date: np.ndarray  # datetime64[D]
    entity: np.ndarray  # uint64 hash of the address (for clusters: the primary address)
    feature_names: list[str]

    @property
    def rows(self) -> int:
        return int(self.label.shape[0])


def window_parameters(network: str, start: date, end: date) -> dict[str, Any]:
    return {"network": network, "start": start, "end": end}


def table_window(client: Client, network: str, table: str) -> tuple[date, date] | None:
    """First and last processing_date the finished table holds for the network, or None when it holds none."""
    result = client.query(
        f"SELECT min(processing_date), max(processing_date), count() FROM {qualified_name(network, table)} "
        "WHERE network = {network:String}",
        parameters={"network": network},
    )
    first, last, rows = result.result_rows[0]
    return (first, last) if rows else None


def fingerprint(client: Client, network: str, spec: ModelSpec, contract: FeatureContract, parameters: dict[str, Any]) -> str:
    """Row count and an order-free hash over every value the trainer reads in the window: keys, dates,
    addresses, labels, weights, grades and features, as the trainer reads them (float32). A rebuilt table with one
    changed value gets another fingerprint; float sums that differ only in bits float32 drops (the engine may add in
    another order on another build) do not."""
    columns = ", ".join(
        [quote_identifier(spec.key_column), "processing_date", "address", "label", "label_weight", quote_identifier(spec.grade_column)]
        + [f"toFloat32({quote_identifier(name)})" for name in contract.names]
    )
    table = qualified_name(network, contract.table)
    rows, digest = client.query(
        f"SELECT count(), sum(cityHash64({columns})) FROM {table} WHERE {WINDOW}", parameters=parameters
    ).result_rows[0]
    return f"{rows}:{digest:016x}"


def row_select(spec: ModelSpec, names: list[str]) -> SqlName:
    """The SELECT list of a read of training rows: the LEADING columns, then the features as float32 (none: the
    LEADING columns alone, the cheap read the streamed cross-validation plans its folds on)."""
    features = "".join(f", toFloat32({quote_identifier(name)})" for name in names)
    return SqlName(
        "SELECT processing_date, cityHash64(address) AS entity_hash, toUInt8(label) AS label, toFloat32(label_weight) AS weight, "
        f"toUInt8({quote_identifier(spec.grade_column)}) AS grade{features}"
    )


def rows_query(table: SqlName, spec: ModelSpec, names: list[str], where: SqlName) -> SqlName:
    """The rows of `table` matching `where`, by date, then key: the order they are binned in (a ranker's groups whole)."""
    return SqlName(f"{row_select(spec, names)} FROM {table} WHERE {where} ORDER BY processing_date, {quote_identifier(spec.key_column)}")


def leading_arrays(batch: pa.RecordBatch | pa.Table) -> dict[str, np.ndarray]:
    """The LEADING columns of one Arrow batch of `rows_query`, copied out of it (the batch's buffer is let go)."""
    return {name: batch.column(position).to_numpy(zero_copy_only=False).copy() for position, name in enumerate(LEADING)}


def feature_block(batch: pa.RecordBatch | pa.Table, width: int) -> np.ndarray:
    """The `width` float32 features of one Arrow batch of `rows_query`, as a row-major matrix (what LightGBM reads)."""
    block = np.empty((batch.num_rows, width), dtype=np.float32)
    for j in range(width):
        block[:, j] = batch.column(len(LEADING) + j).to_numpy(zero_copy_only=False)
    return block


def joined_arrays(parts: dict[str, list[np.ndarray]]) -> dict[str, np.ndarray]:
    """Each column's per-batch arrays joined into one, a column at a time, each column's batches let go as it is joined
    (the lists are emptied)."""
    arrays = {}
    for name, batches in parts.items():
        arrays[name] = np.concatenate(batches) if batches else np.empty(0)
        batches.clear()
    return arrays


def training_data(arrays: dict[str, np.ndarray], names: list[str], features: np.ndarray | None = None) -> TrainingData:
    """Rows from their LEADING arrays (streamed, or a rank's `lockstep.gathered_arrays`) and their features; None:
    features left out (zero columns)."""
    return TrainingData(
        features=np.empty((arrays["label"].size, 0), dtype=np.float32) if features is None else features,
        label=arrays["label"].astype(np.uint8, copy=False),  # no copy where the type is right already: rows x 22 bytes
        weight=arrays["weight"].astype(np.float32, copy=False),
        grade=arrays["grade"].astype(np.uint8, copy=False),
        processing_date=arrays["processing_date"].astype("datetime64[D]", copy=False),
        entity=arrays["entity"].astype(np.uint64, copy=False),
        feature_names=names,
    )


def extract_rows(
    client: Client,
    network: str,
    spec: ModelSpec,
    contract: FeatureContract,
    where: SqlName,
    parameters: dict[str, Any],
    rows: int,
) -> TrainingData:
    """The `rows` rows of the training table matching the SQL predicate `where`, ordered by date and key."""
    query = rows_query(qualified_name(network, contract.table), spec, contract.names, where)
    return read_rows(client, query, parameters, rows, contract.names, len(contract.names), f"{network}.{contract.table}")


def read_rows(
    client: Client, query: SqlName, parameters: dict[str, Any], rows: int, names: list[str], width: int, what: str
) -> TrainingData:
    """The `rows` rows of `query` (`rows_query`: of `width` features, 0 for the LEADING columns alone), read whole;
    a read of another row count fails, naming `what`."""
    columns, features = stream_rows(client, query, parameters, rows, LEADING, width, what)
    arrays = {name: column.to_numpy().copy() for name, column in columns.items()}  # owned and writable, not Arrow's
    return training_data(arrays, names, features)


def extract(client: Client, network: str, start: date, end: date, spec: ModelSpec, contract: FeatureContract) -> TrainingData:
    """Every row of the training table in the network's window, ordered by date and key."""
    check_table(client, network, contract)
    parameters, table = window_parameters(network, start, end), qualified_name(network, contract.table)
    rows = int(client.command(f"SELECT count() FROM {table} WHERE {WINDOW}", parameters=parameters))
    if rows == 0:
        raise PipelineError(f"{network}.{contract.table} has no rows between {start} and {end}")
    data = extract_rows(client, network, spec, contract, WINDOW, parameters, rows)
    logger.bind(network=network, table=contract.table, rows=rows, features=len(contract.names)).info("training table extracted")
    return data
