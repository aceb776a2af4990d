"""The provider's release ledger on disk: the file primitives.

An append-only JSON-lines file, a head record, and content-addressed private
blobs (household-set hashes, released payloads) named by their SHA-256 and
verified on read, all under one directory and one exclusive lock. What the
entries mean, and the rules they enforce, is :mod:`linkage.release.ledger`;
the directory's layout and the order a release is written in are
:class:`linkage.release.ledger_store.LedgerStore`'s (it builds ``Ledger``
objects, and ``io`` sits below ``release``). This module only keeps the bytes
safe on disk.
"""

from __future__ import annotations

import fcntl
import hashlib
import io
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from linkage.errors import StateError
from linkage.io.atomic import PRIVATE_MODE, atomic_write_bytes, atomic_write_text


@contextmanager
def exclusive_lock(path: str | os.PathLike[str]) -> Iterator[None]:
    """Hold an exclusive advisory lock on ``path`` (created 0600) for the block.

    The provider's ledger check-then-append must not interleave with another
    run's, or two releases could both pass the budget. A second holder gets a
    StateError at once rather than waiting.
    """
    lock_path = Path(path)
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, PRIVATE_MODE)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise StateError(
                "another release is in progress on this ledger",
                file=str(lock_path),
                hint="wait for it to finish, then run again",
            ) from None
        yield
    finally:
        os.close(fd)  # closing the descriptor releases the lock


def read_ledger_lines(path: str | os.PathLike[str]) -> list[str]:
    """The ledger's lines; a missing file is an empty ledger.

    Raises:
        StateError: Unreadable, not UTF-8, or the last line is incomplete
            (an append was interrupted).
    """
    target = Path(path)
    try:
        data = target.read_bytes()
    except FileNotFoundError:
        return []
    except OSError:
        raise StateError("ledger is not readable", file=str(target)) from None
    if data and not data.endswith(b"\n"):
        raise StateError(
            "the ledger's last line is incomplete (interrupted append)",
            file=str(target),
            hint="restore the ledger from a backup; do not release until it verifies",
        )
    try:
        return data.decode("utf-8").splitlines()
    except UnicodeDecodeError:
        raise StateError("ledger is not valid UTF-8", file=str(target)) from None


def read_ledger_head(path: str | os.PathLike[str]) -> str | None:
    """The ledger head record, or None if there is none.

    Raises:
        StateError: Unreadable.
    """
    target = Path(path)
    try:
        return target.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError):
        raise StateError("ledger head is not readable", file=str(target)) from None


def write_ledger_head(path: str | os.PathLike[str], text: str) -> None:
    """Replace the ledger head record atomically (0600)."""
    atomic_write_text(path, text, mode=PRIVATE_MODE)


def store_ledger_blob(directory: str | os.PathLike[str], data: bytes, suffix: str = "") -> str:
    """Store ``data`` as ``DIR/<sha256><suffix>`` (0600) unless present; return the SHA-256."""
    digest = hashlib.sha256(data).hexdigest()
    target = Path(directory) / f"{digest}{suffix}"
    if not target.is_file():
        atomic_write_bytes(target, data, PRIVATE_MODE)
    return digest


def load_ledger_blob(directory: str | os.PathLike[str], digest: str, suffix: str = "") -> bytes:
    """Read ``DIR/<digest><suffix>`` and check its SHA-256.

    Raises:
        StateError: Missing, unreadable or altered.
    """
    target = Path(directory) / f"{digest}{suffix}"
    try:
        data = target.read_bytes()
    except FileNotFoundError:
        raise StateError(
            "a file referenced by the ledger is missing",
            file=str(target),
            hint="restore the provider's ledger directory from a backup",
        ) from None
    except OSError:
        raise StateError("ledger file is not readable", file=str(target)) from None
    if hashlib.sha256(data).hexdigest() != digest:
        raise StateError("ledger file was altered (digest mismatch)", file=str(target))
    return data


def store_ledger_table(directory: str | os.PathLike[str], table: pa.Table) -> str:
    """Store ``table`` as Parquet under its SHA-256 (0600); return the digest."""
    sink = io.BytesIO()
    pq.write_table(table, sink, compression="zstd")
    return store_ledger_blob(directory, sink.getvalue(), ".parquet")


def load_ledger_table(directory: str | os.PathLike[str], digest: str) -> pa.Table:
    """Read a table stored by :func:`store_ledger_table`, checking its digest.

    Raises:
        StateError: Missing, altered or unreadable.
    """
    data = load_ledger_blob(directory, digest, ".parquet")
    try:
        return pq.read_table(io.BytesIO(data))
    except (pa.ArrowInvalid, OSError):
        raise StateError("stored release is not readable", file=str(directory)) from None
