"""Tests for linkage.io.atomic: a file is replaced whole or not at all."""

from __future__ import annotations

import os
from pathlib import Path
from typing import IO

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from linkage.io import atomic_write_bytes, atomic_write_parquet, atomic_write_text
from tests.io.disk import listing, mode_of


def test_atomic_write_creates_and_replaces(tmp_path: Path) -> None:
    target = tmp_path / "out.bin"
    atomic_write_bytes(target, b"one")
    assert target.read_bytes() == b"one"
    assert mode_of(target) == 0o644
    atomic_write_text(target, "twö", mode=0o600)
    assert target.read_text(encoding="utf-8") == "twö"
    assert mode_of(target) == 0o600
    assert listing(tmp_path) == ["out.bin"]


def test_atomic_write_keeps_old_file_when_write_fails(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "out.bin"
    atomic_write_bytes(target, b"old contents")

    def broken_fsync(fd: int) -> None:
        raise OSError("disk on fire")

    monkeypatch.setattr(os, "fsync", broken_fsync)
    with pytest.raises(OSError, match="disk on fire"):
        atomic_write_bytes(target, b"new contents that never land")
    assert target.read_bytes() == b"old contents"
    assert listing(tmp_path) == ["out.bin"]


def test_atomic_parquet_round_trip_and_failure(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "t.parquet"
    table = pa.table({"a": [1, 2, 3], "b": ["x", "y", None]})
    atomic_write_parquet(target, table)
    assert pq.read_table(target).equals(table)

    def half_write(tbl: pa.Table, where: IO[bytes], compression: str) -> None:
        where.write(b"PAR1 partial")
        raise KeyboardInterrupt

    monkeypatch.setattr(pq, "write_table", half_write)
    with pytest.raises(KeyboardInterrupt):
        atomic_write_parquet(target, pa.table({"a": [9]}))
    assert pq.read_table(target).equals(table)
    assert listing(tmp_path) == ["t.parquet"]


def test_atomic_write_creates_missing_directories(tmp_path: Path) -> None:
    atomic_write_bytes(tmp_path / "a" / "b" / "x", b"data")
    assert (tmp_path / "a" / "b" / "x").read_bytes() == b"data"
    assert listing(tmp_path / "a" / "b") == ["x"]
