"""The README's feature catalogue, generated from the built tables and the dbt yml (via the manifest), never
copied by hand.

`python -m trainer.catalogue [--network N]` prints it (after dbt build); `--write README.md` replaces the block
between the catalogue markers.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from clickhouse_connect.driver.client import Client

from trainer.cli_support import run_cli
from trainer.config import project_var
from trainer.connection import connect, validate_network
from trainer.contract import load_contract
from trainer.errors import PipelineError

START_MARKER = "<!-- feature-catalogue:start -->"
END_MARKER = "<!-- feature-catalogue:end -->"


def render_catalogue(client: Client, network: str, manifest: Path | None = None) -> str:
    lines = ["| model type | family | feature | meaning |", "|---|---|---|---|"]
    for model_types, model_type in (("alert_scorer, alert_ranker", "alert_scorer"), ("cluster_scorer", "cluster_scorer")):
        contract = load_contract(model_type, client, network, manifest=manifest)
        for feature in sorted(contract.features, key=lambda f: (f.family, contract.names.index(f.name))):
            meaning = " ".join(feature.description.split()).replace("|", "\\|") or "(not described)"
            lines.append(f"| {model_types} | {feature.family} | `{feature.name}` | {meaning} |")
    return "\n".join(lines)


def write_into(readme: Path, catalogue: str) -> None:
    text = readme.read_text()
    start, end = text.find(START_MARKER), text.find(END_MARKER)
    if start < 0 or end < start:
        raise PipelineError(f"{readme} has no {START_MARKER} ... {END_MARKER} block")
    readme.write_text(f"{text[:start]}{START_MARKER}\n{catalogue}\n{text[end:]}")


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m trainer.catalogue", description="Print the feature catalogue of a built network.")
    parser.add_argument("--network", help="network to read the built tables of (default: the dbt project's network var)")
    parser.add_argument("--write", type=Path, help="replace the catalogue block of this markdown file")
    args = parser.parse_args()
    network = validate_network(args.network or str(project_var("network")))
    with connect() as client:
        catalogue = render_catalogue(client, network)
    if args.write:
        write_into(args.write, catalogue)
    else:
        print(catalogue)


if __name__ == "__main__":
    run_cli(main)
