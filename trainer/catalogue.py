"""The README's feature catalogue, generated from the dbt yml (via the manifest), never copied by hand.

`python -m trainer.catalogue` prints it; `python -m trainer.catalogue --write README.md` replaces the block
between the catalogue markers.
"""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path

from trainer.cli_support import run_cli
from trainer.contract import load_contract, manifest_path
from trainer.errors import PipelineError

START_MARKER = "<!-- feature-catalogue:start -->"
END_MARKER = "<!-- feature-catalogue:end -->"


def render_catalogue(manifest: Path | None = None) -> str:
    manifest = manifest or manifest_path()
    nodes = json.loads(manifest.read_text())["nodes"]
    docs = {}
    for node in nodes.values():
        if node["resource_type"] == "model":
            for column in node["columns"].values():
                docs.setdefault((node["name"], column["name"]), column["description"])
    lines = ["| model type | family | feature | meaning |", "|---|---|---|---|"]
    for model_types, model_type in (("alert_scorer, alert_ranker", "alert_scorer"), ("cluster_scorer", "cluster_scorer")):
        contract = load_contract(model_type, manifest)
        for feature in sorted(contract.features, key=lambda f: (f.family, contract.names.index(f.name))):
            meaning = " ".join(docs.get((contract.table, feature.name), "").split()).replace("|", "\\|")
            lines.append(f"| {model_types} | {feature.family} | `{feature.name}` | {meaning} |")
    return "\n".join(lines)


def write_into(readme: Path, catalogue: str) -> None:
    text = readme.read_text()
    pattern = re.compile(re.escape(START_MARKER) + ".*?" + re.escape(END_MARKER), re.DOTALL)
    if not pattern.search(text):
        raise PipelineError(f"{readme} has no {START_MARKER} ... {END_MARKER} block")
    readme.write_text(pattern.sub(lambda _: f"{START_MARKER}\n{catalogue}\n{END_MARKER}", text))


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m trainer.catalogue", description="Print the feature catalogue from the dbt manifest.")
    parser.add_argument("--write", type=Path, help="replace the catalogue block of this markdown file")
    args = parser.parse_args()
    catalogue = render_catalogue()
    if args.write:
        write_into(args.write, catalogue)
    else:
        print(catalogue)


if __name__ == "__main__":
    run_cli(main)
