"""The README's feature catalogue is generated from the dbt yml and must match it."""

from __future__ import annotations

from pathlib import Path

from trainer.catalogue import END_MARKER, START_MARKER, render_catalogue

README = Path(__file__).resolve().parent.parent / "README.md"


def test_feature_catalogue_is_current(client, ethereum) -> None:
    text = README.read_text()
    block = text[text.index(START_MARKER) + len(START_MARKER) : text.index(END_MARKER)].strip()
    assert block == render_catalogue(client, "ethereum"), "run: python -m trainer.catalogue --write README.md"


def test_readme_opens_with_the_two_commands() -> None:
    head = README.read_text()[:400]
    assert head.index("make demo") < head.index("make test")
