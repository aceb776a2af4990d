"""The docs point at things that exist: tests they cite, modules they name, nothing outside.

The threat model backs each claim with the test that checks it; when a test
or a module moves, a stale reference would quietly leave a claim unbacked.
"""

from __future__ import annotations

import importlib
import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
DOCS = sorted([REPO / "README.md", *(REPO / "docs").glob("*.md")])

_TEST_REF = re.compile(r"`(tests/[\w/]+\.py)(?:::(\w+))?`")
_PATH_REF = re.compile(r"`((?:linkage|parties|scripts)/[\w/]+\.(?:py|toml))(?:::(\w+))?`")
_MODULE_REF = re.compile(r"`(linkage(?:\.\w+)+)`")


def _refs(pattern: re.Pattern[str]) -> list[tuple[str, str, str | None]]:
    found = []
    for doc in DOCS:
        for match in pattern.finditer(doc.read_text(encoding="utf-8")):
            groups = match.groups()
            found.append((doc.name, groups[0], groups[1] if len(groups) > 1 else None))
    return found


def test_the_docs_cite_something() -> None:
    # A check that passes on no input proves nothing: the threat model cites tests.
    assert len(_refs(_TEST_REF)) > 40
    assert _refs(_PATH_REF)


@pytest.mark.parametrize(("doc", "path", "name"), _refs(_TEST_REF))
def test_cited_tests_exist(doc: str, path: str, name: str | None) -> None:
    source = REPO / path
    assert source.is_file(), f"{doc} cites {path}, which does not exist"
    if name is not None:
        assert re.search(rf"^def {name}\(", source.read_text(), re.M), f"{doc}: {path}::{name}"


@pytest.mark.parametrize(("doc", "path", "name"), _refs(_PATH_REF))
def test_cited_files_and_definitions_exist(doc: str, path: str, name: str | None) -> None:
    source = REPO / path
    assert source.is_file(), f"{doc} names {path}, which does not exist"
    if name is not None:
        assert re.search(rf"^(def|class) {name}\b", source.read_text(), re.M), f"{doc}: {name}"


@pytest.mark.parametrize(("doc", "dotted", "_"), _refs(_MODULE_REF))
def test_named_modules_and_attributes_exist(doc: str, dotted: str, _: None) -> None:
    parts = dotted.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            target: object = importlib.import_module(".".join(parts[:cut]))
        except ModuleNotFoundError:
            continue
        for attribute in parts[cut:]:
            assert hasattr(target, attribute), f"{doc} names {dotted}"
            target = getattr(target, attribute)
        return
    pytest.fail(f"{doc} names {dotted}, which does not import")


def test_nothing_points_outside_the_repository() -> None:
    for doc in DOCS:
        assert "../shared" not in doc.read_text(encoding="utf-8"), doc.name
