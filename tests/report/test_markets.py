"""The Markets section: universes and suppression per market, the plan by market, the page."""

from __future__ import annotations

from datetime import UTC, datetime

import pyarrow as pa
import pyarrow.compute as pc
import pytest

from linkage.measure import tier_codes
from linkage.plan import PlanRequest, PlanResult, make_plan, market_rows, statewide_rows
from linkage.report import (
    CSP,
    MARKET_PLAN_COLUMNS,
    MARKET_RELEASE_COLUMNS,
    best_buys,
    build_report,
    decode_viewership,
    market_plan_table,
    market_release_table,
    market_summary,
    viewing_coverage,
)
from linkage.tables import ALL_MARKETS, ALL_MATCHED
from tests.plan.release import CHANNELS, market_ratecard, market_viewership
from tests.report.coded_release import match_report

CODES = {"persuadable": "s1a2b3c4d5e6f7081", "turnout_target": "s0f1e2d3c4b5a6978"}
LINEUPS = {"cleveland": CHANNELS, "lima": ("A", "B")}
TARGETS = ["persuadable", "turnout_target"]
# Lima's thin cells: suppressed in every daypart, as the k rule would.
HIDDEN = frozenset(
    {("lima", s, c) for s in ("persuadable", "turnout_target", "persuadable:light") for c in "AB"}
    | {("cleveland", "persuadable:light", "A")}
)


def released() -> pa.Table:
    return market_viewership(7, suppress=HIDDEN)


def coded(decoded: pa.Table) -> pa.Table:
    """The release as the provider sends it: segment codes, ``*`` for all matched."""
    names = {ALL_MATCHED: "*"} | CODES
    codes = []
    for name in decoded["segment"].to_pylist():
        base, _, tier = str(name).partition(":")
        codes.append(names[base] + (f":{tier}" if tier else ""))
    return decoded.set_column(decoded.column_names.index("segment"), "segment", pa.array(codes))


def plan() -> PlanResult:
    request = PlanRequest({"persuadable": 0.5, "turnout_target": 0.5}, 30_000.0)
    return make_plan(market_ratecard(7, LINEUPS), released(), request)


def comparison() -> pa.Table:
    return plan().comparison


def test_release_table_shows_small_markets_suppressed_more() -> None:
    table = market_release_table(released(), TARGETS)
    assert tuple(table.column_names) == MARKET_RELEASE_COLUMNS
    rows = {(r["market"], r["segment"]): r for r in table.to_pylist()}
    assert [r["market"] for r in table.to_pylist()][:3] == [ALL_MARKETS] * 3
    assert rows[("lima", "persuadable")]["suppressed_share"] > 0.4
    assert rows[(ALL_MARKETS, "persuadable")]["suppressed_share"] == 0.0
    lima = market_rows(released(), "lima")
    universe = lima.filter(pc.equal(lima["segment"], "persuadable"))["universe"][0].as_py()
    assert rows[("lima", "persuadable")]["universe"] == universe
    summary = market_summary(released(), TARGETS)
    assert summary.sentence is not None
    assert "small markets lose more" in summary.sentence and summary.sentence.index(
        "lima"
    ) < summary.sentence.index("cleveland")
    assert market_release_table(statewide_rows(released()), TARGETS).num_rows == 0


def test_plan_table_by_market() -> None:
    table = market_plan_table(comparison())
    assert tuple(table.column_names) == MARKET_PLAN_COLUMNS
    markets = table["market"].to_pylist()
    assert markets[0] == ALL_MARKETS and {"cleveland", "lima"} <= set(markets)
    rows = {(r["market"], r["segment"]): r for r in table.to_pylist()}
    whole = rows[(ALL_MARKETS, "persuadable")]["cost"]
    assert whole == pytest.approx(sum(rows[(m, "persuadable")]["cost"] for m in LINEUPS))
    assert set(table["segment"].to_pylist()) == {*TARGETS, "weighted_target"}
    assert market_plan_table(None).num_rows == 0


def test_best_buys_carry_the_market_and_rank_on_statewide_points() -> None:
    decoded = released()
    cells = market_ratecard(7, LINEUPS)
    buys = best_buys(decoded, cells, ["persuadable"], per_segment=100)
    assert buys and all(b.market in LINEUPS for b in buys)
    # Lima's persuadable cells are all suppressed: no buy there.
    assert not any(b.market == "lima" for b in buys)
    share = {
        r["segment"]: r["universe"]
        for r in market_rows(decoded, "cleveland").to_pylist()
        if r["grain"] == "period"
    }["persuadable"] / 1200
    for b in buys:
        assert b.cost_per_point == pytest.approx(b.cost_per_spot / (b.conservative_rating * share))
    costs = [b.cost_per_point for b in buys]
    assert costs == sorted(costs)


def test_the_report_renders_the_markets_section() -> None:
    decoded = released()
    report = build_report(
        "oh-2026-10",
        CODES,
        match_report(),
        coded(decoded),
        voters={"all_matched": 9000, "persuadable": 2000, "turnout_target": 1500},
        plan=plan().schedule,
        plan_comparison=comparison(),
        ratecard=market_ratecard(7, LINEUPS),
        generated_at=datetime(2026, 10, 1, tzinfo=UTC),
    )
    page = report.html or ""
    assert '<h2 id="markets">' in page and 'id="market-release-table"' in page
    assert 'id="market-plan-table"' in page and 'id="market-suppression"' in page
    assert f'content="{CSP}"' in page.replace("&#x27;", "'")
    assert page.index('id="plan"') < page.index('id="markets"') < page.index('id="suppression"')
    # The plan section compares whole plans; the markets' own rows are in the Markets section.
    start = page.index('id="plan-comparison-table"')
    assert "cleveland" not in page[start : page.index("</table>", start)]
    start = page.index('id="market-plan-table"')
    assert "cleveland" in page[start : page.index("</table>", start)]
    # Statewide figures ignore the market rows; the headline buys name their market.
    assert report.best_buys and all(b.market in LINEUPS for b in report.best_buys)
    assert report.viewership.num_rows == 0  # no quarter-hour rows in this release
    statewide = viewing_coverage(
        statewide_rows(decode_viewership(coded(decoded), tier_codes(CODES)))
    )
    assert set(statewide) >= {"persuadable", "turnout_target"}
    plain = build_report(
        "oh-2026-10",
        CODES,
        match_report(),
        coded(statewide_rows(decoded)),
        voters={"all_matched": 9000, "persuadable": 2000, "turnout_target": 1500},
        generated_at=datetime(2026, 10, 1, tzinfo=UTC),
    )
    assert report.index.equals(plain.index)
    assert 'id="no-markets"' in (plain.html or "")
