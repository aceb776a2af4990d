"""Seeded inputs the plan tests share: a decoded viewership release and a rate card.

:func:`market_viewership` is the same release with a ``market`` column: the
statewide rows (``*``) and, per market, that market's own daypart and period
rows on its share of each universe, as ``provider aggregate --markets`` sends.
"""

from __future__ import annotations

import random

import pyarrow as pa

from linkage.measure import DAYPART_NAMES
from linkage.plan import RateCell
from linkage.tables import ALL_MARKETS, VIEWERSHIP_SCHEMA

CHANNELS = ("A", "B", "C", "D")
SEGMENTS = ("all_matched", "persuadable", "turnout_target", "persuadable:light")
UNIVERSE = {"all_matched": 5000, "persuadable": 1200, "turnout_target": 900}
UNIVERSE["persuadable:light"] = 400


MARKETS = {"cleveland": 0.7, "lima": 0.1}
"""Market -> its share of every segment's statewide universe (the rest of the state is unsold)."""
MARKET_SCHEMA = pa.schema(
    [VIEWERSHIP_SCHEMA.field("grain"), pa.field("market", pa.string())]
    + [f for f in VIEWERSHIP_SCHEMA if f.name != "grain"]
)


def viewership(
    seed: int, *, suppress: frozenset[tuple[str, str]] = frozenset(), share: float = 1.0
) -> pa.Table:
    """Decoded viewership: daypart rows (weekday, weekend) and period reach, seeded.

    ``share`` scales every universe (a market's part of the state).
    """
    rng = random.Random(seed)
    rows: list[dict[str, object]] = []
    for segment in SEGMENTS:
        universe = round(UNIVERSE[segment] * share)
        for channel in CHANNELS:
            taste = rng.uniform(0.3, 3.0)
            peak = 0.0
            for name in DAYPART_NAMES:
                for day_type in ("weekday", "weekend"):
                    rating = round(taste * rng.uniform(0.2, 2.0), 4)
                    peak = max(peak, rating)
                    hidden = (segment, channel) in suppress
                    rows.append(
                        cell("daypart", segment, channel, day_type, name, universe, rating, hidden)
                    )
            period = cell("period", segment, channel, "all", "all", universe, peak / 3, False)
            reach = min(100.0, peak * rng.uniform(3.0, 8.0))
            period.update(reach=reach, reach_households=round(reach * universe / 100))
            rows.append(period)
    return pa.Table.from_pylist(rows, schema=VIEWERSHIP_SCHEMA)


def market_viewership(
    seed: int,
    *,
    suppress: frozenset[tuple[str, str, str]] = frozenset(),
    markets: dict[str, float] | None = None,
) -> pa.Table:
    """The statewide release of ``seed`` plus each market's own rows, seeded per market.

    Args:
        seed: Seed of the statewide rows; market ``i`` uses ``seed + 100 * (i + 1)``.
        suppress: (market, segment, channel) cells suppressed in every daypart.
        markets: Market -> share of the statewide universes (default :data:`MARKETS`).
    """
    statewide = viewership(seed)
    parts = [statewide.add_column(1, "market", pa.array([ALL_MARKETS] * statewide.num_rows))]
    for i, (market, share) in enumerate((markets or MARKETS).items()):
        hidden = frozenset((s, c) for m, s, c in suppress if m == market)
        rows = viewership(seed + 100 * (i + 1), suppress=hidden, share=share)
        parts.append(rows.add_column(1, "market", pa.array([market] * rows.num_rows)))
    return pa.concat_tables([p.cast(MARKET_SCHEMA) for p in parts])


def market_ratecard(seed: int, lineups: dict[str, tuple[str, ...]]) -> tuple[RateCell, ...]:
    """A rate card by market: one cell per market, carried channel and daypart, seeded costs."""
    rng = random.Random(seed)
    return tuple(
        RateCell(channel, name, rng.randrange(2_000, 60_000), rng.randrange(1, 6), market)
        for market, channels in lineups.items()
        for channel in channels
        for name in DAYPART_NAMES
    )


def cell(
    grain: str,
    segment: str,
    channel: str,
    day_type: str,
    daypart: str,
    universe: int,
    rating: float,
    hidden: bool,
) -> dict[str, object]:
    return {
        "grain": grain,
        "segment": segment,
        "channel": channel,
        "day_type": day_type,
        "daypart": daypart,
        "quarter_hour": None,
        "universe": universe,
        "aqh_households": None if hidden else rating * universe / 100,
        "rating": None if hidden else rating,
        "share": None if hidden else 10.0,
        "reach_households": None,
        "reach": None,
        "suppressed": hidden,
    }


def ratecard_cells(seed: int) -> tuple[RateCell, ...]:
    rng = random.Random(seed)
    return tuple(
        RateCell(channel, name, rng.randrange(5_000, 200_000), rng.randrange(0, 12))
        for channel in CHANNELS
        for name in DAYPART_NAMES
    )
