"""Planning by TV market: statewide points, per-market budgets and line-ups, refusals."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc
import pytest

from linkage.errors import InputError
from linkage.measure import spot_ratings
from linkage.plan import (
    COMPARISON_COLUMNS,
    PlanRequest,
    check_feasible,
    combine_market_reach,
    make_plan,
    market_rows,
    parse_market_budgets,
    parse_ratecard,
    project_comparison,
    release_markets,
    statewide_rows,
)
from linkage.tables import ALL_MARKETS
from tests.plan.release import (
    CHANNELS,
    UNIVERSE,
    market_ratecard,
    market_viewership,
    ratecard_cells,
    viewership,
)

LINEUPS = {"cleveland": CHANNELS, "lima": ("A", "B")}


def request(
    budget: float = 40_000.0, market_budgets: dict[str, float] | None = None
) -> PlanRequest:
    return PlanRequest(
        {"persuadable": 0.5, "turnout_target": 0.5}, budget, market_budgets=market_budgets
    )


def spent_by_market(schedule: pa.Table) -> dict[str, float]:
    spent: dict[str, float] = {}
    for market, cost in zip(
        schedule["market"].to_pylist(), schedule["cost"].to_pylist(), strict=True
    ):
        spent[market] = spent.get(market, 0.0) + cost
    return spent


def test_release_rows_split_by_market() -> None:
    decoded = market_viewership(0)
    assert release_markets(decoded) == ("cleveland", "lima")
    assert set(statewide_rows(decoded)["market"].to_pylist()) == {ALL_MARKETS}
    assert set(market_rows(decoded, "lima")["market"].to_pylist()) == {"lima"}
    plain = viewership(0)
    assert release_markets(plain) == () and statewide_rows(plain) is plain


def test_market_budgets_and_lineups_are_respected() -> None:
    cells = market_ratecard(1, LINEUPS)
    budgets = {"cleveland": 9_000.0, "lima": 2_500.0}
    result = make_plan(cells, market_viewership(1), request(market_budgets=budgets))
    spent = spent_by_market(result.schedule)
    assert spent and all(spent[m] <= budgets[m] + 1e-9 for m in spent)
    carried = {(c.market, c.channel) for c in cells}
    pairs = zip(
        result.schedule["market"].to_pylist(), result.schedule["channel"].to_pylist(), strict=True
    )
    assert all(pair in carried for pair in pairs)
    assert result.schedule.column_names[0] == "market"
    # The baselines obey the same per-market budgets.
    assert all(spent_by_market(result.baseline_schedule)[m] <= budgets[m] + 1e-9 for m in spent)
    # A market the option does not name gets nothing.
    only = make_plan(cells, market_viewership(1), request(market_budgets={"cleveland": 9_000.0}))
    assert set(only.schedule["market"].to_pylist()) == {"cleveland"}


def test_one_budget_is_split_and_counted_in_statewide_points() -> None:
    cells = market_ratecard(2, LINEUPS)
    decoded = market_viewership(2)
    result = make_plan(cells, decoded, request(budget=30_000.0))
    assert result.optimized.cost <= 3_000_000
    assert tuple(result.comparison.column_names) == COMPARISON_COLUMNS
    # plan.csv's points are statewide: a market rating point x the market's universe share.
    ratings = {
        m: {
            (r["segment"], r["channel"], r["daypart"]): r["rating"] or 0.0
            for r in spot_ratings(market_rows(decoded, m)).to_pylist()
        }
        for m in LINEUPS
    }
    universe = {
        m: dict(
            zip(
                market_rows(decoded, m)["segment"].to_pylist(),
                market_rows(decoded, m)["universe"].to_pylist(),
                strict=True,
            )
        )
        for m in LINEUPS
    }
    for row in result.schedule.to_pylist():
        m, key = row["market"], ("persuadable", row["channel"], row["daypart"])
        expected = row["spots"] * ratings[m][key] * universe[m]["persuadable"]
        assert row["trps_persuadable"] == pytest.approx(expected / UNIVERSE["persuadable"])
    rows = {(r["market"], r["plan"], r["segment"]): r for r in result.comparison.to_pylist()}
    whole = rows[(ALL_MARKETS, "optimized", "persuadable")]
    parts = [rows[(m, "optimized", "persuadable")] for m in LINEUPS]
    assert whole["cost"] == pytest.approx(sum(p["cost"] for p in parts))
    # A market row's TRPs are its own rating points; scaled back they sum to the statewide row.
    share = {m: universe[m]["persuadable"] / UNIVERSE["persuadable"] for m in LINEUPS}
    assert whole["trps"] == pytest.approx(
        sum(rows[(m, "optimized", "persuadable")]["trps"] * share[m] for m in LINEUPS)
    )
    assert 0.0 <= whole["reach"] <= max(p["reach"] for p in parts)
    assert whole["objective"] >= rows[(ALL_MARKETS, "greedy", "persuadable")]["objective"] - 1e-9


def test_a_suppressed_market_cell_is_worth_nothing_and_noted() -> None:
    cells = market_ratecard(3, LINEUPS)
    hidden = frozenset({("lima", "persuadable", "A"), ("lima", "turnout_target", "A")})
    result = make_plan(cells, market_viewership(3, suppress=hidden), request(budget=1e6))
    bought = set(
        zip(
            result.schedule["market"].to_pylist(),
            result.schedule["channel"].to_pylist(),
            strict=True,
        )
    )
    # With money to spare, the plan buys every cell worth anything, and never lima's A.
    assert ("lima", "B") in bought and ("lima", "A") not in bought
    assert result.zero_valued >= 8
    assert any(n.startswith("lima: persuadable: 8 of 16") for n in result.notes)
    assert not any(n.startswith("cleveland: persuadable:") for n in result.notes)


def test_unknown_market_and_missing_market_release_are_refused() -> None:
    cells = market_ratecard(4, LINEUPS)
    with pytest.raises(InputError, match="market #2 is not on the rate card") as info:
        check_feasible(cells, request(market_budgets={"lima": 1.0, "toledo": 5.0}))
    assert "cleveland, lima" in (info.value.hint or "")
    with pytest.raises(InputError, match="market column"):
        check_feasible(ratecard_cells(4), request(market_budgets={"lima": 1.0}))
    with pytest.raises(InputError, match="no market rows") as missing:
        make_plan(cells, viewership(4), request())
    assert "provider aggregate --markets" in (missing.value.hint or "")


def test_parse_market_budgets() -> None:
    assert parse_market_budgets("cleveland=100000, columbus=50000") == {
        "cleveland": 100_000.0,
        "columbus": 50_000.0,
    }
    for bad, said in (
        ("cleveland", "entry #1"),
        ("a=1,=2", "entry #2"),
        ("a=1,b=lots", "budget #2"),
        ("a=0", "budget #1"),
        ("a=1,a=2", "named twice"),
    ):
        with pytest.raises(InputError, match=said):
            parse_market_budgets(bad)


def test_the_statewide_path_ignores_market_rows() -> None:
    cells = ratecard_cells(5)
    alone = make_plan(cells, viewership(5), request(budget=20_000.0))
    beside = make_plan(cells, market_viewership(5), request(budget=20_000.0))
    assert alone.schedule.equals(beside.schedule)
    assert alone.comparison.equals(beside.comparison)
    assert alone.notes == beside.notes
    assert set(alone.comparison["market"].to_pylist()) == {ALL_MARKETS}
    assert set(alone.schedule["market"].to_pylist()) == {ALL_MARKETS}


def test_market_ratecard_parsing() -> None:
    table = pa.table(
        {
            "market": ["cleveland", "lima", "lima"],
            "channel": ["A", "A", "A"],
            "daypart": ["prime", "prime", "daytime"],
            "cost_per_spot": [900.0, 120.0, 40.0],
            "units_available": [3, 2, 5],
        }
    )
    cells = parse_ratecard(table)
    assert [c.market for c in cells] == ["cleveland", "lima", "lima"]
    assert parse_ratecard(table.drop_columns(["market"]).slice(0, 1))[0].market == ALL_MARKETS
    for bad, said in (
        (["cleveland", "lima", "cleveland"], None),
        (["cleveland", "Lima!", "lima"], "lowercase"),
        (["cleveland", "*", "*"], "every row or on none"),
    ):
        changed = table.set_column(0, "market", pa.array(bad))
        if said is None:
            assert len(parse_ratecard(changed)) == 3
            continue
        with pytest.raises(InputError, match=said):
            parse_ratecard(changed)
    with pytest.raises(InputError, match="repeated market"):
        parse_ratecard(table.set_column(2, "daypart", pa.array(["prime"] * 3)))


def test_market_reach_combines_over_the_statewide_universe() -> None:
    assert combine_market_reach({"a": 50.0, "b": 10.0}, {"a": 600, "b": 200}, 1000) == (
        pytest.approx(32.0)
    )
    assert combine_market_reach({"a": 100.0}, {"a": 1200}, 1000) == 100.0
    assert combine_market_reach({"a": 50.0}, {"a": 10}, 0) == 0.0


def test_voter_projection_is_statewide_only() -> None:
    result = make_plan(market_ratecard(6, LINEUPS), market_viewership(6), request())
    rates = pa.table(
        {
            "segment": ["persuadable", "turnout_target"],
            "voters": [4000, 3000],
            "match_rate": [0.3, 0.3],
            "suppressed": [False, False],
        }
    )
    projected = project_comparison(result.comparison, rates)
    statewide = pc.equal(projected["market"], ALL_MARKETS)
    values = projected.filter(pc.invert(statewide))["projected_reach_voters"]
    assert values.null_count == len(values) > 0
    kept = projected.filter(statewide).filter(
        pc.equal(projected.filter(statewide)["segment"], "persuadable")
    )
    assert kept["projected_reach_voters"].null_count == 0


def test_a_card_market_the_release_lacks_is_valued_at_zero_and_noted() -> None:
    cells = market_ratecard(8, {**LINEUPS, "toledo": ("A",)})
    result = make_plan(cells, market_viewership(8), request(budget=1e6))
    assert "toledo" not in result.schedule["market"].to_pylist()
    assert any(n.startswith("toledo: not in the release") for n in result.notes)
    assert not [r for r in result.comparison.to_pylist() if r["market"] == "toledo"]
