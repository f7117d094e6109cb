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

from trainer.connection import arrow_batches, quote_identifier, table_columns, table_exists
from trainer.contract import KEY_COLUMNS, FeatureContract
from trainer.errors import PipelineError

# The rows of a network's training window (bound parameters: network, start, end).
WINDOW = "network = {network:String} AND processing_date BETWEEN {start:Date} AND {end:Date}"


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


def table_name(network: str, contract: FeatureContract) -> str:
    """The quoted `network`.`table` of the contract's training table."""
    return f"{quote_identifier(network)}.{quote_identifier(contract.table)}"


def window_parameters(network: str, start: date, end: date) -> dict[str, Any]:
    return {"network": network, "start": start, "end": end}


def grade_column(contract: FeatureContract) -> str:
    return "relevance_grade" if contract.table == "training_alerts" else "label"


def table_window(client: Client, network: str, table: str) -> tuple[date, date] | None:
    """First and last processing_date the finished table holds for the network, or None when it holds none."""
    result = client.query(
        f"SELECT min(processing_date), max(processing_date), count() FROM {quote_identifier(network)}.{quote_identifier(table)} "
        "WHERE network = {network:String}",
        parameters={"network": network},
    )
    first, last, rows = result.result_rows[0]
    return (first, last) if rows else None


def check_table(client: Client, network: str, contract: FeatureContract) -> None:
    """The training table exists and has every column the contract names."""
    if not table_exists(client, network, contract.table):
        raise PipelineError(f"table {network}.{contract.table} does not exist: run dbt build for network {network}")
    present = set(table_columns(client, network, contract.table))
    missing = [name for name in contract.names if name not in present]
    if missing:
        raise PipelineError(f"table {network}.{contract.table} lacks feature columns of its contract: {', '.join(missing)}")


def fingerprint(client: Client, network: str, contract: FeatureContract, parameters: dict[str, Any]) -> str:
    """Row count and an order-free hash over every value the trainer reads in the window: keys, dates,
    addresses, labels, weights, grades and features. A rebuilt table with one changed value gets another
    fingerprint."""
    columns = ", ".join(
        [KEY_COLUMNS[contract.table], "processing_date", "address", "label", "label_weight", grade_column(contract)]
        + [quote_identifier(name) for name in contract.names]
    )
    table = table_name(network, contract)
    rows, digest = client.query(
        f"SELECT count(), sum(cityHash64({columns})) FROM {table} WHERE {WINDOW}", parameters=parameters
    ).result_rows[0]
    return f"{rows}:{digest:016x}"


def stream_rows(
    client: Client,
    query: str,
    parameters: dict[str, Any],
    rows: int,
    leading: list[str],
    width: int,
    what: str,
) -> tuple[dict[str, pa.ChunkedArray], np.ndarray]:
    """Run `query`, whose first columns are `leading` and whose last `width` columns are float32 features.

    The features are copied batch by batch into one preallocated float32 matrix of `rows` rows; the leading
    columns stay Arrow, copied out of each batch. A batch's columns share one buffer with the whole block it
    came in, so keeping them as they are would keep every block of the result alive (230 MB at 1M alerts).
    The matrix is column-major, so each batch column lands in one contiguous run (LightGBM takes either order).
    """
    features = np.empty((rows, width), dtype=np.float32, order="F")
    chunks: dict[str, list[pa.Array]] = {name: [] for name in leading}
    filled = 0
    with arrow_batches(client, query, parameters) as batches:
        for batch in batches:
            size = batch.num_rows
            if filled + size > rows:
                raise PipelineError(f"{what} changed while it was read; run again")
            for position, name in enumerate(leading):
                chunks[name].append(pa.concat_arrays([batch.column(position)]))  # a copy: see the docstring
            for j in range(width):
                features[filled : filled + size, j] = batch.column(len(leading) + j).to_numpy(zero_copy_only=False)
            filled += size
    if filled != rows:
        raise PipelineError(f"{what} changed while it was read; run again")
    return {name: pa.chunked_array(arrays, type=arrays[0].type if arrays else None) for name, arrays in chunks.items()}, features


def extract_rows(
    client: Client,
    network: str,
    contract: FeatureContract,
    where: str,
    parameters: dict[str, Any],
    rows: int,
) -> TrainingData:
    """The `rows` rows of the training table matching the SQL predicate `where`, ordered by date and key."""
    table, key, grade = table_name(network, contract), KEY_COLUMNS[contract.table], grade_column(contract)
    feature_sql = ", ".join(f"toFloat32({quote_identifier(name)})" for name in contract.names)
    query = (
        f"SELECT processing_date, cityHash64(address) AS entity_hash, toUInt8(label) AS label, toFloat32(label_weight) AS weight, "
        f"toUInt8({grade}) AS grade, {feature_sql} FROM {table} "
        f"WHERE {where} ORDER BY processing_date, {key}"
    )
    leading = ["processing_date", "entity", "label", "weight", "grade"]
    columns, features = stream_rows(client, query, parameters, rows, leading, len(contract.names), f"{network}.{contract.table}")
    return TrainingData(
        features=features,
        label=columns["label"].to_numpy().astype(np.uint8),
        weight=columns["weight"].to_numpy().astype(np.float32),
        grade=columns["grade"].to_numpy().astype(np.uint8),
        processing_date=columns["processing_date"].to_numpy().astype("datetime64[D]"),
        entity=columns["entity"].to_numpy().astype(np.uint64),
        feature_names=contract.names,
    )


def extract(client: Client, network: str, start: date, end: date, contract: FeatureContract) -> TrainingData:
    """Every row of the training table in the network's window, ordered by date and key."""
    check_table(client, network, contract)
    parameters, table = window_parameters(network, start, end), table_name(network, contract)
    rows = int(client.command(f"SELECT count() FROM {table} WHERE {WINDOW}", parameters=parameters))
    if rows == 0:
        raise PipelineError(f"{network}.{contract.table} has no rows between {start} and {end}")
    data = extract_rows(client, network, contract, WINDOW, parameters, rows)
    logger.bind(network=network, table=contract.table, rows=rows, features=len(contract.names)).info("training table extracted")
    return data


@dataclass
class ScoringData:
    features: np.ndarray  # float32, rows x features, column-major
    keys: pa.ChunkedArray  # alert or cluster ids, as Arrow strings
    processing_date: date


def extract_for_scoring(client: Client, network: str, processing_date: date, contract: FeatureContract) -> ScoringData:
    """Every row of the scoring table for one processing date, labelled or not, ordered by key."""
    check_table(client, network, contract)
    table = table_name(network, contract)
    key = KEY_COLUMNS[contract.table]
    where = "network = {network:String} AND processing_date = {day:Date}"
    parameters = {"network": network, "day": processing_date}
    rows = int(client.command(f"SELECT count() FROM {table} WHERE {where}", parameters=parameters))
    if rows == 0:
        raise PipelineError(f"{network}.{contract.table} has no rows for {processing_date}: run dbt build for a window holding it")
    feature_sql = ", ".join(f"toFloat32({quote_identifier(name)})" for name in contract.names)
    query = f"SELECT {key}, {feature_sql} FROM {table} WHERE {where} ORDER BY {key}"
    columns, features = stream_rows(client, query, parameters, rows, ["key"], len(contract.names), f"{network}.{contract.table}")
    return ScoringData(features=features, keys=columns["key"], processing_date=processing_date)
