"""`python -m trainer.ingest --network N --source DIR`: load every drop of a network into its raw tables."""

from __future__ import annotations

import argparse
from pathlib import Path

from trainer.arguments import validate_network
from trainer.cli import run_cli
from trainer.ingest.load import ingest
from trainer.store.connection import connect


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m trainer.ingest", description="Load upstream drops into the raw tables.")
    parser.add_argument("--network", required=True, help="network = ClickHouse database, e.g. ethereum")
    parser.add_argument("--source", required=True, type=Path, help="directory holding <network>/<date>/<N>d/ drops")
    args = parser.parse_args()
    network = validate_network(args.network)
    with connect() as client:
        ingest(client, network, args.source.resolve())


if __name__ == "__main__":
    run_cli(main)
