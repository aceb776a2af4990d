"""Shared test parties, payloads and messages for the envelope and replay tests.

One fixed identity per role (seeded, so messages are reproducible), a valid
sample payload per kind, and builders for messages a good sender never
emits (``raw_message`` bypasses every check of ``seal``).
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import replace
from datetime import UTC, date, datetime, time
from typing import Any

import pyarrow as pa
import pytest
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from linkage.errors import MessageError
from linkage.protocol import (
    FORMAT_VERSION,
    KIND_SPECS,
    Identity,
    Manifest,
    PartyCard,
    encode_payload,
    identity_from_private_bytes,
    open_message,
    seal,
)
from linkage.protocol.envelope.container import _seal_raw
from linkage.tables import AIRED_SCHEMA, DELIVERY_SCHEMA, MATCH_REPORT_SCHEMA, RETENTION_SCHEMA

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
    if kind == "segments":
        return pa.table(
            {
                "rid": pa.array(["r0", "r1", "r2"], pa.string()),
                "segments": pa.array([["s1", "s2"], [], ["s2"]], pa.list_(pa.string())),
            }
        )
    if kind == "assignments":
        return pa.table({"rid": ["r0", "r1", "r2"], "hp": ["h1", "h2", "h2"]})
    if kind == "match-report":
        return pa.Table.from_pylist(
            [
                {
                    "linked_households": 55,
                    "linked_records": 70,
                    "records_cap": 8,
                    "est_precision": 0.97,
                    "est_recall": None,
                    "households_ci": 39.2,
                    "records_ci": 313.6,
                    "rho": 0.005,
                }
            ],
            schema=MATCH_REPORT_SCHEMA,
        )
    if kind == "retention":
        return pa.Table.from_pylist(
            [
                {
                    "segment": "A",
                    "channel": "CNN",
                    "earlier_first_day": date(2026, 10, 5),
                    "earlier_last_day": date(2026, 10, 11),
                    "earlier_households": 900,
                    "both_households": 600,
                    "retention": 66.7,
                    "retention_ci": 4.1,
                    "suppressed": False,
                    "k": 50,
                    "rho": 0.01,
                }
            ],
            schema=RETENTION_SCHEMA,
        )
    if kind == "aired-schedule":
        return pa.Table.from_pylist(
            [
                {
                    "market": "cleveland",
                    "channel": "CNN",
                    "date": date(2026, 10, 13),
                    "time": time(20, 15),
                    "spot_seconds": 30,
                }
            ],
            schema=AIRED_SCHEMA,
        )
    if kind == "delivery":
        row: dict[str, Any] = {}
        for field in DELIVERY_SCHEMA:
            if pa.types.is_string(field.type):
                row[field.name] = "cleveland" if field.name == "market" else "A"
            elif pa.types.is_integer(field.type):
                row[field.name] = 50 if field.name == "k" else 120
            elif pa.types.is_boolean(field.type):
                row[field.name] = False
            else:
                row[field.name] = 1.5
        return pa.Table.from_pylist([row], schema=DELIVERY_SCHEMA)
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


def assert_rejected(data: bytes, me: Identity, kind: str, message: str, **kw: Any) -> None:
    with pytest.raises(MessageError, match=message) as info:
        open_as(data, me, kind, **kw)
    assert info.value.file == "in.nwl"
    assert info.value.exit_code == 2


# One row: small enough to flip or cut every byte of it.
SMALL = seal_kind("assignments", pa.table({"rid": ["r1"], "hp": ["h1"]}))
