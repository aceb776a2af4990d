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


_MD_LINK = re.compile(r"\]\(([^)\s]+)\)")
_MD_NAME = re.compile(r"[\w./-]*\.md\b")


def test_nothing_points_outside_the_repository() -> None:
    # Someone who only clones has the repository and nothing beside it.
    for doc in DOCS:
        text = doc.read_text(encoding="utf-8")
        assert "../" not in text, f"{doc.name} points above the repository"
        for target in _MD_LINK.findall(text):
            if target.startswith("#"):
                continue
            assert "://" not in target, f"{doc.name} links outside the repository: {target}"
            path = (doc.parent / target.split("#")[0]).resolve()
            assert path.is_relative_to(REPO) and path.exists(), f"{doc.name}: {target}"
        for name in _MD_NAME.findall(text):
            found = [base / name for base in (REPO, doc.parent) if (base / name).is_file()]
            assert found, f"{doc.name} names {name}, which is not in the repository"


def test_the_protocol_lists_every_message_kind_with_its_route() -> None:
    from linkage.protocol.envelope.allow_lists import KIND_SPECS

    protocol = (REPO / "docs" / "PROTOCOL.md").read_text(encoding="utf-8")
    for kind, spec in KIND_SPECS.items():
        row = f"| `{kind}` | {spec.sender_role} -> {spec.recipient_role} |"
        assert row in protocol, f"docs/PROTOCOL.md: no row for {kind}"
        line = next(line for line in protocol.splitlines() if line.startswith(row))
        for rule in spec.columns:
            shown = f"`{rule.name}*`" if rule.prefix else f"`{rule.name}`"
            assert shown in line, f"docs/PROTOCOL.md: {kind} row lacks {rule.name}"


def test_the_census_worked_schema_is_the_shipped_one() -> None:
    from linkage.encode.schema import shipped_schema_text

    text = (REPO / "docs" / "SCHEMA.md").read_text(encoding="utf-8")
    found = re.search(r"### 2\. A census-style person file.*?```toml\n(.*?)```", text, re.S)
    assert found is not None
    shipped = shipped_schema_text("census_people")
    assert shipped.split("\n", 1)[1] == found.group(1)
