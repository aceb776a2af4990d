"""Tests for linkage.report.delivery: decoding, plan against delivery, and the page's section."""

from __future__ import annotations

from dataclasses import replace

import pyarrow as pa
import pytest

from linkage.errors import InputError
from linkage.report import (
    PLAN_DELIVERY_COLUMNS,
    decode_delivery,
    delivery_sorted,
    plan_vs_delivery,
    render_html,
)
from linkage.tables import DELIVERY_SCHEMA
from tests.report.test_html import content, parse

CODES = {"persuadable": "s7f2", "turnout": "s0a1"}


def payload() -> pa.Table:
    rows = []
    for market in ("*", "toledo", "cleveland"):
        for code, trps in (("*", 120.0), ("s7f2", 80.0), ("s7f2:light", 40.0), ("s0a1", 0.0)):
            hidden = market == "toledo" and code == "s0a1"
            rows.append(
                {
                    "market": market,
                    "segment": code,
                    "spots": 12,
                    "universe": 1000,
                    "impressions": None if hidden else trps * 10,
                    "trps": None if hidden else trps,
                    "reach_households": None if hidden else 300,
                    "reach": None if hidden else 30.0,
                    "frequency": None if hidden else 4.0,
                    "light_reach": 20.0 if code == "s7f2" else None,
                    "suppressed": hidden,
                    "impressions_ci": None if hidden else 50.0,
                    "trps_ci": None if hidden else 5.0,
                    "reach_ci": None if hidden else 3.0,
                    "frequency_ci": None if hidden else 0.5,
                    "light_reach_ci": 4.0 if code == "s7f2" else None,
                    "frequency_cap": 30,
                    "k": 50,
                    "min_universe": 100,
                }
            )
    return pa.Table.from_pylist(rows, schema=DELIVERY_SCHEMA)


def comparison() -> pa.Table:
    return pa.table(
        {
            "market": ["*", "*", "toledo", "*"],
            "plan": ["optimized", "optimized", "optimized", "greedy"],
            "segment": ["persuadable", "all_matched", "persuadable", "persuadable"],
            "trps": [100.0, 150.0, 90.0, 999.0],
            "reach": [40.0, 50.0, 35.0, 1.0],
            "cost": [5000.0, 5000.0, 2000.0, 1.0],
        }
    )


def plan() -> pa.Table:
    return pa.table(
        {
            "market": ["toledo", "cleveland"],
            "channel": ["WTOL", "WKYC"],
            "cost": [2000.0, 3000.0],
        }
    )


def test_decoding_names_segments_and_tiers() -> None:
    named = delivery_sorted(decode_delivery(payload(), CODES))
    assert named["market"].to_pylist()[:4] == ["*"] * 4
    assert set(named["segment"].to_pylist()) == {
        "all_matched",
        "persuadable",
        "persuadable:light",
        "turnout",
    }
    with pytest.raises(InputError):
        decode_delivery(payload(), {"persuadable": "s7f2"})  # s0a1 is not ours
    with pytest.raises(InputError, match="delivery"):
        decode_delivery(payload().drop_columns(["trps"]), CODES)


def test_plan_against_delivery_per_market_and_segment() -> None:
    named = decode_delivery(payload(), CODES)
    table = plan_vs_delivery(named, plan=plan(), plan_comparison=comparison())
    assert tuple(table.column_names) == PLAN_DELIVERY_COLUMNS
    rows = {(r["market"], r["segment"]): r for r in table.to_pylist()}
    # The plan has figures for persuadable and all_matched: turnout and tiers are left out.
    assert set(rows) == {
        (m, s) for m in ("*", "cleveland", "toledo") for s in ("all_matched", "persuadable")
    }
    assert [(r["market"], r["segment"]) for r in table.to_pylist()][:2] == [
        ("*", "all_matched"),
        ("*", "persuadable"),
    ]
    state = rows[("*", "persuadable")]
    assert (state["planned_trps"], state["delivered_trps"]) == (100.0, 80.0)
    assert state["cost"] == 5000.0 and state["cost_per_delivered_point"] == pytest.approx(62.5)
    assert state["light_reach"] == 20.0
    toledo = rows[("toledo", "persuadable")]
    assert toledo["planned_trps"] == 90.0 and toledo["cost"] == 2000.0
    assert rows[("cleveland", "persuadable")]["planned_trps"] is None  # no market row planned


def test_without_a_plan_every_plain_segment_shows_and_suppressed_rows_have_no_cost() -> None:
    table = plan_vs_delivery(decode_delivery(payload(), CODES))
    rows = {(r["market"], r["segment"]): r for r in table.to_pylist()}
    assert ("toledo", "turnout") in rows
    hidden = rows[("toledo", "turnout")]
    assert hidden["suppressed"] and hidden["cost_per_delivered_point"] is None
    assert all(r["planned_trps"] is None for r in rows.values())


def test_the_page_shows_the_section_only_with_a_delivery() -> None:
    bare = parse(render_html(content()))
    assert "delivery" in bare.h2_ids and "no-delivery" in bare.ids
    versus = plan_vs_delivery(decode_delivery(payload(), CODES), plan_comparison=comparison())
    page = parse(render_html(replace(content(), delivery=versus)))
    assert "delivery-table" in page.ids and "no-delivery" not in page.ids
