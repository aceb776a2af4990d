"""The report builder: every output under its file name, the page embeds the written PNGs."""

from __future__ import annotations

import base64
from datetime import UTC, datetime

import pyarrow as pa
import pyarrow.compute as pc
import pytest

from linkage.errors import InputError
from linkage.report import (
    HEATMAP_CHANNELS,
    INDEX_CSV,
    MATCH_RATES_CSV,
    VIEWERSHIP_CSV,
    build_report,
    decode_viewership,
    figure_png,
    heatmap_figure,
    heatmap_file_name,
    index_scale,
    index_table,
    match_rate_table,
    top_by_index,
    top_channels,
    viewership_csv_table,
)
from tests.report.coded_release import CODES, PERSUADABLE, VOTERS, match_report, viewership

X = "report-2026"
WHEN = datetime(2026, 10, 1, 12, 0, tzinfo=UTC)


def without_weekdays() -> pa.Table:
    table = viewership()
    return table.filter(pc.not_equal(table["day_type"], "weekday"))


def test_tables_are_the_library_tables_under_their_file_names() -> None:
    report = build_report(X, CODES, match_report(), viewership(), voters=VOTERS, generated_at=WHEN)
    decoded = decode_viewership(viewership(), CODES)
    assert list(report.tables) == [VIEWERSHIP_CSV, MATCH_RATES_CSV, INDEX_CSV]
    assert report.tables[VIEWERSHIP_CSV].equals(viewership_csv_table(decoded))
    assert report.tables[MATCH_RATES_CSV].equals(match_rate_table(match_report(), decoded, VOTERS))
    assert report.tables[INDEX_CSV].equals(index_table(decoded))


def test_weekdays_first_when_the_release_has_them() -> None:
    report = build_report(X, CODES, match_report(), viewership(), voters=VOTERS, generated_at=WHEN)
    index = index_table(decode_viewership(viewership(), CODES))
    assert report.top_day_type == "weekday"
    assert list(report.top) == top_by_index(index, per_segment=3, day_type="weekday")
    # Only persuadable has weekday cells; the "all" day type is not drawn beside them.
    name = heatmap_file_name("persuadable", "weekday")
    assert name == "heatmap_persuadable_weekday.png"
    # The top channels by the targets' reach (here every segment), on the page's one scale.
    decoded = decode_viewership(viewership(), CODES)
    channels = top_channels(decoded, sorted(CODES), limit=HEATMAP_CHANNELS)
    figure = heatmap_figure(
        index, "persuadable", day_type="weekday", channels=channels, scale=index_scale(index)
    )
    expected = figure_png(figure)
    assert report.images == {name: expected}


def test_other_day_types_are_drawn_per_segment_in_name_order() -> None:
    report = build_report(
        X, CODES, match_report(), without_weekdays(), voters=VOTERS, generated_at=WHEN
    )
    assert report.top_day_type == "all"
    assert list(report.images) == [
        "heatmap_persuadable_all.png",
        "heatmap_turnout_all.png",
    ]
    assert [(h.segment, h.day_type) for h in report.heatmaps] == [
        ("persuadable", "all"),
        ("turnout", "all"),
    ]


def test_progress_counts_the_heatmaps() -> None:
    calls: list[tuple[int, int]] = []
    build_report(
        X,
        CODES,
        match_report(),
        without_weekdays(),
        voters=VOTERS,
        progress=lambda done, total: calls.append((done, total)),
        generated_at=WHEN,
    )
    assert calls == [(0, 2), (1, 2), (2, 2)]


def test_the_page_embeds_the_written_pngs_and_is_reproducible() -> None:
    first = build_report(
        X, CODES, match_report(), without_weekdays(), voters=VOTERS, generated_at=WHEN
    )
    again = build_report(
        X, CODES, match_report(), without_weekdays(), voters=VOTERS, generated_at=WHEN
    )
    assert first.html is not None and first.html == again.html
    for png in first.images.values():
        assert base64.b64encode(png).decode() in first.html
    assert X in first.html and not first.with_plan


def test_plan_tables_reach_the_page_only_with_html() -> None:
    plan = pa.table({"channel": ["CNN"], "daypart": ["prime"], "spots": [3]})
    with_page = build_report(
        X, CODES, match_report(), viewership(), voters=VOTERS, plan=plan, generated_at=WHEN
    )
    assert with_page.with_plan and with_page.html is not None
    bare = build_report(
        X, CODES, match_report(), viewership(), voters=VOTERS, plan=plan, html=False
    )
    assert bare.html is None and not bare.with_plan
    assert bare.images == with_page.images


def test_the_report_is_immutable() -> None:
    report = build_report(X, CODES, match_report(), viewership(), voters=VOTERS, html=False)
    with pytest.raises(AttributeError):
        report.html = "<p>changed</p>"  # type: ignore[misc]


def test_a_foreign_code_fails_before_anything_is_drawn() -> None:
    calls: list[tuple[int, int]] = []
    view = viewership()
    foreign = view.set_column(
        1, "segment", pa.array(["s9999999999999999", *view["segment"].to_pylist()[1:]])
    )
    with pytest.raises(InputError) as caught:
        build_report(
            X,
            CODES,
            match_report(),
            foreign,
            voters=VOTERS,
            progress=lambda d, t: calls.append((d, t)),
        )
    assert caught.value.row == 0 and calls == []


def test_a_match_report_of_the_old_per_segment_shape_is_refused() -> None:
    old = pa.table({"segment": ["*", PERSUADABLE], "voters": [10, 5]})
    with pytest.raises(InputError, match="match report has no such column"):
        build_report(X, CODES, old, viewership(), voters=VOTERS, html=False)
