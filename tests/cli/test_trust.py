"""trust refuses, in one line and writing nothing, what a later step would fail on."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import cli, ok


def _files(root: Path) -> dict[str, bytes]:
    return {str(p): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def test_a_campaign_card_needs_its_organisation_at_the_provider(homes: Path) -> None:
    other = homes.parent / "other"
    ok("campaign", "init", "--home", other, "--name", "other-campaign")
    before = _files(homes)
    ran = cli("provider", "trust", "--home", homes / "provider", other / "card.json")
    assert ran.code == 2 and "--org" in ran.stderr and ran.stderr.count("\n") == 1
    assert _files(homes) == before


def test_a_second_matcher_card_is_refused(homes: Path) -> None:
    other = homes.parent / "other"
    ok("matcher", "init", "--home", other, "--name", "other-matcher")
    before = _files(homes)
    ran = cli("campaign", "trust", "--home", homes / "campaign", other / "card.json")
    assert ran.code == 2 and "already trusts a matcher card" in ran.stderr
    assert _files(homes) == before
    # The same card again is fine (nothing changes).
    assert (
        cli("campaign", "trust", "--home", homes / "campaign", homes / "matcher/card.json").code
        == 0
    )
