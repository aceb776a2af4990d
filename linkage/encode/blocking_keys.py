"""Blocking keys: the keyed value two records must share to be compared at all.

A blocking pass (``bk_<name> = ["surname:soundex", "zip5:value"]``) joins
the transformed parts of a record into one unkeyed *blocking value* and
sends only its truncated HMAC, the *blocking key*: the matcher learns which
records share a block, never what the block is. Parts are length-prefixed
(:func:`linkage.hazmat.length_prefixed`) before they are joined, so no value
can spill into its neighbour, and the HMAC message starts with the
``narwhal/v1/blockkey`` domain and the pass name, so two passes never share
a key even under one sub-key.

Blocking keys are truncated to :data:`BLOCK_KEY_BYTES` (128 bits):
collisions stay negligible (birthday bound ~2**64) while a shorter key would
not hide more. Both functions run Arrow kernels per row and Python once per
distinct value, as a block holds a few distinct values for many rows.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Final, cast

import jellyfish
import pyarrow as pa
import pyarrow.compute as pc

from linkage.encode.schema import BlockingPass
from linkage.hazmat import hmac_sha256_many, length_prefixed

__all__ = ["BLOCK_KEY_BYTES", "blocking_key_column", "blocking_values"]

BLOCK_KEY_BYTES: Final = 16
"""Bytes kept of each blocking key's HMAC-SHA256 (see the module docstring)."""

_BLOCK_DOMAIN: Final = b"narwhal/v1/blockkey"
_NON_LETTER: Final = re.compile(r"[^a-z]")


def _transform(value: str, transform: str) -> str | None:
    if transform == "value":
        return value
    if transform in ("soundex", "nysiis", "metaphone"):
        # The phonetic coders expect letters only (and some raise otherwise).
        letters = _NON_LETTER.sub("", value)
        if not letters:
            return None
        coder: Callable[[str], str] = getattr(jellyfish, transform)
        return coder(letters) or None
    if transform in ("minsoundex", "maxsoundex"):
        # A full name's words in any order (swapped, a middle name added at
        # either end keeps one of the two): the least or greatest of their codes.
        codes = [jellyfish.soundex(w) for w in (_NON_LETTER.sub("", w) for w in value.split()) if w]
        if not codes:
            return None
        return min(codes) if transform == "minsoundex" else max(codes)
    if transform == "year":
        return value[:4] if len(value) >= 4 else None
    n = int(transform[-1])
    if len(value) < n:
        return None
    return value[:n] if transform.startswith("first") else value[-n:]


def _part(normalized: pa.Table, column: str, transform: str) -> tuple[list[bytes | None], pa.Array]:
    """One part's length-prefixed value per distinct input, and each row's index into them."""
    encoded = pc.dictionary_encode(normalized.column(column).combine_chunks())
    distinct: list[bytes | None] = []
    for value in encoded.dictionary.to_pylist():
        out = _transform(value, transform)
        distinct.append(None if out is None else length_prefixed(out.encode("utf-8")))
    return distinct, encoded.indices


def blocking_values(normalized: pa.Table, spec: BlockingPass) -> list[bytes | None]:
    """The *unkeyed* blocking value of each row (None when a part is missing).

    The sharp primitive under :func:`blocking_key_column`: each value is the
    plaintext behind a blocking key. Misuse costs:

    * a value that **leaves the party** is the record's own data (a soundex
      code and a ZIP, a phone number, an e-mail address), readable as is or
      by a dictionary of transforms; only the keyed
      :func:`linkage.encode.encode_side` output may leave;
    * **hashing it without the key** (or with a guessable one) gives tokens
      anyone holding a public voter file can reverse by hashing every entry.

    Use it for non-private baselines, quality measurements and tests.

    Args:
        normalized: Normalised columns (:func:`linkage.encode.normalize_side`).
        spec: The blocking pass.

    Returns:
        One value per row: the length-prefixed transformed parts, joined.
    """
    parts: list[list[bytes | None]] = []
    for column, transform in spec.parts:
        distinct, indices = _part(normalized, column, transform)
        parts.append([None if i is None else distinct[i] for i in indices.to_pylist()])
    rows = zip(*parts, strict=True)
    return [None if None in r else b"".join(cast("tuple[bytes, ...]", r)) for r in rows]


def blocking_key_column(normalized: pa.Table, spec: BlockingPass, key: bytes) -> pa.Array:
    """The keyed blocking key of each row, ``binary(16)``; null when a part is missing.

    Args:
        normalized: Normalised columns.
        spec: The blocking pass.
        key: The pass's own sub-key (``keys.subkey(spec.purpose)``), 32 bytes.

    Returns:
        Truncated ``HMAC-SHA256(key, domain || len(name) || name || value)``
        of each row's :func:`blocking_values` entry, in row order.
    """
    # Per row only Arrow kernels run: each part's distinct values are
    # transformed once, parts are joined column-wise, and the HMAC runs once
    # per distinct blocking value (a few per block), then is taken back out.
    parts: list[pa.Array] = []
    for column, transform in spec.parts:
        distinct, indices = _part(normalized, column, transform)
        parts.append(pa.array(distinct, pa.binary()).take(indices))
    # Null when any part is null (Arrow's emit_null), as the keyed value is.
    joined = pc.binary_join_element_wise(*parts, pa.scalar(b"", pa.binary()))
    messages = pc.dictionary_encode(joined)
    prefix = _BLOCK_DOMAIN + length_prefixed(spec.name.encode())
    macs = hmac_sha256_many(key, [prefix + m for m in messages.dictionary.to_pylist()])
    tokens = [cast("bytes", mac)[:BLOCK_KEY_BYTES] for mac in macs]
    return pa.array(tokens, type=pa.binary(BLOCK_KEY_BYTES)).take(messages.indices)
