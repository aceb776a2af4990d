"""A small coded ``viewership`` release and match report the report tests share, with codes.

Every awkward case is in it once: rows out of order, a suppressed cell, a
zero baseline, a suppressed baseline, a cell without a baseline, a second
day type and period rows the tables must ignore.
"""

from __future__ import annotations

from typing import Any

import pyarrow as pa

PERSUADABLE = "s1a2b3c4d5e6f7081"
TURNOUT = "s0f1e2d3c4b5a6978"
CODES = {"persuadable": PERSUADABLE, "turnout": TURNOUT}

SCHEMA = pa.schema(
    [
        ("grain", pa.string()),
        ("segment", pa.string()),
        ("channel", pa.string()),
        ("day_type", pa.string()),
        ("daypart", pa.string()),
        ("quarter_hour", pa.int16()),
        ("universe", pa.int64()),
        ("aqh_households", pa.float64()),
        ("rating", pa.float64()),
        ("share", pa.float64()),
        ("reach_households", pa.int64()),
        ("reach", pa.float64()),
        ("suppressed", pa.bool_()),
    ]
)


def row(
    grain: str,
    segment: str,
    channel: str,
    daypart: str,
    rating: float | None,
    *,
    day_type: str = "all",
    quarter_hour: int | None = None,
) -> dict[str, Any]:
    suppressed = rating is None
    return {
        "grain": grain,
        "segment": segment,
        "channel": channel,
        "day_type": day_type,
        "daypart": daypart,
        "quarter_hour": quarter_hour,
        "universe": 1000,
        "aqh_households": None if rating is None else rating * 10,
        "rating": rating,
        "share": None if rating is None else rating * 3,
        "reach_households": None,
        "reach": None,
        "suppressed": suppressed,
    }


def viewership() -> pa.Table:
    rows = [
        # quarter-hour grain, deliberately out of order; one suppressed cell
        row("quarter_hour", TURNOUT, "CNN", "prime", 1.5, quarter_hour=80),
        row("quarter_hour", PERSUADABLE, "FOX", "prime", None, quarter_hour=80),
        row("quarter_hour", PERSUADABLE, "CNN", "prime", 3.0, quarter_hour=81),
        row("quarter_hour", PERSUADABLE, "CNN", "prime", 2.5, quarter_hour=80),
        row("quarter_hour", "*", "CNN", "prime", 2.0, quarter_hour=80),
        row("quarter_hour", PERSUADABLE, "CNN", "prime", 2.0, quarter_hour=80, day_type="weekday"),
        # daypart grain
        row("daypart", "*", "CNN", "prime", 2.0),
        row("daypart", PERSUADABLE, "CNN", "prime", 3.0),  # 150
        row("daypart", TURNOUT, "CNN", "prime", 1.0),  # 50
        row("daypart", "*", "CNN", "daytime", 0.0),
        row("daypart", PERSUADABLE, "CNN", "daytime", 0.5),  # baseline 0 -> null
        row("daypart", "*", "FOX", "prime", 4.0),
        row("daypart", PERSUADABLE, "FOX", "prime", None),  # suppressed
        row("daypart", TURNOUT, "FOX", "prime", 5.0),  # 125
        row("daypart", "*", "FOX", "daytime", None),  # baseline suppressed
        row("daypart", PERSUADABLE, "FOX", "daytime", 1.0),
        row("daypart", TURNOUT, "FOX", "late_news", 0.3),  # no baseline row
        row("daypart", "*", "CNN", "prime", 1.0, day_type="weekday"),
        row("daypart", PERSUADABLE, "CNN", "prime", 0.25, day_type="weekday"),  # 25
        # period grain is ignored by every table here
        row("period", PERSUADABLE, "CNN", "prime", 9.0),
    ]
    return pa.Table.from_pylist(rows, schema=SCHEMA)


def match_report() -> pa.Table:
    """A coded match report: both segments and ``*``, out of order, one suppressed."""
    return pa.table(
        {
            "segment": [TURNOUT, "*", PERSUADABLE],
            "voters": pa.array([400, 1000, 300], pa.int64()),
            "matched_voters": pa.array([None, 620, 180], pa.int64()),
            "households": pa.array([None, 410, 150], pa.int64()),
            "match_rate": pa.array([None, 0.62, 0.6], pa.float64()),
            "suppressed": [True, False, False],
        }
    )
