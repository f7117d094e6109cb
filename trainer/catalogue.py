"""`python -m trainer.catalogue [--network N] [--write README.md]`: print the feature catalogue of a built network
(trainer.features.catalogue), or replace the block between the catalogue markers of a markdown file."""

from __future__ import annotations

import argparse
from pathlib import Path

from trainer.arguments import resolve_network
from trainer.cli import run_cli
from trainer.features.catalogue import render_catalogue, write_into
from trainer.store.connection import connect


def main() -> None:
    parser = argparse.ArgumentParser(
        prog="python -m trainer.features.catalogue", description="Print the feature catalogue of a built network."
    )
    parser.add_argument("--network", help="network to read the built tables of (default: the dbt project's network var)")
    parser.add_argument("--write", type=Path, help="replace the catalogue block of this markdown file")
    args = parser.parse_args()
    network = resolve_network(args.network)
    with connect() as client:
        catalogue = render_catalogue(client, network)
    if args.write:
        write_into(args.write, catalogue)
    else:
        print(catalogue)


if __name__ == "__main__":
    run_cli(main)
