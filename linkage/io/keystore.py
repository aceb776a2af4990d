"""Key files and party cards: a party's secrets and the public cards it trusts.

Private material (the identity's PKCS#8 keys, its name/role, the provider's
pseudonym secret) is created 0600 inside a 0700 directory and never
overwritten: re-running ``init`` must fail loudly rather than silently
replace keys that other parties already trust. Reading refuses a key file
that group or others could read, the way ``ssh`` does, because such a key
may already have leaked. Cards are the public half, written 0644 and
validated (fingerprint included) whenever they are read; a contacts
directory is the set of cards a party trusts, keyed by fingerprint.
"""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path
from typing import Final

from linkage.errors import InputError, KeyMaterialError
from linkage.io.atomic import PRIVATE_MODE, atomic_write_text, fsync_path
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
    fsync_path(directory)


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
