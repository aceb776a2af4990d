"""Tests for linkage.measure.viewership_by_market: the market cells of the statewide pass.

The oracle is the old two-pass way: every member crossed with its household's
market into one code per (segment, market), measured by a second
:func:`viewership_of_members` over the whole viewing log. One pass must give
the same cells, every column, on a seeded synthetic world.
"""

from __future__ import annotations

from datetime import date, timedelta

import pyarrow as pa
import pyarrow.compute as pc
import pytest

from linkage.engine import DuckDBEngine
from linkage.errors import InputError
from linkage.measure import (
    CELL_ORDER,
    cross_with_intensity,
    household_intensity,
    segment_members,
    viewership_by_market,
    viewership_of_members,
)
from linkage.synth import World, generate_world
from linkage.tables import CELLS_SCHEMA, TIER_SEPARATOR
from tests.measure.inputs import assign, two_pass_market_cells

FRIDAY = date(2026, 10, 9)
DAYS = [FRIDAY + timedelta(days=i) for i in range(3)]  # weekday and weekend
SEP = "\x1f"
MARKET_ORDER = [*CELL_ORDER[:2], ("market", "ascending"), *CELL_ORDER[2:]]
"""Market cells come in no particular order; both sides are compared in this one."""


@pytest.fixture(scope="module")
def engine() -> DuckDBEngine:
    return DuckDBEngine()


@pytest.fixture(scope="module")
def world() -> World:
    return generate_world(voters=1500, days=3, seed=11, start=FRIDAY)


@pytest.fixture(scope="module")
def channels(world: World) -> list[str]:
    # A few published channels: the others still count towards HUT.
    return [str(c) for c in world.channels["channel"].to_pylist()[:4]]


def world_members(world: World, engine: DuckDBEngine) -> pa.Table:
    """Party and score segments of the linked voters, with their intensity tiers."""
    voters = world.voter_household.join(world.voters, "voter_id")
    rows: dict[str, list[str]] = {}
    for r in voters.select(["household_id", "party", "gotv_score"]).to_pylist():
        rows.setdefault(str(r["party"]), []).append(r["household_id"])
        if r["gotv_score"] >= 60:
            rows.setdefault("gotv", []).append(r["household_id"])
    tiered = cross_with_intensity(assign(rows), household_intensity(world.viewing, engine=engine))
    return segment_members(tiered, engine)


def two_pass(
    members: pa.Table,
    world: World,
    channels: list[str],
    engine: DuckDBEngine,
    credits_per_day: int | None,
) -> pa.Table:
    """The oracle, sorted: crossed codes measured by a second pass."""
    return two_pass_market_cells(
        members,
        world.viewing,
        world.markets,
        channels=channels,
        period=DAYS,
        engine=engine,
        credits_per_day=credits_per_day,
    ).sort_by(MARKET_ORDER)


def assert_same(got: pa.Table, want: pa.Table) -> None:
    assert got.schema == want.schema
    assert got.num_rows == want.num_rows
    for name in want.column_names:
        assert got[name].equals(want[name]), name


def test_one_pass_market_cells_equal_the_two_pass_ones(
    world: World, channels: list[str], engine: DuckDBEngine
) -> None:
    # With the daily credit cap (the DP path); the exact path's are in test_pipeline_markets.
    credits_per_day = 40
    members = world_members(world, engine)
    cells, by_market = viewership_by_market(
        members,
        world.viewing,
        world.markets,
        channels=channels,
        engine=engine,
        period=DAYS,
        credits_per_day=credits_per_day,
    )
    statewide = viewership_of_members(
        members,
        world.viewing,
        channels=channels,
        engine=engine,
        period=DAYS,
        credits_per_day=credits_per_day,
    )
    assert_same(cells, statewide)
    want = two_pass(members, world, channels, engine, credits_per_day)
    assert_same(by_market.sort_by(MARKET_ORDER), want)
    # The comparison is not vacuous: several markets, tiers left statewide, real viewing.
    assert len(pc.unique(by_market["market"])) >= 5
    assert not pc.any(pc.match_substring(by_market["segment"], TIER_SEPARATOR)).as_py()
    assert pc.any(pc.match_substring(cells["segment"], TIER_SEPARATOR)).as_py()
    assert pc.sum(by_market["contributors"]).as_py() > 1000


def test_more_segments_than_mask_bits_still_give_the_two_pass_cells(
    world: World, channels: list[str], engine: DuckDBEngine
) -> None:
    # 63 segments and "*": every household is its own pattern (no bit masks).
    ids = world.markets["household_id"].to_pylist()
    rows = {f"s{j:02d}": ids[j::7] + ids[j % 5 :: 11] for j in range(63)}
    members = segment_members(assign(rows), engine)
    _, by_market = viewership_by_market(
        members, world.viewing, world.markets, channels=channels[:1], engine=engine, period=DAYS
    )
    assert_same(
        by_market.sort_by(MARKET_ORDER), two_pass(members, world, channels[:1], engine, None)
    )


def test_households_without_a_market_count_statewide_only(
    world: World, channels: list[str], engine: DuckDBEngine
) -> None:
    members = world_members(world, engine)
    some = world.markets.filter(pc.equal(world.markets["market"], "columbus"))
    cells, by_market = viewership_by_market(
        members, world.viewing, some, channels=channels, engine=engine, period=DAYS
    )
    assert set(by_market["market"].to_pylist()) == {"columbus"}
    everyone = cells.filter(pc.equal(cells["segment"], "*"))["universe"][0].as_py()
    columbus = by_market.filter(pc.equal(by_market["segment"], "*"))["universe"][0].as_py()
    assert columbus == some.num_rows < everyone
    # No household has a market: no market cells, the statewide ones unchanged.
    none = world.markets.slice(0, 0)
    alone, empty = viewership_by_market(
        members, world.viewing, none, channels=channels, engine=engine, period=DAYS
    )
    assert empty.num_rows == 0
    assert empty.schema == CELLS_SCHEMA.append(pa.field("market", pa.string()))
    assert alone.equals(cells)


def test_a_household_in_two_markets_is_refused(
    world: World, channels: list[str], engine: DuckDBEngine
) -> None:
    members = segment_members(assign({"A": ["h1", "h2"]}), engine)
    markets = pa.table({"household_id": ["h1", "h1", "h2"], "market": ["a", "b", "a"]})
    with pytest.raises(InputError, match="more than one market"):
        viewership_by_market(
            members, world.viewing, markets, channels=channels, engine=engine, period=DAYS
        )
    with pytest.raises(InputError, match="markets"):
        viewership_by_market(
            members,
            world.viewing,
            pa.table({"household_id": ["h1"]}),
            channels=channels,
            engine=engine,
            period=DAYS,
        )
