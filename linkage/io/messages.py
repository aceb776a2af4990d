"""Sealed message files: writing, copying, reading and opening them on disk.

The envelope format itself is :mod:`linkage.protocol.envelope`; this module
only moves its bytes safely. Messages are written 0644 (they are encrypted)
and atomically, so a recipient never sees half a message. Payloads can be
larger than memory, so opening verifies the whole file in a streaming pass
and then decrypts it into a private scratch file that Arrow reads from,
removed when the caller is done. A message is sealed straight from a
Parquet file for the same reason.

The seen-message state (the replay guard) lives here too: it records which
messages a party has consumed, so it is read and written with them; it is
private state (0600).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import IO

import pyarrow as pa
import pyarrow.parquet as pq

from linkage.errors import MessageError, StateError
from linkage.io.atomic import (
    PRIVATE_MODE,
    PUBLIC_MODE,
    atomic_write,
    atomic_write_bytes,
    atomic_write_text,
)
from linkage.io.scratch import private_scratch
from linkage.protocol import (
    Identity,
    Manifest,
    OpenedMessage,
    PartyCard,
    ReplayGuard,
    VerifiedMessage,
    check_payload,
    open_stream,
    read_payload,
    seal_parquet,
)


@contextmanager
def _reading_message(path: Path) -> Iterator[None]:
    """Turn a failure to read message file ``path`` into a MessageError naming it."""
    try:
        yield
    except FileNotFoundError:
        raise MessageError("message file not found", file=str(path)) from None
    except OSError:
        raise MessageError("message file is not readable", file=str(path)) from None


def write_message(path: str | os.PathLike[str], data: bytes) -> None:
    """Write sealed message bytes atomically (0644: they are encrypted)."""
    atomic_write_bytes(path, data)


def copy_message(src: str | os.PathLike[str], dst: str | os.PathLike[str]) -> None:
    """Copy a message file atomically, streaming (a courier never holds a 3 GB file).

    Raises:
        MessageError: The source is missing or unreadable.
    """
    source = Path(src)

    def write(handle: IO[bytes]) -> None:
        with _reading_message(source), source.open("rb") as reader:
            shutil.copyfileobj(reader, handle, 1 << 20)

    atomic_write(Path(dst), PUBLIC_MODE, write)


def read_message_bytes(path: str | os.PathLike[str]) -> bytes:
    """Read a message file.

    Raises:
        MessageError: Missing or unreadable.
    """
    target = Path(path)
    with _reading_message(target):
        return target.read_bytes()


@contextmanager
def _decrypted_payload(
    path: str | os.PathLike[str],
    *,
    me: Identity,
    contacts: Mapping[str, PartyCard],
    expected_kind: str,
    expected_exchange: str,
    scratch: str | os.PathLike[str] | None,
) -> Iterator[tuple[VerifiedMessage, Path]]:
    """Verify a message and decrypt its payload into a private scratch file for the block.

    The file lives in a 0700 directory under ``scratch`` (default: the
    system temp directory) and is removed when the block ends, however it
    ends.

    Raises:
        MessageError: Missing, unreadable or rejected.
    """
    target = Path(path)
    with _reading_message(target):
        src = target.open("rb")
    with src, private_scratch(scratch or tempfile.gettempdir()) as tmp:
        plain_path = tmp / "payload.parquet"
        with plain_path.open("wb") as plain:
            verified = open_stream(
                src,
                plain,
                me=me,
                contacts=contacts,
                expected_kind=expected_kind,
                expected_exchange=expected_exchange,
                file=str(target),
            )
        yield verified, plain_path


def open_message_file(
    path: str | os.PathLike[str],
    *,
    me: Identity,
    contacts: Mapping[str, PartyCard],
    expected_kind: str,
    expected_exchange: str,
    scratch: str | os.PathLike[str] | None = None,
    check_allow_list: bool = True,
) -> OpenedMessage:
    """Open a message file of any size (see :func:`linkage.protocol.open_stream`).

    The file is verified in a first streaming pass, then decrypted chunk by
    chunk into a file in a private (0700) scratch directory under
    ``scratch`` (default: the system temp directory), removed as soon as the
    table is read, whether or not that succeeds. Only the decoded table is
    held in memory, never the message or the plaintext Parquet bytes.

    Args:
        path: The message file.
        me: The recipient's identity.
        contacts: Trusted cards by fingerprint.
        expected_kind: The kind the caller is prepared to consume.
        expected_exchange: The exchange the caller is working on.
        scratch: Directory for the decrypted payload while it is read.
        check_allow_list: Hazmat, for the auditor only (see
            :func:`linkage.protocol.open_message`).

    Raises:
        MessageError: Missing, unreadable or rejected.
    """
    with _decrypted_payload(
        path,
        me=me,
        contacts=contacts,
        expected_kind=expected_kind,
        expected_exchange=expected_exchange,
        scratch=scratch,
    ) as (verified, plain_path):
        # Arrow reads the file itself, row group by row group: memory holds
        # the table and one row group's pages, never the whole plaintext.
        table = read_payload(
            plain_path,
            verified.manifest,
            file=str(path),
            check_allow_list=check_allow_list,
        )
    return OpenedMessage(manifest=verified.manifest, table=table, sender=verified.sender)


class ParquetColumns:
    """A Parquet file read column by column (a :class:`linkage.types.Columns`).

    Args:
        path: The file; it must stay in place while the object is used.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        """Read the footer only."""
        self.path = Path(path)
        meta = pq.ParquetFile(self.path)
        self._rows = int(meta.metadata.num_rows)
        self._schema = meta.schema_arrow

    @property
    def num_rows(self) -> int:
        """Rows."""
        return self._rows

    @property
    def schema(self) -> pa.Schema:
        """Column names and Arrow types."""
        return self._schema

    def read(self, columns: Sequence[str]) -> pa.Table:
        """The named columns, in that order, read from the file now."""
        return pq.read_table(self.path, columns=list(columns), memory_map=False)


@contextmanager
def opened_columns(
    path: str | os.PathLike[str],
    *,
    me: Identity,
    contacts: Mapping[str, PartyCard],
    expected_kind: str,
    expected_exchange: str,
    scratch: str | os.PathLike[str] | None = None,
) -> Iterator[tuple[VerifiedMessage, ParquetColumns]]:
    """Open a message whose payload is read column by column while the block runs.

    As :func:`open_message_file` (same checks, same errors), but the
    decrypted payload stays in a private scratch directory under
    ``scratch`` until the with-block ends, so the caller can read a few
    columns at a time instead of holding the whole payload in memory.

    Raises:
        MessageError: Missing, unreadable or rejected.
    """
    with _decrypted_payload(
        path,
        me=me,
        contacts=contacts,
        expected_kind=expected_kind,
        expected_exchange=expected_exchange,
        scratch=scratch,
    ) as (verified, plain_path):
        try:
            columns = ParquetColumns(plain_path)
            check_payload(verified.manifest, pq.ParquetFile(plain_path), file=str(path))
        except (pa.ArrowException, OSError, ValueError):
            raise MessageError("payload is not a readable Parquet table", file=str(path)) from None
        yield verified, columns


def write_sealed_parquet(
    target: str | os.PathLike[str],
    payload: str | os.PathLike[str],
    *,
    kind: str,
    exchange_id: str,
    sender: Identity,
    recipient: PartyCard,
    before_publish: Callable[[], None] = lambda: None,
) -> Manifest:
    """Seal the Parquet file ``payload`` into the message file ``target``, streaming.

    Memory stays at one chunk whatever the payload size; ``target`` appears
    atomically (0644: it is encrypted) or not at all. ``before_publish``
    runs once the message is sealed (so the payload passed the allow-list)
    and before it appears: the sender's own state goes first, the message
    last.

    Raises:
        MessageError: Payload unreadable or outside the kind's allow-list.
    """
    sealed: list[Manifest] = []

    def write(handle: IO[bytes]) -> None:
        with Path(payload).open("rb") as src:
            sealed.append(
                seal_parquet(
                    src,
                    handle,
                    kind=kind,
                    exchange_id=exchange_id,
                    sender=sender,
                    recipient=recipient,
                )
            )

    atomic_write(Path(target), PUBLIC_MODE, write, before_publish)
    return sealed[0]


def load_seen(path: str | os.PathLike[str]) -> ReplayGuard:
    """Load the replay guard; a missing file means nothing consumed yet.

    Raises:
        StateError: Unreadable or corrupt.
    """
    target = Path(path)
    try:
        text = target.read_text(encoding="utf-8")
    except FileNotFoundError:
        return ReplayGuard()
    except (OSError, UnicodeDecodeError):
        raise StateError("seen-message state is not readable", file=str(target)) from None
    return ReplayGuard.from_json(text, file=str(target))


def save_seen(path: str | os.PathLike[str], guard: ReplayGuard) -> None:
    """Write the replay guard atomically (0600: part of private state)."""
    atomic_write_text(path, guard.to_json(), mode=PRIVATE_MODE)
