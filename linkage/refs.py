"""Random per-exchange references and order-hiding shuffles.

A record reference must carry nothing from the voter file: not the voter_id,
not its position. Both come from a CSPRNG by default and are injectable so
tests can be deterministic.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable

import numpy as np
import pyarrow as pa

TokenSource = Callable[[int], bytes]


def random_refs(
    n: int, *, prefix: str = "r", token_bytes: TokenSource = secrets.token_bytes
) -> pa.Array:
    """``n`` distinct random references such as ``r3f9a0c...`` (96 random bits each)."""
    raw = token_bytes(12 * n)
    refs = [prefix + raw[i * 12 : (i + 1) * 12].hex() for i in range(n)]
    if len(set(refs)) != n:  # 2^-96 per pair; a collision means a broken token source
        raise ValueError("random reference collision: the randomness source is not random")
    return pa.array(refs, pa.string())


def shuffle(table: pa.Table, *, token_bytes: TokenSource = secrets.token_bytes) -> pa.Table:
    """Return ``table`` in a random row order, so a payload's order leaks no sort key."""
    seed = int.from_bytes(token_bytes(16), "big")
    order = np.random.default_rng(seed).permutation(table.num_rows)
    return table.take(pa.array(order))
