"""Tests for linkage.protocol.envelope.container: sealing, opening, rejections and chunking."""

from __future__ import annotations

import hashlib
import io
import json
import os
from dataclasses import replace
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from hypothesis import given, settings
from hypothesis import strategies as st

from linkage.errors import MessageError
from linkage.protocol import (
    FORMAT_VERSION,
    KIND_SPECS,
    KINDS,
    MAGIC,
    Identity,
    Manifest,
    encode_payload,
    identity_from_private_bytes,
    open_message,
    open_stream,
    parse_time,
    read_manifest,
    seal,
    seal_parquet,
)
from linkage.protocol.envelope.container import _seal_raw
from tests.protocol.messages import (
    CAMPAIGN,
    CONTACTS,
    EXCHANGE,
    MATCHER,
    OTHER_MATCHER,
    PROVIDER,
    SMALL,
    T0,
    assert_rejected,
    open_as,
    party,
    raw_message,
    raw_table_message,
    sample_table,
    seal_kind,
)

VECTORS: dict[str, Any] = json.loads(
    (Path(__file__).resolve().parents[1] / "vectors" / "keys.json").read_text(encoding="utf-8")
)


# --- round trip and golden --------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
def test_round_trip_every_kind(kind: str) -> None:
    spec = KIND_SPECS[kind]
    table = sample_table(kind)
    data = seal_kind(kind, created_at=T0)
    assert data.startswith(MAGIC)
    opened = open_as(data, party(spec.recipient_role), kind)
    assert opened.table.equals(table)
    assert opened.sender.fingerprint == party(spec.sender_role).fingerprint
    m = opened.manifest
    assert (m.kind, m.exchange_id, m.rows, m.columns) == (
        kind,
        EXCHANGE,
        table.num_rows,
        tuple(table.column_names),
    )
    assert m.created_at == T0
    assert m.recipient == party(spec.recipient_role).fingerprint
    assert read_manifest(data) == m


def test_seal_is_deterministic_only_with_injected_randomness() -> None:
    fixed: dict[str, Any] = {
        "created_at": T0,
        "message_id": "cd" * 16,
        "ephemeral": X25519PrivateKey.from_private_bytes(b"\x07" * 32),
        "nonce": b"\x01" * 12,
    }
    assert seal_kind("assignments", **fixed) == seal_kind("assignments", **fixed)
    a, b = seal_kind("assignments"), seal_kind("assignments")
    assert a != b
    assert read_manifest(a).message_id != read_manifest(b).message_id


def wire_by_hand(
    vec: dict[str, Any], sender: Identity, recipient: Identity, payload: bytes
) -> bytes:
    """The NWL2 bytes built from the container module docstring with bare primitives, one chunk."""
    eph = X25519PrivateKey.from_private_bytes(bytes.fromhex(vec["ephemeral_private"]))
    eph_pub = eph.public_key().public_bytes_raw()
    rec_pub = recipient.exchange_public
    key = HKDF(
        algorithm=hashes.SHA256(),
        length=32,
        salt=eph_pub + rec_pub,
        info=b"narwhal/v2/envelope" + eph_pub + rec_pub,
    ).derive(eph.exchange(X25519PublicKey.from_public_bytes(rec_pub)))
    manifest: bytes = vec["manifest"].encode()
    prefix = bytes.fromhex(vec["nonce"])
    head = (
        b"NWL2"
        + len(manifest).to_bytes(4, "big")
        + manifest
        + eph_pub
        + prefix
        + (1 << 20).to_bytes(4, "big")
        + len(payload).to_bytes(8, "big")
    )
    aad = hashlib.sha256(head).digest() + b"\x01"
    body = head + AESGCM(key).encrypt(prefix + bytes(4), payload, aad)
    signature = sender.signing_key.sign(b"narwhal/v2/signature" + hashlib.sha512(body).digest())
    return body + signature


def test_golden_envelope() -> None:
    vec = VECTORS["envelope"]

    def golden(role: str) -> Identity:
        p = VECTORS["parties"][role]
        return identity_from_private_bytes(
            p["name"],
            role,
            bytes.fromhex(p["signing_private"]),
            bytes.fromhex(p["exchange_private"]),
        )

    sender, recipient = golden(vec["sender"]), golden(vec["recipient"])
    payload = bytes.fromhex(vec["payload"])
    manifest = Manifest(
        format_version=2,
        kind=vec["kind"],
        exchange_id=vec["exchange_id"],
        sender=sender.fingerprint,
        recipient=recipient.fingerprint,
        rows=vec["rows"],
        columns=tuple(vec["columns"]),
        payload_sha256=hashlib.sha256(payload).hexdigest(),
        created_at=parse_time(vec["created_at"]),
        message_id=vec["message_id"],
    )
    assert manifest.to_bytes().decode() == vec["manifest"]
    sealed = _seal_raw(
        payload,
        manifest,
        sender=sender,
        recipient=recipient.card(),
        ephemeral=X25519PrivateKey.from_private_bytes(bytes.fromhex(vec["ephemeral_private"])),
        nonce=bytes.fromhex(vec["nonce"]),
    )
    assert len(sealed) == vec["sealed_length"]
    assert hashlib.sha256(sealed).hexdigest() == vec["sealed_sha256"]
    assert sealed == wire_by_hand(vec, sender, recipient, payload)
    # The recipient gets as far as Parquet decoding: everything before it verified.
    with pytest.raises(MessageError, match="not a readable Parquet"):
        open_message(
            sealed,
            me=recipient,
            contacts={sender.fingerprint: sender.card()},
            expected_kind=vec["kind"],
            expected_exchange=vec["exchange_id"],
        )


# --- rejections, in checking order ------------------------------------------------


def test_reject_bad_magic() -> None:
    data = seal_kind("assignments")
    assert_rejected(b"PK\x03\x04" + data[4:], PROVIDER, "assignments", "bad magic")
    assert_rejected(b"", PROVIDER, "assignments", "truncated")
    assert_rejected(b"x", PROVIDER, "assignments", "bad magic")


def test_reject_truncated_and_trailing() -> None:
    data = seal_kind("assignments")
    assert_rejected(data[:-1], PROVIDER, "assignments", "truncated")
    assert_rejected(data[:6], PROVIDER, "assignments", "truncated")
    assert_rejected(data[:40], PROVIDER, "assignments", "truncated")
    assert_rejected(data + b"\x00", PROVIDER, "assignments", "trailing bytes")


def test_reject_unknown_sender() -> None:
    data = seal_kind("assignments")
    contacts = {CAMPAIGN.fingerprint: CAMPAIGN.card()}
    assert_rejected(data, PROVIDER, "assignments", "unknown sender", contacts=contacts)


def test_reject_bad_signature() -> None:
    data = bytearray(seal_kind("assignments"))
    data[-100] ^= 0x01  # inside the ciphertext
    assert_rejected(bytes(data), PROVIDER, "assignments", "bad signature")
    data = bytearray(seal_kind("assignments"))
    data[-1] ^= 0x80  # inside the signature
    assert_rejected(bytes(data), PROVIDER, "assignments", "bad signature")


def test_reject_forged_sender() -> None:
    """An impostor names the real matcher as sender but signs with its own key."""
    table = sample_table("assignments")
    forged = raw_message(
        "assignments",
        encode_payload(table),
        signer=OTHER_MATCHER,
        to=PROVIDER.card(),
        rows=table.num_rows,
        columns=tuple(table.column_names),
        sender=MATCHER.fingerprint,
    )
    assert read_manifest(forged).sender == MATCHER.fingerprint
    assert_rejected(forged, PROVIDER, "assignments", "bad signature")


def test_reject_wrong_recipient() -> None:
    data = seal_kind("assignments")
    contacts = dict(CONTACTS)
    assert_rejected(
        data, OTHER_MATCHER, "assignments", "addressed to .* not to this party", contacts=contacts
    )


def test_reject_wrong_kind_and_exchange() -> None:
    data = seal_kind("assignments")
    assert_rejected(data, PROVIDER, "viewership", "wrong message kind: expected viewership")
    assert_rejected(
        data, PROVIDER, "assignments", "exchange id mismatch", expected_exchange="ex-other"
    )


def test_reject_wrong_sender_role() -> None:
    table = sample_table("assignments")
    data = raw_message(
        "assignments",
        encode_payload(table),
        signer=CAMPAIGN,
        to=PROVIDER.card(),
        rows=table.num_rows,
        columns=tuple(table.column_names),
    )
    assert_rejected(data, PROVIDER, "assignments", "wrong sender: .* must come from a matcher")
    with pytest.raises(MessageError, match="goes from a matcher to a provider"):
        seal(
            table,
            kind="assignments",
            exchange_id=EXCHANGE,
            sender=CAMPAIGN,
            recipient=PROVIDER.card(),
        )


def test_reject_decryption_failure() -> None:
    """Signed and addressed to the provider, but encrypted to another key."""
    table = sample_table("assignments")
    wrong_key = replace(PROVIDER.card(), exchange_public=CAMPAIGN.exchange_public)
    data = raw_message(
        "assignments",
        encode_payload(table),
        signer=MATCHER,
        to=wrong_key,
        rows=table.num_rows,
        columns=tuple(table.column_names),
    )
    assert read_manifest(data).recipient == PROVIDER.fingerprint
    assert_rejected(data, PROVIDER, "assignments", "decryption failed")


def test_reject_integrity_failures() -> None:
    table = sample_table("assignments")
    bad_sha = raw_table_message("assignments", table, payload_sha256="0" * 64)
    assert_rejected(bad_sha, PROVIDER, "assignments", "SHA-256 does not match")
    bad_rows = raw_table_message("assignments", table, rows=table.num_rows + 1)
    assert_rejected(bad_rows, PROVIDER, "assignments", "row count mismatch")
    bad_cols = raw_table_message("assignments", table, columns=("segment", "hp"))
    assert_rejected(bad_cols, PROVIDER, "assignments", "columns do not match")
    not_parquet = raw_message(
        "assignments",
        b"hp,segment\nh1,A\n",
        signer=MATCHER,
        to=PROVIDER.card(),
        rows=1,
        columns=("hp", "segment"),
    )
    assert_rejected(not_parquet, PROVIDER, "assignments", "not a readable Parquet")


# --- tamper properties ------------------------------------------------------------


@settings(max_examples=100, deadline=None)
@given(position=st.integers(0, len(SMALL) - 1), mask=st.integers(1, 255))
def test_any_flipped_byte_is_rejected(position: int, mask: int) -> None:
    data = bytearray(SMALL)
    data[position] ^= mask
    with pytest.raises(MessageError):
        open_as(bytes(data), PROVIDER, "assignments")


@settings(max_examples=100, deadline=None)
@given(length=st.integers(0, len(SMALL) - 1))
def test_any_truncation_is_rejected(length: int) -> None:
    with pytest.raises(MessageError):
        open_as(SMALL[:length], PROVIDER, "assignments")


def test_every_truncation_is_rejected_exhaustively() -> None:
    """Slow, obviously-correct companion of the truncation property."""
    for length in range(len(SMALL)):
        with pytest.raises(MessageError, match=r"truncated|bad magic"):
            open_as(SMALL[:length], PROVIDER, "assignments")


# --- streaming (chunks) -----------------------------------------------------------


def _chunked(payload: bytes, chunk_bytes: int) -> bytes:
    """A message whose payload spans several chunks (the writer's chunk is 1 MiB)."""
    manifest = Manifest(
        format_version=FORMAT_VERSION,
        kind="assignments",
        exchange_id=EXCHANGE,
        sender=MATCHER.fingerprint,
        recipient=PROVIDER.fingerprint,
        rows=0,
        columns=(),
        payload_sha256=hashlib.sha256(payload).hexdigest(),
        created_at=T0,
        message_id="cd" * 16,
    )
    return _seal_raw(
        payload,
        manifest,
        sender=MATCHER,
        recipient=PROVIDER.card(),
        ephemeral=X25519PrivateKey.generate(),
        nonce=os.urandom(8),
        chunk_bytes=chunk_bytes,
    )


@pytest.mark.parametrize("size", [0, 1, 1023, 1024, 1025, 5 * 1024 + 7])
def test_chunk_boundaries_decrypt_exactly(size: int) -> None:
    payload = os.urandom(size)
    data = _chunked(payload, 1024)
    chunks = max(1, -(-size // 1024))
    assert len(data) == len(_chunked(b"", 1024)) - 16 + size + 16 * chunks
    plain = io.BytesIO()
    open_stream(
        io.BytesIO(data),
        plain,
        me=PROVIDER,
        contacts=CONTACTS,
        expected_kind="assignments",
        expected_exchange=EXCHANGE,
    )
    assert plain.getvalue() == payload


def test_chunks_signed_by_the_sender_still_cannot_be_reordered_or_cut() -> None:
    """Even a re-signed file (the sender's key) fails if chunks are swapped or dropped.

    The signature already rejects any change by anyone else; this checks the
    per-chunk AEAD binding on its own, by re-signing the altered bytes.
    """
    payload = os.urandom(3 * 1024)
    data = _chunked(payload, 1024)
    body, head_len = data[:-64], len(data) - 64 - 3 * (1024 + 16)
    head, chunks = (
        body[:head_len],
        [body[head_len + i * 1040 : head_len + (i + 1) * 1040] for i in range(3)],
    )

    def resigned(new_head: bytes, parts: list[bytes]) -> bytes:
        new_body = new_head + b"".join(parts)
        digest = hashlib.sha512(new_body).digest()
        return new_body + MATCHER.signing_key.sign(b"narwhal/v2/signature" + digest)

    swapped = resigned(head, [chunks[1], chunks[0], chunks[2]])
    shorter_head = head[:-8] + (2 * 1024).to_bytes(8, "big")
    cut = resigned(shorter_head, chunks[:2])
    for forged in (swapped, cut):
        with pytest.raises(MessageError, match="decryption failed"):
            open_stream(
                io.BytesIO(forged),
                io.BytesIO(),
                me=PROVIDER,
                contacts=CONTACTS,
                expected_kind="assignments",
                expected_exchange=EXCHANGE,
            )


def test_seal_parquet_streams_to_the_same_table(tmp_path: Path) -> None:
    table = sample_table("assignments")
    payload = tmp_path / "payload.parquet"
    pq.write_table(table, payload)
    out = io.BytesIO()
    with payload.open("rb") as src:
        manifest = seal_parquet(
            src,
            out,
            kind="assignments",
            exchange_id=EXCHANGE,
            sender=MATCHER,
            recipient=PROVIDER.card(),
        )
    assert manifest.rows == table.num_rows
    opened = open_as(out.getvalue(), PROVIDER, "assignments")
    assert opened.table.equals(table)
