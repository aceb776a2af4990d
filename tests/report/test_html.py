"""Tests for linkage.html_report: structure, escaping, self-containment, plan, privacy."""

from __future__ import annotations

import base64
import hashlib
import re
from dataclasses import replace
from datetime import UTC, datetime
from html.parser import HTMLParser

import pyarrow as pa
import pytest

from linkage.report import (
    CSP,
    MAX_PLAN_ROWS,
    SCRIPT,
    SECTION_IDS,
    Heatmap,
    IndexCell,
    ReleaseFacts,
    ReportContent,
    render_html,
    slug,
)

# A real 1x1 PNG: the page must carry these exact bytes.
PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="
)
EVIL = '<script>alert("x")</script>&"\''


class Page(HTMLParser):
    """Collects what the tests look at: ids of headings, image sources, tags seen."""

    def __init__(self) -> None:
        super().__init__()
        self.h2_ids: list[str] = []
        self.ids: list[str] = []
        self.images: list[str] = []
        self.tags: set[str] = set()
        self.metas: list[dict[str, str | None]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.add(tag)
        found = dict(attrs)
        if found.get("id"):
            self.ids.append(str(found["id"]))
        if tag == "h2":
            self.h2_ids.append(str(found.get("id")))
        if tag == "img":
            self.images.append(str(found.get("src")))
        if tag == "meta":
            self.metas.append(found)


def parse(text: str) -> Page:
    page = Page()
    page.feed(text)
    page.close()
    return page


def content() -> ReportContent:
    rates = pa.table(
        {
            "segment": ["all_matched", "persuadable"],
            "voters": [1000, 200],
            "matched_voters": [600, None],
            "households": [400, None],
            "match_rate": [0.6, None],
            "suppressed": [False, True],
            "projected_households": [666.7, None],
        }
    )
    suppression = pa.table(
        {
            "segment": ["persuadable", "(all segments)"],
            "grain": ["daypart", "daypart"],
            "cells": [10, 20],
            "suppressed": [5, 5],
            "suppressed_share": [0.5, 0.25],
        }
    )
    empty_noise = pa.table(
        {
            "grain": pa.array([], pa.string()),
            "figure": pa.array([], pa.string()),
            "cells": pa.array([], pa.int64()),
            "median_half_width": pa.array([], pa.float64()),
            "max_half_width": pa.array([], pa.float64()),
        }
    )
    return ReportContent(
        exchange_id="oh-2026-10",
        match_rates=rates,
        heatmaps=[
            Heatmap("persuadable", "weekday", PNG, "heatmap_persuadable_weekday.png"),
            Heatmap("persuadable", "weekend", PNG, "heatmap_persuadable_weekend.png"),
        ],
        top=[IndexCell("persuadable", "CNN", "prime", 150.0, 3.0)],
        top_day_type="weekday",
        suppression=suppression,
        facts=ReleaseFacts(None, None, None, 1000, ()),
        noise=empty_noise,
        generated_at=datetime(2026, 10, 1, 12, 0, tzinfo=UTC),
    )


def test_sections_in_order_with_stable_ids() -> None:
    page = parse(render_html(content()))
    assert page.h2_ids == list(SECTION_IDS)
    assert "title" in page.ids and "exchange-id" in page.ids
    assert "heatmap-persuadable" in page.ids
    assert {"figure-persuadable-weekday", "figure-persuadable-weekend"} <= set(page.ids)
    assert len(page.ids) == len(set(page.ids)), "duplicate element ids"


def test_images_are_the_given_png_as_data_uris() -> None:
    page = parse(render_html(content()))
    assert len(page.images) == 2
    for src in page.images:
        prefix = "data:image/png;base64,"
        assert src.startswith(prefix)
        assert base64.b64decode(src.removeprefix(prefix)) == PNG


def test_self_contained_no_network_one_script_allowed_by_hash() -> None:
    text = render_html(content())
    assert not re.search(r"https?://", text, re.IGNORECASE)
    assert "//" not in re.sub(r"data:image/png;base64,[A-Za-z0-9+/=]+", "", text)
    page = parse(text)
    assert not page.tags & {"link", "iframe", "object", "embed"}
    assert "url(" not in text and "@import" not in text
    csp = [m for m in page.metas if m.get("http-equiv") == "Content-Security-Policy"]
    assert [m.get("content") for m in csp] == [CSP]
    assert "default-src 'none'" in CSP and "unsafe-inline" not in CSP.split("script-src")[1]
    # The one script is the one the CSP names by hash, a few KB, with no handler attributes.
    scripts = re.findall(r"<script>(.*?)</script>", text, re.DOTALL)
    assert scripts == [SCRIPT] and len(SCRIPT) < 3000
    digest = base64.b64encode(hashlib.sha256(SCRIPT.encode()).digest()).decode()
    assert f"script-src 'sha256-{digest}'" in CSP
    assert not re.search(r"\son[a-z]+=", text)


def test_everything_from_outside_is_escaped() -> None:
    plan = pa.table({EVIL: [EVIL], "spots": [3]})
    text = render_html(
        replace(
            content(),
            heatmaps=[Heatmap(EVIL, "weekday", PNG, EVIL + ".png")],
            top=[IndexCell(EVIL, EVIL, EVIL, 120.0, 1.0)],
            plan=plan,
            plan_comparison=plan,
            match_rates=pa.table({"segment": [EVIL], "match_rate": [0.5]}),
        )
    )
    assert text.count("<script") == 1  # only the page's own, at the end
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&amp;&quot;&#x27;" in text
    page = parse(text)
    # Attribute values stay inside their quotes: the id is a slug, the alt text escaped.
    assert "heatmap-script-alert-x-script" in page.ids


def test_suppressed_values_and_number_formats() -> None:
    text = render_html(content())
    assert "60.0%" in text  # match rate as a percentage
    assert '<td class="none">—</td>' in text  # suppressed figures
    assert '<td class="num" data-v="1000">1,000</td>' in text  # thousands separator
    assert "voters (voters)" in text and "households (households)" in text  # units
    assert "25.0% of daypart cells were suppressed" in text


def test_projections_are_labelled() -> None:
    text = render_html(content())
    header = re.search(
        r'<th[^>]*><button type="button" class="sort">projected households \(households\)'
        r'</button> <span class="tag">projection',
        text,
    )
    assert header is not None


def test_no_plan_yet_note() -> None:
    page = parse(render_html(content()))
    assert "no-plan" in page.ids
    assert "plan-table" not in page.ids


def test_plan_and_comparison_rendered_and_long_schedules_cut() -> None:
    plan = pa.table(
        {
            "channel": [f"C{i}" for i in range(MAX_PLAN_ROWS + 5)],
            "daypart": ["prime"] * (MAX_PLAN_ROWS + 5),
            "spots": [1] * (MAX_PLAN_ROWS + 5),
        }
    )
    comparison = pa.table(
        {"plan": ["target", "all households"], "projected_reach_voters": [1234.5, 999.0]}
    )
    text = render_html(replace(content(), plan=plan, plan_comparison=comparison))
    page = parse(text)
    assert {"plan-table", "plan-comparison-table", "plan-comparison", "plan-schedule"} <= set(
        page.ids
    )
    assert "no-plan" not in page.ids
    assert f"C{MAX_PLAN_ROWS - 1}<" in text and f"C{MAX_PLAN_ROWS}<" not in text
    assert f"first {MAX_PLAN_ROWS:,} of {MAX_PLAN_ROWS + 5:,} rows" in text
    assert "projected reach voters (voters)</button> <span" in text
    assert "1,234" in text
    # The page's tables fit the width: no sideways scroll box around the plan.
    assert '<div class="fit"><table id="plan-table"' in text


def test_privacy_notes_without_and_with_dp() -> None:
    plain = render_html(content())
    assert "not stated" not in plain
    assert "(k): 50 households, the protocol&#x27;s default" in plain
    assert "no noise was declared" in plain
    assert "1,000 households" in plain
    noise = pa.table(
        {
            "grain": ["daypart"],
            "figure": ["rating"],
            "cells": [12],
            "median_half_width": [0.25],
            "max_half_width": [0.5],
        }
    )
    dp = render_html(
        replace(content(), facts=ReleaseFacts(50, 100, 0.5, 1000, ("rating",)), noise=noise)
    )
    page = parse(dp)
    assert "noise-table" in page.ids
    assert "(k): 50 households (stated in the release)" in dp
    assert "universe: 100 households" in dp and "epsilon 0.5" in dp
    assert "no noise was declared" not in dp
    # With the ledger receipt: this release's spend and the organisation's total.
    spent = render_html(
        replace(
            content(),
            facts=ReleaseFacts(
                None,
                None,
                3.8,
                1000,
                ("rating",),
                rho=0.245,
                rho_spent=0.5,
                epsilon_spent=5.9,
                delta=1e-7,
                ledger_seq=2,
            ),
            noise=noise,
        )
    )
    assert "epsilon 3.80, rho 0.245" in spent and "delta 1e-07" in spent
    assert "release 2 to this organisation; rho 0.5 (epsilon 5.90) spent in total" in spent


def test_deterministic() -> None:
    assert render_html(content()) == render_html(content())


@pytest.mark.parametrize(
    ("text", "expected"),
    [("turnout_target", "turnout-target"), ("A B", "a-b"), ("<>", "x"), ("Día 1", "d-a-1")],
)
def test_slug(text: str, expected: str) -> None:
    assert slug(text) == expected


def test_ids_stay_unique_when_names_slug_alike() -> None:
    charts = [
        Heatmap("a b", "weekday", PNG, "1.png"),
        Heatmap("a-b", "weekday", PNG, "2.png"),
    ]
    page = parse(render_html(replace(content(), heatmaps=charts)))
    assert len(page.ids) == len(set(page.ids))
    assert {"heatmap-a-b", "heatmap-a-b-2"} <= set(page.ids)


def test_a_repeated_long_text_column_becomes_one_note() -> None:
    note = "projection: matched-household figures scaled to every voter in the segment"
    comparison = pa.table(
        {"plan": ["optimized", "all_households"], "reach": [55.5, 41.2], "projection": [note] * 2}
    )
    text = render_html(
        replace(content(), plan=pa.table({"spots": [1]}), plan_comparison=comparison)
    )
    assert text.count(note) == 1
    assert f'<span class="tag">projection</span> {note}</p>' in text
    header = text[text.index('id="plan-comparison-table"') :].split("</thead>")[0]
    assert '<th><button type="button" class="sort">plan</button></th>' in header
    assert "projection" not in header
