"""Tests for linkage.report: decoding, the viewership CSV table, index arithmetic, heatmap."""

from __future__ import annotations

import io
import math
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pytest
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from linkage.errors import InputError
from linkage.report import (
    INDEX_COLUMNS,
    MATCH_REPORT_COLUMNS,
    NOISE_COLUMNS,
    SUPPRESSION_COLUMNS,
    VIEWERSHIP_CSV_COLUMNS,
    IndexCell,
    ReleaseFacts,
    decode_viewership,
    figure_png,
    heatmap_figure,
    index_table,
    match_rate_table,
    noise_table,
    projected_match_rates,
    release_facts,
    suppression_table,
    top_by_index,
    viewership_csv_table,
)

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


def indexed() -> dict[tuple[str, str, str, str], dict[str, Any]]:
    table = index_table(decode_viewership(viewership(), CODES))
    assert tuple(table.column_names) == INDEX_COLUMNS
    return {(r["segment"], r["channel"], r["day_type"], r["daypart"]): r for r in table.to_pylist()}


def test_index_arithmetic_by_hand() -> None:
    cells = indexed()
    assert set(cells) == {
        ("persuadable", "CNN", "all", "prime"),
        ("turnout", "CNN", "all", "prime"),
        ("persuadable", "CNN", "all", "daytime"),
        ("persuadable", "FOX", "all", "prime"),
        ("turnout", "FOX", "all", "prime"),
        ("persuadable", "FOX", "all", "daytime"),
        ("turnout", "FOX", "all", "late_news"),
        ("persuadable", "CNN", "weekday", "prime"),
    }
    assert cells["persuadable", "CNN", "all", "prime"]["index"] == pytest.approx(150.0)
    assert cells["turnout", "CNN", "all", "prime"]["index"] == pytest.approx(50.0)
    assert cells["turnout", "FOX", "all", "prime"]["index"] == pytest.approx(125.0)
    assert cells["persuadable", "CNN", "weekday", "prime"]["index"] == pytest.approx(25.0)
    assert cells["persuadable", "CNN", "weekday", "prime"]["baseline_rating"] == 1.0


def test_index_is_null_where_it_cannot_be_computed() -> None:
    cells = indexed()
    zero_baseline = cells["persuadable", "CNN", "all", "daytime"]
    assert zero_baseline["index"] is None
    assert zero_baseline["suppressed"] is False
    segment_suppressed = cells["persuadable", "FOX", "all", "prime"]
    assert segment_suppressed["index"] is None
    assert segment_suppressed["suppressed"] is True
    baseline_suppressed = cells["persuadable", "FOX", "all", "daytime"]
    assert baseline_suppressed["index"] is None
    assert baseline_suppressed["suppressed"] is True
    no_baseline = cells["turnout", "FOX", "all", "late_news"]
    assert no_baseline["index"] is None
    assert no_baseline["suppressed"] is True


def test_top_by_index() -> None:
    table = index_table(decode_viewership(viewership(), CODES))
    assert top_by_index(table, per_segment=1) == [
        IndexCell("persuadable", "CNN", "prime", 150.0, 3.0),
        IndexCell("turnout", "FOX", "prime", 125.0, 5.0),
    ]
    assert top_by_index(table, per_segment=3) == [
        IndexCell("persuadable", "CNN", "prime", 150.0, 3.0),
        IndexCell("turnout", "FOX", "prime", 125.0, 5.0),
        IndexCell("turnout", "CNN", "prime", 50.0, 1.0),
    ]
    # A rating floor drops the thin cells; another day type ranks its own cells.
    assert top_by_index(table, min_rating=2.0) == [
        IndexCell("persuadable", "CNN", "prime", 150.0, 3.0),
        IndexCell("turnout", "FOX", "prime", 125.0, 5.0),
    ]
    assert top_by_index(table, day_type="weekday") == [
        IndexCell("persuadable", "CNN", "prime", 25.0, 0.25)
    ]


# --- heatmap --------------------------------------------------------------------


def test_heatmap_renders_with_suppressed_cells() -> None:
    table = index_table(decode_viewership(viewership(), CODES))
    figure = heatmap_figure(table, "persuadable")
    assert isinstance(figure, Figure)
    axes = figure.axes[0]
    hatched = [p for p in axes.patches if isinstance(p, Rectangle) and p.get_hatch()]
    # FOX prime (segment suppressed) and FOX daytime (baseline suppressed).
    assert len(hatched) == 2
    assert [t.get_text() for t in axes.get_xticklabels()] == ["daytime", "prime"]
    assert [t.get_text() for t in axes.get_yticklabels()] == ["CNN", "FOX"]
    assert sorted(t.get_text() for t in axes.texts) == ["150"]
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    png = buffer.getvalue()
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    assert len(png) > 1000


def test_heatmap_of_an_unknown_segment_is_an_input_error() -> None:
    table = index_table(decode_viewership(viewership(), CODES))
    with pytest.raises(InputError):
        heatmap_figure(table, "nobody")
    with pytest.raises(InputError):
        heatmap_figure(table, "turnout", day_type="weekend")


def test_heatmap_with_every_cell_suppressed_still_renders() -> None:
    table = index_table(decode_viewership(viewership(), CODES))
    only_hidden = table.filter(pc.field("suppressed"))
    figure = heatmap_figure(only_hidden, "persuadable")
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    assert buffer.getvalue().startswith(b"\x89PNG")


# --- match report ----------------------------------------------------------------


def test_match_rate_table_decodes_and_orders() -> None:
    report = pa.table(
        {
            "segment": [TURNOUT, "*", PERSUADABLE],
            "voters": pa.array([400, 1000, 300], pa.int64()),
            "matched_voters": pa.array([None, 620, 180], pa.int64()),
            "households": pa.array([None, 410, 150], pa.int64()),
            "match_rate": pa.array([None, 0.62, 0.6], pa.float64()),
            "suppressed": [True, False, False],
            "extra": ["x", "y", "z"],
        }
    )
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


# --- the HTML report's inputs -----------------------------------------------------


def test_figure_png_is_deterministic_and_carries_no_url() -> None:
    table = index_table(decode_viewership(viewership(), CODES))
    first = figure_png(heatmap_figure(table, "persuadable"))
    second = figure_png(heatmap_figure(table, "persuadable"))
    assert first.startswith(b"\x89PNG\r\n\x1a\n")
    assert first == second
    assert b"http" not in first and b"Software" not in first


def test_suppression_table_counts_by_segment_and_grain() -> None:
    table = suppression_table(decode_viewership(viewership(), CODES))
    assert tuple(table.column_names) == SUPPRESSION_COLUMNS
    rows = {(r["segment"], r["grain"]): r for r in table.to_pylist()}
    # daypart grain: persuadable has 5 cells, FOX prime suppressed.
    persuadable = rows["persuadable", "daypart"]
    assert (persuadable["cells"], persuadable["suppressed"]) == (5, 1)
    assert math.isclose(rows["persuadable", "daypart"]["suppressed_share"], 1 / 5)
    every = rows["(all segments)", "daypart"]
    assert (every["cells"], every["suppressed"]) == (13, 2)
    assert (rows["persuadable", "quarter_hour"]["suppressed"]) == 1
    segments = [r["segment"] for r in table.to_pylist()]
    assert segments[0] == "all_matched" and segments[-1] == "(all segments)"
    grains = [r["grain"] for r in table.to_pylist() if r["segment"] == "persuadable"]
    assert grains == ["quarter_hour", "daypart", "period"]


def test_release_facts_without_dp_columns() -> None:
    facts = release_facts(decode_viewership(viewership(), CODES))
    assert facts == ReleaseFacts(None, None, None, 1000, ())
    assert noise_table(decode_viewership(viewership(), CODES)).num_rows == 0


def test_all_null_interval_columns_are_not_noise() -> None:
    decoded = decode_viewership(viewership(), CODES)
    exact = decoded.append_column("rating_ci", pa.nulls(decoded.num_rows, pa.float64()))
    assert release_facts(exact).noisy_figures == ()
    assert noise_table(exact).num_rows == 0


def test_release_facts_and_noise_with_dp_columns() -> None:
    decoded = decode_viewership(viewership(), CODES)
    n = decoded.num_rows
    rating = decoded["rating"].to_pylist()
    universe = list(range(500, 500 + n))
    decoded = decoded.set_column(
        decoded.column_names.index("universe"), "universe", pa.array(universe, pa.int64())
    )
    decoded = decoded.append_column("k", pa.array([50] * n, pa.int64()))
    decoded = decoded.append_column("epsilon", pa.array([0.5] * n, pa.float64()))
    decoded = decoded.append_column(
        "rating_ci", pa.array([None if r is None else 0.2 for r in rating], pa.float64())
    )
    decoded = decoded.append_column(
        "aqh_households_low", pa.array([1.0] * n, pa.float64())
    ).append_column("aqh_households_high", pa.array([3.0 + i for i in range(n)], pa.float64()))
    facts = release_facts(decoded)
    assert facts.k == 50 and facts.epsilon == 0.5 and facts.min_universe is None
    assert facts.noisy_figures == ("aqh_households", "rating")
    assert facts.smallest_released_universe == 500  # row 0 is released
    noise = noise_table(decoded)
    assert tuple(noise.column_names) == NOISE_COLUMNS
    rows = {(r["grain"], r["figure"]): r for r in noise.to_pylist()}
    assert rows["daypart", "rating"]["cells"] == 11  # 13 daypart rows, 2 suppressed
    assert math.isclose(rows["daypart", "rating"]["median_half_width"], 0.2)
    hq = rows["quarter_hour", "aqh_households"]
    # quarter-hour rows 0, 2-5 are released: half-widths (2 + i) / 2
    assert hq["cells"] == 5
    assert math.isclose(hq["max_half_width"], (2 + 5) / 2)
