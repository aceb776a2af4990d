"""Tests for linkage.io.scratch: private directories removed however the block ends."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from linkage.io import private_scratch


def test_private_scratch_is_private_and_always_removed(tmp_path: Path) -> None:
    with private_scratch(tmp_path / "state") as scratch:
        assert stat.S_IMODE(scratch.stat().st_mode) == 0o700
        (scratch / "x").write_bytes(b"tokens")
        kept = scratch
    assert not kept.exists()
    with pytest.raises(RuntimeError), private_scratch(tmp_path) as scratch:
        (scratch / "x").write_bytes(b"tokens")
        kept = scratch
        raise RuntimeError("boom")
    assert not kept.exists()
