"""Tests for linkage.envelope: sealing, opening, allow-lists and replay."""

from __future__ import annotations

import hashlib
import io
import json
import os
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from hypothesis import given, settings
from hypothesis import strategies as st

from linkage.errors import MessageError, StateError
from linkage.protocol import (
    FORMAT_VERSION,
    KIND_SPECS,
    KINDS,
    MAGIC,
    Identity,
    Manifest,
    PartyCard,
    ReplayGuard,
    encode_payload,
    format_time,
    identity_from_private_bytes,
    open_message,
    open_stream,
    parse_time,
    read_manifest,
    seal,
    seal_parquet,
    validate_payload,
)
from linkage.protocol.envelope import _seal_raw

VECTORS: dict[str, Any] = json.loads(
    (Path(__file__).resolve().parents[1] / "vectors" / "keys.json").read_text(encoding="utf-8")
)
EXCHANGE = "ex-2024"
T0 = datetime(2024, 10, 1, 12, 0, 0, tzinfo=UTC)


def make_identity(name: str, role: str, seed: int) -> Identity:
    raw = hashlib.sha256(f"{name}/{seed}".encode()).digest()
    return identity_from_private_bytes(name, role, raw, hashlib.sha256(raw).digest())


CAMPAIGN = make_identity("campaign", "campaign", 1)
PROVIDER = make_identity("provider", "provider", 2)
MATCHER = make_identity("matcher", "matcher", 3)
OTHER_MATCHER = make_identity("matcher2", "matcher", 4)
CONTACTS: dict[str, PartyCard] = {p.fingerprint: p.card() for p in (CAMPAIGN, PROVIDER, MATCHER)}


def token(i: int) -> bytes:
    return hashlib.sha256(i.to_bytes(4, "big")).digest()


def campaign_tokens(n: int = 5) -> pa.Table:
    return pa.table(
        {
            "rid": pa.array([f"r{i}" for i in range(n)], pa.string()),
            "segments": pa.array([["s1", "s2"] if i % 2 else [] for i in range(n)]),
            "mk_addr": pa.array([token(i) if i != 2 else None for i in range(n)], pa.binary(32)),
            "mk_phone": pa.array([token(100 + i) for i in range(n)], pa.binary(32)),
        }
    )


def sample_table(kind: str) -> pa.Table:
    if kind == "campaign-tokens":
        return campaign_tokens()
    if kind == "provider-tokens":
        return pa.table(
            {
                "hp": pa.array(["h1", "h2"]),
                "mk_addr": pa.array([token(1), token(2)], pa.binary(32)),
                "bk_zip3": pa.array([b"\x01\x02", b"\x03"], pa.binary()),
                "clk": pa.array([b"\x00" * 128, b"\xff" * 128], pa.binary(128)),
                "clk_name": pa.array([b"\x00" * 64, None], pa.binary()),
            }
        )
    if kind == "assignments":
        return pa.table({"hp": ["h1", "h2", "h2"], "segment": ["A", "A", "B"]})
    if kind == "match-report":
        return pa.table(
            {
                "segment": ["*", "A"],
                "voters": pa.array([100, 60], pa.int64()),
                "matched_voters": pa.array([70, 40], pa.int64()),
                "households": pa.array([55, 30], pa.int64()),
                "match_rate": pa.array([0.7, 0.66], pa.float64()),
                "suppressed": pa.array([False, True]),
            }
        )
    assert kind == "viewership"
    return pa.table(
        {
            "grain": ["quarter_hour", "period"],
            "segment": ["A", "*"],
            "channel": ["CNN", "ESPN"],
            "day_type": ["weekday", "all"],
            "daypart": ["prime", "prime"],
            "quarter_hour": pa.array([80, None], pa.int16()),
            "universe": pa.array([500, 900], pa.int64()),
            "aqh_households": pa.array([12.5, None], pa.float64()),
            "rating": pa.array([2.5, None], pa.float64()),
            "share": pa.array([10.0, None], pa.float64()),
            "reach_households": pa.array([None, 300], pa.int64()),
            "reach": pa.array([None, 33.3], pa.float64()),
            "suppressed": pa.array([False, False]),
        }
    )


def party(role: str) -> Identity:
    return {"campaign": CAMPAIGN, "provider": PROVIDER, "matcher": MATCHER}[role]


def seal_kind(kind: str, table: pa.Table | None = None, **extra: Any) -> bytes:
    spec = KIND_SPECS[kind]
    return seal(
        sample_table(kind) if table is None else table,
        kind=kind,
        exchange_id=EXCHANGE,
        sender=party(spec.sender_role),
        recipient=party(spec.recipient_role).card(),
        **extra,
    )


def open_as(data: bytes, me: Identity, kind: str, **overrides: Any) -> Any:
    args: dict[str, Any] = {
        "me": me,
        "contacts": CONTACTS,
        "expected_kind": kind,
        "expected_exchange": EXCHANGE,
        "file": "in.nwl",
    }
    args.update(overrides)
    return open_message(data, **args)


def raw_message(
    kind: str,
    payload: bytes,
    *,
    signer: Identity,
    to: PartyCard,
    rows: int,
    columns: tuple[str, ...],
    **manifest_changes: Any,
) -> bytes:
    """Seal bypassing every check of `seal`, to build messages a good sender never emits."""
    manifest = Manifest(
        format_version=FORMAT_VERSION,
        kind=kind,
        exchange_id=EXCHANGE,
        sender=signer.fingerprint,
        recipient=to.fingerprint,
        rows=rows,
        columns=columns,
        payload_sha256=hashlib.sha256(payload).hexdigest(),
        created_at=T0,
        message_id="ab" * 16,
    )
    manifest = replace(manifest, **manifest_changes)
    return _seal_raw(
        payload,
        manifest,
        sender=signer,
        recipient=to,
        ephemeral=X25519PrivateKey.generate(),
        nonce=os.urandom(12),
    )


def raw_table_message(kind: str, table: pa.Table, **manifest_changes: Any) -> bytes:
    spec = KIND_SPECS[kind]
    shape: dict[str, Any] = {"rows": table.num_rows, "columns": tuple(table.column_names)}
    shape.update(manifest_changes)
    rows, columns = shape.pop("rows"), shape.pop("columns")
    return raw_message(
        kind,
        encode_payload(table),
        signer=party(spec.sender_role),
        to=party(spec.recipient_role).card(),
        rows=rows,
        columns=columns,
        **shape,
    )


# --- round trip and golden ---------------------------------------------------------


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
    """The NWL2 bytes built from the module docstring with bare primitives, one chunk."""
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


def test_time_format() -> None:
    assert format_time(T0) == "2024-10-01T12:00:00.000000Z"
    plus2 = datetime(2024, 10, 1, 14, 0, tzinfo=timezone(timedelta(hours=2)))
    assert format_time(plus2) == "2024-10-01T12:00:00.000000Z"
    assert parse_time(format_time(T0)) == T0
    with pytest.raises(ValueError, match="timezone-aware"):
        format_time(datetime(2024, 1, 1))
    with pytest.raises(ValueError, match="manifest timestamp"):
        parse_time("2024-10-01 12:00:00")


# --- rejections, in checking order ---------------------------------------------------


def assert_rejected(data: bytes, me: Identity, kind: str, message: str, **kw: Any) -> None:
    with pytest.raises(MessageError, match=message) as info:
        open_as(data, me, kind, **kw)
    assert info.value.file == "in.nwl"
    assert info.value.exit_code == 2


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


def test_reject_malformed_manifest() -> None:
    body = b"{not json"
    data = MAGIC + len(body).to_bytes(4, "big") + body + bytes(32 + 12) + (16).to_bytes(8, "big")
    data += bytes(16 + 64)
    assert_rejected(data, PROVIDER, "assignments", "malformed manifest: not UTF-8 JSON")
    deep = b"[" * 60000
    data = MAGIC + len(deep).to_bytes(4, "big") + deep + bytes(32 + 12) + (16).to_bytes(8, "big")
    data += bytes(16 + 64)
    assert_rejected(data, PROVIDER, "assignments", "malformed manifest")
    huge = MAGIC + (1 << 30).to_bytes(4, "big") + bytes(200)
    assert_rejected(huge, PROVIDER, "assignments", "manifest length out of range")


def test_reject_unsupported_version() -> None:
    table = sample_table("assignments")
    data = raw_table_message("assignments", table, format_version=FORMAT_VERSION + 1)
    assert_rejected(data, PROVIDER, "assignments", "unsupported message format version")


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


# --- allow-lists -------------------------------------------------------------------

BAD_PAYLOADS = {
    "pii column": (
        campaign_tokens().append_column("first_name", pa.array(["x"] * 5)),
        "column 'first_name': column is not allowed",
    ),
    "string match key": (
        campaign_tokens().append_column("mk_first_name", pa.array(["x"] * 5)),
        "column 'mk_first_name': column must be binary\\(32\\)",
    ),
    "short match key": (
        campaign_tokens().append_column("mk_short", pa.array([b"\x01" * 16] * 5, pa.binary())),
        "column 'mk_short': column must be binary\\(32\\)",
    ),
    "string clk": (
        campaign_tokens().append_column("clk", pa.array(["0101"] * 5)),
        "column 'clk': column must be binary",
    ),
    "missing rid": (campaign_tokens().drop_columns(["rid"]), "column 'rid': required column"),
    "segments not a list": (
        campaign_tokens().set_column(1, "segments", pa.array(["s1"] * 5)),
        "column 'segments': column must be list<string>",
    ),
    "bare prefix": (
        campaign_tokens().append_column("mk_", pa.array([token(0)] * 5, pa.binary(32))),
        "column 'mk_': column is not allowed",
    ),
}


@pytest.mark.parametrize("case", sorted(BAD_PAYLOADS))
def test_allow_list_rejects_at_seal(case: str) -> None:
    table, message = BAD_PAYLOADS[case]
    with pytest.raises(MessageError, match=message):
        seal_kind("campaign-tokens", table)


@pytest.mark.parametrize("case", sorted(BAD_PAYLOADS))
def test_allow_list_rejects_at_open(case: str) -> None:
    table, message = BAD_PAYLOADS[case]
    data = raw_table_message("campaign-tokens", table)
    assert_rejected(data, MATCHER, "campaign-tokens", message)


def test_allow_list_accepts_variable_width_32_byte_keys_and_fuzzy_columns() -> None:
    table = campaign_tokens().append_column(
        "mk_email", pa.array([token(7), None, token(8), token(9), token(10)], pa.binary())
    )
    table = table.append_column("bk_soundex", pa.array([b"\x01"] * 5, pa.large_binary()))
    table = table.append_column("clk", pa.array([b"\x00" * 128] * 5, pa.binary(128)))
    validate_payload("campaign-tokens", table)
    data = seal_kind("campaign-tokens", table)
    assert open_as(data, MATCHER, "campaign-tokens").table.equals(table)
    validate_payload("campaign-tokens", campaign_tokens().slice(0, 0))


@pytest.mark.parametrize(
    ("kind", "column", "bad"),
    [
        ("match-report", "voters", pa.array([1, 2], pa.int32())),
        ("match-report", "match_rate", pa.array(["0.7", "0.6"])),
        ("viewership", "quarter_hour", pa.array([80, 1], pa.int64())),
        ("viewership", "suppressed", pa.array([0, 1], pa.int8())),
        ("assignments", "hp", pa.array([b"h1", b"h2", b"h3"], pa.binary())),
    ],
)
def test_allow_list_checks_types(kind: str, column: str, bad: pa.Array) -> None:
    table = sample_table(kind)
    table = table.set_column(table.column_names.index(column), column, bad)
    with pytest.raises(MessageError, match=f"column '{column}': column must be"):
        validate_payload(kind, table)


def test_allow_list_other_rejections() -> None:
    with pytest.raises(MessageError, match="unknown message kind"):
        validate_payload("voters", pa.table({"x": [1]}))
    dup = pa.Table.from_arrays([pa.array(["a"]), pa.array(["b"])], names=["hp", "hp"])
    with pytest.raises(MessageError, match="duplicate column names"):
        validate_payload("assignments", dup)
    # Every viewership column is required.
    with pytest.raises(MessageError, match="column 'reach': required column missing"):
        validate_payload("viewership", sample_table("viewership").drop_columns(["reach"]))


# --- tamper properties ---------------------------------------------------------------

SMALL = seal_kind("assignments", pa.table({"hp": ["h1"], "segment": ["A"]}))


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


# --- replay ------------------------------------------------------------------------


def manifest_at(minutes: int, message_id: str, **changes: Any) -> Manifest:
    base = read_manifest(SMALL)
    return replace(
        base, created_at=T0 + timedelta(minutes=minutes), message_id=message_id, **changes
    )


def test_replay_guard_flow() -> None:
    guard = ReplayGuard()
    first = manifest_at(0, "01" * 16)
    assert guard.check(first) is False
    guard = guard.consume(first)
    assert guard.check(first) is True  # idempotent re-run
    assert guard.consume(first) is guard
    newer = manifest_at(5, "02" * 16)
    guard = guard.consume(newer)
    assert len(guard.entries) == 1
    assert guard.latest(newer.sender, EXCHANGE, "assignments") is not None
    with pytest.raises(MessageError, match="replayed message") as info:
        guard.check(first, file="old.nwl")
    assert info.value.file == "old.nwl"
    with pytest.raises(MessageError, match="replayed message"):
        guard.consume(manifest_at(5, "03" * 16))  # same time, other id
    # Other streams are independent.
    other = manifest_at(-10, "04" * 16, exchange_id="ex-other")
    assert guard.check(other) is False
    assert len(guard.consume(other).entries) == 2


def test_replay_guard_json_round_trip() -> None:
    guard = ReplayGuard().consume(manifest_at(1, "05" * 16))
    guard = guard.consume(manifest_at(2, "06" * 16, kind="viewership"))
    assert ReplayGuard.from_json(guard.to_json()) == guard
    for corrupt in ("{", "[]", '{"seen": [{"sender": 1}]}', '{"seen": [{}]}'):
        with pytest.raises(StateError, match="corrupt"):
            ReplayGuard.from_json(corrupt, file="seen.json")


@pytest.mark.parametrize(
    "manifest",
    [b'{"rows": ' + b"9" * 5000 + b"}", b"[" * 20_000 + b"]" * 20_000],
    ids=["huge-integer", "deep-nesting"],
)
def test_hostile_manifest_json_is_a_clean_rejection(manifest: bytes) -> None:
    data = b"NWL1" + len(manifest).to_bytes(4, "big") + manifest + bytes(200)
    with pytest.raises(MessageError):
        read_manifest(data, file="x.nwl")


# --- streaming (v2 chunks) ---------------------------------------------------------


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


def test_seal_parquet_checks_the_allow_list_per_row_group(tmp_path: Path) -> None:
    good = sample_table("campaign-tokens")
    short = pa.array([b"x" * 31] * good.num_rows, pa.binary())
    bad = good.set_column(good.column_names.index("mk_addr"), "mk_addr", short)
    payload = tmp_path / "payload.parquet"
    pq.write_table(bad, payload, row_group_size=1)
    with payload.open("rb") as src, pytest.raises(MessageError, match="binary"):
        seal_parquet(
            src,
            io.BytesIO(),
            kind="campaign-tokens",
            exchange_id=EXCHANGE,
            sender=CAMPAIGN,
            recipient=MATCHER.card(),
        )
