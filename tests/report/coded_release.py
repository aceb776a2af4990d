"""A small coded ``viewership`` release, match report and voter counts the report tests share.

Every awkward case is in it once: rows out of order, a suppressed cell, a
zero baseline, a suppressed baseline, a cell without a baseline, a second
day type and period rows the tables must ignore.
"""

from __future__ import annotations

from typing import Any

import pyarrow as pa

from linkage.tables import MATCH_REPORT_SCHEMA

PERSUADABLE = "s1a2b3c4d5e6f7081"
TURNOUT = "s0f1e2d3c4b5a6978"
CODES = {"persuadable": PERSUADABLE, "turnout": TURNOUT}
VOTERS = {"all_matched": 5000, "persuadable": 2000, "turnout": 1500}
"""The campaign's own record counts per segment (its state at tokenize)."""

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
    """The matcher's global report: one row, 1.25 linked records per linked household."""
    return pa.Table.from_pylist(
        [
            {
                "linked_households": 1000,
                "linked_records": 1250,
                "records_cap": 8,
                "est_precision": 0.98,
                "est_recall": None,
                "households_ci": 19.6,
                "records_ci": 156.8,
                "rho": 0.005,
            }
        ],
        schema=MATCH_REPORT_SCHEMA,
    )
