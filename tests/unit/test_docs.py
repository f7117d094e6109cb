"""The README opens with the two commands, and every file the documentation points to exists."""

from __future__ import annotations

import re

from tests.conftest import REPO

DOCUMENTS = [REPO / "README.md", *(REPO / "docs").glob("*.md"), REPO / "benchmarks" / "README.md"]
LINK = re.compile(r"\]\((?!https?://|#)([^)#\s]+)")
CODE_PATH = re.compile(r"`((?:trainer|tests|dbt_project|benchmarks|adapters|docs)/[A-Za-z0-9_./-]+)`")


def test_readme_opens_with_the_two_commands() -> None:
    head = (REPO / "README.md").read_text()[:400]
    assert head.index("make demo") < head.index("make test")


def test_links_and_named_paths_exist() -> None:
    missing = []
    for document in DOCUMENTS:
        text = document.read_text()
        for target in LINK.findall(text):
            if not (document.parent / target).exists():
                missing.append(f"{document.relative_to(REPO)} links {target}")
        for path in CODE_PATH.findall(text):
            if "*" not in path and not (REPO / path.rstrip("/")).exists():
                missing.append(f"{document.relative_to(REPO)} names {path}")
    assert not missing, missing
