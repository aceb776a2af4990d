"""Seeded inputs the plan tests share: a decoded viewership release and a rate card."""

from __future__ import annotations

import random

import pyarrow as pa

from linkage.measure import DAYPART_NAMES
from linkage.plan import RateCell
from linkage.tables import VIEWERSHIP_SCHEMA

CHANNELS = ("A", "B", "C", "D")
SEGMENTS = ("all_matched", "persuadable", "turnout_target", "persuadable:light")
UNIVERSE = {"all_matched": 5000, "persuadable": 1200, "turnout_target": 900}
UNIVERSE["persuadable:light"] = 400


def viewership(seed: int, *, suppress: frozenset[tuple[str, str]] = frozenset()) -> pa.Table:
    """Decoded viewership: daypart rows (weekday, weekend) and period reach, seeded."""
    rng = random.Random(seed)
    rows: list[dict[str, object]] = []
    for segment in SEGMENTS:
        universe = UNIVERSE[segment]
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
