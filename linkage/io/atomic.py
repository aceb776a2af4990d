"""Atomic writes: a file is replaced whole or not at all.

Every write goes to a temp file in the target's own directory (so the final
rename stays on one filesystem and is atomic), is fsynced, renamed over the
target, and the directory is fsynced so the rename itself survives a crash.
A crash therefore leaves the old file or nothing, never half a file. The
permission bits are set on the temp file before the first byte is written,
so a private file is never visible with wider rights, even briefly.

:func:`atomic_write` is the one recipe; the typed writers (bytes, text,
Parquet, CSV) and :class:`ParquetSink` (a file written table by table)
are shapes of it. :func:`append_jsonl` is the one exception to "replace
whole": a durable append for the append-only ledger.
"""

from __future__ import annotations

import io
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import IO, Final

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from linkage.errors import StateError

PRIVATE_MODE: Final = 0o600
"""Permission bits of a party's private files (keys, state, ledger)."""

PUBLIC_MODE: Final = 0o644
"""Permission bits of files meant to be handed on (cards, sealed messages, reports)."""


def fsync_path(path: Path) -> None:
    """Flush a file or directory, named by path, to disk.

    A directory must be fsynced after a rename or link into it, or the new
    name can vanish in a crash although the file's bytes survived.
    """
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _temp_beside(path: Path, mode: int) -> tuple[int, Path]:
    """Create an empty temp file with ``mode`` next to ``path`` (creating its directory)."""
    directory = path.parent
    directory.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=directory)
    tmp = Path(tmp_name)
    try:
        # mkstemp creates 0600; widen (or keep) before any byte is visible under `path`.
        os.fchmod(fd, mode)
    except BaseException:
        os.close(fd)
        tmp.unlink(missing_ok=True)
        raise
    return fd, tmp


def atomic_write(
    path: Path,
    mode: int,
    write: Callable[[IO[bytes]], None],
    before_rename: Callable[[], None] = lambda: None,
) -> None:
    """Replace ``path`` with whatever ``write`` streams into the handle it is given.

    The recipe behind every writer here, for callers that produce their
    bytes as a stream (copying or sealing a message larger than memory).

    Args:
        path: Target file; missing directories are created.
        mode: Permission bits of the new file.
        write: Writes the new contents to the (binary) handle.
        before_rename: Runs once the contents are durable and before they
            appear under ``path``; an exception here leaves ``path`` as it was.
    """
    fd, tmp = _temp_beside(path, mode)
    try:
        with os.fdopen(fd, "wb") as handle:
            write(handle)
            handle.flush()
            os.fsync(handle.fileno())
        before_rename()
        tmp.replace(path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    fsync_path(path.parent)


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes, mode: int = PUBLIC_MODE) -> None:
    """Replace ``path`` with ``data`` atomically.

    Args:
        path: Target file; missing directories are created.
        data: New contents.
        mode: Permission bits of the new file.
    """

    def write(handle: IO[bytes]) -> None:
        handle.write(data)

    atomic_write(Path(path), mode, write)


def atomic_write_text(path: str | os.PathLike[str], text: str, mode: int = PUBLIC_MODE) -> None:
    """Replace ``path`` with UTF-8 ``text`` atomically."""
    atomic_write_bytes(path, text.encode("utf-8"), mode)


def atomic_write_parquet(
    path: str | os.PathLike[str], table: pa.Table, mode: int = PUBLIC_MODE
) -> None:
    """Write ``table`` as Parquet (zstd) atomically, streaming to the temp file."""

    def write(handle: IO[bytes]) -> None:
        pq.write_table(table, handle, compression="zstd")

    atomic_write(Path(path), mode, write)


def atomic_write_csv(path: Path, table: pa.Table) -> None:
    """Write ``table`` as CSV atomically."""
    sink = io.BytesIO()
    pacsv.write_csv(table, sink)
    atomic_write_bytes(path, sink.getvalue())


class ParquetSink:
    """A Parquet file written table by table, atomically: a context manager.

    Tables go to a temp file in the target's directory; a clean exit fsyncs and
    renames it over ``path``, an exception deletes it. Memory holds one row
    group at a time, so files larger than memory can be written.

    Example: ``with ParquetSink(path, schema) as sink: sink.write(table)``.
    """

    def __init__(
        self, path: str | os.PathLike[str], schema: pa.Schema, mode: int = PUBLIC_MODE
    ) -> None:
        """Remember the target; the temp file is created on entry."""
        self.path, self.schema, self.mode = Path(path), schema, mode
        self.rows = 0
        self._tmp: Path | None = None
        self._writer: pq.ParquetWriter | None = None

    def __enter__(self) -> ParquetSink:
        """Create the temp file (with ``mode``) and open the Parquet writer."""
        fd, tmp = _temp_beside(self.path, self.mode)
        os.close(fd)
        self._tmp = tmp
        self._writer = pq.ParquetWriter(str(tmp), self.schema, compression="zstd")
        return self

    def write(self, table: pa.Table) -> None:
        """Append ``table`` (which must have the sink's schema)."""
        if self._writer is None:
            raise StateError("ParquetSink.write outside its with-block", file=str(self.path))
        self._writer.write_table(table)
        self.rows += table.num_rows

    def __exit__(self, kind: type[BaseException] | None, error: object, tb: object) -> None:
        """Publish the file on success; delete the temp file on failure."""
        writer, tmp = self._writer, self._tmp
        self._writer = self._tmp = None
        if writer is None or tmp is None:
            return
        try:
            writer.close()
            if kind is None:
                fsync_path(tmp)
                tmp.replace(self.path)
        finally:
            tmp.unlink(missing_ok=True)
        if kind is None:
            fsync_path(self.path.parent)


def append_jsonl(path: Path, line: str) -> None:
    """Append one JSON line durably (the ledger is append-only).

    Not a replace-whole write: the ledger only grows, and a crash mid-append
    leaves a torn last line that :func:`linkage.io.read_ledger_lines` refuses.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, PRIVATE_MODE)
    try:
        os.write(fd, line.rstrip("\n").encode() + b"\n")
        os.fsync(fd)
    finally:
        os.close(fd)
