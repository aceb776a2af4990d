"""Hand-made provider inputs the measure and release tests build: viewing and assignments.

Viewing events are ``(household, channel, start, end)`` with times written
``'MM-DD HH:MM[:SS]'`` in March 2024; the week starts on Monday 4 March.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date, datetime, timedelta

import pyarrow as pa

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
