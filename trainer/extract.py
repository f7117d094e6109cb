"""Stream a finished training table from ClickHouse through Arrow into numpy arrays for LightGBM.

Features arrive as float32 record batches and are copied column by column into one preallocated matrix:
no pandas frame, no Python object per row. Keys and entities travel as 64-bit hashes computed in SQL.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import date

import numpy as np
from clickhouse_connect.driver.client import Client
from loguru import logger

from trainer.connection import quote_identifier, table_exists
from trainer.contract import KEY_COLUMNS, FeatureContract
from trainer.errors import PipelineError


@dataclass
class TrainingData:
    features: np.ndarray  # float32, rows x features, C order
    label: np.ndarray  # uint8
    weight: np.ndarray  # float32, the label's confidence
    grade: np.ndarray  # uint8 relevance grade (alert tables) or the label (cluster table)
    processing_date: np.ndarray  # datetime64[D]
    entity: np.ndarray  # uint64 hash of the address (for clusters: the primary address)
    key: np.ndarray  # uint64 hash of the alert or cluster id
    feature_names: list[str]

    @property
    def rows(self) -> int:
        return int(self.label.shape[0])

    def subset(self, mask: np.ndarray) -> TrainingData:
        return TrainingData(
            features=self.features[mask],
            label=self.label[mask],
            weight=self.weight[mask],
            grade=self.grade[mask],
            processing_date=self.processing_date[mask],
            entity=self.entity[mask],
            key=self.key[mask],
            feature_names=self.feature_names,
        )

    def fingerprint(self) -> str:
        """Row count and a hash over keys, dates and labels, in table order."""
        digest = hashlib.sha256()
        for array in (self.key, self.processing_date.astype("int64"), self.label):
            digest.update(np.ascontiguousarray(array).tobytes())
        return f"{self.rows}:{digest.hexdigest()[:24]}"


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
    present = {
        row[0]
        for row in client.query(
            "SELECT name FROM system.columns WHERE database = {database:String} AND table = {table:String}",
            parameters={"database": network, "table": contract.table},
        ).result_rows
    }
    missing = [name for name in contract.names if name not in present]
    if missing:
        raise PipelineError(f"table {network}.{contract.table} lacks feature columns of its contract: {', '.join(missing)}")


def extract(client: Client, network: str, start: date, end: date, contract: FeatureContract) -> TrainingData:
    """The rows of the training table for the network and window, ordered by date and key."""
    check_table(client, network, contract)
    table = f"{quote_identifier(network)}.{quote_identifier(contract.table)}"
    key = KEY_COLUMNS[contract.table]
    grade = "relevance_grade" if contract.table == "training_alerts" else "label"
    where = "network = {network:String} AND processing_date BETWEEN {start:Date} AND {end:Date}"
    parameters = {"network": network, "start": start, "end": end}
    rows = int(client.command(f"SELECT count() FROM {table} WHERE {where}", parameters=parameters))
    if rows == 0:
        raise PipelineError(f"{network}.{contract.table} has no rows between {start} and {end}")
    feature_sql = ", ".join(f"toFloat32({quote_identifier(name)})" for name in contract.names)
    query = (
        f"SELECT processing_date, cityHash64({key}) AS key_hash, cityHash64(address) AS entity_hash, "
        f"toUInt8(label) AS label, toFloat32(label_weight) AS weight, toUInt8({grade}) AS grade, {feature_sql} "
        f"FROM {table} WHERE {where} ORDER BY processing_date, {key}"
    )
    width = len(contract.names)
    features = np.empty((rows, width), dtype=np.float32)
    columns: dict[str, list[np.ndarray]] = {name: [] for name in ("processing_date", "key", "entity", "label", "weight", "grade")}
    filled = 0
    with client.query_arrow_stream(query, parameters=parameters) as stream:
        for batch in stream:
            size = batch.num_rows
            if filled + size > rows:
                raise PipelineError(f"{network}.{contract.table} changed while it was read; run again")
            for position, name in enumerate(columns):
                columns[name].append(batch.column(position).to_numpy(zero_copy_only=False))
            for j in range(width):
                features[filled : filled + size, j] = batch.column(6 + j).to_numpy(zero_copy_only=False)
            filled += size
    if filled != rows:
        raise PipelineError(f"{network}.{contract.table} changed while it was read; run again")
    data = TrainingData(
        features=features,
        label=np.concatenate(columns["label"]).astype(np.uint8),
        weight=np.concatenate(columns["weight"]).astype(np.float32),
        grade=np.concatenate(columns["grade"]).astype(np.uint8),
        processing_date=np.concatenate(columns["processing_date"]).astype("datetime64[D]"),
        entity=np.concatenate(columns["entity"]).astype(np.uint64),
        key=np.concatenate(columns["key"]).astype(np.uint64),
        feature_names=contract.names,
    )
    logger.bind(network=network, table=contract.table, rows=rows, features=width, matrix_mb=round(features.nbytes / 2**20, 1)).info(
        "training table extracted"
    )
    return data
