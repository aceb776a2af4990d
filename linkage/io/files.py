"""The one module that touches the filesystem.

Sections: atomic writes; key files; party cards; messages; seen-message
state; input tables and text. Every write is atomic (temp file in the same directory, fsync,
rename, fsync of the directory), so a crash leaves the old file or nothing,
never half a file. Private files are created 0600 from the first byte.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
import secrets
import shutil
import stat
import tempfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import date, datetime
from pathlib import Path
from typing import IO, TYPE_CHECKING, Final, Literal

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from linkage.errors import InputError, KeyMaterialError, MessageError, StateError
from linkage.protocol import (
    Manifest,
    OpenedMessage,
    ReplayGuard,
    VerifiedMessage,
    check_payload,
    open_stream,
    read_payload,
    seal_parquet,
)

if TYPE_CHECKING:
    from matplotlib.figure import Figure

from linkage.protocol import (
    SECRET_BYTES,
    Identity,
    PartyCard,
    card_from_json,
    card_to_json,
    identity_from_pem,
    identity_to_pem,
)

SIGNING_KEY_FILE: Final = "signing.key"
EXCHANGE_KEY_FILE: Final = "exchange.key"
IDENTITY_FILE: Final = "identity.json"
PRIVATE_MODE: Final = 0o600
PUBLIC_MODE: Final = 0o644

# === Atomic writes =================================================================


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _atomic_write(
    path: Path,
    mode: int,
    write: Callable[[IO[bytes]], None],
    before_rename: Callable[[], None] = lambda: None,
) -> None:
    directory = path.parent
    directory.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=directory)
    tmp = Path(tmp_name)
    try:
        # mkstemp creates 0600; widen (or keep) before any byte is visible under `path`.
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as handle:
            write(handle)
            handle.flush()
            os.fsync(handle.fileno())
        before_rename()
        tmp.replace(path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    _fsync_dir(directory)


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes, mode: int = PUBLIC_MODE) -> None:
    """Replace ``path`` with ``data`` atomically.

    Args:
        path: Target file; its directory must exist.
        data: New contents.
        mode: Permission bits of the new file.
    """

    def write(handle: IO[bytes]) -> None:
        handle.write(data)

    _atomic_write(Path(path), mode, write)


def atomic_write_text(path: str | os.PathLike[str], text: str, mode: int = PUBLIC_MODE) -> None:
    """Replace ``path`` with UTF-8 ``text`` atomically."""
    atomic_write_bytes(path, text.encode("utf-8"), mode)


def atomic_write_parquet(
    path: str | os.PathLike[str], table: pa.Table, mode: int = PUBLIC_MODE
) -> None:
    """Write ``table`` as Parquet (zstd) atomically, streaming to the temp file."""

    def write(handle: IO[bytes]) -> None:
        pq.write_table(table, handle, compression="zstd")

    _atomic_write(Path(path), mode, write)


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
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(
            prefix=f".{self.path.name}.", suffix=".tmp", dir=self.path.parent
        )
        os.fchmod(fd, self.mode)
        os.close(fd)
        self._tmp = Path(name)
        self._writer = pq.ParquetWriter(name, self.schema, compression="zstd")
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
                fd = os.open(tmp, os.O_RDONLY)
                try:
                    os.fsync(fd)
                finally:
                    os.close(fd)
                tmp.replace(self.path)
        finally:
            tmp.unlink(missing_ok=True)
        if kind is None:
            _fsync_dir(self.path.parent)


@contextmanager
def private_scratch(parent: str | os.PathLike[str]) -> Iterator[Path]:
    """A fresh 0700 directory under ``parent``, removed with its contents on exit.

    For intermediate files of one command (shuffle buckets, a payload before
    it is sealed): nothing in it outlives the command, whether it succeeds or
    fails.
    """
    root = Path(parent)
    root.mkdir(parents=True, exist_ok=True)
    path = Path(tempfile.mkdtemp(prefix=".scratch-", dir=root))  # mkdtemp: 0700
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


class ShuffledParquet:
    """A Parquet file whose rows come out in a uniformly random order, in bounded memory.

    Each appended row goes to one of ``buckets`` files chosen uniformly at
    random; on a clean exit every bucket is read back, permuted at random and
    appended to ``path`` (through :class:`ParquetSink`, so atomically). With
    i.i.d. uniform buckets and uniform permutations inside them, every order
    of the rows is equally likely, whatever order they were appended in, and
    memory holds one appended table plus one bucket. Bucket files live in
    ``scratch`` (use :func:`private_scratch`) and are deleted as they are
    consumed.

    Args:
        path: The output file.
        scratch: A private directory for the bucket files.
        rng: Randomness for buckets and permutations; default seeded from
            the OS (pass a seeded one in tests).
        buckets: Number of bucket files; the largest in-memory step is about
            1/``buckets`` of the output.
        mode: Permission bits of the output.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        scratch: str | os.PathLike[str],
        *,
        rng: np.random.Generator | None = None,
        buckets: int = 32,
        mode: int = PRIVATE_MODE,
    ) -> None:
        """Remember the target; bucket files are created on the first write."""
        if buckets < 1:
            raise ValueError("buckets must be at least 1")
        self.path, self.scratch, self.mode, self.buckets = Path(path), Path(scratch), mode, buckets
        self.rng = rng if rng is not None else np.random.default_rng(secrets.randbits(128))
        self.rows = 0
        self.schema: pa.Schema | None = None
        self._writers: list[pq.ParquetWriter] = []

    def _bucket(self, index: int) -> Path:
        return self.scratch / f"bucket-{index:04d}.parquet"

    def __enter__(self) -> ShuffledParquet:
        """Nothing to open until the schema is known."""
        return self

    def write(self, table: pa.Table) -> None:
        """Scatter ``table``'s rows over the buckets (every table must share one schema)."""
        if self.schema is None:
            self.schema = table.schema
            self._writers = [
                # Uncompressed: buckets live seconds, and tokens do not compress.
                pq.ParquetWriter(self._bucket(i), table.schema, compression="none")
                for i in range(self.buckets)
            ]
        bucket = self.rng.integers(0, self.buckets, table.num_rows)
        order = np.argsort(bucket, kind="stable")
        ends = np.cumsum(np.bincount(bucket, minlength=self.buckets))
        grouped = table.take(pa.array(order))
        start = 0
        for writer, end in zip(self._writers, ends.tolist(), strict=True):
            if end > start:
                writer.write_table(grouped.slice(start, end - start))
            start = end
        self.rows += table.num_rows

    def __exit__(self, kind: type[BaseException] | None, error: object, tb: object) -> None:
        """On success, write ``path`` bucket by bucket; always remove the buckets."""
        writers, self._writers = self._writers, []
        try:
            for writer in writers:
                writer.close()
            if kind is None and self.schema is not None:
                with ParquetSink(self.path, self.schema, self.mode) as sink:
                    for i in range(len(writers)):
                        part = pq.read_table(self._bucket(i))
                        self._bucket(i).unlink()
                        sink.write(part.take(pa.array(self.rng.permutation(part.num_rows))))
        finally:
            for i in range(len(writers)):
                self._bucket(i).unlink(missing_ok=True)


# === Key files =====================================================================


def _create_private(path: Path, data: bytes) -> None:
    """Create ``path`` (0600 from creation) with ``data``; never overwrites.

    The bytes go to an exclusive temp file first and are hard-linked into
    place, so a crash never leaves a half-written key under the real name.
    """
    directory = path.parent
    tmp = directory / f".{path.name}.{os.urandom(6).hex()}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_MODE)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        try:
            # link() fails if the target exists: no overwrite, even in a race.
            os.link(tmp, path)
        except FileExistsError:
            raise KeyMaterialError(
                "refusing to overwrite an existing key file", file=str(path)
            ) from None
    finally:
        tmp.unlink(missing_ok=True)
    _fsync_dir(directory)


def _read_private(path: Path) -> bytes:
    """Read a private file, refusing one that group or others could read."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        raise KeyMaterialError(
            "key file not found", file=str(path), hint="run `init` for this home first"
        ) from None
    except OSError:
        raise KeyMaterialError("key file is not readable", file=str(path)) from None
    with os.fdopen(fd, "rb") as handle:
        info = os.fstat(handle.fileno())
        if not stat.S_ISREG(info.st_mode):
            raise KeyMaterialError("key path is not a regular file", file=str(path))
        if info.st_mode & 0o077:
            raise KeyMaterialError("permissions too open", file=str(path), hint=f"chmod 600 {path}")
        return handle.read()


def save_identity(keys_dir: str | os.PathLike[str], identity: Identity) -> None:
    """Write an identity's private keys (PEM) and name/role into ``keys_dir``.

    Files: ``signing.key``, ``exchange.key`` (PKCS#8 PEM) and ``identity.json``
    (name, role), all 0600. ``keys_dir`` is created 0700 if missing.

    Raises:
        KeyMaterialError: Any of the files already exists.
    """
    directory = Path(keys_dir)
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    names = (SIGNING_KEY_FILE, EXCHANGE_KEY_FILE, IDENTITY_FILE)
    existing = [name for name in names if (directory / name).exists()]
    if existing:
        raise KeyMaterialError(
            "refusing to overwrite existing keys",
            file=str(directory / existing[0]),
            hint="this home already has an identity; use another --home",
        )
    signing_pem, exchange_pem = identity_to_pem(identity)
    meta = json.dumps({"name": identity.name, "role": identity.role}, sort_keys=True) + "\n"
    created: list[Path] = []
    try:
        for name, data in zip(names, (signing_pem, exchange_pem, meta.encode()), strict=True):
            _create_private(directory / name, data)
            created.append(directory / name)
    except BaseException:
        # Half an identity is worse than none: `init` could never be re-run.
        for path in created:
            path.unlink(missing_ok=True)
        raise


def load_identity(keys_dir: str | os.PathLike[str]) -> Identity:
    """Load the identity written by :func:`save_identity`.

    Raises:
        KeyMaterialError: A file is missing, unreadable, malformed or readable
            by group/others.
    """
    directory = Path(keys_dir)
    meta_path = directory / IDENTITY_FILE
    try:
        meta = json.loads(_read_private(meta_path).decode("utf-8"))
        name, role = meta["name"], meta["role"]
    except (ValueError, RecursionError, KeyError, TypeError):
        raise KeyMaterialError("identity file is malformed", file=str(meta_path)) from None
    if not isinstance(name, str) or not isinstance(role, str):
        raise KeyMaterialError("identity file is malformed", file=str(meta_path))
    signing_path = directory / SIGNING_KEY_FILE
    exchange_path = directory / EXCHANGE_KEY_FILE
    try:
        return identity_from_pem(
            name,
            role,
            _read_private(signing_path),
            _read_private(exchange_path),
            signing_file=str(signing_path),
            exchange_file=str(exchange_path),
        )
    except InputError as exc:
        raise KeyMaterialError(exc.message, file=str(meta_path), hint=exc.hint) from None


def save_secret(path: str | os.PathLike[str], secret: bytes | None = None) -> bytes:
    """Create a 32-byte secret file (hex, 0600), e.g. the provider's pseudonym secret.

    Args:
        path: File to create; must not exist.
        secret: The secret; default 32 random bytes.

    Returns:
        The secret.

    Raises:
        KeyMaterialError: The file exists or the secret is not 32 bytes.
    """
    value = os.urandom(SECRET_BYTES) if secret is None else secret
    if len(value) != SECRET_BYTES:
        raise KeyMaterialError("secret must be 32 bytes")
    target = Path(path)
    target.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    _create_private(target, (value.hex() + "\n").encode())
    return value


def _parse_secret(text: str, *, file: str | None) -> bytes:
    value = text.strip()
    if len(value) != 2 * SECRET_BYTES:
        raise KeyMaterialError("secret must be 64 hex characters", file=file)
    try:
        return bytes.fromhex(value)
    except ValueError:
        raise KeyMaterialError("secret must be 64 hex characters", file=file) from None


def load_secret(path: str | os.PathLike[str]) -> bytes:
    """Read a secret written by :func:`save_secret`.

    Raises:
        KeyMaterialError: Missing, too-open permissions or malformed.
    """
    target = Path(path)
    try:
        text = _read_private(target).decode("ascii")
    except UnicodeDecodeError:
        raise KeyMaterialError("secret file is malformed", file=str(target)) from None
    return _parse_secret(text, file=str(target))


def load_secret_from_env(var: str) -> bytes:
    """Read a 32-byte secret given as 64 hex characters in environment variable ``var``.

    Raises:
        KeyMaterialError: Variable unset or malformed.
    """
    text = os.environ.get(var)
    if text is None:
        raise KeyMaterialError(f"environment variable {var} is not set")
    return _parse_secret(text, file=f"${var}")


# === Party cards ===================================================================


def write_card(path: str | os.PathLike[str], card: PartyCard) -> None:
    """Write a public card (JSON, 0644) atomically."""
    atomic_write_text(path, card_to_json(card))


def read_card(path: str | os.PathLike[str]) -> PartyCard:
    """Read and validate a card.

    Raises:
        InputError: Missing or unreadable file, or malformed card.
        KeyMaterialError: Bad keys or fingerprint mismatch.
    """
    target = Path(path)
    try:
        text = target.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InputError("party card not found", file=str(target)) from None
    except (OSError, UnicodeDecodeError):
        raise InputError("party card is not readable", file=str(target)) from None
    return card_from_json(text, file=str(target))


def read_contacts(contacts_dir: str | os.PathLike[str]) -> dict[str, PartyCard]:
    """Read every ``*.json`` card in ``contacts_dir``, keyed by fingerprint.

    A missing directory means no contacts.

    Raises:
        InputError / KeyMaterialError: A card is invalid.
        KeyMaterialError: Two different cards share a fingerprint.
    """
    directory = Path(contacts_dir)
    if not directory.is_dir():
        return {}
    contacts: dict[str, PartyCard] = {}
    for path in sorted(directory.glob("*.json")):
        card = read_card(path)
        known = contacts.get(card.fingerprint)
        if known is not None and known != card:
            raise KeyMaterialError(
                f"two contact cards share fingerprint {card.fingerprint}",
                file=str(path),
                hint="remove the duplicate card",
            )
        contacts[card.fingerprint] = card
    return contacts


# === Messages ======================================================================


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
        try:
            with source.open("rb") as reader:
                shutil.copyfileobj(reader, handle, 1 << 20)
        except FileNotFoundError:
            raise MessageError("message file not found", file=str(source)) from None
        except OSError:
            raise MessageError("message file is not readable", file=str(source)) from None

    _atomic_write(Path(dst), PUBLIC_MODE, write)


def read_message_bytes(path: str | os.PathLike[str]) -> bytes:
    """Read a message file.

    Raises:
        MessageError: Missing or unreadable.
    """
    target = Path(path)
    try:
        return target.read_bytes()
    except FileNotFoundError:
        raise MessageError("message file not found", file=str(target)) from None
    except OSError:
        raise MessageError("message file is not readable", file=str(target)) from None


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
    try:
        src = target.open("rb")
    except FileNotFoundError:
        raise MessageError("message file not found", file=str(target)) from None
    except OSError:
        raise MessageError("message file is not readable", file=str(target)) from None
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
    """Open a message file of any size (see :func:`linkage.envelope.open_stream`).

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
            :func:`linkage.envelope.open_message`).

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
    """A Parquet file read column by column (``linkage.matching.Columns``).

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

    _atomic_write(Path(target), PUBLIC_MODE, write, before_publish)
    return sealed[0]


# === Seen-message state ============================================================


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


# ---------------------------------------------------------------------------
# Input tables and text (voter files, subscriber files, viewing logs, TOML)
# ---------------------------------------------------------------------------

TABLE_SUFFIXES = (".parquet", ".csv")

MAX_FIELD_CHARS: Final = 1000
"""Longest text value accepted in an input table (characters).

No real name, address or e-mail comes close; a longer value is a corrupt or
hostile file, and letting it through would blow up every per-value cache
downstream (normalisation, q-grams) for nothing.
"""

ColumnKind = Literal["string", "number", "date", "timestamp"]

INPUT_COLUMN_KINDS: Final[Mapping[str, ColumnKind]] = {
    **dict.fromkeys(
        (
            "voter_id",
            "first_name",
            "middle_name",
            "last_name",
            "suffix",
            "gender",
            "address",
            "city",
            "state",
            "zip",
            "phone",
            "email",
            "ethnicity",
            "party",
            "household_id",
            "account_number",
            "channel",
            "name",
            "genre",
            "language",
            "daypart",
        ),
        "string",
    ),
    **dict.fromkeys(
        (
            "support_score",
            "turnout_score",
            "gotv_score",
            "persuasion_score",
            "cost_per_spot",
            "units_available",
        ),
        "number",
    ),
    "birth_date": "date",
    "start": "timestamp",
    "end": "timestamp",
}
"""Expected kind of every input column the toolkit knows (ARCHITECTURE.md, table shapes).

Columns not listed are passed through unchecked; a listed column of the
wrong kind is rejected by :func:`read_input_table`, naming the first row at fault.
"""


def read_text(path: Path) -> str:
    """Read a UTF-8 text file, or raise InputError naming the file (and line, if not UTF-8)."""
    try:
        data = Path(path).read_bytes()
    except FileNotFoundError:
        raise InputError("file not found", file=str(path)) from None
    except OSError as err:
        raise InputError(f"cannot read file ({err.strerror})", file=str(path)) from None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as err:
        line = data.count(b"\n", 0, err.start) + 1
        raise InputError(
            f"not valid UTF-8 at line {line}", file=str(path), hint="re-save the file as UTF-8"
        ) from None


def read_input_table(
    path: Path,
    *,
    required: Sequence[str],
    unique: str | None = None,
    kinds: Mapping[str, ColumnKind] = INPUT_COLUMN_KINDS,
) -> pa.Table:
    """Read a Parquet or CSV input and validate it before anything else runs.

    Rows are numbered from 1 for the first data row (a CSV header is not a
    row). Errors name the file, column and row, never the value.

    Args:
        path: a ``.parquet`` or ``.csv`` file.
        required: columns that must be present.
        unique: a column whose values must not repeat (e.g. ``voter_id``).
        kinds: expected kind per column; present columns are checked, others
            pass through. Default :data:`INPUT_COLUMN_KINDS`.

    Returns:
        The table; CSV columns whose kind is ``string`` are read as text
        (so ZIP codes keep their leading zeros), empty CSV cells are null.

    Raises:
        InputError: missing, empty or unreadable file, unknown format, not
            UTF-8, a row with the wrong number of fields, duplicate or missing
            columns, no rows, a value of the wrong type, a text value longer
            than :data:`MAX_FIELD_CHARS`, or a repeated ``unique`` value.
    """
    path = Path(path)
    file = str(path)
    if not path.is_file():
        raise InputError("file not found", file=file)
    suffix = path.suffix.lower()
    if suffix not in TABLE_SUFFIXES:
        raise InputError(
            f"unsupported file type '{suffix}'", file=file, hint="use .parquet or .csv"
        )
    try:
        data = path.read_bytes()
    except OSError as err:
        raise InputError(f"cannot read file ({err.strerror})", file=file) from None
    if not data.strip():
        raise InputError("file is empty", file=file)
    table = _read_csv(data, kinds, file) if suffix == ".csv" else _read_parquet(data, file)
    names = table.column_names
    for name in names:
        if names.count(name) > 1:
            raise InputError("column appears more than once", file=file, column=name)
    missing = [c for c in required if c not in names]
    if missing:
        raise InputError(
            f"missing required column(s): {', '.join(missing)}",
            file=file,
            column=missing[0],
            hint=f"expected at least: {', '.join(required)}",
        )
    if table.num_rows == 0:
        raise InputError("file has no rows", file=file)
    for name in names:
        kind = kinds.get(name)
        if kind is not None:
            _check_kind(table[name], kind, file, name)
        if _is_text(table[name].type):
            _check_text(table[name], file, name)
    if unique is not None:
        _check_unique(table, unique, file)
    return table


def check_input_file(
    path: Path,
    *,
    required: Sequence[str],
    kinds: Mapping[str, ColumnKind] = INPUT_COLUMN_KINDS,
    batch_rows: int = 1 << 20,
) -> int:
    """:func:`read_input_table`'s checks on a Parquet file, batch by batch, keeping nothing.

    For inputs larger than memory (a state's viewing log) that an engine then
    scans from the file itself. Errors are the same, rows numbered across
    batches from 1.

    Returns:
        The number of rows.

    Raises:
        InputError: As :func:`read_input_table` (no uniqueness check), or the
            file is not Parquet.
    """
    path = Path(path)
    file = str(path)
    if not path.is_file():
        raise InputError("file not found", file=file)
    if path.suffix.lower() != ".parquet":
        raise InputError("expected a Parquet file", file=file, hint="use .parquet")
    unreadable = InputError(
        "not a readable Parquet file (truncated or corrupt)",
        file=file,
        hint="re-export the file, or check the transfer completed",
    )
    try:
        parquet = pq.ParquetFile(path)
        names = parquet.schema_arrow.names
        rows = parquet.metadata.num_rows
    except (pa.ArrowException, OSError, ValueError, IndexError, TypeError):
        raise unreadable from None
    for name in names:
        if names.count(name) > 1:
            raise InputError("column appears more than once", file=file, column=name)
    missing = [c for c in required if c not in names]
    if missing:
        raise InputError(
            f"missing required column(s): {', '.join(missing)}",
            file=file,
            column=missing[0],
            hint=f"expected at least: {', '.join(required)}",
        )
    if rows == 0:
        raise InputError("file has no rows", file=file)
    offset = 0
    batches = parquet.iter_batches(batch_size=batch_rows)
    while True:
        try:
            batch = next(batches, None)
        except (pa.ArrowException, OSError, ValueError, IndexError, TypeError):
            raise unreadable from None
        if batch is None:
            break
        table = pa.Table.from_batches([batch])
        for name in names:
            kind = kinds.get(name)
            if kind is not None:
                _check_kind(table[name], kind, file, name, offset)
            if _is_text(table[name].type):
                _check_text(table[name], file, name, offset)
        offset += batch.num_rows
    return offset


def _is_text(arrow_type: pa.DataType) -> bool:
    return bool(pa.types.is_string(arrow_type) or pa.types.is_large_string(arrow_type))


def _kind_fits(arrow_type: pa.DataType, kind: ColumnKind) -> bool:
    if pa.types.is_null(arrow_type):
        return True  # an all-null column is a missing optional field
    if kind == "string":
        return _is_text(arrow_type)
    if kind == "number":
        return bool(pa.types.is_integer(arrow_type) or pa.types.is_floating(arrow_type))
    if kind == "date":
        return bool(pa.types.is_date(arrow_type) or pa.types.is_timestamp(arrow_type))
    return bool(pa.types.is_timestamp(arrow_type))


def _parses_as(value: object, kind: ColumnKind) -> bool:
    if not isinstance(value, str):
        return kind == "string" and value is None
    text = value.strip()
    try:
        if kind == "number":
            float(text)
        elif kind == "date":
            date.fromisoformat(text)
        elif kind == "timestamp":
            datetime.fromisoformat(text)
        else:
            return True
    except ValueError:
        return False
    return True


def _check_kind(
    column: pa.ChunkedArray, kind: ColumnKind, file: str, name: str, first_row: int = 0
) -> None:
    if _kind_fits(column.type, kind):
        return
    values = column.to_pylist()
    non_null = [i for i, v in enumerate(values) if v is not None]
    # The first value that cannot be read as the kind, else the first value at all.
    bad = next((i for i in non_null if not _parses_as(values[i], kind)), None)
    row = bad if bad is not None else (non_null[0] if non_null else 0)
    raise InputError(
        f"expected {'text' if kind == 'string' else f'a {kind}'} (column type is {column.type})",
        file=file,
        column=name,
        row=first_row + row + 1,
    )


def _check_text(column: pa.ChunkedArray, file: str, name: str, first_row: int = 0) -> None:
    """Valid UTF-8 and at most MAX_FIELD_CHARS characters per value."""
    offset = first_row
    for chunk in column.chunks:
        try:
            chunk.validate(full=True)
        except pa.ArrowInvalid:
            raw = chunk.view(
                pa.large_binary() if pa.types.is_large_string(chunk.type) else pa.binary()
            )
            for i, value in enumerate(raw.to_pylist()):
                if value is not None and not _is_utf8(value):
                    raise InputError(
                        "not valid UTF-8", file=file, column=name, row=offset + i + 1
                    ) from None
            raise InputError("corrupt text column", file=file, column=name) from None
        offset += len(chunk)
    too_long = pc.greater(pc.utf8_length(column), MAX_FIELD_CHARS)
    if pc.any(too_long).as_py():
        row = first_row + int(pc.index(too_long, True).as_py()) + 1
        raise InputError(
            f"value longer than {MAX_FIELD_CHARS} characters",
            file=file,
            column=name,
            row=row,
            hint="the file is corrupt or not the expected table",
        )


def _is_utf8(value: bytes) -> bool:
    try:
        value.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _read_parquet(data: bytes, file: str) -> pa.Table:
    try:
        return pq.read_table(pa.BufferReader(data))
    except (pa.ArrowException, OSError, ValueError, IndexError, TypeError):
        # Arbitrary bytes can trip assorted errors deep in the reader; all mean the same.
        raise InputError(
            "not a readable Parquet file (truncated or corrupt)",
            file=file,
            hint="re-export the file, or check the transfer completed",
        ) from None


def _csv_records(text: str) -> list[list[str]]:
    """Python's CSV parser, used only to locate a row pyarrow rejected."""
    try:
        return list(csv.reader(io.StringIO(text, newline="")))
    except csv.Error:
        return []


def _check_csv_utf8(data: bytes, file: str) -> None:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as err:
        records = _csv_records(data.decode("utf-8", errors="replace"))
        header = records[0] if records else []
        for index, record in enumerate(records):
            for position, cell in enumerate(record):
                if "\ufffd" in cell:
                    column = header[position] if index > 0 and position < len(header) else None
                    raise InputError(
                        "not valid UTF-8" if index else "header is not valid UTF-8",
                        file=file,
                        column=column if column and _is_utf8(column.encode()) else None,
                        row=index or None,
                        hint="re-save the file as UTF-8",
                    ) from None
        line = data.count(b"\n", 0, err.start) + 1
        raise InputError(
            f"not valid UTF-8 at line {line}", file=file, hint="re-save the file as UTF-8"
        ) from None


def _read_csv(data: bytes, kinds: Mapping[str, ColumnKind], file: str) -> pa.Table:
    _check_csv_utf8(data, file)
    text_columns = {name: pa.string() for name, kind in kinds.items() if kind == "string"}
    bad_rows: list[int | None] = []

    def on_invalid_row(row: pacsv.InvalidRow) -> str:
        bad_rows.append(row.number)
        return "skip"

    parse = pacsv.ParseOptions(newlines_in_values=True, invalid_row_handler=on_invalid_row)
    for _ in range(64):
        convert = pacsv.ConvertOptions(column_types=text_columns, strings_can_be_null=True)
        try:
            table = pacsv.read_csv(
                pa.BufferReader(data), parse_options=parse, convert_options=convert
            )
        except pa.ArrowInvalid as err:
            # A column inferred as numbers from the first block met text later on:
            # read it as text so the kind check names the row.
            where = re.search(r"In CSV column #(\d+)", str(err))
            header = _csv_records(data.decode("utf-8"))[:1]
            if where is None or not header or int(where.group(1)) >= len(header[0]):
                raise InputError("not a readable CSV file", file=file) from None
            name = header[0][int(where.group(1))]
            if name in text_columns:
                raise InputError("not a readable CSV file", file=file, column=name) from None
            text_columns[name] = pa.string()
            continue
        except pa.ArrowException:
            raise InputError("not a readable CSV file", file=file) from None
        break
    else:
        raise InputError("not a readable CSV file", file=file)
    if bad_rows:
        records = _csv_records(data.decode("utf-8"))
        width = len(records[0]) if records else 0
        row = next((i for i, r in enumerate(records) if i and r and len(r) != width), None)
        raise InputError("row has a different number of fields than the header", file=file, row=row)
    return table


def _check_unique(table: pa.Table, column: str, file: str) -> None:
    col = table[column]
    if col.null_count:
        first = int(pc.index(pc.is_null(col), True).as_py())
        raise InputError("missing identifier", file=file, column=column, row=first + 1)
    if pc.count_distinct(col).as_py() == table.num_rows:
        return
    seen: set[object] = set()
    for i, value in enumerate(col.to_pylist()):
        if value in seen:
            raise InputError("duplicate identifier", file=file, column=column, row=i + 1)
        seen.add(value)


def atomic_write_csv(path: Path, table: pa.Table) -> None:
    """Write ``table`` as CSV atomically."""
    sink = io.BytesIO()
    pacsv.write_csv(table, sink)
    atomic_write_bytes(path, sink.getvalue())


def atomic_write_figure(path: Path, figure: Figure) -> None:
    """Render a matplotlib figure to PNG and write it atomically."""
    sink = io.BytesIO()
    figure.savefig(sink, format="png", dpi=110, bbox_inches="tight")
    atomic_write_bytes(path, sink.getvalue())


def append_jsonl(path: Path, line: str) -> None:
    """Append one JSON line durably (the ledger is append-only)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        os.write(fd, line.rstrip("\n").encode() + b"\n")
        os.fsync(fd)
    finally:
        os.close(fd)
