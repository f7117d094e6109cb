"""The README's feature catalogue, generated from the built tables and the dbt yml (via the manifest), never
copied by hand.

`python -m trainer.features.catalogue [--network N]` prints it (after dbt build); `--write README.md` replaces the block
between the catalogue markers.
"""

from __future__ import annotations

from pathlib import Path

from clickhouse_connect.driver.client import Client

from trainer.errors import PipelineError
from trainer.features.contract import load_contract
from trainer.model_types import MODEL_SPECS, ModelSpec

START_MARKER = "<!-- feature-catalogue:start -->"
END_MARKER = "<!-- feature-catalogue:end -->"


def render_catalogue(client: Client, network: str, manifest: Path | None = None) -> str:
    lines = ["| model type | family | feature | meaning |", "|---|---|---|---|"]
    types_by_table: dict[str, list[ModelSpec]] = {}
    for spec in MODEL_SPECS.values():
        types_by_table.setdefault(spec.training_table, []).append(spec)
    for specs in types_by_table.values():
        model_types = ", ".join(spec.name for spec in specs)
        contract = load_contract(specs[0], client, network, manifest=manifest)
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
