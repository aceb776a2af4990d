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
from tests.report.coded_release import CODES, match_report, viewership

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


def test_match_rate_table_decodes_and_orders() -> None:
    report = match_report().append_column("extra", pa.array(["x", "y", "z"]))
    table = match_rate_table(report, CODES)
    assert tuple(table.column_names) == MATCH_REPORT_COLUMNS
    rows = table.to_pylist()
    assert [r["segment"] for r in rows] == ["all_matched", "persuadable", "turnout"]
    assert rows[0]["voters"] == 1000
    assert math.isclose(rows[1]["match_rate"], 0.6)
    assert rows[2]["suppressed"] is True
    assert rows[2]["matched_voters"] is None


def test_match_rate_table_rejects_foreign_codes() -> None:
    report = pa.table(
        {
            "segment": ["*", "s0000000000000000"],
            "voters": [1, 2],
            "matched_voters": [1, 2],
            "households": [1, 2],
            "match_rate": [1.0, 1.0],
            "suppressed": [False, False],
        }
    )
    with pytest.raises(InputError) as caught:
        match_rate_table(report, CODES)
    assert caught.value.row == 1


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
