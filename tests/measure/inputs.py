"""Hand-made provider inputs the measure and release tests build: viewing and assignments.

Viewing events are ``(household, channel, start, end)`` with times written
``'MM-DD HH:MM[:SS]'`` in March 2024; the week starts on Monday 4 March.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date, datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc

from linkage.engine import Engine
from linkage.measure import viewership_of_members
from linkage.tables import TIER_SEPARATOR

_SEP = "\x1f"

MONDAY = date(2024, 3, 4)
WEEK = [MONDAY + timedelta(days=i) for i in range(7)]

Event = tuple[str, str, str, str]


def ts(text: str) -> datetime:
    """'MM-DD HH:MM[:SS]' in March 2024."""
    fmt = "%Y-%m-%d %H:%M:%S" if text.count(":") == 2 else "%Y-%m-%d %H:%M"
    return datetime.strptime(f"2024-{text}", fmt)


def viewing(events: Sequence[Event]) -> pa.Table:
    """A viewing table (household, channel, start, end) of ``events``."""
    return pa.table(
        {
            "household_id": pa.array([e[0] for e in events], pa.string()),
            "channel": pa.array([e[1] for e in events], pa.string()),
            "start": pa.array([ts(e[2]) for e in events], pa.timestamp("s")),
            "end": pa.array([ts(e[3]) for e in events], pa.timestamp("s")),
        }
    )


def assign(pairs: Mapping[str, Sequence[str]]) -> pa.Table:
    """Segment assignments: one ``(household_id, segment)`` row per household of each segment."""
    rows = [(hh, seg) for seg, hhs in pairs.items() for hh in hhs]
    return pa.table(
        {
            "household_id": pa.array([r[0] for r in rows], pa.string()),
            "segment": pa.array([r[1] for r in rows], pa.string()),
        }
    )


def households(prefix: str, n: int) -> list[str]:
    """``n`` household ids: ``prefix0`` ... ``prefix{n-1}``."""
    return [f"{prefix}{i}" for i in range(n)]


def two_pass_market_cells(
    members: pa.Table,
    viewing: pa.Table | Path,
    markets: pa.Table,
    *,
    channels: Sequence[str],
    period: Sequence[date],
    engine: Engine,
    credits_per_day: int | None,
) -> pa.Table:
    """The oracle for one-pass market cells: crossed codes measured by a second pass.

    Each member row becomes ``segment + "\\x1f" + market`` (tiers left out), is
    measured by :func:`linkage.measure.viewership_of_members` and split back into
    ``segment`` and ``market``.
    """
    plain = members.filter(pc.invert(pc.match_substring(members["segment"], TIER_SEPARATOR)))
    placed = plain.join(markets, "household_id", join_type="inner")
    crossed = pa.table(
        {
            "segment": pc.binary_join_element_wise(placed["segment"], placed["market"], _SEP),
            "household_id": placed["household_id"],
        }
    )
    cells = viewership_of_members(
        crossed,
        viewing,
        channels=channels,
        engine=engine,
        period=period,
        credits_per_day=credits_per_day,
    )
    parts = pc.split_pattern(cells["segment"], _SEP)
    cells = cells.set_column(1, "segment", pc.list_element(parts, 0))
    return cells.append_column("market", pc.list_element(parts, 1))
