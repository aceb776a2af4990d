"""The attacks the audit runs, on data built here: they must fail on safe encodings and
succeed on unsafe ones (an attack that never succeeds proves nothing).

(a) dictionary attack on match keys, (b) frequency attack on Bloom-filter
encodings with and without hardening, (c) the differencing recomputation.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator

import pyarrow as pa
import pytest

from linkage.audit import (
    frequency_attack,
    segment_differences,
    unkeyed_dictionary,
    weight_length_correlation,
)
from linkage.encode import (
    DEFAULT_BLOOM_SCHEMA,
    BloomSchema,
    FieldEncoding,
    Hardening,
    encode_records,
    normalize_records,
    tokenize_records,
)
from linkage.protocol import LinkageKey
from linkage.synth import generate_world

pytestmark = pytest.mark.security

EXCHANGE = "atk-1"
HARDENINGS: tuple[Hardening, ...] = ("none", "balance", "xor_fold")


@pytest.fixture(scope="module")
def voters() -> Iterator[pa.Table]:
    yield generate_world(voters=3000, days=1, seed=21).voters


@pytest.fixture(scope="module")
def normalized(voters: pa.Table) -> pa.Table:
    return normalize_records(voters)


def key(label: bytes) -> LinkageKey:
    return LinkageKey(exchange_id=EXCHANGE, _key=hashlib.sha256(label).digest())


def token_set(table: pa.Table) -> set[bytes]:
    return {v for name in table.column_names for v in table[name].to_pylist() if v is not None}


# --- (a) dictionary attack ------------------------------------------------------------


def test_keyed_tokens_resist_the_dictionary(voters: pa.Table, normalized: pa.Table) -> None:
    sample = voters.slice(0, 200)
    guesses = unkeyed_dictionary(
        sample, normalize_records(sample), exchange_ids=[EXCHANGE], wrong_keys=[key(b"wrong")]
    )
    real = token_set(tokenize_records(normalized, key(b"the real one")))
    assert len(guesses) > 50_000
    assert real.isdisjoint(guesses)


def test_dictionary_with_the_key_reidentifies(voters: pa.Table, normalized: pa.Table) -> None:
    sample = voters.slice(0, 200)
    real_key = key(b"the real one")
    sent = token_set(tokenize_records(normalized, real_key))
    known = token_set(tokenize_records(normalize_records(sample), real_key))
    assert len(sent & known) >= 200  # at least one token per sampled voter


def test_dictionary_catches_unkeyed_and_guessable_tokens(voters: pa.Table) -> None:
    sample = voters.slice(0, 100)
    norm = normalize_records(sample)
    guesses = unkeyed_dictionary(
        sample, norm, exchange_ids=[EXCHANGE], wrong_keys=[key(b"matcher-derivable")]
    )
    row = sample.slice(7, 1).to_pylist()[0]
    first, last = row["first_name"], row["last_name"]
    assert hashlib.sha256(f"{first} {last}".lower().encode()).digest() in guesses
    assert hashlib.md5(last.upper().encode(), usedforsecurity=False).digest() in guesses
    # The real recipes under a key the attacker can derive are dictionary material too.
    assert token_set(tokenize_records(norm, key(b"matcher-derivable"))) <= guesses
    # ... and so are recipes under a constant linkage key, even through HKDF sub-keys.
    constant = LinkageKey(exchange_id=EXCHANGE, _key=b"\x00" * 32)
    assert token_set(tokenize_records(norm, constant)) <= guesses
    fixed = [hashlib.sha256(b"narwhal").digest()]

    class Fixed:
        def subkey(self, purpose: str) -> bytes:
            return fixed[0]

    assert token_set(tokenize_records(norm, Fixed())) <= guesses


# --- (b) frequency attack on CLKs -----------------------------------------------------


def clks(normalized: pa.Table, schema: BloomSchema) -> list[bytes | None]:
    matrix = encode_records(normalized, schema, key(b"bloom"))
    return [bytes(row) for row in matrix]


def surname_schema(hardening: Hardening) -> BloomSchema:
    return BloomSchema(fields=(FieldEncoding("surname"),), length=512, hardening=hardening)


@pytest.mark.parametrize("hardening", ["none", "balance", "xor_fold"])
def test_per_field_clks_fall_to_frequency_alignment(
    normalized: pa.Table, hardening: Hardening
) -> None:
    surnames = normalized["surname"].to_pylist()
    attack = frequency_attack(clks(normalized, surname_schema(hardening)), surnames, surnames)
    # Deterministic per-value encodings keep the value's frequency, hardened or not.
    assert attack.aligned == 50
    assert attack.correct >= 10
    assert attack.rate > 0.05


def test_hardening_does_not_change_the_frequency_attack(normalized: pa.Table) -> None:
    surnames = normalized["surname"].to_pylist()
    rates = {
        h: frequency_attack(clks(normalized, surname_schema(h)), surnames, surnames).rate
        for h in HARDENINGS
    }
    # Only the order of equally frequent patterns (tie-breaking) differs between encodings.
    assert max(rates.values()) - min(rates.values()) < 0.02


def test_record_level_clks_resist_frequency_alignment(normalized: pa.Table) -> None:
    names = [
        f"{g} {s}" if g and s else None
        for g, s in zip(
            normalized["given"].to_pylist(), normalized["surname"].to_pylist(), strict=True
        )
    ]
    attack = frequency_attack(clks(normalized, DEFAULT_BLOOM_SCHEMA), names, names)
    assert attack.rate < 0.005


def test_balancing_hides_the_hamming_weight(normalized: pa.Table) -> None:
    surnames = normalized["surname"].to_pylist()
    plain = weight_length_correlation(clks(normalized, surname_schema("none")), surnames)
    folded = weight_length_correlation(clks(normalized, surname_schema("xor_fold")), surnames)
    balanced = weight_length_correlation(clks(normalized, surname_schema("balance")), surnames)
    assert plain is not None and plain > 0.8
    assert folded is not None and folded < plain
    assert balanced is None  # every balanced filter has the same weight


def test_frequency_attack_counts_only_right_guesses() -> None:
    patterns: list[bytes | None] = [b"a", b"a", b"a", b"b", b"b", b"c", None]
    truth: list[str | None] = ["smith", "smith", "smith", "jones", "lee", "lee", "x"]
    public = ["smith"] * 5 + ["lee"] * 3 + ["jones"]
    attack = frequency_attack(patterns, truth, public, top=2)
    # a -> smith (3 right), b -> lee (1 right of 2); c is not aligned.
    assert (attack.records, attack.aligned, attack.correct, attack.reidentified) == (6, 2, 2, 4)


# --- (c) differencing -----------------------------------------------------------------


def test_segment_differences_finds_near_duplicates() -> None:
    base = {f"h{i}" for i in range(200)}
    segments = {
        "a": base,
        "b": base | {"h999"},  # one household apart: isolates h999
        "c": base,  # identical: harmless
        "d": {f"h{i}" for i in range(100)},
    }
    assert segment_differences(segments, k=50) == [("a", "b", 1), ("b", "c", 1)]
    assert segment_differences(segments, k=1) == []
