"""Read the finished alert-grain training table three ways in one process and print seconds and ratios.

    CHDB_PATH=... python -m benchmarks.extraction --network ethereum

1. the trainer's reader, `trainer.evaluation.extract.extract`: Arrow record batches copied into one float32 matrix, on the
   embedded engine from chDB's own Arrow stream (training runs read their training and test rows the same
   way, as two queries);
2. clickhouse-connect's `query_arrow` (on chDB it materialises the whole Arrow result first), into the same matrix;
3. clickhouse-connect's `query_df` (a pandas frame), then `.to_numpy(float32)`;
4. the row path of the seed design: `result_rows` into a DataFrame, then `.to_numpy(float32)`.

Each path reads the whole table REPEATS times; the best time counts.
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np

from trainer.arguments import validate_network
from trainer.cli import run_cli
from trainer.evaluation.extract import extract, table_window
from trainer.features.contract import load_contract
from trainer.model_types import model_spec
from trainer.store.connection import connect, quote_identifier

REPEATS = 2  # each path runs this often, in turn; the best time counts


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.extraction")
    parser.add_argument("--network", default="ethereum")
    args = parser.parse_args()
    import pandas as pd

    network = validate_network(args.network)
    client = connect()
    spec = model_spec("alert_scorer")
    contract = load_contract(spec, client, network)
    start, end = table_window(client, network, contract.table)
    columns = ", ".join(quote_identifier(name) for name in contract.names)
    query = f"SELECT processing_date, alert_id, address, label, label_weight, {columns} FROM {quote_identifier(network)}.training_alerts"

    def trainer_path() -> int:
        return extract(client, network, start, end, spec, contract).rows

    def client_arrow() -> int:
        table = client.query_arrow(query)
        matrix = np.empty((table.num_rows, len(contract.names)), dtype=np.float32, order="F")
        for j, name in enumerate(contract.names):
            matrix[:, j] = table.column(name).to_numpy()
        return table.num_rows

    def client_df() -> int:
        return client.query_df(query)[contract.names].to_numpy(dtype="float32").shape[0]

    def row_path() -> int:
        result = client.query(query)
        return pd.DataFrame(result.result_rows, columns=result.column_names)[contract.names].to_numpy(dtype="float32").shape[0]

    paths = {"arrow_stream": trainer_path, "query_arrow": client_arrow, "query_df": client_df, "result_rows": row_path}
    seconds: dict[str, float] = {}
    for name, read in paths.items():
        timings = []
        for _ in range(REPEATS):
            started = time.perf_counter()
            rows = read()
            timings.append(time.perf_counter() - started)
        seconds[name] = min(timings)
    client.close()
    print(json.dumps({"rows": rows, "repeats": REPEATS, "features": len(contract.names), "seconds": seconds}))


if __name__ == "__main__":
    run_cli(main)
