"""A party's home: one place names every file, and its errors say what to run."""

from __future__ import annotations

from pathlib import Path

import pytest

from linkage.errors import StateError
from linkage.io import PartyHome, save_identity, write_card
from linkage.protocol import Identity


def test_every_path_of_a_home(tmp_path: Path) -> None:
    home = PartyHome(tmp_path / "h")
    root = tmp_path / "h"
    assert home.secret_path == root / "keys" / "secret.key"
    assert home.seen_path("x1") == root / "state" / "x1" / "seen.json"
    assert home.rid_map_path("x1") == root / "state" / "x1" / "rids.parquet"
    assert home.segment_codes_path("x1") == root / "state" / "x1" / "segments.json"
    assert home.inbox_message("x1", "viewership") == root / "inbox" / "x1.viewership.nwl"
    assert home.outbox_message("x1", "assignments") == root / "outbox" / "x1.assignments.nwl"
    home.create_dirs()
    assert all((root / d).is_dir() for d in ("contacts", "inbox", "outbox", "state", "ledger"))


def test_a_directory_without_a_card_is_not_a_home(tmp_path: Path) -> None:
    with pytest.raises(StateError, match="not a party home") as info:
        PartyHome(tmp_path).identity()
    assert "init" in (info.value.hint or "")


def test_a_missing_peer_names_the_command_for_this_home(tmp_path: Path, campaign: Identity) -> None:
    home = PartyHome(tmp_path / "c")
    home.create_dirs()
    save_identity(home.keys, campaign)
    write_card(home.card_path, campaign.card())
    with pytest.raises(StateError, match="exactly one trusted matcher card, found 0") as info:
        home.peer("matcher")
    # The hint is a command to run as this party, not a placeholder.
    assert "narwhal campaign trust" in (info.value.hint or "")
    assert "<role>" not in (info.value.hint or "")
