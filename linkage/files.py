"""The one module that touches the filesystem.

Sections: atomic writes; key files; party cards; messages; seen-message
state; input tables and text. Every write is atomic (temp file in the same directory, fsync,
rename, fsync of the directory), so a crash leaves the old file or nothing,
never half a file. Private files are created 0600 from the first byte.
"""

from __future__ import annotations

import io
import json
import os
import stat
import tempfile
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import IO, TYPE_CHECKING, Final

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from linkage.envelope import OpenedMessage, ReplayGuard, open_message
from linkage.errors import InputError, KeyMaterialError, MessageError, StateError

if TYPE_CHECKING:
    from matplotlib.figure import Figure

from linkage.keys import (
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


def _atomic_write(path: Path, mode: int, write: Callable[[IO[bytes]], None]) -> None:
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
    except (UnicodeDecodeError, json.JSONDecodeError, KeyError, TypeError):
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


def open_message_file(
    path: str | os.PathLike[str],
    *,
    me: Identity,
    contacts: Mapping[str, PartyCard],
    expected_kind: str,
    expected_exchange: str,
) -> OpenedMessage:
    """Read and open a message file (see :func:`linkage.envelope.open_message`).

    Raises:
        MessageError: Missing, unreadable or rejected.
    """
    return open_message(
        read_message_bytes(path),
        me=me,
        contacts=contacts,
        expected_kind=expected_kind,
        expected_exchange=expected_exchange,
        file=str(path),
    )


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


def read_text(path: Path) -> str:
    """Read a UTF-8 text file, or raise InputError naming the file."""
    try:
        return Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InputError("file not found", file=str(path)) from None
    except UnicodeDecodeError as err:
        raise InputError(
            f"not valid UTF-8 at byte {err.start}", file=str(path), hint="re-save as UTF-8"
        ) from None
    except OSError as err:
        raise InputError(f"cannot read file ({err.strerror})", file=str(path)) from None


def read_input_table(path: Path, *, required: Sequence[str], unique: str | None = None) -> pa.Table:
    """Read a Parquet or CSV input and check its columns.

    Args:
        path: a ``.parquet`` or ``.csv`` file.
        required: columns that must be present.
        unique: a column whose values must not repeat (e.g. ``voter_id``).

    Raises:
        InputError: missing or unreadable file, unknown format, no rows, missing
            columns, or a repeated ``unique`` value (named by row, never by value).
    """
    path = Path(path)
    if not path.is_file():
        raise InputError("file not found", file=str(path))
    suffix = path.suffix.lower()
    try:
        if suffix == ".parquet":
            table = pq.read_table(path)
        elif suffix == ".csv":
            table = pacsv.read_csv(path)
        else:
            raise InputError(
                f"unsupported file type '{suffix}'", file=str(path), hint="use .parquet or .csv"
            )
    except (pa.ArrowInvalid, pa.ArrowIOError, OSError) as err:
        kind = "Parquet" if suffix == ".parquet" else "CSV"
        detail = (
            "not valid UTF-8"
            if "UTF8" in str(err) or "utf-8" in str(err).lower()
            else ("truncated or corrupt")
        )
        raise InputError(f"not a readable {kind} file ({detail})", file=str(path)) from None
    missing = [c for c in required if c not in table.column_names]
    if missing:
        raise InputError(
            f"missing required column(s): {', '.join(missing)}",
            file=str(path),
            hint=f"expected at least: {', '.join(required)}",
        )
    if table.num_rows == 0:
        raise InputError("file has no rows", file=str(path))
    if unique is not None:
        _check_unique(table, unique, str(path))
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
