"""Sealing and opening exchanged messages, as bytes in and bytes out.

Wire format (``NWL1``), every integer big-endian::

    magic       4 bytes   b"NWL1"
    mlen        4 bytes   length of the manifest (at most 64 KiB)
    manifest    mlen      UTF-8 JSON, keys sorted, no whitespace (see Manifest)
    ephemeral   32 bytes  sender's one-time X25519 public key
    nonce       12 bytes  AES-GCM nonce
    clen        8 bytes   length of the ciphertext (payload + 16-byte GCM tag)
    ciphertext  clen      AES-256-GCM(payload), AAD = the exact manifest bytes
    signature   64 bytes  Ed25519 by the sender over magic..ciphertext

The payload is a Parquet file (zstd). The AES key is
``HKDF-SHA256(X25519(ephemeral, recipient), salt = ephemeral_pub || recipient_pub,
info = b"narwhal/v1/envelope" || ephemeral_pub || recipient_pub)``: fresh per
message, bound to the recipient. The manifest is authenticated twice — as AES
associated data and under the signature — so it cannot be swapped onto
another ciphertext. A file with any byte missing or extra is rejected.

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
import json
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Final

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
from linkage.keys import Identity, PartyCard, Role, validate_exchange_id

MAGIC: Final = b"NWL1"
FORMAT_VERSION: Final = 1
MAX_MANIFEST_BYTES: Final = 64 * 1024
NONCE_BYTES: Final = 12
EPHEMERAL_BYTES: Final = 32
SIGNATURE_BYTES: Final = 64
TAG_BYTES: Final = 16
TOKEN_BYTES: Final = 32

_ENVELOPE_INFO: Final = b"narwhal/v1/envelope"
_MLEN: Final = 4
_CLEN: Final = 8
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
class _Parts:
    manifest_bytes: bytes
    ephemeral: bytes
    nonce: bytes
    ciphertext: bytes
    signed: bytes
    signature: bytes


def _split(data: bytes, file: str | None) -> _Parts:
    head = len(MAGIC) + _MLEN
    if len(data) < len(MAGIC):
        if MAGIC.startswith(data):
            raise MessageError("truncated message", file=file)
        raise MessageError("not a Narwhal message (bad magic)", file=file)
    if data[: len(MAGIC)] != MAGIC:
        raise MessageError("not a Narwhal message (bad magic)", file=file)
    if len(data) < head:
        raise MessageError("truncated message", file=file)
    mlen = int.from_bytes(data[len(MAGIC) : head], "big")
    if mlen > MAX_MANIFEST_BYTES:
        raise MessageError("malformed message: manifest length out of range", file=file)
    clen_at = head + mlen + EPHEMERAL_BYTES + NONCE_BYTES
    if len(data) < clen_at + _CLEN:
        raise MessageError("truncated message", file=file)
    clen = int.from_bytes(data[clen_at : clen_at + _CLEN], "big")
    end = clen_at + _CLEN + clen
    if clen < TAG_BYTES:
        raise MessageError("malformed message: ciphertext length out of range", file=file)
    if len(data) < end + SIGNATURE_BYTES:
        raise MessageError("truncated message", file=file)
    if len(data) > end + SIGNATURE_BYTES:
        raise MessageError("malformed message: trailing bytes after the signature", file=file)
    eph_at = head + mlen
    return _Parts(
        manifest_bytes=data[head:eph_at],
        ephemeral=data[eph_at : eph_at + EPHEMERAL_BYTES],
        nonce=data[eph_at + EPHEMERAL_BYTES : clen_at],
        ciphertext=data[clen_at + _CLEN : end],
        signed=data[:end],
        signature=data[end:],
    )


def _aead_key(shared: bytes, ephemeral_pub: bytes, recipient_pub: bytes) -> bytes:
    return HKDF(
        algorithm=hashes.SHA256(),
        length=32,
        salt=ephemeral_pub + recipient_pub,
        info=_ENVELOPE_INFO + ephemeral_pub + recipient_pub,
    ).derive(shared)


def encode_payload(table: pa.Table) -> bytes:
    """Serialize a payload table as Parquet (zstd) bytes."""
    sink = pa.BufferOutputStream()
    pq.write_table(table, sink, compression="zstd")
    return bytes(sink.getvalue().to_pybytes())


def _seal_raw(
    payload: bytes,
    manifest: Manifest,
    *,
    sender: Identity,
    recipient: PartyCard,
    ephemeral: X25519PrivateKey,
    nonce: bytes,
) -> bytes:
    """Encrypt and sign already-encoded payload bytes; no allow-list check (tests only)."""
    manifest_bytes = manifest.to_bytes()
    if len(manifest_bytes) > MAX_MANIFEST_BYTES:
        raise MessageError("manifest too large (too many columns?)")
    if len(nonce) != NONCE_BYTES:
        raise ValueError("nonce must be 12 bytes")
    ephemeral_pub = ephemeral.public_key().public_bytes_raw()
    shared = ephemeral.exchange(X25519PublicKey.from_public_bytes(recipient.exchange_public))
    key = _aead_key(shared, ephemeral_pub, recipient.exchange_public)
    ciphertext = AESGCM(key).encrypt(nonce, payload, manifest_bytes)
    signed = b"".join(
        (
            MAGIC,
            len(manifest_bytes).to_bytes(_MLEN, "big"),
            manifest_bytes,
            ephemeral_pub,
            nonce,
            len(ciphertext).to_bytes(_CLEN, "big"),
            ciphertext,
        )
    )
    return signed + sender.signing_key.sign(signed)


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
    """Validate, encrypt to ``recipient`` and sign a payload.

    Args:
        payload: The table to send; checked against the kind's allow-list first.
        kind: One of :data:`KINDS`.
        exchange_id: The exchange the message belongs to.
        sender: This party.
        recipient: The recipient's card.
        created_at: Timestamp (aware); default now.
        message_id: 32 hex chars; default random.
        ephemeral: One-time X25519 key; default fresh. Inject only in tests.
        nonce: 12-byte AES-GCM nonce; default random. Inject only in tests.

    Returns:
        The sealed message bytes.

    Raises:
        MessageError: Payload outside the allow-list, or sender/recipient roles
            do not fit the kind.
        InputError: Invalid exchange id.
    """
    validate_payload(kind, payload)
    spec = KIND_SPECS[kind]
    if sender.role != spec.sender_role or recipient.role != spec.recipient_role:
        raise MessageError(
            f"a {kind} message goes from a {spec.sender_role} to a {spec.recipient_role}",
            hint=f"sender is a {sender.role}, recipient is a {recipient.role}",
        )
    validate_exchange_id(exchange_id)
    if message_id is None:
        message_id = os.urandom(16).hex()
    elif _HEX32.fullmatch(message_id) is None:
        raise ValueError("message_id must be 32 lowercase hex characters")
    encoded = encode_payload(payload)
    manifest = Manifest(
        format_version=FORMAT_VERSION,
        kind=kind,
        exchange_id=exchange_id,
        sender=sender.fingerprint,
        recipient=recipient.fingerprint,
        rows=payload.num_rows,
        columns=tuple(payload.column_names),
        payload_sha256=hashlib.sha256(encoded).hexdigest(),
        created_at=created_at if created_at is not None else datetime.now(UTC),
        message_id=message_id,
    )
    return _seal_raw(
        encoded,
        manifest,
        sender=sender,
        recipient=recipient,
        ephemeral=ephemeral if ephemeral is not None else X25519PrivateKey.generate(),
        nonce=nonce if nonce is not None else os.urandom(NONCE_BYTES),
    )


def read_manifest(data: bytes, *, file: str | None = None) -> Manifest:
    """Parse the manifest without verifying anything: for display only.

    Raises:
        MessageError: Malformed or truncated message.
    """
    return _manifest_from_bytes(_split(data, file).manifest_bytes, file)


@dataclass(frozen=True)
class OpenedMessage:
    """A verified, decrypted message."""

    manifest: Manifest
    table: pa.Table
    sender: PartyCard


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
    """Verify, decrypt and check a message addressed to ``me``.

    Checks, in order: format, known sender, signature, recipient, kind,
    exchange id, sender role, decryption, payload hash, Parquet, row count and
    columns, allow-list. The first failure is raised.

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
    parts = _split(data, file)
    manifest = _manifest_from_bytes(parts.manifest_bytes, file)
    sender = contacts.get(manifest.sender)
    if sender is None:
        raise MessageError(
            f"unknown sender {manifest.sender}",
            file=file,
            hint="import the sender's card with `trust` if you expect it",
        )
    try:
        Ed25519PublicKey.from_public_bytes(sender.signing_public).verify(
            parts.signature, parts.signed
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
    try:
        shared = me.exchange_key.exchange(X25519PublicKey.from_public_bytes(parts.ephemeral))
        key = _aead_key(shared, parts.ephemeral, me.exchange_public)
        payload = AESGCM(key).decrypt(parts.nonce, parts.ciphertext, parts.manifest_bytes)
    except (InvalidTag, ValueError):
        raise MessageError("decryption failed", file=file) from None
    if not hmac.compare_digest(hashlib.sha256(payload).hexdigest(), manifest.payload_sha256):
        raise MessageError("payload SHA-256 does not match the manifest", file=file)
    try:
        table = pq.read_table(pa.BufferReader(payload))
    except (pa.ArrowException, OSError, ValueError):
        raise MessageError("payload is not a readable Parquet table", file=file) from None
    if table.num_rows != manifest.rows:
        raise MessageError(
            f"row count mismatch: manifest says {manifest.rows}, payload has {table.num_rows}",
            file=file,
        )
    if tuple(table.column_names) != manifest.columns:
        raise MessageError("payload columns do not match the manifest", file=file)
    if check_allow_list:
        validate_payload(manifest.kind, table, file=file)
    return OpenedMessage(manifest=manifest, table=table, sender=sender)


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
