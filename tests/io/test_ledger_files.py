"""Tests for linkage.io.ledger_files: the ledger's lock."""

from __future__ import annotations

from pathlib import Path

import pytest

from linkage.errors import StateError
from linkage.io import exclusive_lock


def test_exclusive_lock_refuses_a_second_holder(tmp_path: Path) -> None:
    lock = tmp_path / "ledger" / ".lock"
    with exclusive_lock(lock):
        second = exclusive_lock(lock)
        with pytest.raises(StateError, match="another release"):
            second.__enter__()
    with exclusive_lock(tmp_path / "ledger" / ".lock"):  # released on exit
        pass
