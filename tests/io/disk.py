"""Shared helpers for the io tests: what a file's mode and a directory's listing are."""

from __future__ import annotations

import stat
from pathlib import Path


def mode_of(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def listing(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir())
