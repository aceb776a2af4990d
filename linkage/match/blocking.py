"""Keyed blocking: candidate pairs from several passes over ``bk_*`` tokens.

Each pass joins the two sides on one keyed blocking column (e.g. phonetic
surname + ZIP3, house number + ZIP5, phone). A pair is a candidate when it
agrees on any pass. The matcher sees only 16-byte keyed tokens, so it learns
which records share a block but not what the block is.

Oversize blocks are dropped per pass: a blocking value whose block would
produce more than ``max_block`` pairs (``rows on side a * rows on side b``)
contributes nothing to that pass. This is the cap that keeps candidate pairs
near-linear in the file sizes (a common surname in a big ZIP3 would otherwise
pair thousands with thousands); the records in it are still paired by the
other passes, which is why several passes are used. The dropped blocks are
counted so the cost in pair completeness can be seen.

A fixed cap does not keep pairs linear by itself: when the people grow and
the values do not (ZIPs, surnames), every block grows, the pairs grow with
the square of the file until blocks reach the cap, and then whole blocks
(and their true pairs) are lost. So a pass whose parts are a strict subset
of another pass's parts (``surname + ZIP`` under ``surname + ZIP + house
number``) is *coarse* (:func:`coarse_passes`): a pair agreeing on the finer
pass agrees on it too, so the finer pass finds, inside any coarse block,
the pairs that agree on one more part. A coarse pass keeps its blocks
smallest first while its pairs stay within :data:`COARSE_PAIR_BUDGET` per
record (the larger side); the bigger blocks are left to the finer passes.
Candidate pairs then grow with the files, not their square, and the coarse
pass still pairs what the finer ones miss wherever its blocks are small.

The rule is public and depends on no key: the cap in force is a function of
the block sizes (``rows on side a * rows on side b`` per blocking value),
which the matcher counts from the tokens it holds anyway. It reveals to the
matcher nothing it did not have; the finer passes themselves are more
equality classes it can count (``docs/THREAT_MODEL.md``).

Heavy lifting is SQL through :class:`linkage.engine.Engine`.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Final

import numpy as np
import numpy.typing as npt
import pyarrow as pa

from linkage.engine import Engine
from linkage.errors import InputError
from linkage.match.comparison import token_codes
from linkage.tables import ROW

__all__ = [
    "COARSE_PAIR_BUDGET",
    "BlockAdvice",
    "Candidates",
    "candidate_pairs",
    "coarse_passes",
    "max_block_advice",
    "pair_completeness",
    "reduction_ratio",
]

_PASS = re.compile(r"bk_[a-z0-9_]{1,40}")

COARSE_PAIR_BUDGET: Final = 0.25
"""Candidate pairs per record (the larger side) a coarse pass may produce.

Measured on synthetic worlds of 100k-400k voters (``surname + ZIP`` and
``house number + street`` refined by their ZIP, house-number, street and
given-name passes): at 0.25 the F1 of ``scripts/linkage_quality.py`` equals
that of the unrefined passes and all candidate pairs grow as ``n^1.1``; at
1.0 as ``n^1.2``. The smallest blocks, which it keeps, are the ones where an
agreement says most (a rare surname in its ZIP)."""


@dataclass(frozen=True)
class Candidates:
    """Candidate pairs and what blocking cost.

    Attributes:
        ia: Row positions on side a, sorted with ``ib``.
        ib: Row positions on side b.
        passes: Pass names used.
        dropped_blocks: Blocks over the cap, summed over passes.
        dropped_pairs: Pairs those blocks would have produced.
        n_a: Rows on side a.
        n_b: Rows on side b.
        caps: The cap in force per pass, in ``passes`` order: ``max_block``,
            or lower for a coarse pass over its budget.
    """

    ia: npt.NDArray[np.int64]
    ib: npt.NDArray[np.int64]
    passes: tuple[str, ...]
    dropped_blocks: int
    dropped_pairs: int
    n_a: int
    n_b: int
    caps: tuple[int, ...] = ()

    @property
    def count(self) -> int:
        """Number of candidate pairs."""
        return int(self.ia.shape[0])

    @property
    def reduction_ratio(self) -> float:
        """``1 - candidates / (n_a * n_b)``."""
        return reduction_ratio(self.count, self.n_a, self.n_b)


def reduction_ratio(pairs: int, n_a: int, n_b: int) -> float:
    """Share of the full cross product that blocking removed (1.0 = everything)."""
    total = n_a * n_b
    return 1.0 - pairs / total if total else 1.0


def pair_completeness(
    candidates: Candidates, true_a: npt.ArrayLike, true_b: npt.ArrayLike
) -> float:
    """Share of the true pairs (row positions) that are candidates.

    Args:
        candidates: The blocking result.
        true_a: Row positions on side a of the true pairs.
        true_b: Row positions on side b, same length.

    Returns:
        A value in ``[0, 1]`` (1.0 when there are no true pairs).
    """
    ta = np.asarray(true_a, dtype=np.int64)
    tb = np.asarray(true_b, dtype=np.int64)
    if ta.size == 0:
        return 1.0
    width = np.int64(max(candidates.n_b, int(tb.max(initial=0)) + 1))
    have = candidates.ia * width + candidates.ib
    want = ta * width + tb
    return float(np.isin(want, have).mean())


def coarse_passes(parts: Mapping[str, Collection[tuple[str, str]]]) -> tuple[str, ...]:
    """Passes whose ``(column, transform)`` parts are a strict subset of another pass's.

    Agreement on the finer pass implies agreement on the coarse one, so the
    finer pass pairs, inside a coarse block, the records that agree on its
    extra parts: the coarse pass's big blocks can be left to it.

    Args:
        parts: Each pass's parts (``BlockingPass.parts`` by name).

    Returns:
        The coarse pass names, in ``parts`` order.
    """
    sets = {name: frozenset(p) for name, p in parts.items()}
    return tuple(
        name
        for name, mine in sets.items()
        if any(mine < other for other_name, other in sets.items() if other_name != name)
    )


def _budget_cap(sizes: npt.ArrayLike, blocks: npt.ArrayLike, budget: float, max_block: int) -> int:
    """The largest block size whose blocks, with every smaller one, fit in ``budget`` pairs.

    Blocks are kept smallest first, and blocks of one size are kept or
    dropped together, so the cap depends on the sizes only.

    Args:
        sizes: Distinct block sizes (``rows on side a * rows on side b``).
        blocks: How many blocks have each size.
        budget: Pairs the kept blocks may produce in all.
        max_block: The cap for any pass; the result never exceeds it.

    Returns:
        The cap (0: every block is dropped).
    """
    size = np.asarray(sizes, dtype=np.int64)
    count = np.asarray(blocks, dtype=np.int64)
    order = np.argsort(size)
    size, count = size[order], count[order]
    keep = (size > 0) & (size <= max_block)
    size, count = size[keep], count[keep]
    fits = np.cumsum(size * count) <= budget
    if fits.all():
        return max_block
    return int(size[fits][-1]) if fits.any() else 0


def _sizes_sql(name: str) -> str:
    # The histogram of block sizes: a few thousand rows however many blocks.
    return f"""
SELECT sa.n * sb.n AS pairs, COUNT(*) AS blocks FROM
    (SELECT {name} AS k, COUNT(*) AS n FROM a WHERE {name} IS NOT NULL GROUP BY {name}) AS sa
JOIN
    (SELECT {name} AS k, COUNT(*) AS n FROM b WHERE {name} IS NOT NULL GROUP BY {name}) AS sb
ON sa.k = sb.k
GROUP BY sa.n * sb.n
"""


def _pass_sql(name: str, max_block: int) -> str:
    return f"""
SELECT ka.{ROW} AS ia, kb.{ROW} AS ib
FROM (SELECT {ROW}, {name} AS k FROM a WHERE {name} IS NOT NULL) AS ka
JOIN (SELECT {ROW}, {name} AS k FROM b WHERE {name} IS NOT NULL) AS kb ON ka.k = kb.k
JOIN (
    SELECT sa.k FROM
        (SELECT {name} AS k, COUNT(*) AS n FROM a WHERE {name} IS NOT NULL GROUP BY {name}) AS sa
    JOIN
        (SELECT {name} AS k, COUNT(*) AS n FROM b WHERE {name} IS NOT NULL GROUP BY {name}) AS sb
    ON sa.k = sb.k
    WHERE sa.n * sb.n <= {int(max_block)}
) AS ok ON ka.k = ok.k
"""


def _dropped_sql(name: str, max_block: int) -> str:
    return f"""
SELECT COUNT(*) AS blocks, COALESCE(SUM(sa.n * sb.n), 0) AS pairs FROM
    (SELECT {name} AS k, COUNT(*) AS n FROM a WHERE {name} IS NOT NULL GROUP BY {name}) AS sa
JOIN
    (SELECT {name} AS k, COUNT(*) AS n FROM b WHERE {name} IS NOT NULL GROUP BY {name}) AS sb
ON sa.k = sb.k
WHERE sa.n * sb.n > {int(max_block)}
"""


def _widened(column: pa.ChunkedArray) -> npt.NDArray[np.int64]:
    """int64 numpy copy of an integer column, written chunk by chunk (no int32 concatenation)."""
    out = np.empty(len(column), dtype=np.int64)
    at = 0
    for chunk in column.chunks:
        out[at : at + len(chunk)] = chunk.to_numpy(zero_copy_only=False)
        at += len(chunk)
    return out


def candidate_pairs(
    a: pa.Table,
    b: pa.Table,
    *,
    engine: Engine,
    passes: Sequence[str] | None = None,
    max_block: int = 2_000,
    coarse: Collection[str] = (),
    coarse_budget: float = COARSE_PAIR_BUDGET,
) -> Candidates:
    """Distinct candidate pairs over several keyed blocking passes.

    Args:
        a: Side-a tokens (any ``bk_*`` columns; others ignored).
        b: Side-b tokens.
        engine: SQL engine.
        passes: Blocking columns to use; default: every ``bk_*`` column on both sides.
        max_block: Largest block (pairs) a single blocking value may produce.
        coarse: Passes a finer pass refines (:func:`coarse_passes`); each
            keeps its smallest blocks within ``coarse_budget`` pairs per
            record of the larger side, and drops the rest.
        coarse_budget: See ``coarse``.

    Returns:
        The candidate pairs as row positions, sorted by ``(ia, ib)``.

    Raises:
        InputError: A requested pass is missing on one side or badly named.
    """
    if max_block < 1:
        raise InputError("max_block must be at least 1")
    shared = [c for c in a.column_names if c.startswith("bk_") and c in b.column_names]
    names = list(shared if passes is None else passes)
    for name in names:
        if not _PASS.fullmatch(name) or name not in shared:
            raise InputError(
                "blocking pass is not a bk_* column of both token files",
                column=name if _PASS.fullmatch(name) else None,
            )
    if coarse_budget < 0:
        raise InputError("coarse_budget must be at least 0")
    empty = np.zeros(0, dtype=np.int64)
    if not names:
        return Candidates(empty, empty, (), 0, 0, a.num_rows, b.num_rows)
    # Row numbers as int32 (files are far below 2^31 rows): the engine's
    # result is 95M pairs at 8M voters, and half the width is half the memory.
    row_type = pa.int32() if max(a.num_rows, b.num_rows) < 2**31 else pa.int64()
    tables = {
        "a": a.select(names).append_column(ROW, pa.array(np.arange(a.num_rows), row_type)),
        "b": b.select(names).append_column(ROW, pa.array(np.arange(b.num_rows), row_type)),
    }
    budget = coarse_budget * max(a.num_rows, b.num_rows)
    caps = dict.fromkeys(names, max_block)
    for name in names:
        if name in coarse:
            sizes = engine.query(_sizes_sql(name), tables)
            caps[name] = _budget_cap(
                sizes["pairs"].to_numpy(), sizes["blocks"].to_numpy(), budget, max_block
            )
    union = "\nUNION\n".join(_pass_sql(n, caps[n]) for n in names)
    pairs = engine.query(f"SELECT ia, ib FROM ({union}) AS u ORDER BY ia, ib", tables)
    dropped_blocks = dropped_pairs = 0
    for name in names:
        row = engine.query(_dropped_sql(name, caps[name]), tables).to_pylist()[0]
        dropped_blocks += int(row["blocks"])
        dropped_pairs += int(row["pairs"])
    ia, ib = _widened(pairs["ia"]), _widened(pairs["ib"])
    del pairs
    return Candidates(
        ia=ia,
        ib=ib,
        passes=tuple(names),
        dropped_blocks=dropped_blocks,
        dropped_pairs=dropped_pairs,
        n_a=a.num_rows,
        n_b=b.num_rows,
        caps=tuple(caps[n] for n in names),
    )


@dataclass(frozen=True)
class BlockAdvice:
    """What ``max_block`` costs on this data, and the cap the data suggests.

    Measured on the seed pairs (the exact stage's links, found without
    blocking): a seed pair is kept when some pass it agrees on has a block no
    larger than the cap.

    Attributes:
        max_block: The cap in force.
        kept: Share of "true pairs that one pass alone finds" whose block
            the cap keeps: over every (seed pair, pass it agrees on).
        suggested: The smallest cap that keeps all but :data:`_ADVICE_LOSS`
            of those pairs, or None when the cap in force already does.
        suggested_pairs: Candidate pairs at the suggested cap (an upper
            bound: pairs found by two passes count twice).
        current_pairs: The same bound at the cap in force.
        within_budget: The suggested cap stays under the pair budget
            (:data:`_PAIR_BUDGET` per record); if not, a finer pass is the
            better fix.
    """

    max_block: int
    kept: float
    suggested: int | None
    suggested_pairs: int
    current_pairs: int
    within_budget: bool

    def message(self) -> str | None:
        """A line for the matcher's terminal, or None when the cap loses nothing that matters."""
        if self.suggested is None:
            return None
        lost = 1.0 - self.kept
        if self.within_budget:
            return (
                f"max_block = {self.max_block:,} drops the block of {lost:.1%} of true pairs "
                f"that a single blocking pass finds; max_block = {self.suggested:,} would keep "
                f"them at about {self.suggested_pairs:,} candidate pairs "
                f"(now {self.current_pairs:,})"
            )
        return (
            f"max_block = {self.max_block:,} drops the block of {lost:.1%} of true pairs "
            f"that a single blocking pass finds, and keeping them would take "
            f"max_block = {self.suggested:,} and about {self.suggested_pairs:,} candidate "
            "pairs: add a finer [blocking] pass (e.g. the same key with a date of birth or "
            "a postcode) instead"
        )


_ADVICE_LOSS = 0.02
"""Share of single-pass true pairs a cap may drop before the data suggests another."""
_PAIR_BUDGET = 200
"""Candidate pairs per record (the larger side) a suggested cap may cost."""


def _block_sizes(
    column_a: pa.ChunkedArray, column_b: pa.ChunkedArray
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """Per record its block id on each side (-1: null), and each block's pair count."""
    code_a, code_b = token_codes(column_a.combine_chunks(), column_b.combine_chunks())
    width = int(max(code_a.max(initial=-1), code_b.max(initial=-1))) + 1
    n_a = np.bincount(code_a[code_a >= 0], minlength=width)
    n_b = np.bincount(code_b[code_b >= 0], minlength=width)
    return code_a, code_b, (n_a * n_b).astype(np.int64)


def max_block_advice(
    a: pa.Table,
    b: pa.Table,
    seed_a: npt.NDArray[np.int64],
    seed_b: npt.NDArray[np.int64],
    *,
    max_block: int,
    passes: Sequence[str] | None = None,
) -> BlockAdvice | None:
    """The ``max_block`` this data asks for, judged pass by pass on the seed pairs.

    Args:
        a: Side-a blocking tokens (``bk_*`` columns).
        b: Side-b blocking tokens.
        seed_a: Row positions on side a of pairs known to match.
        seed_b: Their row positions on side b.
        max_block: The cap in force.
        passes: Blocking columns; default every ``bk_*`` column on both sides.

    Returns:
        The advice, or None without seed pairs or passes.
    """
    names = list(
        passes
        if passes is not None
        else [c for c in a.column_names if c.startswith("bk_") and c in b.column_names]
    )
    if seed_a.size == 0 or not names:
        return None
    # Each (seed pair, pass it agrees on) is one draw of "a true pair that
    # only this pass finds": whether its block is dropped depends on how
    # common the value is, not on how corrupted the pair is, so the seed's
    # blocks stand for those of the noisier pairs blocking exists to find.
    drawn: list[npt.NDArray[np.int64]] = []
    sizes_all: list[npt.NDArray[np.int64]] = []
    for name in names:
        code_a, code_b, sizes = _block_sizes(a[name], b[name])
        sizes_all.append(sizes[sizes > 0])
        ca, cb = code_a[seed_a], code_b[seed_b]
        agree = (ca >= 0) & (ca == cb)
        drawn.append(sizes[ca[agree]])
    judged = np.concatenate(drawn)
    if judged.size == 0:
        return None
    blocks = np.concatenate(sizes_all)

    def pairs_at(cap: int) -> int:
        return int(blocks[blocks <= cap].sum())

    kept = float((judged <= max_block).mean())
    suggested: int | None = None
    if kept < 1.0 - _ADVICE_LOSS:
        need = int(np.quantile(judged, 1.0 - _ADVICE_LOSS, method="higher"))
        suggested = max(need, max_block)
    current = pairs_at(max_block)
    at_suggested = pairs_at(suggested) if suggested is not None else current
    budget = _PAIR_BUDGET * max(a.num_rows, b.num_rows)
    return BlockAdvice(
        max_block=max_block,
        kept=kept,
        suggested=suggested,
        suggested_pairs=at_suggested,
        current_pairs=current,
        within_budget=at_suggested <= budget,
    )
