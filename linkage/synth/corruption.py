"""How the two files come to disagree: typos, nicknames and noisy case.

The voter file and the subscriber file describe the same people, but were
typed by different clerks into different systems. These are the corruptions
applied to a column, each at a rate the caller chooses; the rates themselves
are set where each file is built (:mod:`~linkage.synth.population` for the
voter file, :mod:`~linkage.synth.subscribers` for the operator's), next to
the other ways that file drifts (stale addresses, dropped units, new phones).

Only the corrupted rows touch Python: a few percent of a column.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from linkage.synth._arrays import IntArray, where
from linkage.synth.reference import Reference

__all__ = ["apply_typos", "noisy_case", "swap_nicknames", "typo"]

_KEYBOARD = {
    "a": "qswz", "b": "vghn", "c": "xdfv", "d": "serfcx", "e": "wsdr", "f": "drtgvc",
    "g": "ftyhbv", "h": "gyujnb", "i": "ujko", "j": "huikmn", "k": "jiolm", "l": "kop",
    "m": "njk", "n": "bhjm", "o": "iklp", "p": "ol", "q": "wa", "r": "edft", "s": "awedxz",
    "t": "rfgy", "u": "yhji", "v": "cfgb", "w": "qase", "x": "zsdc", "y": "tghu", "z": "asx",
}  # fmt: skip


def typo(name: str, op: int, u: float, v: float) -> str:
    """One keyboard-style typo: substitution, transposition, deletion or doubling.

    Args:
        name: The value to corrupt; names shorter than 3 come back unchanged.
        op: 0 substitute a neighbouring key, 1 swap with the next letter,
            2 delete, anything else double.
        u: Uniform draw choosing the position (never the first letter).
        v: Uniform draw choosing the neighbouring key.
    """
    if len(name) < 3:
        return name
    i = 1 + int(u * (len(name) - 1))  # keep the first letter, as most typos do
    i = min(i, len(name) - 1)
    ch = name[i]
    if op == 0:
        near = _KEYBOARD.get(ch.lower(), "etaoin")
        rep = near[int(v * len(near))]
        return name[:i] + (rep.upper() if ch.isupper() else rep) + name[i + 1 :]
    if op == 1 and i < len(name) - 1:
        return name[:i] + name[i + 1] + name[i] + name[i + 2 :]
    if op == 2:
        return name[:i] + name[i + 1 :]
    return name[:i] + ch + name[i:]


def apply_typos(rng: np.random.Generator, values: pa.Array, p: float) -> pa.Array:
    """One :func:`typo` in each value with probability ``p``."""
    n = len(values)
    hit = np.flatnonzero(rng.random(n) < p)
    if len(hit) == 0:
        return values
    ops = rng.integers(0, 4, len(hit))
    us = rng.random(len(hit))
    vs = rng.random(len(hit))
    # The only per-row Python work: a few percent of the rows.
    old = values.take(pa.array(hit)).to_pylist()
    new = [typo(s, int(o), float(u), float(v)) for s, o, u, v in zip(old, ops, us, vs, strict=True)]
    out = np.asarray(values.to_numpy(zero_copy_only=False), dtype=object)
    out[hit] = new
    return pa.array(out, pa.string())


def swap_nicknames(
    rng: np.random.Generator, given_idx: IntArray, names: pa.Array, ref: Reference, rate: float
) -> pa.Array:
    """Swap about ``rate`` of the given names for a nickname (NickNamer).

    Args:
        rng: Random stream.
        given_idx: Row of each name in the first-name table, -1 for a synthesised name
            (which has no nicknames).
        names: The names as written.
        ref: Reference data (each name's nicknames).
        rate: Share of all rows to swap; only names with a nickname are eligible,
            so they are swapped more often to reach it.
    """
    n = len(given_idx)
    eligible = (given_idx >= 0) & ref.given_has_nick[np.maximum(given_idx, 0)]
    share = eligible.mean() if n else 0.0
    p = min(1.0, rate / share) if share > 0 else 0.0
    hit = eligible & (rng.random(n) < p)
    if not hit.any():
        return names
    out = np.asarray(names.to_numpy(zero_copy_only=False), dtype=object)
    picks = rng.random(n)
    for g in np.unique(given_idx[hit]):
        sel = np.flatnonzero(hit & (given_idx == g))
        options = np.asarray(ref.given_nicks[int(g)], dtype=object)
        out[sel] = options[(picks[sel] * len(options)).astype(np.int64)]
    return pa.array(out, pa.string())


def noisy_case(rng: np.random.Generator, values: pa.Array, p_upper: float) -> pa.Array:
    """Upper-case each value with probability ``p_upper`` (a shouting data-entry system)."""
    return where(rng.random(len(values)) < p_upper, pc.utf8_upper(values), values)
