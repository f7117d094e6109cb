"""The feature catalogue in docs/ is generated from the built tables, the dbt yml and dbt's catalog, and must match them."""

from __future__ import annotations

from tests.conftest import REPO
from trainer.features.catalogue import END_MARKER, START_MARKER, render_catalogue

CATALOGUE = REPO / "docs" / "feature-catalogue.md"


def test_feature_catalogue_is_current(client, ethereum_docs) -> None:
    text = CATALOGUE.read_text()
    block = text[text.index(START_MARKER) + len(START_MARKER) : text.index(END_MARKER)].strip()
    rendered = render_catalogue(client, "ethereum", manifest=ethereum_docs)
    assert block == rendered, "run: dbt docs generate, then python -m trainer.catalogue --write docs/feature-catalogue.md"
