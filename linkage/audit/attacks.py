"""The attacks an adversary would run on what left a party, as functions on plain data.

Each attack takes what its adversary sees (tokens, encoded patterns, released
segments) and the auxiliary data it is assumed to hold (the public voter file),
plus, for scoring only, the truth that the auditor alone knows. It returns a
figure, never a verdict: the thresholds that turn a figure into PASS or FAIL
belong to the audit's checks, so the attacks can be run on their own (tests
build safe and unsafe encodings and show that each attack tells them apart).

* :func:`unkeyed_dictionary` -- (a) a matcher or eavesdropper without the
  linkage key hashes the public voter file every way it can think of.
* :func:`frequency_attack`, :func:`weight_length_correlation` -- (b) a curious
  matcher aligns Bloom-filter (CLK) patterns with public name frequencies, or
  reads a name's length off a filter's Hamming weight.
* :func:`segment_differences` -- (c) a campaign differences two released
  segments that are a few households apart.
"""

from __future__ import annotations

import hashlib
import hmac
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from linkage.encode import DEFAULT_RECIPES, encode_message, tokenize_records
from linkage.protocol import LinkageKey
from linkage.types import SubkeySource

CLK_TOP_PATTERNS = 50
"""How many of the most frequent CLK patterns the frequency attack aligns."""


# --- (a) dictionary attack on tokens -------------------------------------------------


@dataclass(frozen=True)
class _FixedKey:
    """A guessed key used for every purpose (what a lazy implementation might do)."""

    key: bytes

    def subkey(self, purpose: str) -> bytes:
        return self.key


_SEPARATORS = ("", " ", "|", ",", ";", ":", "_", "-", "\t")
_GUESSED_KEYS = (b"", b"key", b"secret", b"narwhal", b"password", b"salt", b"\x00" * 32)
_RAW_FIELD_SETS: tuple[tuple[str, ...], ...] = (
    ("first_name", "last_name"),
    ("last_name", "first_name"),
    ("first_name",),
    ("last_name",),
    ("address",),
    ("phone",),
    ("email",),
    ("first_name", "last_name", "address", "zip"),
    ("last_name", "address", "zip"),
    ("address", "zip"),
)
_NORM_FIELD_SETS: tuple[tuple[str, ...], ...] = (
    *(r.fields for r in DEFAULT_RECIPES),
    ("given", "surname"),
    ("given_raw", "surname"),
    ("surname", "given"),
    ("given",),
    ("given_raw",),
    ("surname",),
    ("zip5",),
    ("given", "surname", "zip5"),
    ("surname", "zip5"),
)


def _digests(message: bytes) -> Iterable[bytes]:
    yield hashlib.sha256(message).digest()
    yield hashlib.sha3_256(message).digest()
    yield hashlib.blake2b(message, digest_size=32).digest()
    yield hashlib.md5(message, usedforsecurity=False).digest()
    yield hashlib.sha1(message, usedforsecurity=False).digest()


def _joins(values: Sequence[str | None]) -> Iterable[str]:
    if any(v is None for v in values):
        return
    parts = [v for v in values if v is not None]
    for sep in _SEPARATORS:
        joined = sep.join(parts)
        yield joined
        yield joined.lower()
        yield joined.upper()


def unkeyed_dictionary(
    raw: pa.Table,
    normalized: pa.Table,
    *,
    exchange_ids: Sequence[str],
    wrong_keys: Sequence[SubkeySource] = (),
) -> set[bytes]:
    """Every token an attacker without the linkage key can compute from a public voter file.

    Models the matcher (or anyone who intercepts a token message) holding the
    public voter file but not the campaign/provider linkage key: any token it
    can recompute is a re-identified record. The auditor intersects this set
    with each message's token columns; the figure is the number of hits.

    Unkeyed hashes (SHA-256, SHA3-256, BLAKE2b-256, MD5, SHA-1) of raw and
    normalised fields joined with common separators in three cases; HMACs
    under guessed keys (constants, the exchange id) of the same strings and of
    the recipes' exact messages; and the real recipes computed under each
    ``wrong_keys`` entry (a :class:`linkage.types.SubkeySource`, e.g. the
    keys the matcher can agree on its own).

    Args:
        raw: Public voter records (``first_name``, ``last_name``, ...).
        normalized: ``normalize_records(raw)``.
        exchange_ids: Exchange ids (public: they are in every manifest).
        wrong_keys: Key sources that are not the linkage key.

    Returns:
        The set of candidate token bytes.
    """
    guesses: set[bytes] = set()
    keys = [*_GUESSED_KEYS, *(x.encode() for x in exchange_ids)]
    keys += [hashlib.sha256(k).digest() for k in list(keys)]
    raw_rows = raw.select([c for c in raw.column_names if c in _all_raw_fields()]).to_pylist()
    norm_rows = normalized.to_pylist()
    strings: set[str] = set()
    messages: set[bytes] = set()
    for row in raw_rows:
        for fields in _RAW_FIELD_SETS:
            strings.update(_joins([_str_or_none(row.get(f)) for f in fields]))
    for row in norm_rows:
        for fields in _NORM_FIELD_SETS:
            strings.update(_joins([row.get(f) for f in fields]))
        for recipe in DEFAULT_RECIPES:
            encoded = encode_message(recipe, row)
            if encoded is not None:
                messages.add(encoded)
    for text in strings:
        guesses.update(_digests(text.encode("utf-8")))
    # HMAC under guessed keys: the exact recipe messages and the plainest joins.
    plain: set[bytes] = set()
    for row in norm_rows:
        for fields in _NORM_FIELD_SETS:
            values = [row.get(f) for f in fields]
            if all(isinstance(v, str) for v in values):
                plain.add("".join(str(v) for v in values).encode("utf-8"))
                plain.add("|".join(str(v) for v in values).encode("utf-8"))
    for key in keys:
        base = hmac.new(key, digestmod=hashlib.sha256)
        for message in messages | plain:
            mac = base.copy()
            mac.update(message)
            guesses.add(mac.digest())
    sources: list[SubkeySource] = [_FixedKey(hashlib.sha256(k).digest()) for k in keys]
    # A guessable linkage key behind the proper HKDF sub-keys is no better.
    sources += [
        LinkageKey(exchange_id=x, _key=k)
        for x in exchange_ids
        for k in {*(k for k in keys if len(k) == 32), *(hashlib.sha256(k).digest() for k in keys)}
    ]
    for key_source in [*sources, *wrong_keys]:
        tokens = tokenize_records(normalized, key_source)
        for name in tokens.column_names:
            guesses.update(v for v in tokens[name].to_pylist() if v is not None)
    return guesses


def _all_raw_fields() -> set[str]:
    return {f for fields in _RAW_FIELD_SETS for f in fields}


def _str_or_none(value: object) -> str | None:
    return value if isinstance(value, str) else None


# --- (b) frequency attack on Bloom-filter encodings -------------------------------


@dataclass(frozen=True)
class FrequencyAttack:
    """Outcome of aligning frequent encoded patterns with frequent public values.

    Attributes:
        records: Encoded records attacked.
        aligned: Patterns given a guess (the ``top`` most frequent).
        correct: Aligned patterns whose guess was right.
        reidentified: Records whose value the attacker now knows.
    """

    records: int
    aligned: int
    correct: int
    reidentified: int

    @property
    def rate(self) -> float:
        """Share of records re-identified."""
        return self.reidentified / self.records if self.records else 0.0


def frequency_attack(
    patterns: Sequence[bytes | None],
    truth: Sequence[str | None],
    public_values: Iterable[str | None],
    *,
    top: int = CLK_TOP_PATTERNS,
) -> FrequencyAttack:
    """Rank-align the ``top`` most frequent patterns with the most frequent public values.

    Models a curious matcher that holds Bloom-filter (CLK) encodings and the
    public voter file. The attacker sees only ``patterns``; it ranks them by
    frequency, ranks the public file's values the same way, and guesses that
    the i-th most frequent pattern encodes the i-th most frequent value.
    ``truth`` (known to the auditor only) scores the guesses.

    Args:
        patterns: One encoding per record (None = missing).
        truth: The value each record really encodes.
        public_values: The attacker's side knowledge (e.g. the public voter file).
        top: How many patterns to align.

    Returns:
        The attack's outcome; its figure is :attr:`FrequencyAttack.rate`, the share
        of records re-identified.
    """
    counts = Counter(p for p in patterns if p is not None)
    ranked_patterns = sorted(counts, key=lambda p: (-counts[p], p))[:top]
    public = Counter(v for v in public_values if v)
    ranked_values = sorted(public, key=lambda v: (-public[v], v))[:top]
    guess = dict(zip(ranked_patterns, ranked_values, strict=False))
    right_pattern: dict[bytes, bool] = {}
    reidentified = 0
    for p, t in zip(patterns, truth, strict=True):
        if p is None or p not in guess:
            continue
        ok = t is not None and guess[p] == t
        right_pattern[p] = right_pattern.get(p, False) or ok
        reidentified += ok
    return FrequencyAttack(
        records=sum(1 for p in patterns if p is not None),
        aligned=len(guess),
        correct=sum(right_pattern.values()),
        reidentified=reidentified,
    )


def weight_length_correlation(
    patterns: Sequence[bytes | None], values: Sequence[str | None]
) -> float | None:
    """Pearson r between each encoding's Hamming weight and the length of the value it encodes.

    Models the same matcher reading each pattern's Hamming weight, with the
    public file's name lengths as side knowledge: a plain Bloom filter sets
    more bits for longer names, so the weight alone narrows down the name;
    balanced filters have a constant weight (r is None).

    Returns:
        r, or None when either side is constant or fewer than two pairs exist.
    """
    pairs = [(p, v) for p, v in zip(patterns, values, strict=True) if p is not None and v]
    if len(pairs) < 2:
        return None
    weights = np.array([int.from_bytes(p, "big").bit_count() for p, _ in pairs], dtype=float)
    lengths = np.array([len(v) for _, v in pairs], dtype=float)
    if weights.std() == 0 or lengths.std() == 0:
        return None
    return float(np.corrcoef(weights, lengths)[0, 1])


# --- (c) differencing of released segments -----------------------------------------


def segment_differences(segments: Mapping[str, set[str]], k: int) -> list[tuple[str, str, int]]:
    """Pairs of segments whose household sets differ by 1 to ``k - 1`` households.

    Models the campaign differencing two released aggregates: if segments A and
    B differ by a few households, A's figure minus B's is those households'
    viewing, below the k the release promised. The auditor supplies the
    household sets (it can undo the provider's pseudonyms); the figure is the
    list of offending pairs.

    Args:
        segments: Segment label -> set of household ids.
        k: Smallest allowed non-zero difference.

    Returns:
        ``(a, b, |A △ B|)`` for every offending pair, sorted.
    """
    names = sorted(segments)
    bad: list[tuple[str, str, int]] = []
    for i, a in enumerate(names):
        for b in names[i + 1 :]:
            diff = len(segments[a] ^ segments[b])
            if 0 < diff < k:
                bad.append((a, b, diff))
    return bad
