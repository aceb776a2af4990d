"""A dishonest campaign's attacks on the viewership release, scored against what DP allows.

Each attack plays the campaign of issue 11 using only what it controls (its
voter file and segment rules) and what comes back (the ``viewership``
payload, or a refusal), over many seeded targets, and is scored with the
truth only the auditor holds. The provider is a callable, :data:`Release`,
so the same attack runs on the library (tests), on the CLI's provider, or on
any future release path:

* :func:`complement_attack` -- segments ``zip < X`` and ``zip >= X or voter
  == T`` (the target added to the side it does not live on) and ``*``
  cancel down to the target's household: ``f(A) + f(B) - f(*) = f(A ∩ B)``.
  From the universes the campaign guesses **whether the target subscribes**;
  from the period reach of a channel, **whether the target watched it**.
  Several targets can share one release, each with its own split, spaced
  so that no two segments are within ``k`` households (the pairwise
  differencing rule never fires).
* :func:`refusal_oracle_attack` -- segments ``base``, ``base + T`` and
  ``{T}``: an exact-count rule refuses exactly when the target's household
  is there (two segments one household apart, a segment of one household),
  and a provider that drops a segment no household matched answers by the
  segment's absence. The guess uses the first signal that answers: a
  refusal, segment presence, then the universes.

**The bound.** A ``rho``-zCDP release is (epsilon, delta)-DP at
``epsilon = epsilon_of(rho)``; an adversary guessing one bit that
distinguishes two neighbouring inputs, on a balanced prior, is right with
probability at most ``e^epsilon / (1 + e^epsilon) + delta``
(:func:`accuracy_bound`). Subscribing or not is adding or removing one
household (the unit of privacy). Watching a channel or not changes one
household's data, which is two such steps: group privacy charges ``4 rho``
(:attr:`AttackScore.group`). An exact release has no bound.

Only the auditor's scores hold truth; the functions that build segments and
read a payload see what the campaign sees. No household id leaves a score.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Final

import pyarrow as pa
import pyarrow.compute as pc

from linkage.engine import Engine
from linkage.errors import PrivacyError
from linkage.measure import compute_viewership
from linkage.release import DEFAULT_DELTA, epsilon_of
from linkage.tables import ALL_HOUSEHOLDS

__all__ = [
    "AttackScore",
    "ComplementQuery",
    "Release",
    "accuracy_bound",
    "complement_attack",
    "complement_segments",
    "refusal_oracle_attack",
    "voter_assignments",
    "watched_channels",
]

Release = Callable[[pa.Table, Sequence[str]], pa.Table]
"""The provider under attack: ``(assignments, requested codes) -> viewership payload``.

``assignments`` are ``household_id, segment`` rows as the provider assembles
them (a segment whose voters matched no household has no row); the requested
codes are every code the campaign sent, ``*`` included. It raises
:class:`~linkage.errors.PrivacyError` to refuse."""

ZIP_DIGITS: Final = 5
"""The attack splits the voter file on the 5-digit ZIP (ZIP+4 is cut)."""


def accuracy_bound(rho: float, delta: float = DEFAULT_DELTA, *, group: int = 1) -> float:
    """Best accuracy of a balanced one-bit guess against a ``rho``-zCDP release.

    Args:
        rho: zCDP rho of the release.
        delta: The delta the epsilon is stated at.
        group: Neighbouring steps between the two inputs the bit tells apart
            (zCDP charges ``group**2 * rho``).
    """
    eps = epsilon_of(group * group * rho, delta)
    return min(1.0, 1.0 / (1.0 + math.exp(-eps)) + delta)


@dataclass(frozen=True)
class AttackScore:
    """How one attack fared over its targets.

    Attributes:
        attack: The attack's name.
        targets: Targets guessed (each one balanced bit).
        correct: Right guesses.
        releases: Releases the attack asked for.
        rho: zCDP rho of each release; None for exact releases.
        group: Neighbouring steps between the two worlds of a guess (see module doc).
        decided_by: Guesses per signal that decided them (``refusal``,
            ``missing segment``, ``figures``, ``coin`` when nothing was released).
        delta: The delta the bound is stated at.
    """

    attack: str
    targets: int
    correct: int
    releases: int
    rho: float | None
    group: int = 1
    decided_by: Mapping[str, int] | None = None
    delta: float = DEFAULT_DELTA

    @property
    def accuracy(self) -> float:
        """Share of targets guessed right."""
        return self.correct / self.targets if self.targets else 0.0

    @property
    def bound(self) -> float | None:
        """The DP ceiling on :attr:`accuracy` (None for an exact release: no ceiling)."""
        if self.rho is None:
            return None
        return accuracy_bound(self.rho, self.delta, group=self.group)

    def describe(self) -> str:
        """One line: accuracy, the bound it must stay under, and what decided the guesses."""
        if self.rho is None:
            ceiling = "exact release: no bound"
        else:
            ceiling = f"bound {self.bound:.3f} at rho {self.rho:g}"
            if self.group > 1:
                ceiling += f" x{self.group * self.group} (group of {self.group})"
        signals = ", ".join(f"{k} {v}" for k, v in sorted((self.decided_by or {}).items()))
        return (
            f"{self.attack}: {self.correct}/{self.targets} right ({self.accuracy:.0%}) over "
            f"{self.releases} release(s); {ceiling}"
            + (f"; decided by {signals}" if signals else "")
        )


def voter_assignments(segments: Mapping[str, Sequence[str]], links: Mapping[str, str]) -> pa.Table:
    """The provider's ``household_id, segment`` rows for segments of voter ids.

    ``links`` (voter id -> household id) stands for the matcher: voters it
    does not hold match no household and add no row. Every matched household
    is also under ``*``.
    """
    pairs: set[tuple[str, str]] = set()
    for code, voter_ids in segments.items():
        for voter in voter_ids:
            household = links.get(voter)
            if household is not None:
                pairs.add((household, code))
                pairs.add((household, ALL_HOUSEHOLDS))
    rows = sorted(pairs, key=lambda p: (p[1], p[0]))
    return pa.table(
        {
            "household_id": pa.array([h for h, _ in rows], pa.string()),
            "segment": pa.array([c for _, c in rows], pa.string()),
        }
    )


def _zip5(voters: pa.Table) -> dict[str, str]:
    ids = voters["voter_id"].to_pylist()
    zips = voters["zip"].to_pylist()
    return {v: (z or "")[:ZIP_DIGITS] for v, z in zip(ids, zips, strict=True)}


@dataclass(frozen=True)
class ComplementQuery:
    """One target's pair of segments in a complement attack (codes, as the campaign sent them).

    Attributes:
        target: The target voter id.
        low: Code of ``zip < split`` (plus the target when it lives above).
        high: Code of ``zip >= split`` (plus the target when it lives below).
        split: The 5-digit ZIP the voter file is cut at.
    """

    target: str
    low: str
    high: str
    split: str


def complement_segments(
    voters: pa.Table, targets: Sequence[str], *, spacing: int, prefix: str = "c"
) -> tuple[dict[str, list[str]], list[ComplementQuery]]:
    """Segments of voter ids that isolate each target's household, all in one release.

    Target ``j`` gets its own split ZIP; the splits sit between the 30th and
    70th percentile of the file and at least ``spacing`` voters apart, so no
    two segments of the release are within ``spacing`` voters of each other.

    Raises:
        ValueError: The file is too small for that many spaced splits.
    """
    zip_of = _zip5(voters)
    ordered = sorted(zip_of.values())
    distinct = sorted(set(ordered))
    below = {z: i for i, z in reversed(list(enumerate(ordered)))}  # voters with a smaller ZIP
    n = len(ordered)
    splits: list[str] = []
    for j in range(len(targets)):
        want = int(n * (0.3 + 0.4 * (j + 0.5) / len(targets)))
        split = next((z for z in distinct if below[z] >= want), distinct[-1])
        if splits and below[split] - below[splits[-1]] < spacing:
            raise ValueError("the voter file is too small for this many spaced splits")
        splits.append(split)
    segments: dict[str, list[str]] = {}
    queries: list[ComplementQuery] = []
    for j, (target, split) in enumerate(zip(targets, splits, strict=True)):
        low, high = f"{prefix}{j:03d}lo", f"{prefix}{j:03d}hi"
        segments[low] = [v for v, z in zip_of.items() if z < split]
        segments[high] = [v for v, z in zip_of.items() if z >= split]
        # The target joins the side it does not live on: the two meet in its household only.
        segments[high if zip_of[target] < split else low].append(target)
        queries.append(ComplementQuery(target, low, high, split))
    return segments, queries


def _period(payload: pa.Table, channel: str | None = None) -> dict[str, dict[str, object]]:
    """Segment code -> its period-grain row (for ``channel``, or the first channel's)."""
    rows = payload.filter(pc.equal(payload["grain"], "period")).to_pylist()
    out: dict[str, dict[str, object]] = {}
    for row in rows:
        if channel is None or row["channel"] == channel:
            out.setdefault(str(row["segment"]), row)
    return out


def _combine(
    rows: Mapping[str, Mapping[str, object]], column: str, signs: Mapping[str, int]
) -> float | None:
    """``sum(sign * row[column])`` over the codes, None when any figure is missing or suppressed."""
    total = 0.0
    for code, sign in signs.items():
        value = rows.get(code, {}).get(column)
        if not isinstance(value, int | float):
            return None
        total += sign * float(value)
    return total


def watched_channels(
    links: Mapping[str, str],
    voter_ids: Sequence[str],
    viewing: pa.Table,
    channels: Sequence[str],
    *,
    engine: Engine,
    credit_minutes: int = 5,
) -> dict[str, set[str]]:
    """Truth (the auditor's): the channels each voter's household is credited with in the period.

    Computed with the measurement the provider uses, exact, one segment per
    voter; voters without a household map to an empty set.
    """
    segments = {v: [v] for v in voter_ids if v in links}
    if not segments:
        return {v: set() for v in voter_ids}
    cells = compute_viewership(
        voter_assignments(segments, links),
        viewing,
        channels=list(channels),
        engine=engine,
        credit_minutes=credit_minutes,
    )
    period = cells.filter(
        pc.and_(pc.equal(cells["grain"], "period"), pc.greater(cells["reach_households"], 0))
    )
    watched: dict[str, set[str]] = {v: set() for v in voter_ids}
    for row in period.select(["segment", "channel"]).to_pylist():
        if row["segment"] in watched:
            watched[str(row["segment"])].add(str(row["channel"]))
    return watched


def complement_attack(
    voters: pa.Table,
    links: Mapping[str, str],
    release: Release,
    *,
    subscribers: Sequence[str],
    others: Sequence[str],
    watched: Mapping[str, set[str]],
    channels: Sequence[str],
    rho: float | None,
    targets_per_release: int = 1,
    spacing: int = 100,
    seed: int = 0,
) -> tuple[AttackScore, AttackScore]:
    """The complement attack on every target: does it subscribe; did it watch a channel.

    Args:
        voters: The campaign's voter file (``voter_id``, ``zip``).
        links: Voter id -> household id: the matcher's result, and the truth
            of who subscribes.
        release: The provider under attack.
        subscribers: Target voters whose household subscribes.
        others: Target voters who match no household (the membership
            attack's "no" half; the watch attack asks about subscribers only).
        watched: Truth: channels each subscriber target's household watched.
        channels: The public channel list; each watch question asks about
            one, drawn so that half the answers are yes.
        rho: The rho each release spends (None for exact releases).
        targets_per_release: Targets sharing one release (1: one each).
        spacing: Least voters between two targets' splits in one release.
        seed: Seed for the channel drawn per target and for coin flips.

    Returns:
        The membership score and the watched-channel score.
    """
    rng = random.Random(seed)
    asked: dict[str, tuple[str, bool]] = {}
    for target in subscribers:
        seen = sorted(watched[target] & set(channels))
        unseen = sorted(set(channels) - watched[target])
        answer = bool(seen) and (not unseen or rng.random() < 0.5)
        asked[target] = (rng.choice(seen if answer else unseen), answer)
    targets = [*subscribers, *others]
    rng.shuffle(targets)
    member_right = watch_right = releases = 0
    member_by: dict[str, int] = {}
    watch_by: dict[str, int] = {}
    for lo in range(0, len(targets), targets_per_release):
        batch = targets[lo : lo + targets_per_release]
        segments, queries = complement_segments(
            voters, batch, spacing=spacing, prefix=f"c{lo:04d}x"
        )
        payload = release(voter_assignments(segments, links), [*segments, ALL_HOUSEHOLDS])
        releases += 1
        for query in queries:
            signs = {query.low: 1, query.high: 1, ALL_HOUSEHOLDS: -1}
            size = _combine(_period(payload), "universe", signs)
            guess = rng.random() < 0.5 if size is None else size >= 0.5
            key = "coin" if size is None else "figures"
            member_by[key] = member_by.get(key, 0) + 1
            member_right += guess == (query.target in links)
            if query.target in asked:
                channel, answer = asked[query.target]
                reach = _combine(_period(payload, channel), "reach_households", signs)
                seen_it = rng.random() < 0.5 if reach is None else reach >= 0.5
                key = "coin" if reach is None else "figures"
                watch_by[key] = watch_by.get(key, 0) + 1
                watch_right += seen_it == answer
    member = AttackScore(
        "complement: subscribes", len(targets), member_right, releases, rho, 1, member_by
    )
    watch = AttackScore(
        "complement: watched channel", len(asked), watch_right, releases, rho, 2, watch_by
    )
    return member, watch


def refusal_oracle_attack(
    voters: pa.Table,
    links: Mapping[str, str],
    release: Release,
    *,
    targets: Sequence[str],
    rho: float | None,
    targets_per_release: int = 1,
    seed: int = 0,
) -> AttackScore:
    """Is each target a subscriber, from segments ``base``, ``base + T`` and ``{T}``.

    Signals, in the order the campaign reads them:

    1. a **refusal** answers yes for the release's targets (only a target's
       own household makes two segments one household apart, or a segment of
       one household: ask one target per release on an exact path);
    2. **segment presence**: when any release came back without a segment
       it asked for, the provider drops segments that matched nobody, so
       ``{T}`` present answers yes and absent answers no;
    3. otherwise the **figures**: the universe of ``base + T`` minus ``base``.

    A release path that refuses nothing and answers for every requested
    segment leaves only the noisy universes.
    """
    rng = random.Random(seed)
    zip_of = _zip5(voters)
    median = sorted(zip_of.values())[len(zip_of) // 2]
    answers: list[tuple[str, str, pa.Table | None]] = []  # (target, code prefix, payload)
    drops_empty = False
    for lo in range(0, len(targets), targets_per_release):
        batch = targets[lo : lo + targets_per_release]
        segments: dict[str, list[str]] = {}
        for j, target in enumerate(batch, start=lo):
            # The base is the half of the file the target does not live in.
            above = zip_of[target] >= median
            base = [v for v, z in zip_of.items() if (z < median) == above]
            prefix = f"r{j:03d}"
            segments.update(
                {f"{prefix}base": base, f"{prefix}plus": [*base, target], f"{prefix}solo": [target]}
            )
        requested = [*segments, ALL_HOUSEHOLDS]
        try:
            payload: pa.Table | None = release(voter_assignments(segments, links), requested)
        except PrivacyError:
            payload = None
        if payload is not None:
            drops_empty |= bool(set(requested) - set(pc.unique(payload["segment"]).to_pylist()))
        answers.extend((t, f"r{j:03d}", payload) for j, t in enumerate(batch, start=lo))
    right = 0
    by: dict[str, int] = {}
    for target, prefix, payload in answers:
        if payload is None:
            key, guess = "refusal", True
        elif drops_empty:
            key, guess = "segment presence", f"{prefix}solo" in _period(payload)
        else:
            rows = _period(payload)
            diff = _combine(rows, "universe", {f"{prefix}plus": 1, f"{prefix}base": -1})
            key = "coin" if diff is None else "figures"
            guess = rng.random() < 0.5 if diff is None else diff >= 0.5
        by[key] = by.get(key, 0) + 1
        right += guess == (target in links)
    releases = -(-len(targets) // targets_per_release)
    return AttackScore("refusal oracle: subscribes", len(targets), right, releases, rho, 1, by)
