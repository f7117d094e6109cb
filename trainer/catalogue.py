"""`python -m trainer.catalogue [--network N] [--write README.md] [--write-lineage-docs [PATH]]`: print the feature
catalogue of a built network (trainer.features.catalogue), or replace the block between the catalogue markers of a
markdown file, and/or write the dbt doc blocks of the feature lineage. The raw columns of each feature come from the
compiled SQL and catalog of the last `dbt docs generate`; without them the command fails saying so."""

from __future__ import annotations

import argparse
from pathlib import Path

from loguru import logger

from trainer.arguments import resolve_network
from trainer.cli import run_cli
from trainer.features.catalogue import lineage_docs_path, render_catalogue, render_lineage_docs, write_into
from trainer.features.lineage import load_resolver
from trainer.store.connection import connect


def main() -> None:
    parser = argparse.ArgumentParser(
        prog="python -m trainer.catalogue", description="Print the feature catalogue of a built network (after dbt docs generate)."
    )
    parser.add_argument("--network", help="network to read the built tables of (default: the dbt project's network var)")
    parser.add_argument("--write", type=Path, help="replace the catalogue block of this markdown file")
    parser.add_argument(
        "--write-lineage-docs",
        type=Path,
        nargs="?",
        const=lineage_docs_path(),
        metavar="PATH",
        help="write the dbt doc blocks lineage_<training table> (default: dbt_project/models/docs/feature_lineage.md)",
    )
    args = parser.parse_args()
    network = resolve_network(args.network)
    resolver = load_resolver()  # fails in one line before anything is read when dbt docs generate has not run
    with connect() as client:
        catalogue = render_catalogue(client, network, resolver=resolver)
        lineage_docs = render_lineage_docs(client, network, resolver=resolver) if args.write_lineage_docs else ""
    if args.write_lineage_docs:
        args.write_lineage_docs.write_text(lineage_docs)
        logger.info(f"wrote the feature lineage doc blocks to {args.write_lineage_docs}")
    if args.write:
        write_into(args.write, catalogue)
    elif not args.write_lineage_docs:
        print(catalogue)


if __name__ == "__main__":
    run_cli(main)
