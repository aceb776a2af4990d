"""Decoding: codes become names, foreign codes are rejected by row, tables keep their shape."""

from __future__ import annotations

import math

import pyarrow as pa
import pyarrow.compute as pc
import pytest

from linkage.errors import InputError
from linkage.report import (
    MATCH_REPORT_COLUMNS,
    VIEWERSHIP_CSV_COLUMNS,
    decode_viewership,
    match_rate_table,
    projected_match_rates,
    viewership_csv_table,
)
from tests.report.coded_release import CODES, VOTERS, match_report, viewership

# --- decoding ------------------------------------------------------------------


def test_decode_round_trip() -> None:
    original = viewership()
    decoded = decode_viewership(original, CODES)
    assert decoded.schema == original.schema
    names = decoded.column("segment").to_pylist()
    assert set(names) == {"persuadable", "turnout", "all_matched"}
    encode = {"all_matched": "*", **CODES}
    assert [encode[name] for name in names] == original.column("segment").to_pylist()
    for column in original.column_names:
        if column != "segment":
            assert decoded.column(column).equals(original.column(column))


@pytest.mark.parametrize("bad", ["s9999999999999999", None])
def test_unknown_or_null_code_is_rejected_with_its_row(bad: str | None) -> None:
    table = viewership()
    segments = table.column("segment").to_pylist()
    segments[4] = bad
    tampered = table.set_column(1, "segment", pa.array(segments, pa.string()))
    with pytest.raises(InputError) as caught:
        decode_viewership(tampered, CODES)
    assert caught.value.row == 4
    assert caught.value.column == "segment"
    assert "s9999999999999999" not in str(caught.value)


def test_missing_segment_column_is_an_input_error() -> None:
    with pytest.raises(InputError) as caught:
        decode_viewership(viewership().drop_columns(["segment"]), CODES)
    assert caught.value.column == "segment"


# --- viewership.csv -----------------------------------------------------------


def test_viewership_csv_table_columns_rows_and_order() -> None:
    table = viewership_csv_table(decode_viewership(viewership(), CODES))
    assert tuple(table.column_names) == VIEWERSHIP_CSV_COLUMNS
    assert tuple(table.column_names) == (
        "segment",
        "channel",
        "day_type",
        "quarter_hour",
        "universe",
        "aqh_households",
        "rating",
        "share",
        "suppressed",
    )
    keys = [
        (r["segment"], r["channel"], r["day_type"], r["quarter_hour"]) for r in table.to_pylist()
    ]
    assert keys == [
        ("all_matched", "CNN", "all", 80),
        ("persuadable", "CNN", "all", 80),
        ("persuadable", "CNN", "all", 81),
        ("persuadable", "CNN", "weekday", 80),
        ("persuadable", "FOX", "all", 80),
        ("turnout", "CNN", "all", 80),
    ]
    suppressed = table.filter(pc.field("suppressed")).to_pylist()
    assert len(suppressed) == 1
    assert suppressed[0]["rating"] is None
    assert suppressed[0]["aqh_households"] is None
    assert suppressed[0]["universe"] == 1000


# --- index ----------------------------------------------------------------------


# --- match report ----------------------------------------------------------------


def test_match_rates_come_from_own_counts_and_released_universes() -> None:
    decoded = decode_viewership(viewership(), CODES)
    table = match_rate_table(match_report(), decoded, VOTERS)
    assert tuple(table.column_names) == MATCH_REPORT_COLUMNS
    rows = table.to_pylist()
    assert [r["segment"] for r in rows] == ["all_matched", "persuadable", "turnout"]
    assert [r["voters"] for r in rows] == [5000, 2000, 1500]
    # Every segment's released universe is 1,000 households; 1.25 linked records each.
    assert [r["households"] for r in rows] == [1000, 1000, 1000]
    assert [r["matched_voters"] for r in rows] == [1250, 1250, 1250]
    assert math.isclose(rows[1]["match_rate"], 1250 / 2000)
    assert not any(r["suppressed"] for r in rows)


def test_a_segment_the_release_does_not_carry_is_suppressed() -> None:
    decoded = decode_viewership(viewership(), CODES)
    without_turnout = decoded.filter(pc.not_equal(decoded["segment"], "turnout"))
    rows = match_rate_table(match_report(), without_turnout, VOTERS).to_pylist()
    assert rows[2]["segment"] == "turnout" and rows[2]["suppressed"] is True
    assert rows[2]["matched_voters"] is None and rows[2]["match_rate"] is None


def test_match_rates_need_the_global_one_row_report() -> None:
    decoded = decode_viewership(viewership(), CODES)
    with pytest.raises(InputError, match="exactly one row"):
        match_rate_table(pa.concat_tables([match_report()] * 2), decoded, VOTERS)


def test_projected_households_scale_by_match_rate() -> None:
    rates = pa.table(
        {
            "segment": ["all_matched", "persuadable", "turnout"],
            "households": pa.array([400, 150, None], pa.int64()),
            "match_rate": pa.array([0.5, 0.0, None], pa.float64()),
        }
    )
    projected = projected_match_rates(rates)
    assert projected.column_names[-1] == "projected_households"
    assert projected["projected_households"].to_pylist() == [800.0, None, None]
