"""A party's private caches: tables it may reuse from one exchange to the next.

A cache is an optimisation, never an input the run depends on: a missing or
unreadable file reads as no cache (the run recomputes everything and writes a
new one), and it is written atomically, 0600, so a crash leaves the old file
or the new one. What a cache holds is its owner's concern
(:mod:`linkage.encode.reuse` says what the campaign's holds: normalised PII).
"""

from __future__ import annotations

import os
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from linkage.io.atomic import PRIVATE_MODE, atomic_write_parquet

__all__ = ["read_private_cache", "remove_private_cache", "write_private_cache"]


def read_private_cache(path: str | os.PathLike[str]) -> pa.Table | None:
    """The cached table at ``path``, or None when there is none or it cannot be read."""
    target = Path(path)
    if not target.is_file():
        return None
    try:
        return pq.read_table(target)
    except (OSError, pa.ArrowException):
        return None  # a torn or foreign file: recompute rather than trust it


def write_private_cache(path: str | os.PathLike[str], table: pa.Table) -> None:
    """Replace the cache at ``path`` atomically, readable by its owner only (0600)."""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    atomic_write_parquet(path, table, mode=PRIVATE_MODE)


def remove_private_cache(path: str | os.PathLike[str]) -> bool:
    """Delete the cache at ``path`` (a party that opts out keeps no copy); True if one was there."""
    target = Path(path)
    existed = target.is_file()
    target.unlink(missing_ok=True)
    return existed
