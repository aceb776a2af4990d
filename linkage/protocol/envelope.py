"""Sealing and opening exchanged messages, as bytes in and bytes out.

Wire format (``NWL2``), every integer big-endian::

    magic       4 bytes   b"NWL2"
    mlen        4 bytes   length of the manifest (at most 64 KiB)
    manifest    mlen      UTF-8 JSON, keys sorted, no whitespace (see Manifest)
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
(version 1 sealed the payload in one AES-GCM call, which cryptography caps at
2 GiB, and held three copies of it while opening).

The payload is a Parquet file (zstd). The AES key is
``HKDF-SHA256(X25519(ephemeral, recipient), salt = ephemeral_pub || recipient_pub,
info = b"narwhal/v2/envelope" || ephemeral_pub || recipient_pub)``: fresh per
message, bound to the recipient. The manifest is authenticated twice (as
associated data and under the signature), so it cannot be swapped onto
another ciphertext. A file with any byte missing or extra is rejected; the
signature is checked in a first pass over the file, before anything is
decrypted.

Manifest fields: ``format_version`` (1), ``kind``, ``exchange_id``, ``sender``
and ``recipient`` (card fingerprints), ``rows``, ``columns`` (names, in
order), ``payload_sha256`` (hex of the plaintext Parquet), ``created_at``
(ISO-8601 UTC with microseconds, ``Z``) and ``message_id`` (32 hex chars).

Every kind has a column allow-list (:data:`KIND_SPECS`) checked on names and
Arrow types by the sender before sealing and by the recipient after opening.
"""

from __future__ import annotations

import hashlib
import hmac
import io
import json
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import IO, Final

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from cryptography.exceptions import InvalidSignature, InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from linkage.errors import InputError, MessageError, StateError
from linkage.protocol.keys import Identity, PartyCard, Role, validate_exchange_id

MAGIC: Final = b"NWL2"
FORMAT_VERSION: Final = 2
MAX_MANIFEST_BYTES: Final = 64 * 1024
NONCE_BYTES: Final = 12
EPHEMERAL_BYTES: Final = 32
SIGNATURE_BYTES: Final = 64
TAG_BYTES: Final = 16
TOKEN_BYTES: Final = 32

CHUNK_BYTES: Final = 1 << 20
"""Plaintext bytes per AES-GCM chunk written by this version."""
MIN_CHUNK_BYTES: Final = 1 << 10
MAX_CHUNK_BYTES: Final = 1 << 26

_ENVELOPE_INFO: Final = b"narwhal/v2/envelope"
_SIGNATURE_CONTEXT: Final = b"narwhal/v2/signature"
_MLEN: Final = 4
_PREFIX_BYTES: Final = 8
_COUNTER_BYTES: Final = NONCE_BYTES - _PREFIX_BYTES
_CHUNK_FIELD: Final = 4
_PLEN: Final = 8
_HEX32: Final = re.compile(r"[0-9a-f]{32}")
_HEX64: Final = re.compile(r"[0-9a-f]{64}")
_TIME_FORMAT: Final = "%Y-%m-%dT%H:%M:%S.%fZ"
_TIME_PATTERN: Final = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z")
_MANIFEST_FIELDS: Final = frozenset(
    {
        "format_version",
        "kind",
        "exchange_id",
        "sender",
        "recipient",
        "rows",
        "columns",
        "payload_sha256",
        "created_at",
        "message_id",
    }
)


# --- allow-lists -------------------------------------------------------------------

ColumnCheck = Callable[[pa.ChunkedArray], bool]
"""True when a column's type (and, for tokens, value widths) is acceptable."""


def _is_string(col: pa.ChunkedArray) -> bool:
    return bool(pa.types.is_string(col.type) or pa.types.is_large_string(col.type))


def _is_string_list(col: pa.ChunkedArray) -> bool:
    t = col.type
    if not (pa.types.is_list(t) or pa.types.is_large_list(t)):
        return False
    value = t.value_type
    return bool(pa.types.is_string(value) or pa.types.is_large_string(value))


def _is_token(col: pa.ChunkedArray) -> bool:
    """binary(32); variable binary is accepted only if every value is 32 bytes."""
    t = col.type
    if pa.types.is_fixed_size_binary(t):
        return bool(t.byte_width == TOKEN_BYTES)
    if pa.types.is_binary(t) or pa.types.is_large_binary(t):
        extremes = pc.min_max(pc.binary_length(col)).as_py()
        # All-null columns have no extremes and carry nothing.
        return extremes["min"] is None or extremes["min"] == extremes["max"] == TOKEN_BYTES
    return False


def _is_any_binary(col: pa.ChunkedArray) -> bool:
    t = col.type
    return bool(
        pa.types.is_binary(t) or pa.types.is_large_binary(t) or pa.types.is_fixed_size_binary(t)
    )


def _exact(arrow_type: pa.DataType) -> ColumnCheck:
    def check(col: pa.ChunkedArray) -> bool:
        return bool(col.type == arrow_type)

    return check


@dataclass(frozen=True)
class ColumnRule:
    """One allowed column (or family of columns) of a message kind.

    Attributes:
        name: Exact column name, or a prefix when ``prefix`` is true.
        type_name: Human-readable type, used in error messages.
        check: Accepts or rejects the column's type (and token widths).
        required: The column must be present (never true for prefixes).
        prefix: ``name`` is a prefix (``mk_`` matches ``mk_addr``).
    """

    name: str
    type_name: str
    check: ColumnCheck
    required: bool = True
    prefix: bool = False

    def matches(self, column: str) -> bool:
        """True if this rule governs ``column``."""
        if self.prefix:
            return column.startswith(self.name) and len(column) > len(self.name)
        return column == self.name


@dataclass(frozen=True)
class KindSpec:
    """Who sends a kind to whom, and which columns its payload may hold."""

    sender_role: Role
    recipient_role: Role
    columns: tuple[ColumnRule, ...]

    def rule_for(self, column: str) -> ColumnRule | None:
        """The rule governing ``column``, or None if the column is not allowed."""
        return next((rule for rule in self.columns if rule.matches(column)), None)


def _string(name: str) -> ColumnRule:
    return ColumnRule(name, "string", _is_string)


def _typed(name: str, arrow_type: pa.DataType, type_name: str) -> ColumnRule:
    return ColumnRule(name, type_name, _exact(arrow_type))


# Forward-compatible token families for the fuzzy stage (keyed blocking keys
# and Bloom-filter CLKs): binary only, so no readable value can ride along.
_TOKEN_FAMILIES: Final = (
    ColumnRule("mk_", "binary(32)", _is_token, required=False, prefix=True),
    ColumnRule("bk_", "binary", _is_any_binary, required=False, prefix=True),
    ColumnRule("clk", "binary", _is_any_binary, required=False),
    ColumnRule("clk_", "binary", _is_any_binary, required=False, prefix=True),
)

KIND_SPECS: Final[Mapping[str, KindSpec]] = {
    "campaign-tokens": KindSpec(
        "campaign",
        "matcher",
        (
            _string("rid"),
            ColumnRule("segments", "list<string>", _is_string_list),
            *_TOKEN_FAMILIES,
        ),
    ),
    "provider-tokens": KindSpec("provider", "matcher", (_string("hp"), *_TOKEN_FAMILIES)),
    "assignments": KindSpec("matcher", "provider", (_string("hp"), _string("segment"))),
    "match-report": KindSpec(
        "matcher",
        "campaign",
        (
            _string("segment"),
            _typed("voters", pa.int64(), "int64"),
            _typed("matched_voters", pa.int64(), "int64"),
            _typed("households", pa.int64(), "int64"),
            _typed("match_rate", pa.float64(), "float64"),
            # Model estimates of the fuzzy linkage (aggregate; null when suppressed).
            ColumnRule("est_precision", "float64", _exact(pa.float64()), required=False),
            ColumnRule("est_recall", "float64", _exact(pa.float64()), required=False),
            _typed("suppressed", pa.bool_(), "bool"),
        ),
    ),
    "viewership": KindSpec(
        "provider",
        "campaign",
        (
            _string("grain"),
            _string("segment"),
            _string("channel"),
            _string("day_type"),
            _string("daypart"),
            _typed("quarter_hour", pa.int16(), "int16"),
            _typed("universe", pa.int64(), "int64"),
            _typed("aqh_households", pa.float64(), "float64"),
            _typed("rating", pa.float64(), "float64"),
            _typed("share", pa.float64(), "float64"),
            _typed("reach_households", pa.int64(), "int64"),
            _typed("reach", pa.float64(), "float64"),
            _typed("suppressed", pa.bool_(), "bool"),
            # Noise-interval half-widths of a DP release (linkage.dp); null when exact.
            *(
                ColumnRule(name, "float64", _exact(pa.float64()), required=False)
                for name in ("aqh_households_ci", "rating_ci", "share_ci", "reach_ci")
            ),
        ),
    ),
}
KINDS: Final = tuple(KIND_SPECS)


def validate_payload(kind: str, table: pa.Table, *, file: str | None = None) -> None:
    """Check a payload against its kind's allow-list (names, types, required columns).

    Raises:
        MessageError: Unknown kind, duplicate/unknown column, wrong type or a
            required column missing. Names the column, never a value.
    """
    spec = KIND_SPECS.get(kind)
    if spec is None:
        raise MessageError("unknown message kind", file=file, hint=f"kinds: {', '.join(KINDS)}")
    names = table.column_names
    if len(set(names)) != len(names):
        raise MessageError(f"{kind} payload has duplicate column names", file=file)
    for name in names:
        rule = spec.rule_for(name)
        if rule is None:
            raise MessageError(f"column is not allowed in a {kind} payload", file=file, column=name)
        column = table.column(name)
        if not rule.check(column):
            raise MessageError(
                f"column must be {rule.type_name} in a {kind} payload (got {column.type})",
                file=file,
                column=name,
            )
    for rule in spec.columns:
        if rule.required and rule.name not in names:
            raise MessageError(
                f"required column missing from a {kind} payload", file=file, column=rule.name
            )


# --- manifest ----------------------------------------------------------------------


def format_time(moment: datetime) -> str:
    """Render an aware datetime as the manifest's UTC timestamp.

    Raises:
        ValueError: Naive datetime.
    """
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError("created_at must be timezone-aware")
    return moment.astimezone(UTC).strftime(_TIME_FORMAT)


def parse_time(text: str) -> datetime:
    """Inverse of :func:`format_time`.

    Raises:
        ValueError: Not in the exact manifest format.
    """
    if _TIME_PATTERN.fullmatch(text) is None:
        raise ValueError("not a manifest timestamp")
    return datetime.strptime(text, _TIME_FORMAT).replace(tzinfo=UTC)


@dataclass(frozen=True)
class Manifest:
    """The signed, cleartext description of a message (see module docstring)."""

    format_version: int
    kind: str
    exchange_id: str
    sender: str
    recipient: str
    rows: int
    columns: tuple[str, ...]
    payload_sha256: str
    created_at: datetime
    message_id: str

    def to_bytes(self) -> bytes:
        """Canonical JSON encoding: what is signed and used as associated data."""
        doc = {
            "format_version": self.format_version,
            "kind": self.kind,
            "exchange_id": self.exchange_id,
            "sender": self.sender,
            "recipient": self.recipient,
            "rows": self.rows,
            "columns": list(self.columns),
            "payload_sha256": self.payload_sha256,
            "created_at": format_time(self.created_at),
            "message_id": self.message_id,
        }
        return json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode()


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _manifest_from_bytes(raw: bytes, file: str | None) -> Manifest:
    def bad(what: str) -> MessageError:
        return MessageError(f"malformed manifest: {what}", file=file)

    try:
        doc = json.loads(raw.decode("utf-8"))
    # ValueError also covers int() digit limits; RecursionError deep nesting.
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise bad("not UTF-8 JSON") from None
    if not isinstance(doc, dict):
        raise bad("not a JSON object")
    if set(doc) != _MANIFEST_FIELDS:
        raise bad("wrong set of fields")
    version = doc["format_version"]
    if not _is_int(version) or version != FORMAT_VERSION:
        raise MessageError(
            "unsupported message format version",
            file=file,
            hint=f"this reader understands version {FORMAT_VERSION}",
        )
    kind = doc["kind"]
    if not isinstance(kind, str) or kind not in KIND_SPECS:
        raise bad("unknown kind")
    exchange_id = doc["exchange_id"]
    try:
        validate_exchange_id(exchange_id)
    except InputError:
        raise bad("invalid exchange id") from None
    for key in ("sender", "recipient", "message_id"):
        value = doc[key]
        if not isinstance(value, str) or _HEX32.fullmatch(value) is None:
            raise bad(f"'{key}' must be 32 lowercase hex characters")
    digest = doc["payload_sha256"]
    if not isinstance(digest, str) or _HEX64.fullmatch(digest) is None:
        raise bad("'payload_sha256' must be 64 lowercase hex characters")
    rows = doc["rows"]
    if not _is_int(rows) or rows < 0:
        raise bad("'rows' must be a non-negative integer")
    columns = doc["columns"]
    if not isinstance(columns, list) or not all(isinstance(c, str) for c in columns):
        raise bad("'columns' must be a list of names")
    created = doc["created_at"]
    try:
        created_at = parse_time(created) if isinstance(created, str) else None
    except ValueError:
        created_at = None
    if created_at is None:
        raise bad("'created_at' must be an ISO-8601 UTC timestamp")
    return Manifest(
        format_version=version,
        kind=kind,
        exchange_id=exchange_id,
        sender=doc["sender"],
        recipient=doc["recipient"],
        rows=rows,
        columns=tuple(columns),
        payload_sha256=digest,
        created_at=created_at,
        message_id=doc["message_id"],
    )


# --- container ---------------------------------------------------------------------


@dataclass(frozen=True)
class _Layout:
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


def _parse(src: IO[bytes], file: str | None) -> _Layout:
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
    manifest = _manifest_from_bytes(manifest_bytes, file)
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
    return _Layout(
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


def _manifest_for(
    kind: str,
    exchange_id: str,
    sender: Identity,
    recipient: PartyCard,
    *,
    rows: int,
    columns: tuple[str, ...],
    payload_sha256: str,
    created_at: datetime | None,
    message_id: str | None,
) -> Manifest:
    validate_exchange_id(exchange_id)
    if message_id is None:
        message_id = os.urandom(16).hex()
    elif _HEX32.fullmatch(message_id) is None:
        raise ValueError("message_id must be 32 lowercase hex characters")
    return Manifest(
        format_version=FORMAT_VERSION,
        kind=kind,
        exchange_id=exchange_id,
        sender=sender.fingerprint,
        recipient=recipient.fingerprint,
        rows=rows,
        columns=columns,
        payload_sha256=payload_sha256,
        created_at=created_at if created_at is not None else datetime.now(UTC),
        message_id=message_id,
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
    manifest = _manifest_for(
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


def validate_payload_file(kind: str, payload: pq.ParquetFile, *, file: str | None = None) -> None:
    """:func:`validate_payload` for a Parquet file, one column of one row group at a time.

    Names, types and required columns are checked on the schema; a column
    whose rule also looks at values (variable-width tokens) is scanned row
    group by row group, so memory stays at one column chunk.

    Raises:
        MessageError: As :func:`validate_payload`.
    """
    schema = payload.schema_arrow
    validate_payload(kind, schema.empty_table(), file=file)
    spec = KIND_SPECS[kind]
    for name in schema.names:
        if pa.types.is_fixed_size_binary(schema.field(name).type):
            continue
        rule = spec.rule_for(name)
        for group in range(payload.metadata.num_row_groups):
            column = payload.read_row_group(group, columns=[name]).column(name)
            if rule is not None and not rule.check(column):
                raise MessageError(
                    f"column must be {rule.type_name} in a {kind} payload (got {column.type})",
                    file=file,
                    column=name,
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
    manifest = _manifest_for(
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
    src: IO[bytes], dst: IO[bytes], layout: _Layout, me: Identity, file: str | None
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


# --- replay ------------------------------------------------------------------------


@dataclass(frozen=True)
class SeenEntry:
    """The last message consumed for one (sender, exchange, kind)."""

    sender: str
    exchange_id: str
    kind: str
    message_id: str
    created_at: datetime


@dataclass(frozen=True)
class ReplayGuard:
    """Which message was last consumed per (sender, exchange, kind).

    Re-opening the message consumed last is fine (a re-run is idempotent).
    Any other message that is not strictly newer is a replay: an attacker, or
    a stale file, rolling the exchange back to older data.
    """

    entries: tuple[SeenEntry, ...] = ()

    def latest(self, sender: str, exchange_id: str, kind: str) -> SeenEntry | None:
        """The entry for this stream, if any."""
        return next(
            (
                e
                for e in self.entries
                if (e.sender, e.exchange_id, e.kind) == (sender, exchange_id, kind)
            ),
            None,
        )

    def check(self, manifest: Manifest, *, file: str | None = None) -> bool:
        """Decide whether a verified message may be consumed.

        Returns:
            True if it is the message consumed last (a re-run), False if it is new.

        Raises:
            MessageError: Replay (older or same-time message with another id).
        """
        last = self.latest(manifest.sender, manifest.exchange_id, manifest.kind)
        if last is None:
            return False
        if last.message_id == manifest.message_id:
            return True
        if manifest.created_at <= last.created_at:
            raise MessageError(
                f"replayed message: a newer {manifest.kind} from this sender was already consumed",
                file=file,
                hint="use the latest message from the sender",
            )
        return False

    def consume(self, manifest: Manifest, *, file: str | None = None) -> ReplayGuard:
        """Check, then return a guard that records ``manifest`` as the latest.

        Raises:
            MessageError: Replay.
        """
        if self.check(manifest, file=file):
            return self
        key = (manifest.sender, manifest.exchange_id, manifest.kind)
        kept = tuple(e for e in self.entries if (e.sender, e.exchange_id, e.kind) != key)
        entry = SeenEntry(*key, message_id=manifest.message_id, created_at=manifest.created_at)
        return replace(self, entries=(*kept, entry))

    def to_json(self) -> str:
        """Serialize for :func:`linkage.files.save_seen`."""
        doc = [
            {
                "sender": e.sender,
                "exchange_id": e.exchange_id,
                "kind": e.kind,
                "message_id": e.message_id,
                "created_at": format_time(e.created_at),
            }
            for e in self.entries
        ]
        return json.dumps({"seen": doc}, indent=2, sort_keys=True) + "\n"

    @classmethod
    def from_json(cls, text: str, *, file: str | None = None) -> ReplayGuard:
        """Inverse of :meth:`to_json`.

        Raises:
            StateError: The state file is corrupt.
        """
        try:
            doc = json.loads(text)
            entries = tuple(
                SeenEntry(
                    sender=_str(item["sender"]),
                    exchange_id=_str(item["exchange_id"]),
                    kind=_str(item["kind"]),
                    message_id=_str(item["message_id"]),
                    created_at=parse_time(_str(item["created_at"])),
                )
                for item in doc["seen"]
            )
        except (json.JSONDecodeError, KeyError, TypeError, ValueError):
            raise StateError(
                "seen-message state is corrupt", file=file, hint="restore it from a backup"
            ) from None
        return cls(entries=entries)


def _str(value: object) -> str:
    if not isinstance(value, str):
        raise TypeError("expected a string")
    return value
