"""Tests for linkage.release.markets: each market's own rows, their noise and their rules."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from linkage.engine import DuckDBEngine
from linkage.errors import InputError, PrivacyError
from linkage.measure import DAYPARTS, segment_members, viewership_of_members
from linkage.release import (
    CellGrid,
    ContributionCaps,
    bound_viewing,
    check_markets,
    market_cells,
    market_measures,
    plan_market_noise,
    release_viewership,
)
from linkage.release.markets import cross_with_markets
from linkage.tables import ALL_MARKETS, RELEASE_SCHEMA
from tests.measure.inputs import MONDAY, assign, two_pass_market_cells
from tests.release.test_dp import (
    CHANNELS,
    SATURDAY,
    heavy_household,
    random_world,
    viewing_table,
)

GRID = CellGrid(CHANNELS, (MONDAY, SATURDAY))


@pytest.fixture(scope="module")
def engine() -> DuckDBEngine:
    return DuckDBEngine()


def markets_of(households: Sequence[str]) -> pa.Table:
    return pa.table(
        {
            "household_id": list(households),
            "market": ["east" if int(h[1:] or 0) % 3 else "west" for h in households],
        }
    )


LINEUPS = pa.table(
    {"market": ["east"] * len(CHANNELS) + ["west"] * len(CHANNELS), "channel": [*CHANNELS] * 2}
)
"""The public line-ups: both markets carry every channel."""


def no_noise(counts: Sequence[int], scale: float) -> list[int]:
    return [int(c) for c in counts]


def test_check_markets_refuses_what_a_release_cannot_use() -> None:
    with pytest.raises(InputError, match="no market column"):
        check_markets(pa.table({"household_id": ["h1"]}))
    with pytest.raises(InputError, match="empty market"):
        check_markets(pa.table({"household_id": ["h1"], "market": [""]}))
    with pytest.raises(InputError, match="more than one market"):
        check_markets(pa.table({"household_id": ["h1", "h1"], "market": ["a", "b"]}))
    with pytest.raises(InputError, match="reserved"):
        check_markets(pa.table({"household_id": ["h1"], "market": ["*"]}))
    # A repeated identical row is one household in one market.
    same = check_markets(pa.table({"household_id": ["h1", "h1"], "market": ["a", "a"]}))
    assert same.num_rows == 1


def test_market_rows_are_the_households_of_each_market(engine: DuckDBEngine) -> None:
    households = [f"h{i}" for i in range(40)]
    view = viewing_table(random_world(3, 40))
    assignments = assign({"A": households[:25], "B": households[20:]})
    markets = markets_of(households)
    payload = release_viewership(
        assignments,
        view,
        GRID,
        engine=engine,
        rho=1.0,
        segments=["A", "B"],
        markets=markets,
        lineups=LINEUPS,
        noise=no_noise,
        k=1,
        min_universe=1,
    )
    assert payload.schema == RELEASE_SCHEMA
    by_market = payload.filter(pc.not_equal(payload["market"], ALL_MARKETS))
    assert set(by_market["market"].to_pylist()) == {"east", "west"}
    assert set(by_market["grain"].to_pylist()) == {"daypart", "period"}
    # Tiers never get market rows; every plain code does, in every market.
    assert set(by_market["segment"].to_pylist()) == {"*", "A", "B"}
    west = {
        h for h, m in zip(households, markets["market"].to_pylist(), strict=True) if m == "west"
    }
    universes = {
        (r["market"], r["segment"]): r["universe"]
        for r in by_market.filter(pc.equal(by_market["grain"], "period")).to_pylist()
    }
    assert universes[("west", "*")] == len(west)
    assert universes[("west", "A")] == len(west & set(households[:25]))
    # Markets are disjoint: their universes add up to the statewide one.
    statewide = payload.filter(pc.equal(payload["market"], ALL_MARKETS))
    total = statewide.filter(pc.equal(statewide["segment"], "A"))["universe"][0].as_py()
    assert universes[("west", "A")] + universes[("east", "A")] == total
    # Without noise, a market's daypart AQH is its own households' credited viewing.
    rows = by_market.filter(pc.equal(by_market["grain"], "daypart"))
    assert rows.num_rows == 2 * 3 * len(CHANNELS) * len(DAYPARTS)
    assert set(rows["day_type"].to_pylist()) == {"all"}  # whole-week dayparts
    assert all(r >= 0 for r in rows["rating"].drop_null().to_pylist())


def test_lineups_drop_channels_a_market_does_not_carry(engine: DuckDBEngine) -> None:
    households = [f"h{i}" for i in range(30)]
    view = viewing_table(random_world(5, 30))
    lineups = pa.table({"market": ["east"] * 6 + ["west"] * 2, "channel": [*CHANNELS, "c1", "c2"]})
    payload = release_viewership(
        assign({"A": households}),
        view,
        GRID,
        engine=engine,
        rho=1.0,
        segments=["A"],
        markets=markets_of(households),
        lineups=lineups,
        noise=no_noise,
    )
    west = payload.filter(pc.equal(payload["market"], "west"))
    assert set(west["channel"].to_pylist()) == {"c1", "c2"}
    statewide = payload.filter(pc.equal(payload["market"], ALL_MARKETS))
    assert set(statewide["channel"].to_pylist()) == set(CHANNELS)


def test_small_markets_are_suppressed_on_noisy_values(engine: DuckDBEngine) -> None:
    households = [f"h{i}" for i in range(60)]
    view = viewing_table(random_world(9, 60))
    payload = release_viewership(
        assign({"A": households}),
        view,
        GRID,
        engine=engine,
        rho=1.0,
        segments=["A"],
        markets=markets_of(households),
        lineups=LINEUPS,
        noise=no_noise,
        k=1,
        min_universe=25,  # west holds 20 households, east 40
    )
    period = payload.filter(pc.equal(payload["grain"], "period"))
    west = period.filter(pc.equal(period["market"], "west"))
    east = period.filter(pc.equal(period["market"], "east"))
    assert all(west["suppressed"].to_pylist())
    assert not all(east["suppressed"].to_pylist())


def test_one_household_moves_the_scaled_market_measures_within_sensitivity(
    engine: DuckDBEngine,
) -> None:
    caps = ContributionCaps(credits_per_day=40)
    others = [f"h{i}" for i in range(30)]
    view = bound_viewing(
        viewing_table(random_world(7, 30) + heavy_household("x")), CHANNELS, engine
    )
    markets = pa.table({"household_id": [*others, "x"], "market": ["m"] * 15 + ["n"] * 16})
    with_x = assign({"A": [*others[:20], "x"], "B": [*others[10:], "x"]})
    without_x = assign({"A": others[:20], "B": others[10:]})
    wanted = [f"{s}\x1f{m}" for s in ("*", "A", "B") for m in ("m", "n")]

    def scaled(assignments: pa.Table) -> dict[str, np.ndarray]:
        crossed = cross_with_markets(segment_members(assignments, engine), markets, engine)
        cells = viewership_of_members(
            crossed,
            view,
            channels=CHANNELS,
            engine=engine,
            period=GRID.days,
            credits_per_day=caps.credits_per_day,
        )
        plan = plan_market_noise(GRID, ["*", "A", "B"], 1.0, caps)
        return market_measures(cells, wanted, GRID).scaled(plan.widths)

    a, b = scaled(with_x), scaled(without_x)
    plan = plan_market_noise(GRID, ["*", "A", "B"], 1.0, caps)
    for name in ("views", "hut", "reach", "universe"):
        moved = math.sqrt(float(((a[name] - b[name]) ** 2).sum()))
        assert moved <= plan.sensitivity[name] + 1e-9, name
    # The heavy household uses a real part of its allowance: the bound is not vacuous.
    assert math.sqrt(float(((a["views"] - b["views"]) ** 2).sum())) > plan.sensitivity["views"] / 4


def test_market_noise_is_calibrated_per_daypart_width(engine: DuckDBEngine) -> None:
    plan = plan_market_noise(GRID, ["*", "A"], rho=0.2)
    widths = dict(zip([dp.name for dp in DAYPARTS], plan.widths, strict=True))
    assert widths["daytime"] == 28 and widths["late_news"] == 2
    # rho of the market rows: the split's shares of 0.2, certified per measure.
    for name in ("views", "hut", "reach", "universe"):
        assert plan.scales[name] > 0
    households = [f"h{i}" for i in range(20)]
    payload = release_viewership(
        assign({"A": households}),
        viewing_table(random_world(1, 20)),
        GRID,
        engine=engine,
        rho=0.2,
        segments=["A"],
        markets=markets_of(households),
        lineups=LINEUPS,
        k=1,
        min_universe=1,
    )
    rows = payload.filter(
        pc.and_(pc.equal(payload["grain"], "daypart"), pc.not_equal(payload["market"], "*"))
    )
    half = {}
    for r in rows.to_pylist():
        if r["aqh_households_ci"] is not None:
            half[r["daypart"], r["day_type"]] = r["aqh_households_ci"]
    # AQH noise is scale * w / slots: the same in every whole-week daypart.
    week = [v for (dp, t), v in half.items() if t == "all"]
    assert len(week) == len(DAYPARTS)
    assert max(week) == pytest.approx(min(week), rel=1e-9)


def test_noiseless_market_rows_equal_the_exact_ones(engine: DuckDBEngine) -> None:
    households = [f"h{i}" for i in range(40)]
    view = bound_viewing(viewing_table(random_world(11, 40)), CHANNELS, engine)
    assignments = assign({"A": households[:30]})
    common = {
        "engine": engine,
        "segments": ["A"],
        "markets": markets_of(households),
        "lineups": LINEUPS,
        "k": 1,
        "min_universe": 1,
        "caps": ContributionCaps(credits_per_day=96 * 3),
    }
    noisy = release_viewership(assignments, view, GRID, rho=1.0, noise=no_noise, **common)
    exact = release_viewership(assignments, view, GRID, exact=True, **common)

    def market_rows(table: pa.Table) -> dict[tuple[object, ...], tuple[float, float]]:
        rows = table.filter(pc.not_equal(table["market"], ALL_MARKETS)).to_pylist()
        return {
            (r["grain"], r["market"], r["segment"], r["channel"], r["day_type"], r["daypart"]): (
                r["rating"],
                r["share"],
            )
            for r in rows
        }

    a, b = market_rows(noisy), market_rows(exact)
    assert a.keys() == b.keys()
    compared = 0
    for key, (rating, share) in a.items():
        if rating is None or b[key][0] is None:  # suppressed on AQH < k vs contributors < k
            continue
        compared += 1
        assert rating == pytest.approx(b[key][0], abs=1e-9), key
        assert share == pytest.approx(b[key][1], abs=1e-9), key
    assert compared > 20


def test_the_markets_listed_are_the_public_ones_not_where_households_live(
    engine: DuckDBEngine,
) -> None:
    households = [f"h{i}" for i in range(20)]
    lineups = pa.table({"market": ["east", "nobody"], "channel": ["c1", "c1"]})
    payload = release_viewership(
        assign({"A": households}),
        viewing_table(random_world(2, 20)),
        GRID,
        engine=engine,
        rho=1.0,
        segments=["A"],
        markets=markets_of(households),  # east and west live here; nobody in "nobody"
        lineups=lineups,
        noise=no_noise,
    )
    listed = set(payload["market"].to_pylist()) - {ALL_MARKETS}
    # An empty public market comes back (suppressed); a market off the list does not.
    assert listed == {"east", "nobody"}
    nobody = payload.filter(pc.equal(payload["market"], "nobody"))
    assert all(nobody["suppressed"].to_pylist())
    with pytest.raises(PrivacyError, match="line-ups"):
        release_viewership(
            assign({"A": households}),
            viewing_table(random_world(2, 20)),
            GRID,
            engine=engine,
            rho=1.0,
            segments=["A"],
            markets=markets_of(households),
        )


def test_a_whole_week_daypart_is_the_day_weighted_mean_of_its_day_types(
    engine: DuckDBEngine,
) -> None:
    households = [f"h{i}" for i in range(40)]
    view = bound_viewing(viewing_table(random_world(13, 40)), CHANNELS, engine)
    markets = markets_of(households)
    members = segment_members(assign({"A": households[:30]}), engine)
    week = market_cells(members, view, markets, GRID, engine=engine)
    # The same market cells split by day type, as a second pass measures them.
    split = two_pass_market_cells(
        members, view, markets, channels=CHANNELS, period=GRID.days, engine=engine,
        credits_per_day=None,
    )  # fmt: skip
    days = GRID.day_type_counts
    expected: dict[tuple[str, str, str, str], float] = {}
    most: dict[tuple[str, str, str, str], int] = {}
    for r in split.filter(pc.equal(split["grain"], "daypart")).to_pylist():
        key = (r["market"], r["segment"], r["channel"], r["daypart"])
        weight = days[r["day_type"]] / len(GRID.days)
        expected[key] = expected.get(key, 0.0) + weight * float(r["aqh_households"])
        most[key] = max(most.get(key, 0), int(r["contributors"]))
    rows = week.filter(pc.equal(week["grain"], "daypart")).to_pylist()
    assert {r["day_type"] for r in rows} == {"all"}
    assert len(rows) == len(expected)
    for r in rows:
        key = (r["market"], r["segment"], r["channel"], r["daypart"])
        assert r["aqh_households"] == pytest.approx(expected[key], abs=1e-9), key
        # Contributors over the week: the most of any one day type (a lower bound).
        assert r["contributors"] == most[key]
