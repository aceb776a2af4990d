"""The NWL2 container: sealing and opening exchanged messages, as bytes or streams.

This is the one description of the wire format the code writes and reads
(format version 2, :data:`MAGIC` ``NWL2``). Every integer is big-endian::

    magic       4 bytes   b"NWL2"
    mlen        4 bytes   length of the manifest (at most 64 KiB)
    manifest    mlen      canonical UTF-8 JSON (see linkage.protocol.envelope.manifest)
    ephemeral   32 bytes  sender's one-time X25519 public key
    prefix      8 bytes   random nonce prefix
    chunk       4 bytes   plaintext bytes per chunk (1 KiB .. 64 MiB; 1 MiB written)
    plen        8 bytes   plaintext payload length
    chunks                ceil(plen / chunk) (at least one) AES-256-GCM chunks,
                          each its plaintext + a 16-byte tag
    signature   64 bytes  Ed25519 by the sender

Chunk ``i`` is sealed with nonce ``prefix || i`` (4-byte counter) and
associated data ``SHA-256(magic..plen) || last``, where ``last`` is 1 for the
final chunk and 0 otherwise: the header (manifest included) is bound to every
chunk, and chunks cannot be reordered, dropped, cut off or moved to another
message. The signature is over ``b"narwhal/v2/signature" ||
SHA-512(magic..last chunk)``, hash-then-sign so that neither side ever holds
a whole message: a 3 GB campaign file seals and opens in one chunk of memory
(a single AES-GCM call is capped at 2 GiB by cryptography, and would need the
whole payload in memory, several times over while opening).

The payload is a Parquet file (zstd). The AES key is
``HKDF-SHA256(X25519(ephemeral, recipient), salt = ephemeral_pub || recipient_pub,
info = b"narwhal/v2/envelope" || ephemeral_pub || recipient_pub)``: fresh per
message, bound to the recipient. The manifest is authenticated twice (as
associated data and under the signature), so it cannot be swapped onto
another ciphertext. A file with any byte missing or extra is rejected; the
signature is checked in a first pass over the file, before anything is
decrypted.

The payload's columns are checked against its kind's allow-list
(:mod:`linkage.protocol.envelope.allow_lists`) by the sender before sealing
and by the recipient after opening.
"""

from __future__ import annotations

import hashlib
import hmac
import io
import os
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import IO, Final

import pyarrow as pa
import pyarrow.parquet as pq
from cryptography.exceptions import InvalidSignature, InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from linkage.errors import MessageError
from linkage.protocol.envelope.allow_lists import (
    KIND_SPECS,
    KINDS,
    validate_payload,
    validate_payload_file,
)
from linkage.protocol.envelope.manifest import Manifest, manifest_for, manifest_from_bytes
from linkage.protocol.keys import Identity, PartyCard

MAGIC: Final = b"NWL2"
"""Leading bytes of a message; the manifest's ``format_version`` must agree (2)."""
MAX_MANIFEST_BYTES: Final = 64 * 1024
NONCE_BYTES: Final = 12
EPHEMERAL_BYTES: Final = 32
SIGNATURE_BYTES: Final = 64
TAG_BYTES: Final = 16

CHUNK_BYTES: Final = 1 << 20
"""Plaintext bytes per AES-GCM chunk this code writes; readers accept any size in range."""
MIN_CHUNK_BYTES: Final = 1 << 10
MAX_CHUNK_BYTES: Final = 1 << 26

_ENVELOPE_INFO: Final = b"narwhal/v2/envelope"
_SIGNATURE_CONTEXT: Final = b"narwhal/v2/signature"
_MLEN: Final = 4
_PREFIX_BYTES: Final = 8
_COUNTER_BYTES: Final = NONCE_BYTES - _PREFIX_BYTES
_CHUNK_FIELD: Final = 4
_PLEN: Final = 8


@dataclass(frozen=True)
class _ContainerLayout:
    """Where everything lies in a message of ``size`` bytes (parsed, not verified)."""

    manifest: Manifest
    manifest_bytes: bytes
    ephemeral: bytes
    prefix: bytes
    chunk_bytes: int
    payload_bytes: int
    head: bytes
    body_end: int


def _chunk_count(payload_bytes: int, chunk_bytes: int) -> int:
    """Chunks of a payload: at least one, so an empty payload still has a tag."""
    return max(1, -(-payload_bytes // chunk_bytes))


def _read_exactly(src: IO[bytes], n: int, file: str | None) -> bytes:
    data = src.read(n)
    if len(data) != n:
        raise MessageError("truncated message", file=file)
    return data


def _size(src: IO[bytes]) -> int:
    src.seek(0, os.SEEK_END)
    size = src.tell()
    src.seek(0)
    return size


def _parse(src: IO[bytes], file: str | None) -> _ContainerLayout:
    """Read and check the header of a seekable message; leave ``src`` at the first chunk."""
    size = _size(src)
    magic = src.read(len(MAGIC))
    if magic != MAGIC:
        if len(magic) < len(MAGIC) and MAGIC.startswith(magic):
            raise MessageError("truncated message", file=file)
        raise MessageError("not a Narwhal message (bad magic)", file=file)
    mlen = int.from_bytes(_read_exactly(src, _MLEN, file), "big")
    if mlen > MAX_MANIFEST_BYTES:
        raise MessageError("malformed message: manifest length out of range", file=file)
    manifest_bytes = _read_exactly(src, mlen, file)
    manifest = manifest_from_bytes(manifest_bytes, file)
    fixed = _read_exactly(src, EPHEMERAL_BYTES + _PREFIX_BYTES + _CHUNK_FIELD + _PLEN, file)
    ephemeral = fixed[:EPHEMERAL_BYTES]
    at = EPHEMERAL_BYTES
    prefix = fixed[at : at + _PREFIX_BYTES]
    at += _PREFIX_BYTES
    chunk_bytes = int.from_bytes(fixed[at : at + _CHUNK_FIELD], "big")
    payload_bytes = int.from_bytes(fixed[at + _CHUNK_FIELD :], "big")
    if not MIN_CHUNK_BYTES <= chunk_bytes <= MAX_CHUNK_BYTES:
        raise MessageError("malformed message: chunk size out of range", file=file)
    chunks = _chunk_count(payload_bytes, chunk_bytes)
    if chunks >= 1 << (8 * _COUNTER_BYTES):
        raise MessageError("malformed message: payload length out of range", file=file)
    head_end = len(MAGIC) + _MLEN + mlen + len(fixed)
    body_end = head_end + payload_bytes + TAG_BYTES * chunks
    if size < body_end + SIGNATURE_BYTES:
        raise MessageError("truncated message", file=file)
    if size > body_end + SIGNATURE_BYTES:
        raise MessageError("malformed message: trailing bytes after the signature", file=file)
    head = MAGIC + mlen.to_bytes(_MLEN, "big") + manifest_bytes + fixed
    return _ContainerLayout(
        manifest, manifest_bytes, ephemeral, prefix, chunk_bytes, payload_bytes, head, body_end
    )


def _aead_key(shared: bytes, ephemeral_pub: bytes, recipient_pub: bytes) -> bytes:
    return HKDF(
        algorithm=hashes.SHA256(),
        length=32,
        salt=ephemeral_pub + recipient_pub,
        info=_ENVELOPE_INFO + ephemeral_pub + recipient_pub,
    ).derive(shared)


def _nonce(prefix: bytes, index: int) -> bytes:
    return prefix + index.to_bytes(_COUNTER_BYTES, "big")


def _chunk_aad(head_digest: bytes, last: bool) -> bytes:
    # The header (manifest included) is associated data of every chunk, and
    # the last chunk is marked: chunks cannot be moved between messages,
    # reordered (the counter is in the nonce) or cut off.
    return head_digest + (b"\x01" if last else b"\x00")


def _to_sign(digest: bytes) -> bytes:
    return _SIGNATURE_CONTEXT + digest


def encode_payload(table: pa.Table) -> bytes:
    """Serialize a payload table as Parquet (zstd) bytes."""
    sink = pa.BufferOutputStream()
    pq.write_table(table, sink, compression="zstd")
    return bytes(sink.getvalue().to_pybytes())


def _seal_stream(
    payload: IO[bytes],
    payload_bytes: int,
    dst: IO[bytes],
    manifest: Manifest,
    *,
    sender: Identity,
    recipient: PartyCard,
    ephemeral: X25519PrivateKey,
    prefix: bytes,
    chunk_bytes: int,
) -> None:
    """Encrypt ``payload_bytes`` bytes read from ``payload`` chunk by chunk and sign."""
    manifest_bytes = manifest.to_bytes()
    if len(manifest_bytes) > MAX_MANIFEST_BYTES:
        raise MessageError("manifest too large (too many columns?)")
    if len(prefix) != _PREFIX_BYTES:
        raise ValueError(f"nonce prefix must be {_PREFIX_BYTES} bytes")
    if not MIN_CHUNK_BYTES <= chunk_bytes <= MAX_CHUNK_BYTES:
        raise ValueError("chunk size out of range")
    ephemeral_pub = ephemeral.public_key().public_bytes_raw()
    shared = ephemeral.exchange(X25519PublicKey.from_public_bytes(recipient.exchange_public))
    aead = AESGCM(_aead_key(shared, ephemeral_pub, recipient.exchange_public))
    head = b"".join(
        (
            MAGIC,
            len(manifest_bytes).to_bytes(_MLEN, "big"),
            manifest_bytes,
            ephemeral_pub,
            prefix,
            chunk_bytes.to_bytes(_CHUNK_FIELD, "big"),
            payload_bytes.to_bytes(_PLEN, "big"),
        )
    )
    head_digest = hashlib.sha256(head).digest()
    signed = hashlib.sha512(head)
    dst.write(head)
    chunks = _chunk_count(payload_bytes, chunk_bytes)
    left = payload_bytes
    for index in range(chunks):
        plain = payload.read(min(chunk_bytes, left))
        if len(plain) != min(chunk_bytes, left):
            raise MessageError("payload ended early while sealing")
        left -= len(plain)
        sealed = aead.encrypt(
            _nonce(prefix, index), plain, _chunk_aad(head_digest, index == chunks - 1)
        )
        signed.update(sealed)
        dst.write(sealed)
    dst.write(sender.signing_key.sign(_to_sign(signed.digest())))


def _seal_raw(
    payload: bytes,
    manifest: Manifest,
    *,
    sender: Identity,
    recipient: PartyCard,
    ephemeral: X25519PrivateKey,
    nonce: bytes,
    chunk_bytes: int = CHUNK_BYTES,
) -> bytes:
    """Encrypt and sign already-encoded payload bytes; no allow-list check (tests only)."""
    out = io.BytesIO()
    _seal_stream(
        io.BytesIO(payload),
        len(payload),
        out,
        manifest,
        sender=sender,
        recipient=recipient,
        ephemeral=ephemeral,
        prefix=nonce[:_PREFIX_BYTES] if len(nonce) >= _PREFIX_BYTES else nonce,
        chunk_bytes=chunk_bytes,
    )
    return out.getvalue()


def _check_roles(kind: str, sender: Identity, recipient: PartyCard) -> None:
    spec = KIND_SPECS[kind]
    if sender.role != spec.sender_role or recipient.role != spec.recipient_role:
        raise MessageError(
            f"a {kind} message goes from a {spec.sender_role} to a {spec.recipient_role}",
            hint=f"sender is a {sender.role}, recipient is a {recipient.role}",
        )


def seal(
    payload: pa.Table,
    *,
    kind: str,
    exchange_id: str,
    sender: Identity,
    recipient: PartyCard,
    created_at: datetime | None = None,
    message_id: str | None = None,
    ephemeral: X25519PrivateKey | None = None,
    nonce: bytes | None = None,
) -> bytes:
    """Validate, encrypt to ``recipient`` and sign a payload held in memory.

    Large payloads go through :func:`seal_parquet` instead, which never holds
    the payload or the message in memory.

    Args:
        payload: The table to send; checked against the kind's allow-list first.
        kind: One of :data:`KINDS`.
        exchange_id: The exchange the message belongs to.
        sender: This party.
        recipient: The recipient's card.
        created_at: Timestamp (aware); default now.
        message_id: 32 hex chars; default random.
        ephemeral: One-time X25519 key; default fresh. Inject only in tests.
        nonce: AES-GCM nonce prefix (its first 8 bytes are used); default
            random. Inject only in tests.

    Returns:
        The sealed message bytes.

    Raises:
        MessageError: Payload outside the allow-list, or sender/recipient roles
            do not fit the kind.
        InputError: Invalid exchange id.
    """
    validate_payload(kind, payload)
    _check_roles(kind, sender, recipient)
    encoded = encode_payload(payload)
    manifest = manifest_for(
        kind,
        exchange_id,
        sender,
        recipient,
        rows=payload.num_rows,
        columns=tuple(payload.column_names),
        payload_sha256=hashlib.sha256(encoded).hexdigest(),
        created_at=created_at,
        message_id=message_id,
    )
    return _seal_raw(
        encoded,
        manifest,
        sender=sender,
        recipient=recipient,
        ephemeral=ephemeral if ephemeral is not None else X25519PrivateKey.generate(),
        nonce=nonce if nonce is not None else os.urandom(_PREFIX_BYTES),
    )


def seal_parquet(
    payload: IO[bytes],
    dst: IO[bytes],
    *,
    kind: str,
    exchange_id: str,
    sender: Identity,
    recipient: PartyCard,
    created_at: datetime | None = None,
    message_id: str | None = None,
) -> Manifest:
    """Seal a payload that is already a Parquet file, streaming it chunk by chunk.

    Memory stays at one chunk (:data:`CHUNK_BYTES`) and one column chunk of
    the payload whatever its size. The payload is read three times: to check
    it against the allow-list, to hash it for the manifest and to encrypt it.

    Args:
        payload: The Parquet payload, open for reading (seekable).
        dst: Where the sealed message is written.
        kind: One of :data:`KINDS`.
        exchange_id: The exchange the message belongs to.
        sender: This party.
        recipient: The recipient's card.
        created_at: Timestamp (aware); default now.
        message_id: 32 hex chars; default random.

    Returns:
        The message's manifest.

    Raises:
        MessageError: Payload unreadable or outside the allow-list, or roles
            that do not fit the kind.
        InputError: Invalid exchange id.
    """
    if kind not in KIND_SPECS:
        raise MessageError("unknown message kind", hint=f"kinds: {', '.join(KINDS)}")
    try:
        parquet = pq.ParquetFile(payload)
    except (pa.ArrowException, OSError, ValueError):
        raise MessageError("payload is not a readable Parquet file") from None
    validate_payload_file(kind, parquet)
    _check_roles(kind, sender, recipient)
    payload.seek(0)
    digest = hashlib.sha256()
    size = 0
    while block := payload.read(CHUNK_BYTES):
        digest.update(block)
        size += len(block)
    manifest = manifest_for(
        kind,
        exchange_id,
        sender,
        recipient,
        rows=parquet.metadata.num_rows,
        columns=tuple(parquet.schema_arrow.names),
        payload_sha256=digest.hexdigest(),
        created_at=created_at,
        message_id=message_id,
    )
    payload.seek(0)
    _seal_stream(
        payload,
        size,
        dst,
        manifest,
        sender=sender,
        recipient=recipient,
        ephemeral=X25519PrivateKey.generate(),
        prefix=os.urandom(_PREFIX_BYTES),
        chunk_bytes=CHUNK_BYTES,
    )
    return manifest


def read_manifest(data: bytes, *, file: str | None = None) -> Manifest:
    """Parse the manifest without verifying anything: for display only.

    Raises:
        MessageError: Malformed or truncated message.
    """
    return read_manifest_stream(io.BytesIO(data), file=file)


def read_manifest_stream(src: IO[bytes], *, file: str | None = None) -> Manifest:
    """:func:`read_manifest` from an open, seekable message file.

    Raises:
        MessageError: Malformed or truncated message.
    """
    return _parse(src, file).manifest


@dataclass(frozen=True)
class OpenedMessage:
    """A verified, decrypted message."""

    manifest: Manifest
    table: pa.Table
    sender: PartyCard


@dataclass(frozen=True)
class VerifiedMessage:
    """A verified message whose payload was decrypted into a caller's file."""

    manifest: Manifest
    sender: PartyCard


def open_stream(
    src: IO[bytes],
    dst: IO[bytes],
    *,
    me: Identity,
    contacts: Mapping[str, PartyCard],
    expected_kind: str,
    expected_exchange: str,
    file: str | None = None,
) -> VerifiedMessage:
    """Verify a message and decrypt its payload into ``dst``, chunk by chunk.

    Checks, in order: format, known sender, signature (a first pass over the
    whole message, before anything is decrypted), recipient, kind, exchange
    id, sender role, decryption of every chunk and the payload hash. The
    first failure is raised; ``dst`` then holds garbage the caller must
    discard. Memory stays at one chunk whatever the message size.

    The payload is not yet checked as Parquet: :func:`check_payload` does
    that once the caller can read ``dst`` back.

    Raises:
        MessageError: The message was rejected; the text says why.
    """
    layout = _parse(src, file)
    manifest = layout.manifest
    sender = contacts.get(manifest.sender)
    if sender is None:
        raise MessageError(
            f"unknown sender {manifest.sender}",
            file=file,
            hint="import the sender's card with `trust` if you expect it",
        )
    signed = hashlib.sha512(layout.head)
    left = layout.body_end - len(layout.head)
    while left:
        block = _read_exactly(src, min(left, CHUNK_BYTES), file)
        signed.update(block)
        left -= len(block)
    signature = _read_exactly(src, SIGNATURE_BYTES, file)
    try:
        Ed25519PublicKey.from_public_bytes(sender.signing_public).verify(
            signature, _to_sign(signed.digest())
        )
    except InvalidSignature:
        raise MessageError(
            f"bad signature (not signed by {sender.name} or altered)", file=file
        ) from None
    if manifest.recipient != me.fingerprint:
        raise MessageError(
            f"message is addressed to {manifest.recipient}, not to this party ({me.fingerprint})",
            file=file,
        )
    if manifest.kind != expected_kind:
        raise MessageError(
            f"wrong message kind: expected {expected_kind}, got {manifest.kind}", file=file
        )
    if manifest.exchange_id != expected_exchange:
        raise MessageError(
            f"exchange id mismatch: expected {expected_exchange}, got {manifest.exchange_id}",
            file=file,
        )
    spec = KIND_SPECS[manifest.kind]
    if sender.role != spec.sender_role or me.role != spec.recipient_role:
        raise MessageError(
            f"wrong sender: a {manifest.kind} message must come from a {spec.sender_role} "
            f"to a {spec.recipient_role}, not from a {sender.role} to a {me.role}",
            file=file,
        )
    _decrypt_into(src, dst, layout, me, file)
    return VerifiedMessage(manifest=manifest, sender=sender)


def _decrypt_into(
    src: IO[bytes], dst: IO[bytes], layout: _ContainerLayout, me: Identity, file: str | None
) -> None:
    try:
        shared = me.exchange_key.exchange(X25519PublicKey.from_public_bytes(layout.ephemeral))
    except ValueError:
        raise MessageError("decryption failed", file=file) from None
    aead = AESGCM(_aead_key(shared, layout.ephemeral, me.exchange_public))
    head_digest = hashlib.sha256(layout.head).digest()
    src.seek(len(layout.head))
    plain_hash = hashlib.sha256()
    chunks = _chunk_count(layout.payload_bytes, layout.chunk_bytes)
    left = layout.payload_bytes
    for index in range(chunks):
        size = min(layout.chunk_bytes, left)
        sealed = _read_exactly(src, size + TAG_BYTES, file)
        try:
            plain = aead.decrypt(
                _nonce(layout.prefix, index), sealed, _chunk_aad(head_digest, index == chunks - 1)
            )
        except (InvalidTag, ValueError):
            raise MessageError("decryption failed", file=file) from None
        plain_hash.update(plain)
        dst.write(plain)
        left -= size
    if not hmac.compare_digest(plain_hash.hexdigest(), layout.manifest.payload_sha256):
        raise MessageError("payload SHA-256 does not match the manifest", file=file)


def check_payload(
    manifest: Manifest,
    payload: pq.ParquetFile,
    *,
    file: str | None = None,
    check_allow_list: bool = True,
) -> None:
    """Check a decrypted payload against its manifest and its kind's allow-list.

    Raises:
        MessageError: Row count, columns or allow-list do not match.
    """
    rows = payload.metadata.num_rows
    if rows != manifest.rows:
        raise MessageError(
            f"row count mismatch: manifest says {manifest.rows}, payload has {rows}",
            file=file,
        )
    if tuple(payload.schema_arrow.names) != manifest.columns:
        raise MessageError("payload columns do not match the manifest", file=file)
    if check_allow_list:
        validate_payload_file(manifest.kind, payload, file=file)


def open_message(
    data: bytes,
    *,
    me: Identity,
    contacts: Mapping[str, PartyCard],
    expected_kind: str,
    expected_exchange: str,
    file: str | None = None,
    check_allow_list: bool = True,
) -> OpenedMessage:
    """Verify, decrypt and check a message held in memory (see :func:`open_stream`).

    Args:
        data: The message bytes.
        me: The recipient's identity.
        contacts: Trusted cards by fingerprint.
        expected_kind: The kind the caller is prepared to consume.
        expected_exchange: The exchange the caller is working on.
        file: Message file name for error messages.
        check_allow_list: Hazmat. ``False`` skips only the final column
            allow-list check so an *auditor* can read a payload that breaks it
            and report what leaked. Never consume such a payload.

    Raises:
        MessageError: The message was rejected; the text says why.
    """
    plain = io.BytesIO()
    verified = open_stream(
        io.BytesIO(data),
        plain,
        me=me,
        contacts=contacts,
        expected_kind=expected_kind,
        expected_exchange=expected_exchange,
        file=file,
    )
    table = read_payload(
        pa.BufferReader(plain.getvalue()),
        verified.manifest,
        file=file,
        check_allow_list=check_allow_list,
    )
    return OpenedMessage(manifest=verified.manifest, table=table, sender=verified.sender)


def read_payload(
    source: pa.NativeFile | IO[bytes] | str | os.PathLike[str],
    manifest: Manifest,
    *,
    file: str | None = None,
    check_allow_list: bool = True,
) -> pa.Table:
    """Read a decrypted payload as a table after :func:`check_payload`.

    Row groups are read one at a time and joined without copying, so memory
    peaks at the table plus one row group.

    Raises:
        MessageError: Not Parquet, or the checks fail.
    """
    unreadable = MessageError("payload is not a readable Parquet table", file=file)
    try:
        parquet = pq.ParquetFile(source)
    except (pa.ArrowException, OSError, ValueError):
        raise unreadable from None
    check_payload(manifest, parquet, file=file, check_allow_list=check_allow_list)
    try:
        groups = [parquet.read_row_group(i) for i in range(parquet.metadata.num_row_groups)]
        if not groups:
            return parquet.schema_arrow.empty_table()
        return pa.concat_tables(groups)
    except (pa.ArrowException, OSError, ValueError):
        raise unreadable from None
