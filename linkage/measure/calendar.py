"""The public time grid: quarter-hours, dayparts, day types, intensity tiers, the period.

Every figure the provider releases sits in a cell of this grid, and the grid
is public: it is fixed by the calendar and the reporting dates, never by who
watched what. Crediting, the DP sensitivities, the planner and the synthetic
world all read it from here, so a daypart or a day type cannot mean two
things in two stages. The ``*_table`` functions give the grid to the SQL
engine as small dimension tables.

Calendar dates are used throughout, in naive local time: quarter-hour 0 is
midnight and belongs to the date it falls on (no 6 a.m. broadcast day).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Final

import pyarrow as pa

from linkage.engine import Engine
from linkage.errors import InputError

__all__ = [
    "DAYPARTS",
    "DAYPART_NAMES",
    "DAY_SECONDS",
    "DAY_TYPES",
    "EPOCH",
    "INTENSITY_TIERS",
    "QUARTER_HOURS_PER_DAY",
    "QUARTER_HOUR_SECONDS",
    "TIER_NAMES",
    "WEEK_DAYS",
    "Daypart",
    "day_index",
    "day_type",
    "day_types_table",
    "daypart_of",
    "daypart_table",
    "offsets_table",
    "period_table",
    "resolve_period",
]

QUARTER_HOUR_SECONDS: Final = 900
QUARTER_HOURS_PER_DAY: Final = 96
DAY_SECONDS: Final = 86_400

EPOCH: Final = datetime(1970, 1, 1)
"""Naive midnight of day index 0: slots and day indices count from here."""

_EPOCH_DATE: Final = EPOCH.date()


@dataclass(frozen=True)
class Daypart:
    """A named run of quarter-hours; ``end_qh < start_qh`` when it wraps midnight.

    Attributes:
        name: Daypart name as released.
        start_qh: First quarter-hour (0 = 00:00), inclusive.
        end_qh: Quarter-hour after the last one, exclusive (96 = midnight).
    """

    name: str
    start_qh: int
    end_qh: int

    @property
    def wraps_midnight(self) -> bool:
        """True when the daypart runs past midnight."""
        return self.end_qh < self.start_qh

    def quarter_hours(self) -> tuple[int, ...]:
        """The daypart's quarter-hours in broadcast order."""
        if self.wraps_midnight:
            return (*range(self.start_qh, QUARTER_HOURS_PER_DAY), *range(0, self.end_qh))
        return tuple(range(self.start_qh, self.end_qh))


DAYPARTS: tuple[Daypart, ...] = (
    Daypart("early_morning", 24, 36),  # 06:00-09:00
    Daypart("daytime", 36, 64),  # 09:00-16:00
    Daypart("early_fringe", 64, 72),  # 16:00-18:00
    Daypart("prime_access", 72, 80),  # 18:00-20:00
    Daypart("prime", 80, 92),  # 20:00-23:00
    Daypart("late_news", 92, 94),  # 23:00-23:30
    Daypart("late_fringe", 94, 4),  # 23:30-01:00
    Daypart("overnight", 4, 24),  # 01:00-06:00
)
"""Standard US dayparts; together they cover each of the 96 quarter-hours once."""

DAYPART_NAMES: tuple[str, ...] = tuple(dp.name for dp in DAYPARTS)
"""The standard dayparts in broadcast order."""

_QH_DAYPART: dict[int, str] = {qh: dp.name for dp in DAYPARTS for qh in dp.quarter_hours()}
assert sorted(_QH_DAYPART) == list(range(QUARTER_HOURS_PER_DAY))

DAY_TYPES: tuple[str, ...] = ("weekday", "weekend")
"""The released day types, in release order."""

WEEK_DAYS: Mapping[str, int] = {"weekday": 5, "weekend": 2}
"""Days of each day type in a broadcast week: the weights of a weekly spot's rating."""

INTENSITY_TIERS: tuple[tuple[str, float | None], ...] = (
    ("light", 120.0),
    ("medium", 300.0),
    ("heavy", None),
)
"""Viewing-intensity tiers: (name, exclusive upper bound in minutes per day)."""

TIER_NAMES: tuple[str, ...] = tuple(name for name, _ in INTENSITY_TIERS)
"""``light``, ``medium``, ``heavy`` (bounds in :data:`INTENSITY_TIERS`)."""


def daypart_of(quarter_hour: int) -> str:
    """Name of the standard daypart containing ``quarter_hour`` (0-95)."""
    return _QH_DAYPART[quarter_hour]


def day_type(day: date) -> str:
    """``weekend`` for Saturday and Sunday, ``weekday`` otherwise."""
    return "weekend" if day.weekday() >= 5 else "weekday"


def day_index(day: date) -> int:
    """Days since 1970-01-01: the integer the SQL keys a date by."""
    return (day - _EPOCH_DATE).days


def resolve_period(
    viewing: pa.Table | Path, engine: Engine, period: Sequence[date] | None = None
) -> list[date]:
    """The sorted distinct dates of the reporting period.

    Args:
        viewing: Tuning events (``start``, ``end``).
        engine: Engine used to scan ``viewing`` when ``period`` is not given.
        period: Explicit dates; returned sorted and de-duplicated.

    Returns:
        Every calendar date from the first event's start to the last event's
        end when ``period`` is ``None`` (days without any viewing included).

    Raises:
        InputError: ``period`` is empty, or it is ``None`` and there are no events.
    """
    if period is not None:
        days = sorted(set(period))
        if not days:
            raise InputError("the reporting period has no dates")
        return days
    d = engine.dialect
    span = engine.query(
        f"SELECT MIN({d.epoch_seconds(d.ident('start'))}) AS lo, "
        f"MAX({d.epoch_seconds(d.ident('end'))}) AS hi FROM viewing",
        {"viewing": viewing},
    )
    lo, hi = span["lo"][0].as_py(), span["hi"][0].as_py()
    if lo is None or hi is None:
        raise InputError("viewing table has no events", hint="pass an explicit period to report on")
    first = _EPOCH_DATE + timedelta(days=lo // DAY_SECONDS)
    last = _EPOCH_DATE + timedelta(days=max(lo, hi - 1) // DAY_SECONDS)
    return [first + timedelta(days=i) for i in range((last - first).days + 1)]


# The grid as small engine tables: the SQL joins to these instead of
# computing dates, day types and dayparts row by row.


def period_table(days: Sequence[date]) -> pa.Table:
    """``(day_index, dti)`` per reporting date; ``dti`` indexes :data:`DAY_TYPES`."""
    return pa.table(
        {
            "day_index": pa.array([day_index(d) for d in days], pa.int64()),
            "dti": pa.array([DAY_TYPES.index(day_type(d)) for d in days], pa.int64()),
        }
    )


def day_types_table(days: Sequence[date]) -> pa.Table:
    """``(dti, day_type, n_days)`` for the day types present among ``days``."""
    counts = [sum(1 for d in days if day_type(d) == t) for t in DAY_TYPES]
    present = [i for i, n in enumerate(counts) if n]
    return pa.table(
        {
            "dti": pa.array(present, pa.int64()),
            "day_type": pa.array([DAY_TYPES[i] for i in present], pa.string()),
            "n_days": pa.array([counts[i] for i in present], pa.int64()),
        }
    )


def daypart_table() -> pa.Table:
    """``(dpi, daypart, qh)``: each quarter-hour with its daypart and the daypart's index."""
    rows = [(i, dp.name, qh) for i, dp in enumerate(DAYPARTS) for qh in dp.quarter_hours()]
    return pa.table(
        {
            "dpi": pa.array([r[0] for r in rows], pa.int64()),
            "daypart": pa.array([r[1] for r in rows], pa.string()),
            "qh": pa.array([r[2] for r in rows], pa.int64()),
        }
    )


def offsets_table(days: Sequence[date]) -> pa.Table:
    """``k`` = 0 .. slots in the period's date range: the rows an interval expands into."""
    span = (day_index(days[-1]) - day_index(days[0]) + 1) * QUARTER_HOURS_PER_DAY
    return pa.table({"k": pa.array(range(span), pa.int64())})
