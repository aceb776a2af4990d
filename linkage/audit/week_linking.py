"""Can the matcher link two weeks? The dishonest matcher's attacks across exchanges.

Each week of a panel is a fresh exchange under a fresh linkage key and fresh
household pseudonyms (:mod:`linkage.protocol.keys` binds both to the exchange
id), with fresh random references and fresh dummy rows. A matcher that could
still say "this week-2 record is that week-1 record" would learn which rows
are real (a dummy never recurs) and strip the dummies, and would follow a
voter's or a household's tokens from week to week. These attacks are run on
what the matcher opened in two exchanges (its ``campaign-tokens`` and
``provider-tokens`` messages), each side on its own:

* ``equal-ids`` -- the same ``rid`` (campaign) or ``hp`` (provider) in both weeks;
* ``equal-tokens`` -- the same value of any ``mk_*``, ``mk_f_*``, ``bk_*`` or
  ``clk_*`` column in both weeks (the record sharing the most is guessed;
  classes larger than :data:`MAX_CLASS` are too vague to name one record and
  are skipped);
* ``near-bloom`` -- a Dice coefficient of at least :data:`NEAR_DICE` between a
  week-1 and a week-2 filter of the same column (up to :data:`DICE_SAMPLE`
  week-1 records, all of week 2);
* ``structure`` -- what survives a change of key: each record's pattern of
  null tokens and the size of every class (block) it falls in. Equality
  classes do not depend on the key, so a record whose (pattern, sizes)
  signature is unique in both weeks is linked to the record with the same
  signature, and each link pairs its classes, which sharpens the signatures
  of every record sharing one (the count-signature attack of
  :mod:`linkage.audit.matcher_attacks`, week against week). Fresh dummies
  each week perturb the sizes; refreshed rows change them.

A shared message id is reported beside them (it links whole messages).

**Score and threshold.** An attack is scored with the auditor's truth (the
campaign's rid maps; the provider's pseudonyms recomputed from its secret):
its *rate* is the share of week-1 real records present in week 2 that it
links to the right week-2 record. A blind guess is right with probability
``1 / n2`` (``n2`` the week-2 rows, dummies included), so the rate is at
chance level when it is within :data:`SIGMAS` binomial standard errors of
``1 / n2`` over the scored records (a one-sided test whose false alarm is
about 0.1%). With the demo's sizes that bound is under 1% of records; a
matcher holding the same keys twice links nearly all of them.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from linkage.audit.exchange import CheckResult, Exchange, provider_secret
from linkage.encode import from_arrow
from linkage.match import dice_all_pairs
from linkage.protocol import pseudonymize

__all__ = [
    "ACTIONABLE_PRECISION",
    "DICE_SAMPLE",
    "MAX_CLASS",
    "MAX_STRUCTURE_RATE",
    "NEAR_DICE",
    "SIGMAS",
    "WeekLink",
    "WeekTokens",
    "audit_week_linking",
    "link_weeks",
    "week_tokens",
]

NEAR_DICE: Final = 0.9
"""Dice at or above which two filters are taken for the same record."""

MAX_CLASS: Final = 20
"""Largest equality class the ``equal-tokens`` attack reads a candidate from."""

DICE_SAMPLE: Final = 2_000
"""Week-1 records the ``near-bloom`` attack compares with every week-2 filter."""

SIGMAS: Final = 3.0
"""Standard errors above the blind-guess rate at which a rate stops being chance."""

ACTIONABLE_PRECISION: Final = 0.5
"""Precision from which a cross-week link is more often right than wrong (worth acting on)."""

MAX_STRUCTURE_RATE: Final = 0.01
"""Largest share of records the ``structure`` attack may link, even imprecisely."""

_SIDES: Final = {"campaign-tokens": "rid", "provider-tokens": "hp"}
"""The matcher's token messages and the reference column of each."""

_DETERMINISTIC: Final = ("mk_", "bk_", "clk_")

_Ints = npt.NDArray[np.int64]


@dataclass(frozen=True)
class WeekTokens:
    """One side's token payload of one week, as the matcher opened it, with the auditor's truth.

    Attributes:
        exchange_id: The week's exchange.
        kind: ``campaign-tokens`` or ``provider-tokens``.
        message_id: The manifest's message id.
        tokens: The payload (``rid`` or ``hp`` and the token columns).
        truth: Per row, the voter or household it stands for; None for a dummy.
    """

    exchange_id: str
    kind: str
    message_id: str
    tokens: pa.Table
    truth: tuple[str | None, ...]


@dataclass(frozen=True)
class WeekLink:
    """One attack on one side of two weeks, scored.

    Attributes:
        attack: ``equal-ids``, ``equal-tokens``, ``near-bloom`` or ``structure``.
        kind: The token message attacked.
        records: Week-1 real records whose voter or household is real in week 2.
        guessed: Week-1 rows the attack named a week-2 row for.
        correct: Guesses naming the right week-2 record.
        week2_rows: Rows of the week-2 payload (dummies included).
    """

    attack: str
    kind: str
    records: int
    guessed: int
    correct: int
    week2_rows: int

    @property
    def rate(self) -> float:
        """Share of linkable week-1 records linked to the right week-2 record."""
        return self.correct / self.records if self.records else 0.0

    @property
    def precision(self) -> float:
        """Share of the guesses that are right (1.0 when there is none)."""
        return self.correct / self.guessed if self.guessed else 1.0

    @property
    def chance(self) -> float:
        """The rate of a blind guess: one week-2 row out of all of them."""
        return 1.0 / self.week2_rows if self.week2_rows else 0.0

    @property
    def threshold(self) -> float:
        """The highest rate still at chance level (:data:`SIGMAS` standard errors above it)."""
        if not self.records:
            return 1.0
        p = self.chance
        return p + SIGMAS * math.sqrt(p * (1.0 - p) / self.records)

    @property
    def at_chance(self) -> bool:
        return self.rate <= self.threshold

    @property
    def harmless(self) -> bool:
        """At chance, or (the key-independent ``structure`` attack only) too weak to act on.

        Class sizes survive a change of key, and fresh dummies blur them only
        in part, so a few records stay linkable by their signature. Such a
        link is useless to the matcher while most of them are wrong (it
        cannot tell a real record from a dummy by it): ``structure`` passes
        below :data:`ACTIONABLE_PRECISION` and :data:`MAX_STRUCTURE_RATE`.
        The key-dependent attacks must stay at chance.
        """
        if self.at_chance:
            return True
        return (
            self.attack == "structure"
            and self.precision < ACTIONABLE_PRECISION
            and self.rate < MAX_STRUCTURE_RATE
        )


def _guess_best(row1: _Ints, row2: _Ints, weight: npt.NDArray[np.float64]) -> tuple[_Ints, _Ints]:
    """Per week-1 row, the week-2 row of the largest summed weight (lowest row on a tie)."""
    if row1.size == 0:
        return row1, row2
    pairs = np.stack([row1, row2], axis=1)
    unique, inverse = np.unique(pairs, axis=0, return_inverse=True)
    totals = np.bincount(inverse.ravel(), weights=weight, minlength=len(unique))
    order = np.lexsort((unique[:, 1], -totals, unique[:, 0]))
    ranked = unique[order]
    first = np.append(True, ranked[1:, 0] != ranked[:-1, 0])
    return ranked[first, 0].astype(np.int64), ranked[first, 1].astype(np.int64)


def _equal_ids(one: pa.Table, two: pa.Table, column: str) -> tuple[_Ints, _Ints]:
    return _equal_values(one[column], two[column], max_class=1)


def _equal_values(
    one: pa.ChunkedArray, two: pa.ChunkedArray, *, max_class: int
) -> tuple[_Ints, _Ints]:
    """Row pairs with the same non-null value, from classes of at most ``max_class`` rows."""
    left = pa.table({"v": one, "r1": pa.array(np.arange(len(one), dtype=np.int64))})
    right = pa.table({"v": two, "r2": pa.array(np.arange(len(two), dtype=np.int64))})
    left = left.filter(pc.is_valid(left["v"]))
    right = right.filter(pc.is_valid(right["v"]))
    small: list[pa.Table] = []
    for side in (left, right):
        counts = side.group_by("v").aggregate([("v", "count")])
        keep = counts.filter(pc.less_equal(counts["v_count"], max_class))["v"]
        small.append(side.filter(pc.is_in(side["v"], value_set=keep)))
    joined = small[0].join(small[1], "v", join_type="inner")
    return (
        joined["r1"].to_numpy().astype(np.int64),
        joined["r2"].to_numpy().astype(np.int64),
    )


def _token_columns(one: pa.Table, two: pa.Table) -> list[str]:
    return [
        c
        for c in one.column_names
        if c.startswith(_DETERMINISTIC) and c in two.column_names and one[c].type == two[c].type
    ]


def _equal_tokens(one: pa.Table, two: pa.Table) -> tuple[_Ints, _Ints]:
    firsts: list[_Ints] = []
    seconds: list[_Ints] = []
    for column in _token_columns(one, two):
        r1, r2 = _equal_values(one[column], two[column], max_class=MAX_CLASS)
        firsts.append(r1)
        seconds.append(r2)
    if not firsts:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    row1, row2 = np.concatenate(firsts), np.concatenate(seconds)
    return _guess_best(row1, row2, np.ones(row1.size))


def _near_bloom(one: pa.Table, two: pa.Table, *, seed: int) -> tuple[_Ints, _Ints]:
    columns = [c for c in _token_columns(one, two) if c.startswith("clk_")]
    if not columns or one.num_rows == 0 or two.num_rows == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    rng = np.random.default_rng(seed)
    sample = np.sort(rng.permutation(one.num_rows)[:DICE_SAMPLE]).astype(np.int64)
    firsts: list[_Ints] = []
    seconds: list[_Ints] = []
    scores: list[npt.NDArray[np.float64]] = []
    for column in columns:
        a = from_arrow(one[column].take(pa.array(sample)))
        b = from_arrow(two[column])
        ia, ib, score = dice_all_pairs(a, b, NEAR_DICE)
        firsts.append(sample[ia])
        seconds.append(ib.astype(np.int64))
        scores.append(score)
    return _guess_best(np.concatenate(firsts), np.concatenate(seconds), np.concatenate(scores))


def _classes(column: pa.ChunkedArray) -> tuple[_Ints, _Ints]:
    """Class id of each row (0 = null, 1.. = a distinct value) and each class's size (null: 0)."""
    encoded = pc.dictionary_encode(column).combine_chunks()
    ids = pc.fill_null(pc.add(encoded.indices.cast(pa.int64()), 1), 0).to_numpy()
    sizes = np.bincount(ids, minlength=len(encoded.dictionary) + 1).astype(np.int64)
    sizes[0] = 0
    return ids.astype(np.int64), sizes


def _match_unique(keys1: _Ints, keys2: _Ints) -> tuple[_Ints, _Ints]:
    """Row pairs whose key row occurs once in each week and is equal."""
    once: list[dict[bytes, int]] = []
    for keys in (keys1, keys2):
        seen: dict[bytes, int] = {}
        repeated: set[bytes] = set()
        for i, row in enumerate(keys):
            key = row.tobytes()
            if key in seen:
                repeated.add(key)
            else:
                seen[key] = i
        once.append({k: i for k, i in seen.items() if k not in repeated})
    pairs = sorted((i, once[1][k]) for k, i in once[0].items() if k in once[1])
    both = np.array(pairs, dtype=np.int64).reshape(-1, 2)
    return both[:, 0], both[:, 1]


def _structure(one: pa.Table, two: pa.Table, *, max_rounds: int = 100) -> tuple[_Ints, _Ints]:
    """The count-signature attack across weeks, with propagation.

    Each record's key is its vector of class sizes (0 for a null token). A key
    unique in both weeks is a link; a link pairs each of its classes with the
    other week's, so in the next round such a class enters the key as its
    pair's label instead of its size, and more keys become unique.
    """
    columns = _token_columns(one, two)
    ids1, sizes1, ids2, sizes2 = [], [], [], []
    for column in columns:
        ids, sizes = _classes(one[column])
        ids1.append(ids)
        sizes1.append(sizes)
        ids, sizes = _classes(two[column])
        ids2.append(ids)
        sizes2.append(sizes)
    # label[c][class] = the paired class of week 2 (-1: not yet); null pairs with null.
    label1 = [np.full(len(s), -1, np.int64) for s in sizes1]
    paired2 = [np.zeros(len(s), bool) for s in sizes2]
    for c in range(len(columns)):
        label1[c][0] = 0
        paired2[c][0] = True
    match = np.full(one.num_rows, -1, np.int64)
    free2 = np.ones(two.num_rows, bool)
    for _ in range(max_rounds if columns else 0):
        open1, open2 = np.flatnonzero(match < 0), np.flatnonzero(free2)
        keys1 = np.empty((len(open1), len(columns)), np.int64)
        keys2 = np.empty((len(open2), len(columns)), np.int64)
        for c in range(len(columns)):
            cls = ids1[c][open1]
            known = label1[c][cls]
            keys1[:, c] = np.where(known >= 0, known, -(sizes1[c][cls] + 1))
            cls2 = ids2[c][open2]
            keys2[:, c] = np.where(paired2[c][cls2], cls2, -(sizes2[c][cls2] + 1))
        rows1, rows2 = _match_unique(keys1, keys2)
        if rows1.size == 0:
            break
        rows1, rows2 = open1[rows1], open2[rows2]
        match[rows1] = rows2
        free2[rows2] = False
        for c in range(len(columns)):
            for c1, c2 in zip(ids1[c][rows1], ids2[c][rows2], strict=True):
                if label1[c][c1] < 0 and not paired2[c][c2]:
                    label1[c][c1] = c2
                    paired2[c][c2] = True
    linked = np.flatnonzero(match >= 0)
    return linked.astype(np.int64), match[linked]


def _score(
    attack: str, week1: WeekTokens, week2: WeekTokens, guess: tuple[_Ints, _Ints]
) -> WeekLink:
    in_week2 = {t for t in week2.truth if t is not None}
    linkable = [t is not None and t in in_week2 for t in week1.truth]
    row1, row2 = guess
    correct = sum(
        1
        for i, j in zip(row1.tolist(), row2.tolist(), strict=True)
        if week1.truth[i] is not None and week1.truth[i] == week2.truth[j]
    )
    return WeekLink(
        attack=attack,
        kind=week1.kind,
        records=sum(linkable),
        guessed=int(row1.size),
        correct=correct,
        week2_rows=week2.tokens.num_rows,
    )


def link_weeks(week1: WeekTokens, week2: WeekTokens, *, seed: int = 0) -> list[WeekLink]:
    """Run every attack on one side's payloads of two weeks and score each.

    Args:
        week1: The earlier week's payload of one kind, with its truth.
        week2: The later week's payload of the same kind, with its truth.
        seed: Seeds the ``near-bloom`` sample.

    Raises:
        ValueError: The two payloads are of different kinds.
    """
    if week1.kind != week2.kind:
        raise ValueError("the two weeks' payloads must be of the same kind")
    one, two = week1.tokens, week2.tokens
    reference = _SIDES[week1.kind]
    attacks = {
        "equal-ids": _equal_ids(one, two, reference),
        "equal-tokens": _equal_tokens(one, two),
        "near-bloom": _near_bloom(one, two, seed=seed),
        "structure": _structure(one, two),
    }
    return [_score(name, week1, week2, guess) for name, guess in attacks.items()]


def _campaign_truth(ex: Exchange, exchange_id: str, tokens: pa.Table) -> tuple[str | None, ...]:
    rid_map = ex.homes["campaign"].rid_map_path(exchange_id)
    if not rid_map.is_file():
        return (None,) * int(tokens.num_rows)
    rids = pq.read_table(rid_map)
    voter: dict[str, str] = dict(
        zip(rids["rid"].to_pylist(), rids["voter_id"].to_pylist(), strict=True)
    )
    return tuple(voter.get(r) for r in tokens["rid"].to_pylist())


def _provider_truth(
    ex: Exchange, world: Path, exchange_id: str, tokens: pa.Table
) -> tuple[str | None, ...]:
    subscribers = world / "provider" / "subscribers.parquet"
    if not subscribers.is_file():
        return (None,) * int(tokens.num_rows)
    ids = pq.read_table(subscribers, columns=["household_id"])["household_id"].to_pylist()
    household: dict[str, str] = dict(
        zip(pseudonymize(provider_secret(ex), exchange_id, ids), ids, strict=True)
    )
    return tuple(household.get(hp) for hp in tokens["hp"].to_pylist())


def week_tokens(ex: Exchange, world: Path) -> dict[str, list[WeekTokens]]:
    """The matcher's token payloads, per kind, one per exchange in exchange-id order."""
    found: dict[str, list[WeekTokens]] = {kind: [] for kind in _SIDES}
    for _, holder, opened in sorted(ex.messages, key=lambda m: m[2].manifest.exchange_id):
        kind = opened.manifest.kind
        if holder != "matcher" or kind not in _SIDES:
            continue
        x = opened.manifest.exchange_id
        tokens = opened.table
        truth = (
            _campaign_truth(ex, x, tokens)
            if kind == "campaign-tokens"
            else _provider_truth(ex, world, x, tokens)
        )
        found[kind].append(WeekTokens(x, kind, opened.manifest.message_id, tokens, truth))
    return found


def audit_week_linking(ex: Exchange, world: Path) -> CheckResult:
    """Nothing the matcher received in one exchange links its records to another's.

    Every attack of :func:`link_weeks` on each pair of consecutive exchanges
    (both token kinds) must stay at chance level, except the key-independent
    ``structure`` attack, which must stay too weak to act on
    (:attr:`WeekLink.harmless`), and no message id may recur.
    Skipped when the matcher holds the tokens of fewer than two exchanges.
    """
    name = "week-linking"
    weeks = week_tokens(ex, world)
    if all(len(payloads) < 2 for payloads in weeks.values()):
        return CheckResult(name, True, "skipped: the matcher holds one exchange", skipped=True)
    results: list[WeekLink] = []
    for payloads in weeks.values():
        for week1, week2 in itertools.pairwise(payloads):
            results.extend(link_weeks(week1, week2))
    exchanges_of: dict[str, set[str]] = {}
    for _, _, opened in ex.messages:
        exchanges_of.setdefault(opened.manifest.message_id, set()).add(opened.manifest.exchange_id)
    shared_ids = sum(1 for xs in exchanges_of.values() if len(xs) > 1)
    if not any(r.records for r in results):
        return CheckResult(
            name, True, "skipped: no record is real in two weeks (no truth)", skipped=True
        )
    worst = max(results, key=lambda r: r.rate - r.threshold)
    failing = [r for r in results if not r.harmless]
    detail = (
        f"best attack {worst.attack} on {worst.kind} links {worst.rate:.2%} of "
        f"{worst.records:,} records across weeks at precision {worst.precision:.0%} "
        f"(chance {worst.chance:.4%}, threshold {worst.threshold:.2%}); {len(results)} attacks"
    )
    if shared_ids:
        detail += f"; {shared_ids} message id(s) recur across weeks"
    return CheckResult(name, not failing and not shared_ids, detail)
