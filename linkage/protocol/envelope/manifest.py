"""The manifest: the signed, cleartext description of a message.

A manifest travels in the container's header (see
:mod:`linkage.protocol.envelope.container` for the wire format) as UTF-8
JSON, keys sorted, no whitespace, so that its bytes are canonical: they are
both associated data of every chunk and under the signature. Fields:

- ``format_version``: :data:`FORMAT_VERSION`; any other value is refused.
- ``kind``: one of the allow-listed kinds (:data:`~.allow_lists.KINDS`).
- ``exchange_id``: the exchange the message belongs to.
- ``sender``, ``recipient``: card fingerprints, 32 lowercase hex characters.
- ``rows``, ``columns``: the payload's row count and column names, in order.
- ``payload_sha256``: hex SHA-256 of the plaintext Parquet payload.
- ``created_at``: ISO-8601 UTC with microseconds and a ``Z``
  (:func:`format_time`); the replay guard orders messages by it.
- ``message_id``: 32 lowercase hex characters, random by default.

Parsing is strict (exact field set, exact formats), because the manifest is
read before the signature is checked: a hostile one must be a clean
:class:`~linkage.errors.MessageError`, never a crash.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Final

from linkage.errors import InputError, MessageError
from linkage.protocol.envelope.allow_lists import KIND_SPECS
from linkage.protocol.keys import Identity, PartyCard, validate_exchange_id

FORMAT_VERSION: Final = 2
"""The one container format this code writes and reads."""

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
    """The signed, cleartext description of a message (fields: see the module docstring)."""

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


def manifest_from_bytes(raw: bytes, file: str | None) -> Manifest:
    """Parse and check a manifest read from a message header (not yet verified).

    Raises:
        MessageError: Malformed manifest or unsupported format version.
    """

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


def manifest_for(
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
    """The manifest a sender writes for a payload it is about to seal.

    Raises:
        InputError: Invalid exchange id.
        ValueError: ``message_id`` given but not 32 lowercase hex characters.
    """
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
