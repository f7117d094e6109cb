"""Read the finished alert-grain training table three ways in one process and print seconds and ratios.

    CHDB_PATH=... python -m benchmarks.extraction --network ethereum

1. the trainer's path: Arrow record batches copied into one float32 matrix (trainer.extract);
2. clickhouse-connect's `query_df` (a pandas frame), then `.to_numpy(float32)`;
3. the row path of the seed design: `result_rows` into a DataFrame, then `.to_numpy(float32)`.
"""

from __future__ import annotations

import argparse
import json
import time

from trainer.cli_support import run_cli
from trainer.connection import connect, quote_identifier, validate_network
from trainer.contract import load_contract
from trainer.extract import extract, table_window


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.extraction")
    parser.add_argument("--network", default="ethereum")
    args = parser.parse_args()
    import pandas as pd

    network = validate_network(args.network)
    client = connect()
    contract = load_contract("alert_scorer")
    start, end = table_window(client, network, contract.table)
    columns = ", ".join(quote_identifier(name) for name in contract.names)
    query = f"SELECT processing_date, alert_id, address, label, label_weight, {columns} FROM {quote_identifier(network)}.training_alerts"
    seconds: dict[str, float] = {}
    started = time.perf_counter()
    data = extract(client, network, start, end, contract)
    seconds["arrow_stream"] = time.perf_counter() - started
    started = time.perf_counter()
    frame = client.query_df(query)
    frame[contract.names].to_numpy(dtype="float32")
    seconds["query_df"] = time.perf_counter() - started
    del frame
    started = time.perf_counter()
    result = client.query(query)
    rows = pd.DataFrame(result.result_rows, columns=result.column_names)
    rows[contract.names].to_numpy(dtype="float32")
    seconds["result_rows"] = time.perf_counter() - started
    print(json.dumps({"rows": data.rows, "features": len(contract.names), "seconds": seconds}))


if __name__ == "__main__":
    run_cli(main)
