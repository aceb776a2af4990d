"""Tests for linkage.encode.blocking_keys: golden vectors for the keyed blocking passes.

The vectors pin, for the shipped ``voters_subscribers`` and ``febrl`` schemas,
raw record -> unkeyed blocking value -> keyed blocking key, so a silent change
of a transform, of the length-prefix join or of the ``narwhal/v1/blockkey``
domain is caught. Regenerate them (only after a deliberate encoding change,
which breaks every exchange in flight) with::

    PYTHONPATH=. .venv/bin/python tests/encode/test_blocking_keys.py
"""

from __future__ import annotations

import hashlib
import hmac
import json
from pathlib import Path

import pyarrow as pa
import pytest

from linkage.encode import (
    BLOCK_KEY_BYTES,
    encode_side,
    normalize_side,
    shipped_schema,
)

# The unkeyed values are sharp: imported from their module, never the safe surface.
from linkage.encode.blocking_keys import blocking_values
from linkage.hazmat import length_prefixed
from tests.encode.golden_records import Record, string_table, voter_records

VECTORS = Path(__file__).resolve().parents[1] / "vectors" / "blocking.json"
SEED = b"narwhal blocking golden vector "

RECORDS: dict[str, list[Record]] = {
    "voters_subscribers": voter_records(
        {
            "first_name": "Al",
            "last_name": "Ng",
            "address": "7 Oak",
            "city": None,
            "state": None,
            "zip": "0213",
            "phone": "614.362.0199",
            "email": None,
        }
    ),
    "febrl": [
        {
            "given_name": "michaela",
            "surname": "neumann",
            "street_number": "8",
            "address_1": "stanley street",
            "address_2": "miami",
            "suburb": "winston hills",
            "postcode": "4223",
            "state": "nsw",
            "date_of_birth": "19151111",
            "soc_sec_id": "5304218",
        },
        {
            "given_name": "micheala",
            "surname": "nuemann",
            "street_number": "8",
            "address_1": "stanley st",
            "address_2": None,
            "suburb": "winston hils",
            "postcode": "4223",
            "state": "nsw",
            "date_of_birth": "1915-11-11",
            "soc_sec_id": "5304 218",
        },
        {
            "given_name": "Ke",
            "surname": "O'Neil",
            "street_number": None,
            "address_1": "ash",
            "address_2": "unit 3",
            "suburb": None,
            "postcode": "26",
            "state": "vic",
            "date_of_birth": "11/31/1980",
            "soc_sec_id": None,
        },
        {
            "given_name": None,
            "surname": None,
            "street_number": None,
            "address_1": None,
            "address_2": None,
            "suburb": None,
            "postcode": None,
            "state": None,
            "date_of_birth": None,
            "soc_sec_id": None,
        },
    ],
}


class DerivedKeys:
    """A SubkeySource deriving each purpose's sub-key from a fixed seed (or a stored table)."""

    def __init__(self, stored: dict[str, bytes] | None = None) -> None:
        self.stored = stored or {}

    def subkey(self, purpose: str) -> bytes:
        if purpose in self.stored:
            return self.stored[purpose]
        return hashlib.sha256(SEED + purpose.encode()).digest()


def _raw(name: str) -> pa.Table:
    return string_table(RECORDS[name])


def _hex(value: bytes | None) -> str | None:
    return None if value is None else value.hex()


def _compute(name: str, keys: DerivedKeys) -> dict[str, object]:
    schema = shipped_schema(name)
    raw = _raw(name)
    normalized = normalize_side(raw, schema, "a")
    encoded = encode_side(raw, schema, "a", keys)
    return {
        "subkeys": {b.purpose: keys.subkey(b.purpose).hex() for b in schema.blocking},
        "records": RECORDS[name],
        "passes": {
            b.name: {
                "parts": [f"{column}:{transform}" for column, transform in b.parts],
                "values": [_hex(v) for v in blocking_values(normalized, b)],
                "keys": [_hex(v) for v in encoded.column(b.name).to_pylist()],
            }
            for b in schema.blocking
        },
    }


def _compute_vectors() -> dict[str, object]:
    return {
        "description": (
            "linkage.encode.blocking_keys golden vectors: shipped schema + raw records "
            "(side a) -> unkeyed blocking values -> keyed 16-byte blocking keys"
        ),
        "schemas": {name: _compute(name, DerivedKeys()) for name in RECORDS},
    }


@pytest.mark.parametrize("name", sorted(RECORDS))
def test_golden_vectors(name: str) -> None:
    stored = json.loads(VECTORS.read_text())["schemas"][name]
    keys = DerivedKeys({p: bytes.fromhex(k) for p, k in stored["subkeys"].items()})
    assert stored["records"] == RECORDS[name]
    assert _compute(name, keys) == stored


@pytest.mark.parametrize("name", sorted(RECORDS))
def test_vectors_cover_every_pass_with_both_present_and_missing_keys(name: str) -> None:
    stored = json.loads(VECTORS.read_text())["schemas"][name]
    assert set(stored["passes"]) == {b.name for b in shipped_schema(name).blocking}
    for case in stored["passes"].values():
        assert any(k is None for k in case["keys"])
        assert any(k is not None for k in case["keys"])
        for value, key in zip(case["values"], case["keys"], strict=True):
            assert (value is None) == (key is None)
            assert key is None or len(bytes.fromhex(key)) == BLOCK_KEY_BYTES


def test_rows_agreeing_on_a_pass_share_its_key() -> None:
    stored = json.loads(VECTORS.read_text())["schemas"]["voters_subscribers"]["passes"]
    # Bill O'Brien and WILLIAM OBRIEN: nickname folding and address parsing agree.
    for name in ("bk_surname_zip5", "bk_house_street"):
        keys = stored[name]["keys"]
        assert keys[0] is not None
        assert keys[0] == keys[1], name


@pytest.mark.parametrize("name", sorted(RECORDS))
def test_keyed_column_is_the_truncated_hmac_of_each_unkeyed_value(name: str) -> None:
    # The slow, obviously-correct reference: one standard-library HMAC per row.
    schema = shipped_schema(name)
    keys = DerivedKeys()
    raw = _raw(name)
    normalized = normalize_side(raw, schema, "a")
    encoded = encode_side(raw, schema, "a", keys)
    for spec in schema.blocking:
        prefix = b"narwhal/v1/blockkey" + length_prefixed(spec.name.encode())
        expected = [
            None
            if value is None
            else hmac.new(keys.subkey(spec.purpose), prefix + value, "sha256").digest()[
                :BLOCK_KEY_BYTES
            ]
            for value in blocking_values(normalized, spec)
        ]
        assert encoded.column(spec.name).to_pylist() == expected, spec.name


if __name__ == "__main__":
    VECTORS.parent.mkdir(parents=True, exist_ok=True)
    VECTORS.write_text(json.dumps(_compute_vectors(), indent=2, ensure_ascii=False) + "\n")
    print(f"wrote {VECTORS}")
