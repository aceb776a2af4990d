"""Golden vectors for the payloads of the kinds the segment re-route changed.

``tests/vectors/messages.json`` pins, for ``campaign-tokens``, ``segments``,
``assignments`` and ``match-report``, who sends the kind to whom and the
exact columns and Arrow types of its payload, with sample rows. The
allow-list must accept each sample, must ask for exactly those columns, and a
message sealed between the golden parties (``keys.json``) must open to the
same rows. A silent change of a wire shape (a segment column back on a
matcher message, a renamed report figure) fails here. Edit the file only on a
deliberate, versioned format change.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from linkage.protocol import (
    KIND_SPECS,
    Identity,
    identity_from_private_bytes,
    open_message,
    parse_time,
    read_manifest,
    seal,
    validate_payload,
)

VECTORS = Path(__file__).resolve().parents[1] / "vectors"
MESSAGES = VECTORS / "messages.json"
KEYS: dict[str, Any] = json.loads((VECTORS / "keys.json").read_text(encoding="utf-8"))

_TYPES: dict[str, pa.DataType] = {
    "string": pa.string(),
    "int64": pa.int64(),
    "float64": pa.float64(),
    "list<string>": pa.list_(pa.string()),
    "binary(32)": pa.binary(32),
}


def _golden(role: str) -> Identity:
    p = KEYS["parties"][role]
    return identity_from_private_bytes(
        p["name"], role, bytes.fromhex(p["signing_private"]), bytes.fromhex(p["exchange_private"])
    )


def _table(vector: dict[str, Any]) -> pa.Table:
    schema = pa.schema([(name, _TYPES[t]) for name, t in vector["schema"].items()])
    rows = [
        {
            name: bytes.fromhex(v) if t == "binary(32)" and v is not None else v
            for (name, t), v in zip(vector["schema"].items(), row, strict=True)
        }
        for row in vector["rows"]
    ]
    return pa.Table.from_pylist(rows, schema=schema)


STORED: dict[str, Any] = json.loads(MESSAGES.read_text(encoding="utf-8"))
KINDS = sorted(STORED["kinds"])


@pytest.mark.parametrize("kind", KINDS)
def test_kind_routes_and_columns_are_pinned(kind: str) -> None:
    vector = STORED["kinds"][kind]
    spec = KIND_SPECS[kind]
    assert (spec.sender_role, spec.recipient_role) == (vector["sender"], vector["recipient"])
    required = {rule.name for rule in spec.columns if rule.required}
    exact = {rule.name for rule in spec.columns if not rule.prefix}
    columns = set(vector["schema"])
    # Every required column is in the vector, and every exact column the kind allows is too:
    # a new optional column (a segment on a matcher message) must come with a new vector.
    assert required <= columns
    assert exact - {"clk"} <= columns
    validate_payload(kind, _table(vector))


@pytest.mark.parametrize("kind", KINDS)
def test_golden_message_opens_to_the_vector(kind: str) -> None:
    vector = STORED["kinds"][kind]
    sender, recipient = _golden(vector["sender"]), _golden(vector["recipient"])
    table = _table(vector)
    data = seal(
        table,
        kind=kind,
        exchange_id=STORED["exchange_id"],
        sender=sender,
        recipient=recipient.card(),
        created_at=parse_time(STORED["created_at"]),
        message_id=vector["message_id"],
        ephemeral=X25519PrivateKey.from_private_bytes(bytes.fromhex(STORED["ephemeral_private"])),
        nonce=bytes.fromhex(STORED["nonce"]),
    )
    manifest = read_manifest(data)
    assert manifest.columns == tuple(vector["schema"])
    assert (manifest.rows, manifest.sender, manifest.recipient) == (
        len(vector["rows"]),
        KEYS["parties"][vector["sender"]]["fingerprint"],
        KEYS["parties"][vector["recipient"]]["fingerprint"],
    )
    opened = open_message(
        data,
        me=recipient,
        contacts={sender.fingerprint: sender.card()},
        expected_kind=kind,
        expected_exchange=STORED["exchange_id"],
    )
    assert opened.table.equals(table)


def test_no_message_to_or_from_the_matcher_names_a_segment() -> None:
    for kind, spec in KIND_SPECS.items():
        if "matcher" in (spec.sender_role, spec.recipient_role):
            names = {rule.name for rule in spec.columns}
            assert not {"segment", "segments"} & names, kind
