"""The audience figures: index arithmetic, top buys, heatmaps, deterministic PNG bytes."""

from __future__ import annotations

import io
from typing import Any

import pyarrow.compute as pc
import pytest
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from linkage.errors import InputError
from linkage.report import (
    INDEX_COLUMNS,
    IndexCell,
    decode_viewership,
    figure_png,
    heatmap_figure,
    index_table,
    top_by_index,
)
from tests.report.coded_release import CODES, viewership


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
    assert [t.get_text() for t in axes.get_xticklabels()] == [
        "Daytime\n09:00-16:00",
        "Prime\n20:00-23:00",
    ]
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


def test_figure_png_is_deterministic_and_carries_no_url() -> None:
    table = index_table(decode_viewership(viewership(), CODES))
    first = figure_png(heatmap_figure(table, "persuadable"))
    second = figure_png(heatmap_figure(table, "persuadable"))
    assert first.startswith(b"\x89PNG\r\n\x1a\n")
    assert first == second
    assert b"http" not in first and b"Software" not in first
