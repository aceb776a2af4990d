"""A dishonest campaign's attacks on issue 14's releases: markets, retention, delivery.

The campaign chooses its segments, the aired schedule of a post-buy and the
weeks it asks about; it reads the ``viewership`` payload (statewide and
market rows), the ``retention`` payload and the ``delivery`` payload. Each
attack here plays that campaign at the library level, over many seeded
targets, and is scored with the truth only the auditor holds, against the
bound of :func:`~linkage.audit.dp_attacks.accuracy_bound`:

* :func:`market_presence_attack` -- which markets come back. The market
  rows (:func:`~linkage.release.market_release`) and a delivery with a
  statewide spot (:attr:`~linkage.release.DeliveryGrid.released_markets`)
  list every market of the operator's market file, so a market's rows exist
  exactly when at least one household lives there: an exact-count decision.
  A target who is the only subscriber of a small market is answered with
  certainty, whatever the rho.
* :func:`delivery_probe_attack` -- one spot per target at a time and on a
  channel the campaign suspects the target watches, and a segment holding
  only the target: the noisy reach of that (market, segment) cell asks
  "was the target tuned in at that minute".
* :func:`retention_probe_attack` -- a segment holding only the target this
  week: the noisy ``both`` count of a channel asks "did the target watch it
  in both weeks".

And the worst-case households behind the stated sensitivities (noise off):
:func:`delivery_worst_case` (every spot seen, in every segment and a tier of
each, with the frequency cap and without it), :func:`retention_worst_case`
(every channel watched in both weeks, in every segment) and
:func:`market_worst_case` (daily credits spent on the shortest dayparts,
three channels a quarter-hour, where the width scaling pays most). A
:class:`SensitivityCheck` compares the shift one household makes with what
the code charges for it.

Noise for scoring comes from :func:`seeded_noise`, a rounded Gaussian at
the plan's scale (the release's own noise is OpenDP's, unseedable); it is the
same distribution up to rounding, so scores are reproducible. No household
id leaves a score.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Final

import numpy as np
import pyarrow as pa

from linkage.audit.dp_attacks import AttackScore
from linkage.engine import Engine
from linkage.measure import DAYPARTS, TIER_NAMES, segment_members
from linkage.plan import parse_aired
from linkage.release import (
    DEFAULT_CAPS,
    DEFAULT_DELIVERY_RHO,
    DEFAULT_RETENTION_RHO,
    CellGrid,
    ContributionCaps,
    NoiseFn,
    bound_viewing,
    delivery_grid,
    market_measures,
    market_release,
    measure_delivery,
    measure_on_grid,
    noisy_delivery,
    plan_delivery_noise,
    plan_market_noise,
    plan_retention,
    retention_counts,
    retention_table,
)
from linkage.tables import ALL_HOUSEHOLDS, ALL_MARKETS, TIER_SEPARATOR

__all__ = [
    "SensitivityCheck",
    "delivery_probe_attack",
    "delivery_worst_case",
    "market_presence_attack",
    "market_worst_case",
    "no_noise",
    "retention_probe_attack",
    "retention_worst_case",
    "seeded_noise",
]

DAY: Final = date(2026, 10, 5)
"""The attacks' reporting day (a Monday)."""

BIG_MARKET: Final = "big"
"""The market every background household lives in."""

_CHANNELS: Final = ("c0", "c1", "c2", "c3", "c4")
"""The probe worlds' published channels."""

_BACKGROUND: Final = 12
"""Households besides the targets, so that no segment is empty by construction."""


def seeded_noise(seed: int) -> NoiseFn:
    """A reproducible stand-in for the discrete Gaussian: a rounded normal draw at ``scale``."""
    rng = np.random.default_rng(seed)

    def noise(counts: Sequence[int], scale: float) -> list[int]:
        draws = rng.normal(0.0, scale, size=len(counts))
        return [int(c) + round(float(x)) for c, x in zip(counts, draws, strict=True)]

    return noise


def no_noise(counts: Sequence[int], scale: float) -> list[int]:
    """The exact counts (what an exact release would say); for the attacks' sanity checks."""
    return [int(c) for c in counts]


@dataclass(frozen=True)
class SensitivityCheck:
    """One measure's shift by a worst-case household against the sensitivity the code charges.

    Attributes:
        release: ``markets``, ``delivery`` or ``retention``.
        measure: The noised vector (``views``, ``hut``, ``impressions``,
            ``reach``, ``universe``, ``earlier``, ``both``).
        stated: The L2 sensitivity the noise plan uses.
        observed: The L2 norm of the shift one household made.
    """

    release: str
    measure: str
    stated: float
    observed: float

    @property
    def within(self) -> bool:
        """The household moved the vector no more than the plan charges."""
        return self.observed <= self.stated + 1e-9

    def describe(self) -> str:
        """One line: the measure, the shift and the stated bound."""
        verdict = "within" if self.within else "EXCEEDS"
        return (
            f"{self.release} {self.measure}: one household moves it {self.observed:.2f} (L2), "
            f"{verdict} the stated {self.stated:.2f}"
        )


def _events(rows: Sequence[tuple[str, str, datetime, datetime]]) -> pa.Table:
    return pa.table(
        {
            "household_id": pa.array([r[0] for r in rows], pa.string()),
            "channel": pa.array([r[1] for r in rows], pa.string()),
            "start": pa.array([r[2] for r in rows], pa.timestamp("s")),
            "end": pa.array([r[3] for r in rows], pa.timestamp("s")),
        }
    )


def _pairs(rows: Sequence[tuple[str, str]], names: tuple[str, str]) -> pa.Table:
    return pa.table(
        {
            names[0]: pa.array([r[0] for r in rows], pa.string()),
            names[1]: pa.array([r[1] for r in rows], pa.string()),
        }
    )


def _aired(spots: Sequence[tuple[str, str, time]], day: date = DAY) -> pa.Table:
    return parse_aired(
        pa.table(
            {
                "market": [s[0] for s in spots],
                "channel": [s[1] for s in spots],
                "date": [day.isoformat()] * len(spots),
                "time": [s[2].isoformat() for s in spots],
            }
        )
    )


def _l2(a: np.typing.NDArray[np.int64], b: np.typing.NDArray[np.int64]) -> float:
    return float(np.sqrt(np.sum((a.astype(np.float64) - b.astype(np.float64)) ** 2)))


# -- the market set: an exact-count decision ---------------------------------------------


def market_presence_attack(
    engine: Engine,
    *,
    targets: int = 40,
    seed: int = 0,
    rho: float = 0.01,
    delivery_rho: float = DEFAULT_DELIVERY_RHO,
) -> tuple[AttackScore, AttackScore]:
    """Guess whether each target subscribes from which markets come back.

    World: ``_BACKGROUND`` households in a big market; target ``i`` is the only
    household of market ``tiny<i>`` (a border DMA with a sliver of the state)
    when its coin says it subscribes, and the market is empty otherwise. The
    campaign asks for ``*`` only (no segment shaped around anyone). Guess: it
    subscribes when ``tiny<i>``'s rows are in the viewership payload's market
    rows (first score) or in a delivery of one statewide spot (second score).

    Args:
        engine: Runs the measurement SQL.
        targets: Targets guessed, all in one release.
        seed: Seeds the coins and the noise.
        rho: The market rows' rho (the bound is stated at it).
        delivery_rho: The delivery's rho.

    Returns:
        The market rows' score and the delivery's score.
    """
    coins = random.Random(seed)
    background = [f"b{i}" for i in range(_BACKGROUND)]
    subscribes = [coins.random() < 0.5 for _ in range(targets)]
    present = [f"t{i}" for i in range(targets) if subscribes[i]]
    households = background + present
    market_of = {h: BIG_MARKET for h in background} | {f"t{i}": f"tiny{i}" for i in range(targets)}
    markets = _pairs([(h, market_of[h]) for h in households], ("household_id", "market"))
    # The public line-ups list every market, whether anyone lives there or not.
    listed = [BIG_MARKET, *(f"tiny{i}" for i in range(targets))]
    public = _pairs([(m, "c1") for m in listed], ("market", "channel"))
    evening = (datetime.combine(DAY, time(20)), datetime.combine(DAY, time(21)))
    view = _events([(h, "c1", *evening) for h in households])
    assigned = _pairs([(h, ALL_HOUSEHOLDS) for h in households], ("household_id", "segment"))
    rows = market_release(
        segment_members(assigned, engine),
        view,
        markets,
        CellGrid(("c1",), (DAY,)),
        engine=engine,
        k=1,
        min_universe=1,
        segments=[ALL_HOUSEHOLDS],
        rho=rho,
        noise=seeded_noise(seed),
        lineups=public,
    )
    seen_rows = {str(m) for m in rows["market"].to_pylist()}
    grid = delivery_grid(
        _aired([(ALL_MARKETS, "c1", time(20, 30))]),
        markets,
        ["c1"],
        [DAY],
        market_list=public["market"].to_pylist(),
    )
    payload = noisy_delivery(
        measure_delivery(assigned, view, markets, grid, engine, [ALL_HOUSEHOLDS]),
        grid,
        plan_delivery_noise(grid, [ALL_HOUSEHOLDS], delivery_rho),
        k=1,
        noise=seeded_noise(seed + 1),
    )
    seen_delivery = {str(m) for m in payload["market"].to_pylist()}
    scores = []
    for name, seen, spent in (
        ("market-presence (market rows)", seen_rows, rho),
        ("market-presence (delivery)", seen_delivery, delivery_rho),
    ):
        correct = sum((f"tiny{i}" in seen) == subscribes[i] for i in range(targets))
        scores.append(AttackScore(name, targets, correct, releases=1, rho=spent))
    return scores[0], scores[1]


# -- probes: a one-household segment per target -------------------------------------------


def _probe_world(
    targets: int, seed: int
) -> tuple[list[bool], list[str], list[time], pa.Table, pa.Table]:
    """Coins, the targets' channels and spot times, markets and viewing of the probe world.

    Target ``i`` is suspected of watching channel ``c<i mod 5>`` at ``19:00 + 2i``
    minutes; its coin says whether it was tuned in then (else it watched the
    next channel over the same hour). Background households watch every
    channel at other hours.
    """
    coins = random.Random(seed)
    watched = [coins.random() < 0.5 for _ in range(targets)]
    channels = [f"c{i % 5}" for i in range(targets)]
    times = [
        (datetime.combine(DAY, time(19)) + timedelta(minutes=2 * i)).time() for i in range(targets)
    ]
    rows: list[tuple[str, str, datetime, datetime]] = []
    for i in range(targets):
        at = datetime.combine(DAY, times[i])
        channel = channels[i] if watched[i] else f"c{(i + 1) % 5}"
        rows.append((f"t{i}", channel, at - timedelta(minutes=1), at + timedelta(minutes=1)))
    for j in range(_BACKGROUND):
        start = datetime.combine(DAY, time(6 + j % 6))
        rows.append((f"b{j}", f"c{j % 5}", start, start + timedelta(minutes=30)))
    households = [f"t{i}" for i in range(targets)] + [f"b{j}" for j in range(_BACKGROUND)]
    markets = _pairs([(h, BIG_MARKET) for h in households], ("household_id", "market"))
    return watched, channels, times, markets, _events(rows)


def delivery_probe_attack(
    engine: Engine,
    *,
    targets: int = 20,
    seed: int = 0,
    rho: float = DEFAULT_DELIVERY_RHO,
    noise: NoiseFn | None = None,
) -> AttackScore:
    """Guess whether each target was tuned to a spot from a one-household segment's reach.

    The campaign airs one spot per target (channel and minute it suspects),
    puts each target alone in a segment, and guesses "tuned in" when that
    segment's row in the market is unsuppressed with a reach of at least one
    household (``k = 1``: the most a provider could show). Each target's
    figures come from a delivery of its own (its one spot, ``*`` and its
    own segment: ``M = 2``, the strongest a campaign can make it). Watching
    or not changes one household's data: the score's group is 2.

    Args:
        engine: Runs the measurement SQL.
        targets: Targets guessed.
        seed: Seeds the world and the noise.
        rho: Each delivery's rho.
        noise: Noise source; default :func:`seeded_noise` of ``seed``.
    """
    watched, channels, times, markets, view = _probe_world(targets, seed)
    codes = [f"T{i:03d}" for i in range(targets)]
    households = [str(h) for h in markets["household_id"].to_pylist()]
    pairs = [(h, ALL_HOUSEHOLDS) for h in households] + [
        (f"t{i}", codes[i]) for i in range(targets)
    ]
    assigned = _pairs(pairs, ("household_id", "segment"))
    spots = [(BIG_MARKET, channels[i], times[i]) for i in range(targets)]
    draw = seeded_noise(seed) if noise is None else noise
    correct = 0
    for i, code in enumerate(codes):
        # Its own release: its one spot, ``*`` and its own segment.
        grid = delivery_grid(_aired([spots[i]]), markets, list(_CHANNELS), [DAY])
        wanted = [ALL_HOUSEHOLDS, code]
        payload = noisy_delivery(
            measure_delivery(assigned, view, markets, grid, engine, wanted),
            grid,
            plan_delivery_noise(grid, wanted, rho),
            k=1,
            noise=draw,
        )
        row = next(
            r for r in payload.to_pylist() if r["market"] == BIG_MARKET and r["segment"] == code
        )
        guess = not row["suppressed"] and int(row["reach_households"] or 0) >= 1
        correct += guess == watched[i]
    return AttackScore("delivery-probe", targets, correct, releases=targets, rho=rho, group=2)


def retention_probe_attack(
    *,
    targets: int = 20,
    seed: int = 0,
    rho: float = DEFAULT_RETENTION_RHO,
    channels: Sequence[str] = _CHANNELS,
    noise: NoiseFn | None = None,
) -> AttackScore:
    """Guess whether each target watched a channel in both weeks from a one-household segment.

    Week 1: every target watched its suspected channel. Week 2: its coin says
    whether it did again. The campaign puts each target alone in a segment
    this week (membership is this week's) and guesses "both weeks" when the
    (segment, channel) retention cell is unsuppressed at ``k = 1`` (noisy
    ``earlier`` and ``both`` at least 1). Each target's cells are noised as
    a retention of ``*`` and its own segment (``M = 2``). Group 2.

    Args:
        targets: Targets guessed.
        seed: Seeds the world and the noise.
        rho: Each retention release's rho.
        channels: The published channels.
        noise: Noise source; default :func:`seeded_noise` of ``seed``.
    """
    coins = random.Random(seed)
    again = [coins.random() < 0.5 for _ in range(targets)]
    suspected = [channels[i % len(channels)] for i in range(targets)]
    other = [channels[(i + 1) % len(channels)] for i in range(targets)]
    background = [f"b{j}" for j in range(_BACKGROUND)]
    week1 = [(f"t{i}", suspected[i]) for i in range(targets)]
    week1 += [(b, channels[j % len(channels)]) for j, b in enumerate(background)]
    week2 = [(f"t{i}", suspected[i] if again[i] else other[i]) for i in range(targets)]
    week2 += [(b, channels[j % len(channels)]) for j, b in enumerate(background)]
    earlier = _pairs(sorted(week1), ("panel_household", "channel"))
    current = _pairs(sorted(week2), ("panel_household", "channel"))
    draw = seeded_noise(seed) if noise is None else noise
    correct = 0
    everyone = [f"t{i}" for i in range(targets)] + background
    for i in range(targets):
        code = f"T{i:03d}"
        members = _pairs(
            [(h, ALL_HOUSEHOLDS) for h in everyone] + [(f"t{i}", code)],
            ("panel_household", "segment"),
        )
        codes = sorted([ALL_HOUSEHOLDS, code])
        counts = retention_counts(members, earlier, current, codes, list(channels))
        table = retention_table(
            codes,
            list(channels),
            *counts,
            plan=plan_retention(codes, list(channels), rho),
            k=1,
            earlier_period=(DAY - timedelta(days=7), DAY - timedelta(days=1)),
            noise=draw,
        )
        row = next(
            r for r in table.to_pylist() if r["segment"] == code and r["channel"] == suspected[i]
        )
        guess = not row["suppressed"]
        correct += guess == again[i]
    return AttackScore("retention-probe", targets, correct, releases=targets, rho=rho, group=2)


# -- worst-case households against the stated sensitivities -------------------------------


def delivery_worst_case(
    engine: Engine,
    *,
    segments: Sequence[str] = ("A", "B", "C"),
    spots: int = 40,
    frequency_cap: int = 30,
) -> list[SensitivityCheck]:
    """One household in every segment and one tier of each, exposed to every spot.

    The schedule airs ``spots`` spots in its market (half of them statewide),
    on two channels at the same minutes; the household has two boxes tuned
    all day to both channels (so it is exposed to both spots of a minute).
    Its shift in each noised vector (with the household against without) is
    set against :func:`~linkage.release.plan_delivery_noise`.
    """
    home = "worst"
    others = [f"b{j}" for j in range(_BACKGROUND)]
    households = [home, *others]
    markets = _pairs(
        [(h, BIG_MARKET) for h in households] + [("elsewhere", "small")],
        ("household_id", "market"),
    )
    parents = [ALL_HOUSEHOLDS, *segments]
    tiers = [f"{p}{TIER_SEPARATOR}{t}" for p in parents for t in TIER_NAMES]
    heavy = TIER_NAMES[-1]
    pairs = [(home, p) for p in parents] + [(home, f"{p}{TIER_SEPARATOR}{heavy}") for p in parents]
    pairs += [(b, ALL_HOUSEHOLDS) for b in others] + [("elsewhere", ALL_HOUSEHOLDS)]
    with_home = _pairs(pairs, ("household_id", "segment"))
    without = with_home.filter(pa.array([h != home for h in with_home["household_id"].to_pylist()]))
    start = datetime.combine(DAY, time(0))
    stop = start + timedelta(days=1)
    view = _events(
        [(home, "c1", start, stop), (home, "c2", start, stop)]
        + [(b, "c1", start, start + timedelta(hours=1)) for b in others]
    )
    minutes = [(start + timedelta(hours=6, minutes=3 * n)).time() for n in range(spots // 2)]
    schedule = [(BIG_MARKET if n % 2 else ALL_MARKETS, "c1", t) for n, t in enumerate(minutes)]
    schedule += [(BIG_MARKET, "c2", t) for t in minutes]
    grid = delivery_grid(
        _aired(schedule),
        markets,
        ["c1", "c2"],
        [DAY],
        frequency_cap,
        market_list=sorted({str(m) for m in markets["market"].to_pylist()}),
    )
    wanted = [*parents, *tiers]
    plan = plan_delivery_noise(grid, wanted, DEFAULT_DELIVERY_RHO)
    a = measure_delivery(with_home, view, markets, grid, engine, wanted)
    b = measure_delivery(without, view, markets, grid, engine, wanted)
    return [
        SensitivityCheck(
            "delivery", name, plan.sensitivity[name], _l2(getattr(a, name), getattr(b, name))
        )
        for name in ("impressions", "reach", "universe")
    ]


def retention_worst_case(
    *,
    segments: Sequence[str] = ("A", "B", "C"),
    channels: Sequence[str] = (*_CHANNELS, "c5"),
) -> list[SensitivityCheck]:
    """One household in every segment (and ``*``) that watched every channel in both weeks."""
    home = "worst"
    others = [f"b{j}" for j in range(_BACKGROUND)]
    codes = sorted({ALL_HOUSEHOLDS, *segments})
    stores = _pairs(
        sorted([(home, c) for c in channels] + [(b, channels[0]) for b in others]),
        ("panel_household", "channel"),
    )
    members = _pairs(
        [(home, c) for c in codes] + [(b, ALL_HOUSEHOLDS) for b in others],
        ("panel_household", "segment"),
    )
    without = members.filter(pa.array([h != home for h in members["panel_household"].to_pylist()]))
    plan = plan_retention(codes, list(channels), DEFAULT_RETENTION_RHO)
    e1, b1 = retention_counts(members, stores, stores, codes, list(channels))
    e0, b0 = retention_counts(without, stores, stores, codes, list(channels))
    return [
        SensitivityCheck("retention", "earlier", plan.sensitivity, _l2(e1, e0)),
        SensitivityCheck("retention", "both", plan.sensitivity, _l2(b1, b0)),
    ]


def market_worst_case(
    engine: Engine,
    *,
    segments: Sequence[str] = ("A", "B"),
    caps: ContributionCaps = DEFAULT_CAPS,
) -> list[SensitivityCheck]:
    """One household that spends its daily credits where the width scaling pays most.

    Each day (a weekday and a Saturday) it watches three channels in turn,
    five minutes each, through the shortest dayparts first (late news, late
    fringe, early fringe, prime access, ...) until its daily credits are
    spent: every credit it earns is worth ``1 / w`` of the shortest widths,
    the greedy fill behind ``B``. Crossed codes are
    built here as ``segment|market`` (any code works: the measures index by
    the codes they are given). The shift of the scaled market vectors, with
    the household against without, is set against
    :func:`~linkage.release.plan_market_noise`.
    """
    days = (DAY, DAY + timedelta(days=5))
    grid = CellGrid(_CHANNELS[:3], days)
    quarters: list[int] = []  # the shortest dayparts' quarter-hours, three credits each
    left = caps.credits_per_day
    for part in sorted(DAYPARTS, key=lambda dp: len(dp.quarter_hours())):
        for q in part.quarter_hours():
            if left >= 3:
                quarters.append(q)
                left -= 3
    rows: list[tuple[str, str, datetime, datetime]] = []
    for day in days:
        for q in quarters:
            for slot in range(3):
                at = datetime.combine(day, time(0)) + timedelta(minutes=15 * q + 5 * slot)
                rows.append(("worst", _CHANNELS[slot], at, at + timedelta(minutes=5)))
    others = [f"b{j}" for j in range(_BACKGROUND)]
    for j, other in enumerate(others):
        at = datetime.combine(days[j % 2], time(20))
        rows.append((other, _CHANNELS[j % 3], at, at + timedelta(hours=1)))
    view = bound_viewing(_events(rows), grid.channels, engine)
    codes = [ALL_HOUSEHOLDS, *segments]
    wanted = [f"{c}|{BIG_MARKET}" for c in codes]
    plan = plan_market_noise(grid, codes, 1.0, caps)

    def scaled(households: Sequence[str]) -> dict[str, np.typing.NDArray[np.float64]]:
        members = _pairs(
            [(code, h) for code in wanted for h in households], ("segment", "household_id")
        )
        cells, _ = measure_on_grid(
            members, view, grid, engine=engine, credits_per_day=caps.credits_per_day
        )
        return market_measures(cells, wanted, grid).scaled(plan.widths)

    with_home, without = scaled(["worst", *others]), scaled(others)
    return [
        SensitivityCheck(
            "markets",
            name,
            plan.sensitivity[name],
            float(np.sqrt(np.sum((with_home[name] - without[name]) ** 2))),
        )
        for name in ("views", "hut", "reach", "universe")
    ]
