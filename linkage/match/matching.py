"""The matcher: exact multi-key stage, fuzzy stage on the rest, resolution.

The matcher sees only opaque keyed tokens, Bloom filters, record references
and household pseudonyms. :func:`link_records` is the whole pipeline:

1. **Exact stage** (:func:`link_exact`): each agreeing match key adds its
   weight to a (record, household) pair; the best pair wins if it reaches
   ``min_score``, and a tie between two households is left unlinked.
2. **Fuzzy stage** on the records left (:mod:`linkage.match.blocking`,
   :mod:`linkage.match.ecm`): keyed blocking, comparison vectors, a
   Fellegi-Sunter model fitted on every candidate pair from the exact stage's
   links as a labelled seed, and checked (its warnings reach the outcome).
3. **Resolution**: one-to-one (person files: each record on either side used
   once, best pairs first) or many-to-one (voters to households: a voter to at
   most one household; voters sharing the ``group_by`` key, i.e. one address
   and unit, are one household, so unlinked members inherit the household
   their linked members agree on). The threshold is chosen on the pairs
   resolution keeps, with posteriors under its constraint
   (:func:`linkage.match.resolution.constrained_posteriors`); estimated
   recall counts the matches blocking lost, from the share of seed pairs no
   blocking pass would have paired.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import dataclasses
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Final

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from linkage.encode import LinkageSchema, ResolutionMode
from linkage.engine import Engine
from linkage.errors import InputError
from linkage.match.blocking import (
    BlockAdvice,
    Candidates,
    candidate_pairs,
    coarse_passes,
    max_block_advice,
)
from linkage.match.comparison import (
    Comparison,
    Feature,
    FloatArray,
    IntArray,
    LevelArray,
    comparison_features,
)
from linkage.match.ecm import FittedModel, choose_threshold, fit_model, variable_groups
from linkage.match.resolution import (
    constrained_posteriors,
    resolve_many_to_one,
    resolve_one_to_one,
)
from linkage.types import Columns, StageProgress, no_progress

#: Weight of each exact key: roughly log2 of how much more likely agreement is
#: among true links than among non-links in voter-vs-subscriber data. Address
#: keys decide the household; name, phone and e-mail keys confirm it.
DEFAULT_WEIGHTS: Mapping[str, float] = {
    "mk_name_addr": 8.0,
    "mk_email": 7.0,
    "mk_surname_addr": 6.0,
    "mk_phone": 5.0,
    "mk_addr": 4.0,
    "mk_addr_nounit": 2.0,
}

#: An address-with-unit agreement (4) alone links; a building address without
#: unit (2) needs a confirming name, phone or e-mail key.
DEFAULT_MIN_SCORE = 4.0

#: Below this many exact links, the model's seed is every pair that agrees
#: on a match key (whatever its weight) and is unique on both sides.
_MIN_SEED_LINKS: Final = 20

#: Estimated pair completeness below which blocking is reported.
_LOW_COMPLETENESS: Final = 0.95


@dataclass(frozen=True)
class LinkResult:
    """Resolved links and how they were reached.

    Attributes:
        links: one row per linked record: ``rid``, ``hp``, ``score``.
        candidate_pairs: distinct (record, household) pairs that agreed on any key.
        ambiguous: records whose best score was shared by two or more households.
    """

    links: pa.Table
    candidate_pairs: int
    ambiguous: int


def shared_keys(a: pa.Schema, b: pa.Schema, weights: Mapping[str, float]) -> list[str]:
    """Match-key columns present in both payloads and known to ``weights``."""
    return [k for k in weights if k in a.names and k in b.names]


def link_exact(
    campaign: pa.Table,
    provider: pa.Table,
    *,
    engine: Engine,
    weights: Mapping[str, float] = DEFAULT_WEIGHTS,
    min_score: float = DEFAULT_MIN_SCORE,
) -> LinkResult:
    """Link campaign records (``rid``) to provider households (``hp``) on exact keys.

    Args:
        campaign: campaign-tokens payload (``rid`` and ``mk_*`` columns).
        provider: provider-tokens payload (``hp`` and ``mk_*`` columns).
        engine: SQL engine running the joins.
        weights: weight per match-key column; keys absent from either side are skipped.
        min_score: smallest summed weight that may link.

    Returns:
        The resolved links (each ``rid`` at most once).
    """
    keys = shared_keys(campaign.schema, provider.schema, weights)
    if not keys:
        empty = pa.table(
            {
                "rid": pa.array([], pa.string()),
                "hp": pa.array([], pa.string()),
                "score": pa.array([], pa.float64()),
            }
        )
        return LinkResult(empty, 0, 0)
    # Records and households go in as dense integer codes (equal strings,
    # equal codes): the engine groups and hashes integers rather than
    # strings, and the strings are looked up again for the links only.
    rids = pc.dictionary_encode(campaign["rid"].combine_chunks())
    hps = pc.dictionary_encode(provider["hp"].combine_chunks())
    tables: dict[str, pa.Table] = {
        "c": pa.table([rids.indices, *(campaign[k] for k in keys)], names=["rid", *keys]),
        "p": pa.table([hps.indices, *(provider[k] for k in keys)], names=["hp", *keys]),
    }
    # One query, so the key joins run once: a row per record with any
    # agreeing household, carrying its best pair and its candidate count.
    per_record = engine.query(_link_sql(keys, weights), tables)
    pairs = pc.sum(per_record["n_pairs"]).as_py() or 0
    linkable = per_record.filter(pc.greater_equal(per_record["score"], float(min_score)))
    unique = linkable.filter(pc.equal(linkable["n_best"], 1))
    links = pa.table(
        {
            "rid": rids.dictionary.take(unique["rid"]),
            "hp": hps.dictionary.take(unique["hp"]),
            "score": unique["score"].cast(pa.float64()),
        }
    )
    return LinkResult(
        links=links.sort_by("rid"),
        candidate_pairs=int(pairs),
        ambiguous=linkable.num_rows - unique.num_rows,
    )


def _agreements_sql(keys: Sequence[str], weights: Mapping[str, float]) -> str:
    parts = [
        f"SELECT c.rid, p.hp, CAST({float(weights[k])!r} AS DOUBLE) AS w "
        f"FROM c JOIN p ON c.{k} = p.{k}"
        for k in keys
    ]
    return "\nUNION ALL\n".join(parts)


def _link_sql(keys: Sequence[str], weights: Mapping[str, float]) -> str:
    # One row per record that agrees with any household: its best score, the
    # smallest hp code among households sharing it, how many share it (n_best > 1
    # = ambiguous, left unlinked) and how many households it agrees with at
    # all (summed by the caller into candidate_pairs, so the key joins run
    # once). min_score is applied by the caller, so records whose best pair
    # falls short still count as candidates. Grouping by (rid, score) makes
    # each record's best tier unique, so MAX_BY is deterministic; it spares a
    # window over every pair (MAX_BY is in DuckDB and Spark SQL alike).
    return f"""
WITH agree AS (
{_agreements_sql(keys, weights)}
),
pair AS (
    SELECT rid, hp, SUM(w) AS score FROM agree GROUP BY rid, hp
),
tier AS (
    SELECT rid, score, MIN(hp) AS hp, COUNT(*) AS n FROM pair GROUP BY rid, score
)
SELECT rid,
       MAX_BY(hp, score) AS hp,
       MAX(score) AS score,
       MAX_BY(n, score) AS n_best,
       CAST(SUM(n) AS BIGINT) AS n_pairs
FROM tier
GROUP BY rid
"""


@dataclass(frozen=True)
class MatchSettings:
    """What the matcher needs from a linkage schema (nothing secret).

    Attributes:
        mode: ``many_to_one`` (voters to households) or ``one_to_one``.
        weights: Exact-stage weight per match key (empty: no exact stage).
        min_score: Smallest summed weight that links in the exact stage.
        group_by: Side-a key marking one household (many-to-one only), or None.
        max_block: Blocking cap (pairs per blocking value).
        coarse: Blocking passes a finer pass refines; each keeps only its
            smallest blocks, within a pair budget
            (:func:`linkage.match.blocking.coarse_passes`).
        threshold: Posterior cut for fuzzy links; None chooses it from the model.
        features: Comparison-vector entries; empty: every ``clk_*``/``mk_f_*``
            column both sides sent.
        sources: Schema fields behind each match key and blocking pass
            (``mk_*`` / ``bk_*`` name -> field names), so the matcher knows
            which passes its exact links agree on by construction.
        term_frequencies: Feature columns whose full agreement is weighted
            by how common the agreed value is
            (:mod:`linkage.match.term_frequency`).
        joint: Groups of feature columns the model treats as one variable,
            because one reads only fields another reads too
            (:func:`joint_features`).
    """

    mode: ResolutionMode = "many_to_one"
    weights: Mapping[str, float] = field(default_factory=lambda: dict(DEFAULT_WEIGHTS))
    min_score: float = DEFAULT_MIN_SCORE
    group_by: str | None = "mk_addr"
    max_block: int = 2_000
    coarse: tuple[str, ...] = ()
    threshold: float | None = None
    features: tuple[Feature, ...] = ()
    joint: tuple[tuple[str, ...], ...] = ()
    term_frequencies: tuple[str, ...] = ()
    sources: Mapping[str, frozenset[str]] = field(default_factory=dict)

    @classmethod
    def from_schema(cls, schema: LinkageSchema, threshold: float | None = None) -> MatchSettings:
        """Settings from a compiled linkage schema (and an optional threshold override)."""
        r = schema.resolution
        return cls(
            mode=r.mode,
            weights=schema.weights,
            min_score=r.min_score,
            group_by=r.group_by if r.mode == "many_to_one" else None,
            max_block=r.max_block,
            coarse=coarse_passes({b.name: b.parts for b in schema.blocking}),
            threshold=threshold,
            features=tuple(
                Feature(c.output, "dice" if c.method == "dice" else "exact") for c in schema.compare
            ),
            joint=joint_features(schema),
            term_frequencies=tuple(c.output for c in schema.compare if c.term_frequency),
            sources=_sources(schema),
        )


def _sources(schema: LinkageSchema) -> dict[str, frozenset[str]]:
    """Schema fields behind each match key and blocking pass."""
    origin = {column: f.name for f in schema.fields for column in f.outputs}
    out = {
        k.recipe.name: frozenset(origin.get(c, c) for c in k.recipe.fields)
        for k in schema.match_keys
    }
    out.update({b.name: frozenset(origin.get(c, c) for c, _ in b.parts) for b in schema.blocking})
    return out


def joint_features(schema: LinkageSchema) -> tuple[tuple[str, ...], ...]:
    """Comparisons to model jointly: those whose source fields one of them holds all of.

    A comparison's sources are the schema fields its columns come from (a
    street address's street and house number are one field). When every
    source of one comparison is also a source of another (a street filter
    and a house number + street + ZIP key; a surname filter and a full-name
    one), the two agree and disagree together in both classes: the model
    gives them one variable rather than counting the same evidence twice.
    Groups are closed under this relation.
    """
    origin = {column: f.name for f in schema.fields for column in f.outputs}
    keys = {k.recipe.name: k.recipe.fields for k in schema.match_keys}
    sources: list[tuple[str, frozenset[str]]] = []
    for spec in schema.compare:
        if spec.method == "dice":
            columns: tuple[str, ...] = tuple(e.name for e in spec.encodings)
        elif spec.method == "key":
            columns = tuple(keys.get(spec.column, ()))
        else:
            columns = (spec.column,)
        found = frozenset(origin.get(c, c) for c in columns)
        if found:
            sources.append((spec.output, found))
    parent = list(range(len(sources)))

    def root(i: int) -> int:
        while parent[i] != i:
            i = parent[i]
        return i

    for i, (_, first) in enumerate(sources):
        for j in range(i + 1, len(sources)):
            second = sources[j][1]
            if first <= second or second <= first:
                parent[root(j)] = root(i)
    groups: dict[int, list[str]] = {}
    for i, (name, _) in enumerate(sources):
        groups.setdefault(root(i), []).append(name)
    return tuple(tuple(g) for g in groups.values() if len(g) > 1)


@dataclass(frozen=True)
class LinkOutcome:
    """Resolved links of the whole pipeline and aggregate quality estimates.

    Attributes:
        links: ``rid``, ``hp``, ``score`` (exact-stage weight, 0 for fuzzy),
            ``posterior`` (model probability) and ``stage`` (``exact``,
            ``fuzzy``, ``group``); each ``rid`` at most once.
        evidence: ``rid``, ``expected`` — per record the model's probability
            that it has a match (linked or not); the denominator of recall.
            Stays inside the matcher; only sums per segment leave it.
        candidates: The blocking result.
        model: The fitted model (None when there were no candidate pairs).
        threshold: The posterior cut used for fuzzy links.
        exact_links: Links made by the exact stage.
        fuzzy_links: Links made by the fuzzy stage.
        group_links: Links inherited within a ``group_by`` household.
        ambiguous: Records left unlinked because two households tied.
        est_precision: Mean posterior of the links.
        est_recall: Expected linked matches / expected matches, the latter
            including the matches blocking is estimated to have lost.
        est_pair_completeness: Share of the model's seed pairs (the exact
            stage's links) that some blocking pass pairs: the estimate of
            blocking's pair completeness (1.0 without a seed).
        warnings: What looks wrong (a model that breaks its constraints or
            is unstable, blocking that loses pairs) and what to change; for
            the matcher's terminal, never values.
        block_advice: What ``max_block`` costs on this data and the cap it
            suggests (:func:`linkage.match.blocking.max_block_advice`).
    """

    links: pa.Table
    evidence: pa.Table
    candidates: Candidates
    model: FittedModel | None
    threshold: float
    exact_links: int
    fuzzy_links: int
    group_links: int
    ambiguous: int
    est_precision: float
    est_recall: float
    est_pair_completeness: float = 1.0
    warnings: tuple[str, ...] = ()
    block_advice: BlockAdvice | None = None


_STAGE_EXACT: Final = "exact"
_STAGE_FUZZY: Final = "fuzzy"
_STAGE_GROUP: Final = "group"


def _positions(
    values: pa.ChunkedArray | pa.Array, universe: pa.ChunkedArray
) -> npt.NDArray[np.int64]:
    index = pc.index_in(values, value_set=universe.combine_chunks())
    return np.asarray(index.to_numpy(zero_copy_only=False), dtype=np.int64)


def _group_ids(column: pa.ChunkedArray) -> npt.NDArray[np.int64]:
    """Dense group id per row (-1 where the key is null)."""
    encoded = column.combine_chunks().dictionary_encode()
    return np.asarray(encoded.indices.fill_null(-1).to_numpy(zero_copy_only=False), np.int64)


def _propagate(
    link_b: npt.NDArray[np.int64], link_p: npt.NDArray[np.float64], groups: npt.NDArray[np.int64]
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float64], npt.NDArray[np.bool_]]:
    """Unlinked members of a group inherit the household its linked members favour.

    The favoured household has the largest summed posterior among the group's
    linked members; a tie between two leaves the unlinked members unlinked.
    """
    new_b, new_p = link_b.copy(), link_p.copy()
    inherited = np.zeros(link_b.shape[0], dtype=bool)
    linked = np.flatnonzero((link_b >= 0) & (groups >= 0))
    if linked.size == 0:
        return new_b, new_p, inherited
    # Votes per (group, household), summed in row order (a stable sort keeps
    # it), then each group's strictly best household: segment operations
    # over sorted runs, linear in the links (5M at 8M voters).
    order = np.lexsort((link_b[linked], groups[linked]))
    g, hb, p = groups[linked][order], link_b[linked][order], link_p[linked][order]
    runs = np.flatnonzero(np.r_[True, (g[1:] != g[:-1]) | (hb[1:] != hb[:-1])])
    support = np.add.reduceat(p, runs)
    best_p = np.maximum.reduceat(p, runs)
    run_g, run_hb = g[runs], hb[runs]
    first = np.flatnonzero(np.r_[True, run_g[1:] != run_g[:-1]])
    sizes = np.diff(np.r_[first, run_g.size])
    top = support == np.repeat(np.maximum.reduceat(support, first), sizes)
    n_top = np.add.reduceat(top.astype(np.int64), first)
    winner = np.flatnonzero(top)[np.r_[0, np.cumsum(n_top)[:-1]]]
    decided = n_top == 1
    choice_b = np.full(int(groups.max()) + 1, -1, dtype=np.int64)
    choice_p = np.zeros(choice_b.size, dtype=np.float64)
    choice_b[run_g[first][decided]] = run_hb[winner[decided]]
    choice_p[run_g[first][decided]] = best_p[winner[decided]]
    rows = np.flatnonzero((link_b < 0) & (groups >= 0))
    rows = rows[choice_b[groups[rows]] >= 0]
    new_b[rows] = choice_b[groups[rows]]
    new_p[rows] = choice_p[groups[rows]]
    inherited[rows] = True
    return new_b, new_p, inherited


def _pair_lookup(
    keys: npt.NDArray[np.int64],
    values: npt.NDArray[np.float64],
    wanted: npt.NDArray[np.int64],
    *,
    missing: float,
) -> npt.NDArray[np.float64]:
    """``values`` at each of ``wanted`` among ``keys`` (distinct), ``missing`` where absent."""
    order = np.argsort(keys, kind="stable")
    sorted_keys = keys[order]
    at = np.minimum(np.searchsorted(sorted_keys, wanted), max(sorted_keys.size - 1, 0))
    found = sorted_keys.size > 0
    hit = (sorted_keys[at] == wanted) if found else np.zeros(wanted.size, dtype=bool)
    out = np.full(wanted.size, missing, dtype=np.float64)
    if found:
        out[hit] = values[order[at[hit]]]
    return out


@dataclass(frozen=True)
class TableColumns:
    """:class:`Columns` over a table already in memory."""

    table: pa.Table

    @property
    def num_rows(self) -> int:
        """Rows."""
        return int(self.table.num_rows)

    @property
    def schema(self) -> pa.Schema:
        """The table's schema."""
        return self.table.schema

    def read(self, columns: Sequence[str]) -> pa.Table:
        """The named columns (zero-copy)."""
        return self.table.select(list(columns))


def as_columns(source: pa.Table | Columns) -> Columns:
    """A table wrapped as :class:`Columns`; anything else is returned as is."""
    return TableColumns(source) if isinstance(source, pa.Table) else source


def _load_libc() -> ctypes.CDLL | None:
    """glibc, for ``malloc_trim``; None elsewhere (musl, macOS), where it is skipped."""
    name = ctypes.util.find_library("c")
    if name is None or not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(name)
    except OSError:
        return None
    return libc if hasattr(libc, "malloc_trim") else None


_LIBC = _load_libc()


def _release_memory() -> None:
    """Hand freed memory back to the OS between stages.

    Arrow's allocator keeps freed blocks for reuse, and glibc keeps freed
    numpy buffers in its heap once its mmap threshold has grown; between
    stages whose peaks are different arrays, both show up as resident memory
    nobody uses (gigabytes at 8M voters).
    """
    pa.default_memory_pool().release_unused()
    if _LIBC is not None:
        _LIBC.malloc_trim(0)


_COMPARE_CHUNK: Final = 1 << 21
"""Candidate pairs compared between two progress reports (the comparison's own chunk)."""


def _compare_counted(
    comparison: Comparison, ia: IntArray, ib: IntArray, progress: StageProgress
) -> tuple[LevelArray, FloatArray]:
    """``comparison.vectors(ia, ib)``, a chunk at a time, telling ``progress`` the pairs done."""
    n = int(ia.size)
    levels: LevelArray | None = None
    tie = np.zeros(n, dtype=np.float64)
    progress("comparing candidate pairs", 0, n)
    for start in range(0, n, _COMPARE_CHUNK):
        stop = min(n, start + _COMPARE_CHUNK)
        part, part_tie = comparison.vectors(ia[start:stop], ib[start:stop])
        if levels is None:
            levels = np.empty((n, part.shape[1]), dtype=part.dtype)
        levels[start:stop], tie[start:stop] = part, part_tie
        progress("comparing candidate pairs", stop, n)
    if levels is None:  # no pairs
        return comparison.vectors(ia, ib)
    return levels, tie


def link_records(
    campaign: pa.Table | Columns,
    provider: pa.Table | Columns,
    *,
    engine: Engine,
    settings: MatchSettings | None = None,
    progress: StageProgress = no_progress,
) -> LinkOutcome:
    """Link campaign records to provider records: exact stage, fuzzy stage, resolution.

    Each stage reads only the columns it needs and lets them go: given
    :class:`Columns` over a file, memory holds one stage's columns (the
    match keys, then the blocking keys, then the CLKs), not the payload.

    Args:
        campaign: campaign-tokens payload (``rid``, ``mk_*``, ``clk_*``, ``bk_*``).
        provider: provider-tokens payload (``hp`` and the same token families).
        engine: SQL engine (exact joins and blocking).
        settings: Resolution and thresholds (default: voters to households).
        progress: Told each stage as it starts; the comparison of candidate
            pairs is counted (pairs compared of all), the other stages are not.

    Returns:
        The links and aggregate estimates.
    """
    settings = settings or MatchSettings()
    a_cols, b_cols = as_columns(campaign), as_columns(provider)
    n_a, n_b = a_cols.num_rows, b_cols.num_rows
    link_b = np.full(n_a, -1, dtype=np.int64)
    link_p = np.zeros(n_a, dtype=np.float64)
    link_score = np.zeros(n_a, dtype=np.float64)
    stage = np.full(n_a, "", dtype=object)

    progress("exact keys", 0, None)
    keys = shared_keys(a_cols.schema, b_cols.schema, settings.weights)
    a_exact, b_exact = a_cols.read(["rid", *keys]), b_cols.read(["hp", *keys])
    exact = link_exact(
        a_exact, b_exact, engine=engine, weights=settings.weights, min_score=settings.min_score
    )
    ea = _positions(exact.links["rid"], a_exact["rid"])
    eb = _positions(exact.links["hp"], b_exact["hp"])
    exact_wrong = _key_collisions(
        a_exact, b_exact, keys, ea, eb, one_to_one=settings.mode == "one_to_one"
    ) * (1.0 - min(ea.size / max(n_a, 1), 1.0))
    del a_exact, b_exact
    seed_a, seed_b = ea, eb
    seed_is_exact = True
    seed_key_names = [k for k in keys if settings.weights.get(k, 0.0) > 0.0]
    seed_keys = [
        c
        for c in a_cols.schema.names
        if c.startswith("mk_") and not c.startswith("mk_f_") and c in b_cols.schema.names
    ]
    if ea.size < _MIN_SEED_LINKS and seed_keys:
        # Too few weighted links (e.g. keys at weight 0): a pair agreeing on
        # any match key, unique for its record, seeds the model without linking.
        a_seed, b_seed = a_cols.read(["rid", *seed_keys]), b_cols.read(["hp", *seed_keys])
        unit = link_exact(
            a_seed, b_seed, engine=engine, weights=dict.fromkeys(seed_keys, 1.0), min_score=1.0
        )
        seed_a = _positions(unit.links["rid"], a_seed["rid"])
        seed_is_exact = False
        seed_key_names = list(seed_keys)
        seed_b = _positions(unit.links["hp"], b_seed["hp"])
        del a_seed, b_seed
    _release_memory()
    escore = exact.links["score"].to_numpy().astype(np.float64)
    if settings.mode == "one_to_one" and eb.size:
        # A provider record claimed by two campaign records is left to the fuzzy stage.
        counts = np.bincount(eb, minlength=n_b)
        keep = counts[eb] == 1
        ea, eb, escore, exact_wrong = ea[keep], eb[keep], escore[keep], exact_wrong[keep]
    link_b[ea], link_score[ea], link_p[ea] = eb, escore, 1.0
    stage[ea] = _STAGE_EXACT

    progress("blocking", 0, None)
    blocking = [c for c in a_cols.schema.names if c.startswith("bk_") and c in b_cols.schema.names]
    # Each side's blocking columns are read once, for the passes, the seed's
    # completeness and the max_block advice, then let go.
    a_block, b_block = a_cols.read(blocking), b_cols.read(blocking)
    if settings.mode == "many_to_one":
        # Exact links are final here (resolution only considers records the
        # exact stage left), so blocking skips them: at 8M voters that is
        # 58% fewer candidate pairs to compare and hold.
        open_rows = np.flatnonzero(link_b < 0)
        found = candidate_pairs(
            a_block.take(pa.array(open_rows)),
            b_block,
            engine=engine,
            max_block=settings.max_block,
            coarse=settings.coarse,
        )
        candidates = dataclasses.replace(found, ia=open_rows[found.ia], n_a=n_a)
    else:
        candidates = candidate_pairs(
            a_block,
            b_block,
            engine=engine,
            max_block=settings.max_block,
            coarse=settings.coarse,
        )
    # The seed (exact links) is found without blocking, so the share a pass
    # pairs measures what blocking misses; seed pairs are cleaner than most,
    # so it leans high (see _split_completeness).
    found_seed = _agreements(a_block.select, b_block.select, blocking, seed_a, seed_b).any(axis=1)
    completeness = float(found_seed.mean()) if found_seed.size else 1.0
    # Per exact link (when the exact links are the seed), whether blocking
    # pairs it too: the match report measures pair completeness from these.
    seed_blocked = np.full(n_a, -1, dtype=np.int8)
    if seed_is_exact:
        seed_blocked[seed_a] = found_seed
    # A coarse pass's big blocks are its finer passes' to pair, not max_block's.
    advice = max_block_advice(
        a_block,
        b_block,
        seed_a,
        seed_b,
        max_block=settings.max_block,
        passes=[p for p in blocking if p not in settings.coarse],
    )
    del a_block, b_block
    _release_memory()
    ia, ib = candidates.ia, candidates.ib
    warnings: list[str] = []
    if completeness < _LOW_COMPLETENESS:
        warnings.append(
            f"blocking pairs only about {completeness:.0%} of the exact stage's links; "
            "true pairs outside every blocking pass are never compared: add a [blocking] "
            "pass on other fields (e.g. date of birth, postcode) or raise max_block"
        )
    block_message = advice.message() if advice is not None else None
    if block_message is not None:
        warnings.append(block_message)
    features = settings.features or comparison_features(a_cols.schema, b_cols.schema)
    absent = [
        f.column
        for f in features
        if f.column not in a_cols.schema.names or f.column not in b_cols.schema.names
    ]
    if absent:
        raise InputError(
            "the token files lack a comparison the linkage schema names: they were made "
            "with another schema",
            column=absent[0],
            hint="give `matcher link` the --schema both tokenizers used",
        )
    model: FittedModel | None = None
    threshold = settings.threshold if settings.threshold is not None else 0.5
    expected = np.zeros(n_a, dtype=np.float64)
    best_b = np.full(n_a, -1, dtype=np.int64)  # each record's most likely household
    ambiguous = exact.ambiguous
    if ia.size >= 2 and features:
        progress("reading the comparison columns", 0, None)
        # The columns are read into the comparison's own arrays and dropped.
        comparison = Comparison(
            features, a_cols.read, b_cols.read, frequencies=settings.term_frequencies
        )
        _release_memory()
        levels, tie = _compare_counted(comparison, ia, ib, progress)
        # Blocking skipped the exact links (many-to-one): their pairs are
        # compared directly, so the match report's precision estimate covers
        # them too.
        exact_levels = (
            comparison.vectors(ea, link_b[ea])[0] if settings.mode == "many_to_one" else None
        )
        seed_levels = comparison.vectors(seed_a, seed_b)[0] if seed_a.size else None
        tf_change = (
            comparison.frequency_adjustment(
                ia, ib, levels, variable_groups(features, settings.joint)
            )
            if settings.term_frequencies
            else None
        )
        del comparison
        _release_memory()
        progress("fitting the model", 0, None)
        sides = min(np.unique(ia).size, np.unique(ib).size)
        model = fit_model(
            levels,
            features,
            seed=seed_levels,
            prior=0.8 * sides / ia.size,
            joint=settings.joint,
            settled=float(ea.size),
        )
        warnings[:0] = model.warnings
        log_bf = model.log_bayes_factor(levels)
        if tf_change is not None:
            log_bf += tf_change
            del tf_change
        if exact_levels is not None:
            exact_bf = model.log_bayes_factor(exact_levels)
        else:
            # Exact links carry their pair's Bayes factor where it was scored.
            exact_bf = _pair_lookup(ia * n_b + ib, log_bf, ea * n_b + link_b[ea], missing=700.0)
        rest = link_b[ia] < 0
        if settings.mode == "one_to_one":
            taken = np.zeros(n_b, dtype=bool)
            taken[eb] = True
            rest &= ~taken[ib]
        if rest.all():
            # Many-to-one blocking saw open records only: no copy of 4 x 95M.
            ra, rb, rbf, rt = ia, ib, log_bf, tie
        else:
            ra, rb, rbf, rt = ia[rest], ib[rest], log_bf[rest], tie[rest]
        del levels
        _release_memory()
        progress("resolving", 0, None)
        # Resolution ranks by Bayes factor (the pairwise order); the cut and
        # the estimates use posteriors under the resolution constraint.
        if settings.mode == "one_to_one":
            chosen = resolve_one_to_one(ra, rb, rbf, rt)
        else:
            chosen, tied = resolve_many_to_one(ra, rb, rbf, rt)
            ambiguous += tied
        rp, _, lam = constrained_posteriors(ra, rb, rbf, one_to_one=settings.mode == "one_to_one")
        if settings.mode == "one_to_one":
            # A candidate that resolution gave to another record competes no
            # more: the kept pairs' posteriors are taken among the free pairs.
            partner_b = np.full(n_a, -1, np.int64)
            partner_a = np.full(n_b, -1, np.int64)
            partner_b[ra[chosen]], partner_a[rb[chosen]] = rb[chosen], ra[chosen]
            free = ((partner_a[rb] < 0) | (partner_a[rb] == ra)) & (
                (partner_b[ra] < 0) | (partner_b[ra] == rb)
            )
            free_p, _, _ = constrained_posteriors(ra[free], rb[free], rbf[free], one_to_one=True)
            rp = np.zeros_like(rp)
            rp[free] = free_p
        # An exact link's posterior is its key's (see _key_collisions), not the
        # fuzzy model's: that model is fitted on the records the keys left,
        # a population the exact links are not drawn from.
        link_p[ea] = 1.0 - exact_wrong
        del exact_bf, lam
        np.add.at(expected, ra, rp)
        best_b[ra[chosen]] = rb[chosen]
        np.minimum(expected, 1.0, out=expected)
        open_expected = float(expected.sum())
        # The split estimate needs the found pairs to be a fair sample: in
        # many-to-one mode blocking skips the exact links' records, so the
        # pool is the records the keys failed on, and it is not.
        completeness = min(
            completeness,
            1.0
            if settings.mode == "many_to_one"
            else _split_completeness(
                a_cols,
                b_cols,
                blocking,
                settings.sources,
                seed_key_names,
                (seed_a, seed_b),
                (ra[chosen], rb[chosen], rp[chosen]),
                open_expected,
            ),
        )
        lost = open_expected * (1.0 / max(completeness, 1e-3) - 1.0)
        if settings.threshold is None:
            missed = max(open_expected - float(rp[chosen].sum()), 0.0) + lost
            threshold = choose_threshold(rp[chosen], missed=missed)
        # A pair with no evidence for it (Bayes factor <= 1, e.g. every field
        # missing) is never linked, however likely its record is to have a match.
        accept = chosen[(rp[chosen] >= threshold) & (rbf[chosen] > 0.0)]
        link_b[ra[accept]], link_p[ra[accept]] = rb[accept], rp[accept]
        stage[ra[accept]] = _STAGE_FUZZY

    group_links = 0
    progress("households", 0, None)
    group_by = settings.group_by
    if settings.mode == "many_to_one" and group_by is not None and group_by in a_cols.schema.names:
        groups = _group_ids(a_cols.read([group_by])[group_by])
        link_b, link_p, inherited = _propagate(link_b, link_p, groups)
        stage[inherited] = _STAGE_GROUP
        group_links = int(inherited.sum())

    linked = np.flatnonzero(link_b >= 0)
    blocked = expected.copy()
    blocked[ea] = 0.0
    expected = np.maximum(expected, np.where(link_b >= 0, link_p, 0.0))
    rids = a_cols.read(["rid"])["rid"].combine_chunks()
    hps = b_cols.read(["hp"])["hp"].combine_chunks()
    links = pa.table(
        {
            "rid": rids.take(pa.array(linked)),
            "hp": hps.take(pa.array(link_b[linked])),
            "score": pa.array(link_score[linked], pa.float64()),
            "posterior": pa.array(link_p[linked], pa.float64()),
            "stage": pa.array(stage[linked].tolist(), pa.string()),
            "seed_blocked": pa.array(
                seed_blocked[linked] == 1, pa.bool_(), mask=seed_blocked[linked] < 0
            ),
        }
    ).sort_by("rid")
    # Matches blocking lost sit outside ``expected`` (no candidate names
    # them); they are added in proportion to what blocking had to find.
    lost_share = 1.0 / max(completeness, 1e-3) - 1.0
    total_expected = float(expected.sum()) + float(blocked.sum()) * lost_share
    best_b = np.where(link_b >= 0, link_b, best_b)
    evidence = pa.table(
        {
            "rid": rids,
            "expected": pa.array(expected, pa.float64()),
            # The household each record's evidence is counted against (the
            # match report caps it per household), and its share of what
            # blocking lost.
            "hp": hps.take(pa.array(best_b, pa.int64(), mask=best_b < 0)),
            "lost": pa.array(blocked * lost_share, pa.float64()),
        }
    )
    return LinkOutcome(
        links=links,
        evidence=evidence,
        candidates=candidates,
        model=model,
        threshold=threshold,
        exact_links=int(np.count_nonzero(stage == _STAGE_EXACT)),
        fuzzy_links=int(np.count_nonzero(stage == _STAGE_FUZZY)),
        group_links=group_links,
        ambiguous=ambiguous,
        est_precision=float(link_p[linked].mean()) if linked.size else 0.0,
        est_recall=min(float(link_p[linked].sum()) / total_expected, 1.0)
        if total_expected
        else 0.0,
        est_pair_completeness=completeness,
        warnings=tuple(warnings),
        block_advice=advice,
    )


def _logit(p: float) -> float:
    p = min(max(p, 1e-12), 1.0 - 1e-12)
    return float(np.log(p) - np.log1p(-p))


def _key_collisions(
    a: pa.Table,
    b: pa.Table,
    keys: Sequence[str],
    ea: npt.NDArray[np.int64],
    eb: npt.NDArray[np.int64],
    *,
    one_to_one: bool,
) -> npt.NDArray[np.float64]:
    """Per exact link, how often its strongest agreeing key is shared by two entities.

    A key value that two provider records hold (two households, or two
    people in a one-to-one file) names no one: the share of a key's values
    that repeat is the chance that an agreement on it joins two different
    entities. A link agreeing on several keys takes the least of theirs. In
    one-to-one mode the campaign side's repeats count too (in many-to-one,
    members of one household share keys by design). Multiplied by the share
    of records without a match, it is the exact link's chance of being wrong.
    """
    wrong = np.ones(ea.size, dtype=np.float64)
    agree = _agreements(a.select, b.select, keys, ea, eb)
    for j, key in enumerate(keys):
        rate = _repeat_share(b[key])
        if one_to_one:
            rate = max(rate, _repeat_share(a[key]))
        hit = agree[:, j]
        wrong[hit] = np.minimum(wrong[hit], rate)
    return wrong


def _repeat_share(column: pa.ChunkedArray) -> float:
    """Share of a column's non-null values held by more than one row."""
    counts = pc.value_counts(column.combine_chunks().drop_null()).field("counts").to_numpy()
    total = int(counts.sum())
    return float(counts[counts > 1].sum()) / total if total else 0.0


def _agreements(
    read_a: Callable[[list[str]], pa.Table],
    read_b: Callable[[list[str]], pa.Table],
    columns: Sequence[str],
    ia: npt.NDArray[np.int64],
    ib: npt.NDArray[np.int64],
) -> npt.NDArray[np.bool_]:
    """``(pairs, columns)``: whether each pair holds one (non-null) token in each column.

    ``read_a`` / ``read_b`` read named columns (``Columns.read``, ``Table.select``).
    """
    out = np.zeros((ia.size, len(columns)), dtype=bool)
    if ia.size == 0 or not columns:
        return out
    a_side = read_a(list(columns)).take(pa.array(ia))
    b_side = read_b(list(columns)).take(pa.array(ib))
    for j, name in enumerate(columns):
        same = pc.fill_null(pc.equal(a_side[name], b_side[name]), False)
        out[:, j] = np.asarray(same.to_numpy(zero_copy_only=False), dtype=bool)
    return out


def _split_completeness(
    a_cols: Columns,
    b_cols: Columns,
    passes: Sequence[str],
    sources: Mapping[str, frozenset[str]],
    seed_keys: Sequence[str],
    seed: tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]],
    found: tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], npt.NDArray[np.float64]],
    open_expected: float,
) -> float:
    """Blocking's pair completeness, corrected for the seed agreeing with some passes by design.

    A seed pair agrees on its key's fields, so it agrees on every pass built
    from them (the "key" passes) and measures nothing about what they miss.
    The other passes are measured fairly on it: ``miss`` is the share of seed
    pairs none of them finds. Among the likely matches blocking did find,
    those found by the other passes only are the ones the key passes missed
    and the others caught; if the two groups miss independently, the pairs
    both missed number ``found_by_others_only * miss / (1 - miss)``.

    Returns:
        The estimate (1.0 when the passes do not split, or there is no seed).
    """
    key_fields = frozenset().union(*(sources.get(k, frozenset()) for k in seed_keys))
    known = [p for p in passes if p in sources]
    by_key = [j for j, p in enumerate(known) if sources[p] <= key_fields]
    others = [j for j, p in enumerate(known) if not sources[p] <= key_fields]
    if not key_fields or not by_key or not others or seed[0].size == 0:
        return 1.0
    seed_agree = _agreements(a_cols.read, b_cols.read, known, seed[0], seed[1])
    miss = float((~seed_agree[:, others].any(axis=1)).mean())
    if miss >= 1.0:
        return 0.0
    ia, ib, posterior = found
    agree = _agreements(a_cols.read, b_cols.read, known, ia, ib)
    only_others = agree[:, others].any(axis=1) & ~agree[:, by_key].any(axis=1)
    lost = float(posterior[only_others].sum()) * miss / (1.0 - miss)
    return open_expected / (open_expected + lost) if open_expected + lost > 0 else 1.0


def assignments_from_links(campaign: pa.Table, links: pa.Table, *, engine: Engine) -> pa.Table:
    """(household pseudonym, segment code) rows for the provider, deduplicated.

    A household is in a segment when any of its linked voters is. Every linked
    household is also in ``*`` (all matched households), the base of the
    campaign's index; the provider learns that these households hold at least
    one listed voter, which segment membership would tell it anyway.
    """
    sql = f"""
SELECT DISTINCT hp, segment FROM (
    SELECT l.hp AS hp, s.segment AS segment
    FROM l
    JOIN (SELECT rid, {engine.dialect.unnest("segments")} AS segment FROM c) AS s
      ON s.rid = l.rid
    UNION ALL
    SELECT hp, '*' AS segment FROM l
) AS a
ORDER BY segment, hp
"""
    return engine.query(sql, {"l": links, "c": campaign.select(["rid", "segments"])})
