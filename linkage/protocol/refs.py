"""Random per-exchange references.

A record reference must carry nothing from the voter file: not the voter_id,
not its position. References come from a CSPRNG by default (injectable so
tests can be deterministic); row order is hidden by the tokenizers' on-disk
shuffle, :class:`linkage.io.ShuffledParquet`.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable

import numpy as np
import numpy.typing as npt
import pyarrow as pa

TokenSource = Callable[[int], bytes]

_HEX = np.frombuffer(b"0123456789abcdef", dtype=np.uint8)


def random_refs(
    n: int, *, prefix: str = "r", token_bytes: TokenSource = secrets.token_bytes
) -> pa.Array:
    """``n`` distinct random references such as ``r3f9a0c...`` (96 random bits each).

    Built as one Arrow buffer (hex digits by table lookup), not ``n`` Python
    strings: 8M references cost 200 MB and a fraction of a second.
    """
    raw = np.frombuffer(token_bytes(12 * n), dtype=np.uint8).reshape(n, 12)
    head = np.frombuffer(prefix.encode("ascii"), dtype=np.uint8)
    width = head.size + 24
    text = np.empty((n, width), dtype=np.uint8)
    text[:, : head.size] = head
    text[:, head.size :: 2][:, :12] = _HEX[raw >> 4]
    text[:, head.size + 1 :: 2][:, :12] = _HEX[raw & 0x0F]
    offsets = np.arange(0, (n + 1) * width, width, dtype=np.int64)
    refs = pa.Array.from_buffers(
        pa.large_string(), n, [None, pa.py_buffer(offsets), pa.py_buffer(text.tobytes())]
    ).cast(pa.string())
    if not _distinct(raw):  # 2^-96 per pair: a collision means a broken token source
        raise ValueError("random reference collision: the randomness source is not random")
    return refs


def _distinct(raw: npt.NDArray[np.uint8]) -> bool:
    """True if the rows of ``raw`` (n x 12 bytes) are pairwise different.

    Sorting the first 8 bytes as integers settles it in almost every case;
    only rows that share them are compared in full.
    """
    if raw.shape[0] < 2:
        return True
    head = np.ascontiguousarray(raw[:, :8]).view(np.uint64).ravel()
    ordered = np.sort(head)
    shared = ordered[1:][ordered[1:] == ordered[:-1]]
    if shared.size == 0:
        return True
    suspects = np.flatnonzero(np.isin(head, shared))
    return len({bytes(raw[i]) for i in suspects}) == suspects.size
