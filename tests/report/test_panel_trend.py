"""Tests for linkage.report.trend: week-over-week changes, retention, the campaign's week map."""

from __future__ import annotations

import math
from dataclasses import replace
from datetime import date

import pyarrow as pa
import pytest

from linkage.errors import InputError
from linkage.report import (
    RETENTION_CSV,
    TREND_CSV,
    decode_retention,
    render_html,
    week_over_week,
    week_to_week_map,
    weekly_trend,
)
from linkage.tables import RETENTION_SCHEMA
from tests.report.test_html import EVIL, content, parse


def release(rating: float, *, market: bool, suppressed_b: bool = False) -> pa.Table:
    """Decoded rows: segment a and its tier at two grains, plus a market row when asked."""
    rows = [
        # grain, segment, channel, day_type, daypart, rating, reach, suppressed
        ("daypart", "a", "c1", "weekday", "prime", rating, None, False),
        ("period", "a", "c1", "all", "all", rating / 2, 30.0 + rating, False),
        ("period", "a:light", "c1", "all", "all", 1.0, 1.0, False),
        ("period", "b", "c1", "all", "all", None if suppressed_b else 2.0, 5.0, suppressed_b),
        ("period", EVIL, "c1", "all", "all", 1.0, 1.0, False),
    ]
    table = pa.table(
        {
            "grain": [r[0] for r in rows],
            "segment": [r[1] for r in rows],
            "channel": [r[2] for r in rows],
            "day_type": [r[3] for r in rows],
            "daypart": [r[4] for r in rows],
            "rating": pa.array([r[5] for r in rows], pa.float64()),
            "share": pa.array([10.0] * len(rows), pa.float64()),
            "reach": pa.array([r[6] for r in rows], pa.float64()),
            "rating_ci": pa.array([0.3] * len(rows), pa.float64()),
            "share_ci": pa.array([1.0] * len(rows), pa.float64()),
            "reach_ci": pa.array([0.4] * len(rows), pa.float64()),
            "suppressed": [r[7] for r in rows],
        }
    )
    if not market:
        return table
    table = table.append_column("market", pa.array(["*"] * table.num_rows))
    extra = table.slice(0, 1).set_column(
        table.schema.get_field_index("market"), "market", pa.array(["dayton"])
    )
    return pa.concat_tables([table, extra])


def test_week_over_week_changes_and_combined_intervals() -> None:
    # The earlier week has no market column, the later one has: both are read statewide.
    changes = week_over_week(
        release(4.0, market=False), release(5.0, market=True, suppressed_b=True),
        previous_exchange="w1", exchange="w2",
    )  # fmt: skip
    rows = {(r["grain"], r["segment"]): r for r in changes.to_pylist()}
    assert ("period", "a:light") not in rows  # tiers are left out
    assert len(changes.filter(pa.compute.equal(changes["segment"], "a"))) == 2  # no market row
    prime = rows[("daypart", "a")]
    assert prime["rating_previous"] == 4.0 and prime["rating"] == 5.0
    assert prime["rating_change"] == pytest.approx(1.0)
    assert prime["rating_change_ci"] == pytest.approx(math.sqrt(2) * 0.3)
    assert prime["reach_change"] is None and prime["reach_change_ci"] is None
    period = rows[("period", "a")]
    assert period["reach_change"] == pytest.approx(1.0)
    assert period["reach_change_ci"] == pytest.approx(math.sqrt(2) * 0.4)
    assert period["exchange"] == "w2" and period["previous_exchange"] == "w1"
    # Suppressed in the later week: no change, no interval.
    b = rows[("period", "b")]
    assert b["rating_change"] is None and b["rating_change_ci"] is None


def test_weekly_trend_chains_weeks_and_refuses_repeats() -> None:
    weeks = [(f"w{i}", release(float(i), market=False)) for i in (1, 2, 3)]
    trend = weekly_trend(weeks)
    assert trend.weeks == ("w1", "w2", "w3")
    assert set(trend.changes["previous_exchange"].to_pylist()) == {"w1", "w2"}
    assert set(trend.tables) == {TREND_CSV}
    with pytest.raises(ValueError):
        weekly_trend([weeks[0], weeks[0]])
    only = weekly_trend(weeks[:1])
    assert only.changes.num_rows == 0 and only.changes.schema == trend.changes.schema
    # One week of a release by market (a retention in the inbox, no --previous).
    alone = weekly_trend([("w1", release(1.0, market=True))])
    assert alone.changes.num_rows == 0


def retention_payload() -> pa.Table:
    return pa.table(
        {
            "segment": ["*", "C1", "C1"],
            "channel": ["c1", "c1", "c2"],
            "earlier_first_day": [date(2024, 3, 4)] * 3,
            "earlier_last_day": [date(2024, 3, 10)] * 3,
            "earlier_households": [900, None, 120],
            "both_households": [600, None, 60],
            "retention": [66.7, None, 50.0],
            "retention_ci": [4.0, None, 9.0],
            "suppressed": [False, True, False],
            "k": [50] * 3,
            "rho": [0.01] * 3,
        },
        schema=RETENTION_SCHEMA,
    )


def test_decode_retention_names_segments_and_refuses_foreign_codes() -> None:
    decoded = decode_retention(retention_payload(), {"persuadable": "C1"})
    assert decoded["segment"].to_pylist() == ["all_matched", "persuadable", "persuadable"]
    assert decoded["suppressed"].to_pylist() == [False, False, True]
    assert "rho" not in decoded.column_names and "k" not in decoded.column_names
    with pytest.raises(InputError):
        decode_retention(retention_payload(), {"persuadable": "C9"})


def test_trend_section_in_the_page() -> None:
    page = render_html(content())
    assert 'id="trend"' in page and "--previous EXCHANGE" in page
    assert 'id="trend-table"' not in page
    decoded = decode_retention(retention_payload(), {"persuadable": "C1"})
    trend = weekly_trend(
        [("w1", release(4.0, market=False)), ("w2", release(5.0, market=False))], decoded
    )
    assert set(trend.tables) == {TREND_CSV, RETENTION_CSV}
    page = render_html(replace(content(), trend=trend))
    parsed = parse(page)
    assert "trend-table" in parsed.ids and "retention-table" in parsed.ids
    assert "w1 → w2" in page
    assert EVIL not in page  # segment names are escaped


def test_week_to_week_map_keeps_voters_in_both_weeks() -> None:
    before = pa.table({"rid": ["a1", "a2", "a3"], "voter_id": ["V1", "V2", "V3"]})
    after = pa.table({"rid": ["b9", "b1", "b4"], "voter_id": ["V3", "V1", "V4"]})
    mapped = week_to_week_map(before, after)
    assert mapped.column_names == ["previous_rid", "rid"]
    assert mapped.to_pylist() == [
        {"previous_rid": "a1", "rid": "b1"},
        {"previous_rid": "a3", "rid": "b9"},
    ]
