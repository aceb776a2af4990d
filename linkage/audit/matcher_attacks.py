"""The curious matcher's attacks on token payloads, with the public voter file and no key.

The matcher can decrypt its inbox (the campaign's and the provider's token
payloads), knows the public linkage schema and its normalisers, and holds a
public voter file. It never holds the linkage key. Three attacks use only that:

* :func:`count_signature_attack` -- every deterministic column (``bk_*``,
  ``mk_*``, ``mk_f_*`` and the CLKs, which are deterministic too) splits the
  records into equality classes. A keyed hash does not change a class's
  size, and the attacker computes the same classes on the public file by
  running the public recipe under a key of its own: any keyed hash groups
  records exactly as their pre-hash values do. Records whose vector of class
  sizes is unique on both sides are matched; each match decodes its tokens
  (token -> public class), which sharpens the signatures of every record
  sharing one, and the attack repeats until nothing new is matched.
* :func:`pattern_mining_attack` -- frequent bit patterns of the CLKs: the
  ``k`` positions of a frequent q-gram are set together in every filter that
  holds it, so frequent itemsets of bit positions (Apriori), aligned with the
  public file's q-gram frequencies and joint frequencies in recursively
  split partitions, decode q-grams (Christen, Ranbaduge, Vatsalan & Schnell,
  "Precise and fast cryptanalysis for Bloom filter based privacy-preserving
  record linkage", TKDE 2019, and their pattern-mining attack of 2018). Each
  filter's decoded q-grams are then matched to the nearest public record.
* :func:`graph_matching_attack` -- the similarity graph (Culnane, Rubinstein
  & Teague, "Vulnerabilities in the use of similarity tables in combination
  with pseudonymisation to preserve data privacy in the UK Office for
  National Statistics' privacy-preserving record linkage", 2017): the Dice
  similarities among the encoded records that share a blocking key form a
  graph; the attacker builds the same graph over the public file with a
  keyless q-gram similarity (its own-key CLKs) and matches nodes whose
  neighbourhood similarity profiles are unique.

Each attack returns :class:`AttackResult`: its guesses (token row -> public
row) scored against the truth only the auditor knows. The gate that turns a
result into PASS or FAIL is the audit's (:mod:`linkage.audit.attack_checks`).
"""

from __future__ import annotations

import hashlib
import heapq
import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from linkage.encode import (
    FieldEncoding,
    LinkageSchema,
    encode_side,
    from_arrow,
    normalize_side,
    qgrams,
)

__all__ = [
    "GATE_PRECISION",
    "NOT_PUBLIC",
    "NOT_REAL",
    "AttackResult",
    "Guesses",
    "count_signature_attack",
    "deterministic_columns",
    "graph_matching_attack",
    "pattern_mining_attack",
    "score_guesses",
    "surname_outliers",
]

GATE_PRECISION = 0.9
"""Precision at which a re-identification counts against the audit's gate (issue 12)."""

NOT_PUBLIC = -1
"""Truth of a real record that is not in the public file (it cannot be re-identified)."""

NOT_REAL = -2
"""Truth of a payload row that is no record at all (a dummy): not counted, any guess is wrong."""

_IntArray = npt.NDArray[np.int64]
_DETERMINISTIC_PREFIXES = ("mk_", "bk_", "clk_")


# --- guesses and their score ---------------------------------------------------------


@dataclass(frozen=True)
class Guesses:
    """What an attacker claims: token row ``rows[i]`` is public record ``public[i]``.

    Attributes:
        rows: Token-payload row of each guess (each row at most once).
        public: Public-file row the attacker names for it.
        confidence: Higher is surer; the audit scores every confidence cut-off.
    """

    rows: _IntArray
    public: _IntArray
    confidence: npt.NDArray[np.float64]


@dataclass(frozen=True)
class AttackResult:
    """One attack's figure, scored with the auditor's truth.

    Attributes:
        attack: The attack's name (an audit line's label).
        records: Real records attacked (payload rows that are not dummies).
        guessed: Rows the attacker named a public record for.
        correct: Guesses that name the right record.
        confident: Guesses in the largest confidence cut-off whose precision is
            at least :data:`GATE_PRECISION` (0 when none is).
        confident_correct: The correct ones among them.
        rounds: Rounds of propagation (count signature) or mined q-grams (pattern mining).
    """

    attack: str
    records: int
    guessed: int
    correct: int
    confident: int
    confident_correct: int
    rounds: int = 0

    @property
    def rate(self) -> float:
        """Share of records named (right or wrong)."""
        return self.guessed / self.records if self.records else 0.0

    @property
    def precision(self) -> float:
        """Share of guesses that are right (1.0 when there is none)."""
        return self.correct / self.guessed if self.guessed else 1.0

    @property
    def gate_rate(self) -> float:
        """Share of records re-identified at precision >= :data:`GATE_PRECISION`."""
        return self.confident / self.records if self.records else 0.0

    @property
    def gate_precision(self) -> float:
        """Precision of the :attr:`gate_rate` guesses (1.0 when there is none)."""
        return self.confident_correct / self.confident if self.confident else 1.0


def score_guesses(
    attack: str,
    guesses: Guesses,
    truth: Sequence[int] | _IntArray,
    *,
    min_precision: float = GATE_PRECISION,
    rounds: int = 0,
) -> AttackResult:
    """Score an attacker's guesses against the truth.

    The gate figure takes the attacker's best operating point: guesses are
    ranked by confidence, and of every cut-off (ties are never split) the
    largest whose precision reaches ``min_precision`` counts.

    Args:
        attack: Name for the result.
        guesses: The attacker's claims.
        truth: Per payload row, the public row it really is, :data:`NOT_PUBLIC` or
            :data:`NOT_REAL`.
        min_precision: Precision the gate cut-off must reach.
        rounds: Carried into the result.
    """
    truth_arr = np.asarray(truth, dtype=np.int64)
    records = int((truth_arr != NOT_REAL).sum())
    right = (truth_arr[guesses.rows] == guesses.public) & (guesses.public >= 0)
    order = np.argsort(-guesses.confidence, kind="stable")
    hits = np.cumsum(right[order])
    sizes = np.arange(1, len(order) + 1)
    # A cut-off can fall only after the last guess of a confidence level.
    ranked = guesses.confidence[order]
    ends = np.flatnonzero(np.append(ranked[1:] != ranked[:-1], True)) if len(order) else order
    ok = ends[hits[ends] >= min_precision * sizes[ends]]
    best = int(ok.max()) if len(ok) else -1
    return AttackResult(
        attack=attack,
        records=records,
        guessed=len(guesses.rows),
        correct=int(right.sum()),
        confident=best + 1,
        confident_correct=int(hits[best]) if best >= 0 else 0,
        rounds=rounds,
    )


# --- shared helpers -----------------------------------------------------------------


@dataclass(frozen=True)
class _OwnKey:
    """The attacker's own key: any key groups records as their pre-hash values do."""

    seed: bytes = b"the matcher's own key"

    def subkey(self, purpose: str) -> bytes:
        return hashlib.sha256(self.seed + b"/" + purpose.encode()).digest()


def deterministic_columns(tokens: pa.Table) -> list[str]:
    """The payload's columns that are a deterministic function of a record's values."""
    return [
        name
        for name in tokens.column_names
        if name.startswith(_DETERMINISTIC_PREFIXES)
        and (
            pa.types.is_binary(tokens[name].type)
            or pa.types.is_fixed_size_binary(tokens[name].type)
        )
    ]


def _classes(column: pa.ChunkedArray | pa.Array) -> tuple[_IntArray, _IntArray]:
    """Class id of each row (0 = null, 1.. = a distinct value) and each class's size."""
    encoded = pc.dictionary_encode(column)
    if isinstance(encoded, pa.ChunkedArray):
        encoded = encoded.combine_chunks()
    ids = pc.fill_null(pc.add(encoded.indices.cast(pa.int64()), 1), 0).to_numpy()
    sizes = np.bincount(ids, minlength=len(encoded.dictionary) + 1).astype(np.int64)
    sizes[0] = 0
    return ids.astype(np.int64), sizes


def _public_tokens(public: pa.Table, schema: LinkageSchema) -> pa.Table:
    """The public file run through the public recipe (side ``a``) under the attacker's key."""
    return encode_side(public, schema, "a", _OwnKey())


def _unique_rows(keys: _IntArray) -> tuple[npt.NDArray[np.void], npt.NDArray[np.bool_]]:
    """Row keys as void scalars, and whether each occurs once."""
    flat = np.ascontiguousarray(keys).view(np.dtype((np.void, keys.dtype.itemsize * keys.shape[1])))
    flat = flat.ravel()
    _, inverse, counts = np.unique(flat, return_inverse=True, return_counts=True)
    return flat, counts[inverse.ravel()] == 1


def _match_unique(token_keys: _IntArray, public_keys: _IntArray) -> tuple[_IntArray, _IntArray]:
    """Pairs (token row, public row) whose key is unique on each side and equal."""
    if len(token_keys) == 0 or len(public_keys) == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    t_flat, t_once = _unique_rows(token_keys)
    p_flat, p_once = _unique_rows(public_keys)
    t_idx = np.flatnonzero(t_once)
    p_idx = np.flatnonzero(p_once)
    where = {bytes(p_flat[i]): int(i) for i in p_idx}
    rows: list[int] = []
    public: list[int] = []
    for i in t_idx:
        j = where.get(bytes(t_flat[i]))
        if j is not None:
            rows.append(int(i))
            public.append(j)
    return np.array(rows, np.int64), np.array(public, np.int64)


# --- 1. count signatures ------------------------------------------------------------


def count_signature_guesses(
    tokens: pa.Table,
    public: pa.Table,
    schema: LinkageSchema,
    *,
    columns: Sequence[str] | None = None,
    max_rounds: int = 100,
) -> tuple[Guesses, int]:
    """The count-signature attack's guesses and the number of rounds it ran.

    See :func:`count_signature_attack`.
    """
    own = _public_tokens(public, schema)
    names = [
        c
        for c in (deterministic_columns(tokens) if columns is None else columns)
        if c in own.column_names
    ]
    t_ids, t_sizes, p_ids, p_sizes = [], [], [], []
    for name in names:
        ids, sizes = _classes(tokens[name])
        t_ids.append(ids)
        t_sizes.append(sizes)
        ids, sizes = _classes(own[name])
        p_ids.append(ids)
        p_sizes.append(sizes)
    n_t, n_p = tokens.num_rows, public.num_rows
    # decoded[c][token class] = public class it is known to be (-1: not yet); null is null.
    decoded = [np.full(len(s), -1, np.int64) for s in t_sizes]
    taken = [np.zeros(len(s), bool) for s in p_sizes]
    for c in range(len(names)):
        decoded[c][0] = 0
        taken[c][0] = True
    match_of = np.full(n_t, -1, np.int64)
    round_of = np.zeros(n_t, np.float64)
    public_free = np.ones(n_p, bool)
    rounds = 0
    while rounds < max_rounds and names:
        free_t = np.flatnonzero(match_of < 0)
        free_p = np.flatnonzero(public_free)
        # A column's entry: the decoded public class (>= 0), or -(size + 1) while unknown.
        t_keys = np.empty((len(free_t), len(names)), np.int64)
        p_keys = np.empty((len(free_p), len(names)), np.int64)
        for c in range(len(names)):
            cls = t_ids[c][free_t]
            known = decoded[c][cls]
            t_keys[:, c] = np.where(known >= 0, known, -(t_sizes[c][cls] + 1))
            pcls = p_ids[c][free_p]
            p_keys[:, c] = np.where(taken[c][pcls], pcls, -(p_sizes[c][pcls] + 1))
        rows, found = _match_unique(t_keys, p_keys)
        if len(rows) == 0:
            break
        rounds += 1
        rows, found = free_t[rows], free_p[found]
        match_of[rows] = found
        round_of[rows] = rounds
        public_free[found] = False
        for c in range(len(names)):
            for tc, pcls in zip(t_ids[c][rows], p_ids[c][found], strict=True):
                if decoded[c][tc] < 0 and not taken[c][pcls]:
                    decoded[c][tc] = pcls
                    taken[c][pcls] = True
    matched = np.flatnonzero(match_of >= 0)
    return Guesses(matched, match_of[matched], -round_of[matched]), rounds


def count_signature_attack(
    tokens: pa.Table,
    public: pa.Table,
    schema: LinkageSchema,
    truth: Sequence[int] | _IntArray,
    *,
    columns: Sequence[str] | None = None,
) -> AttackResult:
    """Match records by the sizes of their token classes, then propagate decoded tokens.

    Models the curious matcher holding a token payload, the public schema and
    the public voter file, without the key. Each deterministic column gives
    each record the size of its equality class; the attacker computes the same
    sizes on the public file (the public recipe under its own key groups
    records exactly as the real one does). A record whose signature, the
    vector of its class sizes, occurs once among the payload's rows and once
    among the public file's is matched. Every match tells the attacker which
    public class each of its tokens is, so in the next round such a column
    contributes the class itself instead of its size, and more signatures
    become unique. Earlier rounds rank as more confident.

    Args:
        tokens: The payload (``mk_*``, ``mk_f_*``, ``clk_*``, ``bk_*`` columns).
        public: The public voter file (side ``a`` raw columns).
        schema: The public linkage schema the payload was encoded with.
        truth: For scoring only: per payload row, its public row (see :func:`score_guesses`).
        columns: The columns to use (default: every deterministic one in both).
    """
    guesses, rounds = count_signature_guesses(tokens, public, schema, columns=columns)
    return score_guesses("count-signature", guesses, truth, rounds=rounds)


# --- 2. pattern mining of CLK bits ----------------------------------------------------


_POPCOUNT = np.array([bin(i).count("1") for i in range(256)], dtype=np.int64)

_MIN_MINED_BITS = 4
"""Fewest hash positions per q-gram the miner looks for (fewer stand out from nothing)."""


def _bits(column: pa.ChunkedArray | pa.Array) -> npt.NDArray[np.bool_]:
    """A CLK column as a boolean matrix (rows x bit positions)."""
    return np.unpackbits(from_arrow(column), axis=1).astype(bool)


@dataclass(frozen=True)
class _FieldGrams:
    """The public q-grams of one field of a CLK column.

    Attributes:
        column: The CLK column (``clk_<name>``).
        field: The normalised field.
        bits: The field's hash functions per q-gram (``k``, public in the schema).
        grams: Its distinct q-grams in the public file.
        holds: ``(values + 1) x grams``: distinct value ``v`` holds gram ``g``
            (the last row, a null's, holds none).
        value: Per public row, its distinct value (the last one for a null).
        pairs: ``(value, gram)`` of every ``True`` of ``holds``, to count grams fast.
    """

    column: str
    field: str
    bits: int
    grams: tuple[str, ...]
    holds: npt.NDArray[np.bool_]
    value: _IntArray
    pairs: tuple[_IntArray, _IntArray]


def _field_grams(normalized: pa.Table, column: str, encoding: FieldEncoding) -> _FieldGrams:
    """Which public rows hold which q-gram of one field (q-grams as the field encodes them)."""
    encoded = pc.dictionary_encode(normalized[encoding.name]).combine_chunks()
    values: list[str] = encoded.dictionary.to_pylist()
    index = pc.fill_null(encoded.indices, len(values)).to_numpy(zero_copy_only=False)
    ids: dict[str, int] = {}
    value_ids: list[int] = []
    gram_ids: list[int] = []
    for v, text in enumerate(values):
        for gram in qgrams(text, encoding.q, positional=encoding.positional):
            value_ids.append(v)
            gram_ids.append(ids.setdefault(gram, len(ids)))
    holds = np.zeros((len(values) + 1, len(ids)), bool)
    pair_values = np.array(value_ids, np.int64)
    pair_grams = np.array(gram_ids, np.int64)
    holds[pair_values, pair_grams] = True
    return _FieldGrams(
        column=column,
        field=encoding.name,
        bits=encoding.bits,
        grams=tuple(ids),
        holds=holds,
        value=index.astype(np.int64),
        pairs=(pair_values, pair_grams),
    )


class _GramIndex:
    """Every public q-gram of one CLK column's fields, numbered across its fields."""

    def __init__(self, fields: Sequence[_FieldGrams]) -> None:
        self.fields = list(fields)
        sizes = [len(f.grams) for f in self.fields]
        self.offsets = np.r_[0, np.cumsum(sizes)].astype(np.int64)
        self.bits = np.concatenate([np.full(len(f.grams), f.bits, np.int64) for f in self.fields])

    def __len__(self) -> int:
        return int(self.offsets[-1])

    def counts(self, rows: _IntArray) -> _IntArray:
        """Public records among ``rows`` holding each q-gram."""
        out = np.zeros(len(self), np.int64)
        for f, lo in zip(self.fields, self.offsets[:-1], strict=True):
            per_value = np.bincount(f.value[rows], minlength=len(f.holds))
            pair_values, pair_grams = f.pairs
            out[lo : lo + len(f.grams)] = np.bincount(
                pair_grams, weights=per_value[pair_values], minlength=len(f.grams)
            ).astype(np.int64)
        return out

    def holders(self, gram: int, rows: _IntArray) -> npt.NDArray[np.bool_]:
        """Whether each public record of ``rows`` holds ``gram``."""
        f = int(np.searchsorted(self.offsets, gram, side="right")) - 1
        field = self.fields[f]
        held: npt.NDArray[np.bool_] = field.holds[field.value[rows], gram - self.offsets[f]]
        return held


@dataclass(frozen=True)
class _MiningBounds:
    """How hard :func:`_mine_column` tries; see :func:`pattern_mining_attack`."""

    min_rows: int
    max_nodes: int
    beam: int
    saturation: float
    tolerance: float
    ranks: int


def _grow_itemset(
    block: npt.NDArray[np.bool_],
    pairs: tuple[_IntArray, _IntArray, npt.NDArray[np.float32]],
    taken: npt.NDArray[np.bool_],
    low: float,
    k: int,
    beam: int,
) -> _IntArray | None:
    """Apriori, level by level, the longest itemset of positions (``block`` columns) >= ``low``.

    Level 2 is every pair at once (``pairs``: each pair ``i < j`` and its count); each
    further level extends the ``beam`` best itemsets of the level below by
    one position (an itemset is frequent only if its subsets are, so only
    extensions of frequent itemsets are counted). Seeds avoid pairs of
    positions that an itemset found earlier already ``taken``. Growth stops
    at ``k`` positions, the most one q-gram sets, or when nothing is frequent.
    """
    i, j, support = pairs
    seeds = np.flatnonzero((support >= low) & ~(taken[i] & taken[j]))
    if len(seeds) == 0:
        return None
    seeds = seeds[np.argsort(-support[seeds], kind="stable")][:beam]
    level: list[tuple[tuple[int, ...], float]] = [
        ((int(i[s]), int(j[s])), float(support[s])) for s in seeds
    ]
    while len(level[0][0]) < k:
        extended: dict[tuple[int, ...], float] = {}
        for items, _ in level:
            # Summing the few holding rows beats a BLAS call this small.
            counts = block[block[:, list(items)].all(axis=1)].sum(axis=0, dtype=np.float64)
            counts[list(items)] = -1.0
            frequent = np.flatnonzero(counts >= low)
            # Only ``beam`` itemsets survive a level: no parent needs more children.
            for p in frequent[np.argsort(-counts[frequent], kind="stable")[:beam]]:
                extended[tuple(sorted((*items, int(p))))] = float(counts[p])
        if not extended:
            break
        level = sorted(extended.items(), key=lambda item: -item[1])[:beam]
    return np.array(level[0][0], np.int64)


def _purified(
    part: npt.NDArray[np.bool_], positions: _IntArray, bounds: _MiningBounds
) -> _IntArray:
    """Drop, one at a time, positions whose removal lets many more filters hold the rest.

    Every filter holding a q-gram has all its positions, so dropping one of
    them adds only chance holders; a position of another q-gram that happens
    to co-occur with it in this partition adds that q-gram's other holders.
    """
    positions = positions.copy()
    while len(positions) > 2:
        missing = ~part[:, positions]
        support = int((missing.sum(axis=1) == 0).sum())
        gained = missing[missing.sum(axis=1) == 1].sum(axis=0)
        worst = int(np.argmax(gained))
        if gained[worst] <= bounds.tolerance / 4 * support + 2:
            break
        positions = np.delete(positions, worst)
    return positions


def _mine_itemsets(
    part: npt.NDArray[np.bool_],
    low: float,
    k: tuple[int, int],
    wanted: int,
    bounds: _MiningBounds,
) -> list[_IntArray]:
    """Up to ``wanted`` disjointly seeded frequent itemsets, each closed and purified.

    ``k`` bounds the positions of one q-gram: at most ``k[1]``, at least half of ``k[0]``
    (two hash functions of a q-gram may land on one position).

    A closed itemset adds every position set in (nearly) all filters that
    hold the grown one: they hold the same q-gram, whose positions they all
    have, while their other q-grams vary.
    """
    smallest, k_max = max(2, (k[0] + 1) // 2), k[1]
    freq = part.sum(axis=0)
    saturated = freq >= bounds.saturation * len(part)
    candidates = np.flatnonzero((freq >= low) & ~saturated)
    if len(candidates) < 2:
        return []
    block = part[:, candidates]
    dense = block.astype(np.float32)
    pair = dense.T @ dense
    i, j = np.triu_indices(len(candidates), 1)
    frequent = pair[i, j] >= low
    pairs = (i[frequent].astype(np.int64), j[frequent].astype(np.int64), pair[i, j][frequent])
    taken = np.zeros(len(candidates), bool)
    found: list[_IntArray] = []
    for _ in range(wanted):
        grown = _grow_itemset(block, pairs, taken, low, k_max, bounds.beam)
        if grown is None:
            break
        taken[grown] = True
        holding = part[:, candidates[grown]].all(axis=1)
        closure = part[holding].sum(axis=0) >= (1.0 - bounds.tolerance / 4) * holding.sum()
        positions = _purified(part, np.flatnonzero(closure & ~saturated), bounds)
        taken[np.isin(candidates, positions)] = True
        again = any(len(np.intersect1d(positions, p)) * 2 > len(positions) for p in found)
        if smallest <= len(positions) <= k_max and not again:
            found.append(positions.astype(np.int64))
    return found


def _label(
    part: npt.NDArray[np.bool_],
    itemsets: Sequence[_IntArray],
    holders: npt.NDArray[np.bool_],
    anchors: Sequence[tuple[_IntArray, npt.NDArray[np.bool_]]],
    scale: float,
) -> list[int | None]:
    """Which candidate q-gram (``holders`` column) each itemset is, where the data say so.

    Frequency alignment of first and second order: an assignment of itemsets
    to distinct q-grams is scored by how far each itemset's support, each
    pair's joint support and each itemset's joint support with the already
    decoded ``anchors`` (positions, public holders) are from the public
    file's counts (scaled to the partition), in Poisson units. An itemset is
    labelled when every assignment scoring close to the best gives it the
    same q-gram.
    """
    held = np.column_stack([part[:, p].all(axis=1) for p in itemsets]).astype(np.float32)
    observed = held.T @ held
    public = holders.astype(np.float32)
    expected = (public.T @ public) * scale
    r, g = len(itemsets), holders.shape[1]
    if r > g:
        return [None] * r
    perms = np.array(list(itertools.permutations(range(g), r)), np.int64)
    a, b = np.triu_indices(r)
    want = expected[perms[:, a], perms[:, b]]
    cost = ((observed[a, b][None, :] - want) ** 2 / (want + 1.0)).sum(axis=1)
    terms = len(a)
    if anchors:
        known = np.column_stack([part[:, p].all(axis=1) for p, _ in anchors]).astype(np.float32)
        seen = held.T @ known  # itemsets x anchors
        known_public = np.column_stack([h for _, h in anchors]).astype(np.float32)
        together = (public.T @ known_public) * scale  # candidates x anchors
        want_anchor = together[perms]  # perms x r x anchors
        cost += ((seen[None] - want_anchor) ** 2 / (want_anchor + 1.0)).sum(axis=(1, 2))
        terms += r * len(anchors)
    best = float(cost.min())
    if best > 2.5 * terms:
        return [None] * r
    near = perms[cost <= best + 9.0]
    return [int(near[0, i]) if (near[:, i] == near[0, i]).all() else None for i in range(r)]


def _plausible(
    bits: npt.NDArray[np.bool_],
    positions: _IntArray,
    expected: float,
    k: int,
    bounds: _MiningBounds,
) -> bool:
    """Whether a labelled itemset fits its q-gram over all filters, not just its partition.

    A mixture of two q-grams that always co-occur in a small partition is
    held, over the whole file, only by records holding both: fewer than
    the q-gram's public count.
    """
    if not (k + 1) // 2 <= len(positions) <= k:
        return False
    support = float(bits[:, positions].all(axis=1).sum())
    return bool(
        abs(support - expected) <= bounds.tolerance * expected + 3.0 * np.sqrt(expected + 1.0)
    )


def _mine_column(
    bits: npt.NDArray[np.bool_], public_rows: int, index: _GramIndex, bounds: _MiningBounds
) -> dict[int, _IntArray]:
    """Bit positions of the q-grams of one CLK column, by recursive partitioning.

    A node is a partition of the filters and the matching partition of the
    public records (those that hold, or lack, each q-gram split on so far).
    Within it the public q-gram frequencies predict each q-gram's support:
    the itemsets frequent at the support of the most frequent unknown
    q-grams are mined (:func:`_mine_itemsets`) and labelled
    (:func:`_label`), and both partitions are split on a decoded q-gram.
    Conditioning raises the next q-grams' frequencies above the noise and
    separates q-grams that tie in the whole file.
    """
    found: dict[int, _IntArray] = {}
    heap: list[tuple[int, int, _IntArray, _IntArray]] = [
        (-len(bits), 0, np.arange(len(bits)), np.arange(public_rows))
    ]
    pushed = 1
    nodes = 0
    totals = index.counts(np.arange(public_rows))
    scale = len(bits) / max(public_rows, 1)
    while heap and nodes < bounds.max_nodes:
        _, _, rows, public = heapq.heappop(heap)
        nodes += 1
        if len(rows) < bounds.min_rows or len(public) < bounds.min_rows:
            continue
        counts = index.counts(public)
        share = counts / len(public)
        live = np.flatnonzero((counts > 0) & (share < bounds.saturation))
        if len(live) == 0:
            continue
        ranked = live[np.argsort(-counts[live], kind="stable")]
        part = bits[rows]
        if int(ranked[0]) not in found:
            # Too few positions to stand out from chance co-occurrence: never mined.
            minable = ranked[index.bits[ranked] >= _MIN_MINED_BITS]
            unknown = [int(g) for g in minable if int(g) not in found][: bounds.ranks + 2]
            if not unknown:
                continue
            expected = share[unknown] * len(rows)
            wanted = min(bounds.ranks, len(unknown))
            below = expected[wanted] if wanted < len(unknown) else 0.0
            low = max((expected[wanted - 1] + below) / 2, 2.0)
            k = index.bits[unknown]
            itemsets = [
                p
                for p in _mine_itemsets(part, low, (int(k.min()), int(k.max())), wanted, bounds)
                if not any(len(np.intersect1d(p, q)) * 2 > len(p) for q in found.values())
            ]
            if itemsets:
                holders = np.column_stack([index.holders(g, public) for g in unknown])
                anchors = [
                    (found[int(g)], index.holders(int(g), public))
                    for g in ranked
                    if int(g) in found
                ][: bounds.ranks]
                labels = _label(part, itemsets, holders, anchors, len(rows) / len(public))
                for positions, label in zip(itemsets, labels, strict=True):
                    if label is None:
                        continue
                    gram = unknown[label]
                    if _plausible(
                        bits, positions, totals[gram] * scale, int(index.bits[gram]), bounds
                    ):
                        found[gram] = positions
        split = next((int(g) for g in ranked if int(g) in found), None)
        if split is None:
            continue
        has = part[:, found[split]].all(axis=1)
        held = index.holders(split, public)
        for side_rows, side_public in ((rows[has], public[held]), (rows[~has], public[~held])):
            heapq.heappush(heap, (-len(side_rows), pushed, side_rows, side_public))
            pushed += 1
    return found


def _holding(bits: npt.NDArray[np.bool_], found: Mapping[int, _IntArray]) -> npt.NDArray[np.bool_]:
    """Per filter (rows) and decoded q-gram (columns, in ``found`` order): all its bits set."""
    sets = np.packbits(bits.T, axis=1)
    out = np.zeros((len(bits), len(found)), bool)
    for c, positions in enumerate(found.values()):
        out[:, c] = np.unpackbits(np.bitwise_and.reduce(sets[positions], axis=0))[: len(bits)]
    return out


def _packed(matrix: npt.NDArray[np.bool_]) -> npt.NDArray[np.uint64]:
    """Rows of a boolean matrix as 64-bit words (zero-padded)."""
    width = -(-matrix.shape[1] // 64) * 64
    padded = np.zeros((len(matrix), width), bool)
    padded[:, : matrix.shape[1]] = matrix
    return np.packbits(padded, axis=1).view(np.uint64)


def _row_keys(matrix: npt.NDArray[np.bool_]) -> tuple[_IntArray, npt.NDArray[np.bool_]]:
    """Id of each row's distinct value, and the distinct rows."""
    if matrix.shape[1] == 0:
        return np.zeros(len(matrix), np.int64), np.zeros((1, 0), bool)
    distinct, ids = np.unique(matrix, axis=0, return_inverse=True)
    return ids.ravel().astype(np.int64), distinct


def _csr(keys: _IntArray, size: int) -> tuple[_IntArray, _IntArray]:
    """Members of each key: ``order[starts[k] : starts[k + 1]]``."""
    order = np.argsort(keys, kind="stable").astype(np.int64)
    starts = np.r_[0, np.cumsum(np.bincount(keys, minlength=size))].astype(np.int64)
    return order, starts


def _ranges(starts: _IntArray, ends: _IntArray) -> tuple[_IntArray, _IntArray]:
    """Concatenated ``arange(starts[i], ends[i])``, and which ``i`` each item came from."""
    lengths = ends - starts
    owner = np.repeat(np.arange(len(starts)), lengths)
    offsets = np.arange(int(lengths.sum())) - np.repeat(np.cumsum(lengths) - lengths, lengths)
    return starts[owner] + offsets, owner


def _nearest_public(
    decoded: npt.NDArray[np.bool_],
    public: npt.NDArray[np.bool_],
    primary: tuple[npt.NDArray[np.bool_], npt.NDArray[np.bool_]],
    *,
    slack: int = 1,
    max_candidates: int = 2000,
    chunk: int = 2048,
) -> tuple[_IntArray, _IntArray, _IntArray]:
    """Each decoded row's nearest public record (Hamming distance over the decoded q-grams).

    Candidates are the public records whose ``primary`` field (the field with
    the most decoded q-grams) is within ``slack`` of the nearest one; any other
    record is at least that far plus one in that field alone, which bounds the
    runner-up from outside. A row with more than ``max_candidates`` candidates
    (its primary field decodes to something common) is not matched.

    Returns:
        ``(best, distance, runner_up)`` per decoded row: the nearest record
        (-1 when two tie), its distance, the second-nearest distance.
    """
    t_primary, p_primary = primary
    t_key, t_vecs = _row_keys(t_primary)
    p_key, p_vecs = _row_keys(p_primary)
    members, member_starts = _csr(p_key, len(p_vecs))
    t_size = t_vecs.sum(axis=1)
    p_size = p_vecs.sum(axis=1)
    t_float = t_vecs.astype(np.float32)
    p_float = p_vecs.astype(np.float32).T
    near_keys: list[_IntArray] = []
    near_vecs: list[_IntArray] = []
    floor = np.zeros(len(t_vecs), np.int64)
    for lo in range(0, len(t_vecs), chunk):
        common = (t_float[lo : lo + chunk] @ p_float).astype(np.int64)
        dist = t_size[lo : lo + chunk, None] + p_size[None, :] - 2 * common
        floor[lo : lo + chunk] = dist.min(axis=1)
        rows, cols = np.nonzero(dist <= floor[lo : lo + chunk, None] + slack)
        near_keys.append(rows + lo)
        near_vecs.append(cols)
    key_of, vec_of = np.concatenate(near_keys), np.concatenate(near_vecs)
    sizes = np.diff(member_starts)
    crowded = np.bincount(key_of, weights=sizes[vec_of], minlength=len(t_vecs)) > max_candidates
    keep = ~crowded[key_of]
    key_of, vec_of = key_of[keep], vec_of[keep]
    near, near_starts = _csr(key_of, len(t_vecs))
    t_words, p_words = _packed(decoded), _packed(public)
    n = len(decoded)
    best = np.full(n, -1, np.int64)
    distance = np.zeros(n, np.int64)
    runner_up = np.zeros(n, np.int64)
    for lo in range(0, n, chunk):
        rows = np.arange(lo, min(lo + chunk, n))
        rows = rows[~crowded[t_key[rows]]]
        if len(rows) == 0:
            continue
        keys = t_key[rows]
        slots, owner = _ranges(near_starts[keys], near_starts[keys + 1])
        vecs = vec_of[near[slots]]
        recs, pair_owner = _ranges(member_starts[vecs], member_starts[vecs + 1])
        token = rows[owner[pair_owner]]
        record = members[recs]
        dist = np.bitwise_count(t_words[token] ^ p_words[record]).sum(axis=1).astype(np.int64)
        order = np.lexsort((dist, token))
        token, record, dist = token[order], record[order], dist[order]
        first = np.flatnonzero(np.r_[True, token[1:] != token[:-1]])
        count = np.diff(np.r_[first, len(token)])
        outside = floor[t_key[token[first]]] + slack + 1
        second = np.where(count > 1, dist[np.minimum(first + 1, len(dist) - 1)], outside)
        second = np.minimum(second, outside)
        who = token[first]
        best[who] = np.where(second > dist[first], record[first], -1)
        distance[who] = dist[first]
        runner_up[who] = second
    return best, distance, runner_up


def pattern_mining_guesses(
    tokens: pa.Table,
    public: pa.Table,
    schema: LinkageSchema,
    *,
    sample: int = 5_000,
    min_rows: int = 40,
    max_nodes: int = 400,
    beam: int = 4,
    saturation: float = 0.97,
    tolerance: float = 0.1,
    ranks: int = 4,
    seed: int = 0,
) -> tuple[Guesses, int]:
    """The pattern-mining attack's guesses and the number of q-grams it decoded.

    See :func:`pattern_mining_attack`. The other bounds: partitions of fewer
    than ``min_rows`` filters are not mined, at most ``max_nodes`` partitions
    are visited, ``beam`` itemsets are grown per Apriori level, a q-gram held by a
    ``saturation`` share of a partition is not mined there, ``tolerance`` is
    the relative error allowed on a decoded q-gram's support and ``ranks`` the
    number of q-grams aligned at once.
    """
    bounds = _MiningBounds(min_rows, max_nodes, beam, saturation, tolerance, ranks)
    normalized = normalize_side(public, schema, "a")
    rng = np.random.default_rng(seed)
    decoded: list[npt.NDArray[np.bool_]] = []
    holders: list[npt.NDArray[np.bool_]] = []
    groups: list[tuple[npt.NDArray[np.bool_], npt.NDArray[np.bool_]]] = []
    for spec in schema.compare:
        if spec.method != "dice" or spec.output not in tokens.column_names:
            continue
        index = _GramIndex([_field_grams(normalized, spec.output, e) for e in spec.encodings])
        bits = _bits(tokens[spec.output])
        mined = (
            np.sort(rng.choice(len(bits), sample, replace=False)) if len(bits) > sample else None
        )
        found = _mine_column(
            bits if mined is None else bits[mined], normalized.num_rows, index, bounds
        )
        if not found:
            continue
        grams = np.fromiter(found, np.int64, len(found))
        token_side = _holding(bits, found)
        public_side = np.zeros((normalized.num_rows, len(found)), bool)
        for f, field in enumerate(index.fields):
            lo, hi = index.offsets[f], index.offsets[f + 1]
            mine = np.flatnonzero((grams >= lo) & (grams < hi))
            public_side[:, mine] = field.holds[field.value][:, grams[mine] - lo]
            groups.append((token_side[:, mine], public_side[:, mine]))
        decoded.append(token_side)
        holders.append(public_side)
    if not decoded:
        empty = np.zeros(0, np.int64)
        return Guesses(empty, empty, np.zeros(0, np.float64)), 0
    token_all, public_all = np.hstack(decoded), np.hstack(holders)
    primary = max(groups, key=lambda group: group[0].shape[1])
    best, distance, runner_up = _nearest_public(token_all, public_all, primary)
    rows = np.flatnonzero(best >= 0)
    margin = (runner_up[rows] - distance[rows]).astype(np.float64)
    # Larger margin first; at equal margin, the closer match.
    confidence = margin - distance[rows] / (token_all.shape[1] + 1)
    return Guesses(rows, best[rows], confidence), token_all.shape[1]


def pattern_mining_attack(
    tokens: pa.Table,
    public: pa.Table,
    schema: LinkageSchema,
    truth: Sequence[int] | _IntArray,
    *,
    sample: int = 5_000,
    seed: int = 0,
) -> AttackResult:
    """Decode q-grams from frequent CLK bit patterns and match the decoded records.

    The pattern-mining cryptanalysis of Christen, Ranbaduge, Vatsalan &
    Schnell ("Precise and fast cryptanalysis for Bloom filter based
    privacy-preserving record linkage", TKDE 2019), played by the curious
    matcher on each ``clk_*`` column with the public schema and voter file:

    1. *Frequent itemsets.* The ``k`` positions of a q-gram are set together
       in every filter holding it, so a frequent q-gram is a frequent itemset
       of bit positions. Apriori, level by level, finds the longest itemsets
       at the support the public file predicts for its most frequent q-grams.
    2. *Frequency alignment.* Itemsets are assigned to q-grams by their
       supports and joint supports against the public q-gram counts; the
       filters and the public records are then split on a decoded q-gram and
       the search recurses into both halves, where conditional frequencies
       separate q-grams the whole file cannot.
    3. *Re-identification.* Each filter's decoded q-grams (all positions set
       or not) are compared with every public record's; the nearest record,
       when unique, is the guess, and the margin to the runner-up its
       confidence.

    The mining runs on ``sample`` filters; decoding and matching on all.

    Args:
        tokens: The payload (its ``clk_*`` columns are attacked).
        public: The public voter file (side ``a`` raw columns).
        schema: The public linkage schema (which fields each CLK holds, their
            ``q`` and ``k``).
        truth: For scoring only (see :func:`score_guesses`).
        sample: Filters mined (a seeded random sample when there are more).
        seed: Seed of that sample.
    """
    guesses, decoded = pattern_mining_guesses(tokens, public, schema, sample=sample, seed=seed)
    return score_guesses("pattern-mining", guesses, truth, rounds=decoded)


# --- 3. graph matching on the similarity graph ------------------------------------------


def _block_pairs(ids_by_column: Sequence[_IntArray], n: int, max_block: int) -> _IntArray:
    """Distinct pairs ``i < j`` (as ``i * n + j``) that share a non-null class in any column."""
    found: list[_IntArray] = []
    for ids in ids_by_column:
        order = np.argsort(ids, kind="stable")
        sorted_ids = ids[order]
        starts = np.flatnonzero(np.r_[True, sorted_ids[1:] != sorted_ids[:-1]])
        sizes = np.diff(np.r_[starts, len(ids)])
        real = sorted_ids[starts] != 0
        for size in np.unique(sizes[real & (sizes >= 2) & (sizes <= max_block)]):
            first = starts[real & (sizes == size)]
            a, b = np.triu_indices(int(size), 1)
            left = order[first[:, None] + a].ravel()
            right = order[first[:, None] + b].ravel()
            found.append(np.minimum(left, right) * n + np.maximum(left, right))
    if not found:
        return np.zeros(0, np.int64)
    return np.unique(np.concatenate(found))


def _pair_dice(
    clks: Sequence[npt.NDArray[np.uint8]], i: _IntArray, j: _IntArray
) -> npt.NDArray[np.float64]:
    """Mean Dice of each pair over the CLK columns, in chunks to bound memory."""
    total = np.zeros(len(i), np.float64)
    step = 200_000
    for clk in clks:
        weight = _POPCOUNT[clk].sum(axis=1)
        for lo in range(0, len(i), step):
            a, b = i[lo : lo + step], j[lo : lo + step]
            common = _POPCOUNT[clk[a] & clk[b]].sum(axis=1)
            both = weight[a] + weight[b]
            total[lo : lo + step] += np.where(both > 0, 2 * common / np.maximum(both, 1), 0.0)
    return total / max(len(clks), 1)


def _node_features(
    n: int, pairs: _IntArray, sims: npt.NDArray[np.float64], top: int
) -> tuple[_IntArray, npt.NDArray[np.float64]]:
    """Each node's degree and its ``top`` highest neighbour similarities (0-padded)."""
    i, j = pairs // n, pairs % n
    nodes = np.concatenate([i, j])
    values = np.concatenate([sims, sims])
    order = np.lexsort((-values, nodes))
    nodes, values = nodes[order], values[order]
    degree = np.bincount(nodes, minlength=n).astype(np.int64)
    starts = np.r_[0, np.cumsum(degree)[:-1]]
    rank = np.arange(len(nodes)) - starts[nodes]
    features = np.zeros((n, top), np.float64)
    keep = rank < top
    features[nodes[keep], rank[keep]] = values[keep]
    return degree, features


def graph_matching_guesses(
    tokens: pa.Table,
    public: pa.Table,
    schema: LinkageSchema,
    *,
    max_block: int = 50,
    top: int = 6,
    min_degree: int = 2,
    tolerance: float = 0.04,
    max_group: int = 1500,
) -> Guesses:
    """The graph-matching attack's guesses; see :func:`graph_matching_attack`."""
    own = _public_tokens(public, schema)
    blocks = [c for c in tokens.column_names if c.startswith("bk_") and c in own.column_names]
    clk_names = [c for c in tokens.column_names if c.startswith("clk_") and c in own.column_names]
    empty = Guesses(np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, np.float64))
    if not blocks or not clk_names:
        return empty
    sides = []
    for table in (tokens, own):
        n = table.num_rows
        pairs = _block_pairs([_classes(table[c])[0] for c in blocks], n, max_block)
        clks = [from_arrow(table[c]) for c in clk_names]
        sims = _pair_dice(clks, pairs // n, pairs % n)
        sides.append(_node_features(n, pairs, sims, top))
    (t_deg, t_feat), (p_deg, p_feat) = sides
    rows: list[_IntArray] = []
    found: list[_IntArray] = []
    margins: list[npt.NDArray[np.float64]] = []
    for degree in np.intersect1d(t_deg[t_deg >= min_degree], p_deg[p_deg >= min_degree]):
        t_idx = np.flatnonzero(t_deg == degree)
        p_idx = np.flatnonzero(p_deg == degree)
        if len(t_idx) > max_group or len(p_idx) > max_group:
            continue
        # L-infinity distance between neighbourhood profiles; mutual nearest, clear margin.
        dist = np.abs(t_feat[t_idx][:, None, :] - p_feat[p_idx][None, :, :]).max(axis=2)
        best_p = dist.argmin(axis=1)
        best_t = dist.argmin(axis=0)
        mutual = best_t[best_p] == np.arange(len(t_idx))
        best = dist[np.arange(len(t_idx)), best_p]
        if dist.shape[1] > 1:
            second = np.partition(dist, 1, axis=1)[:, 1]
        else:
            second = np.full(len(t_idx), np.inf)
        if dist.shape[0] > 1:
            second_t = np.partition(dist, 1, axis=0)[1, :][best_p]
        else:
            second_t = np.full(len(t_idx), np.inf)
        runner_up = np.minimum(second, second_t)
        ok = mutual & (best <= tolerance) & (runner_up > best + tolerance)
        rows.append(t_idx[ok])
        found.append(p_idx[best_p[ok]])
        margins.append(np.minimum(runner_up[ok] - best[ok], 1.0))
    if not rows:
        return empty
    return Guesses(np.concatenate(rows), np.concatenate(found), np.concatenate(margins))


def graph_matching_attack(
    tokens: pa.Table,
    public: pa.Table,
    schema: LinkageSchema,
    truth: Sequence[int] | _IntArray,
    **options: int | float,
) -> AttackResult:
    """Match nodes of the encoded and the public similarity graphs by their neighbourhoods.

    Models the curious matcher comparing what it computes anyway, the Dice
    similarities of records that share a blocking key, with the same graph
    over the public file: the public recipe under its own key gives the same
    blocks and CLKs whose Dice is the same q-gram similarity up to hash
    collisions. A node's features are its degree and its ``top`` highest
    neighbour similarities; among nodes of equal degree, a payload node and a
    public node that are each other's nearest profile (within ``tolerance``,
    with the runner-up further by more than ``tolerance``) are matched. A
    larger margin is more confident.

    Args:
        tokens: The payload (its ``bk_*`` and ``clk_*`` columns are used).
        public: The public voter file (side ``a`` raw columns).
        schema: The public linkage schema.
        truth: For scoring only (see :func:`score_guesses`).
        options: Bounds for :func:`graph_matching_guesses` (``max_block``,
            ``top``, ``min_degree``, ``tolerance``, ``max_group``).
    """
    guesses = graph_matching_guesses(tokens, public, schema, **options)  # type: ignore[arg-type]
    return score_guesses("graph-matching", guesses, truth)


# --------------------------------------------------------------------------- dummy stripping


def surname_outliers(
    payload: pa.Table, *, address: str = "mk_addr", surname: str = "bk_surname_zip5"
) -> npt.NDArray[np.bool_]:
    """A matcher's guess at which campaign rows are dummies, before it counts tokens.

    A campaign dummy copies a real household's address and draws its names
    elsewhere, so its surname token tends to appear nowhere else among the
    rows that share its address token. Real housemates with different surnames
    are flagged too; the attack that strips the flagged rows then works on
    counts that are wrong both ways.

    Returns:
        One flag per payload row (False where either token is missing).
    """
    if address not in payload.column_names or surname not in payload.column_names:
        return np.zeros(payload.num_rows, dtype=np.bool_)
    groups: dict[object, list[int]] = {}
    addresses = payload[address].to_pylist()
    surnames = payload[surname].to_pylist()
    for row, value in enumerate(addresses):
        if value is not None and surnames[row] is not None:
            groups.setdefault(value, []).append(row)
    flagged = np.zeros(payload.num_rows, dtype=np.bool_)
    for rows in groups.values():
        if len(rows) < 2:
            continue
        counts: dict[object, int] = {}
        for row in rows:
            counts[surnames[row]] = counts.get(surnames[row], 0) + 1
        for row in rows:
            flagged[row] = counts[surnames[row]] == 1
    return flagged
