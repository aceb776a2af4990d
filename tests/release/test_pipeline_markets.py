"""Tests for linkage.release.pipeline with markets: the statewide pass hands its market cells over.

The market rows of a release must be those the old second pass gave: members
crossed with their markets and measured again over the whole viewing log.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pytest

from linkage.engine import DuckDBEngine
from linkage.measure import (
    cross_with_intensity,
    household_intensity,
    segment_members,
)
from linkage.release import (
    DEFAULT_MARKET_SHARE,
    CellGrid,
    ContributionCaps,
    bound_viewing,
    market_release,
    release_viewership,
)
from linkage.synth import World, generate_world
from linkage.tables import ALL_MARKETS
from tests.measure.inputs import assign, two_pass_market_cells

FRIDAY = date(2026, 10, 9)
SEP = "\x1f"
CAPS = ContributionCaps(credits_per_day=40)


@pytest.fixture(scope="module")
def engine() -> DuckDBEngine:
    return DuckDBEngine()


@pytest.fixture(scope="module")
def world() -> World:
    return generate_world(voters=1500, days=3, seed=5, start=FRIDAY)


def no_noise(counts: Sequence[int], scale: float) -> list[int]:
    return [int(c) for c in counts]


def two_pass_cells(
    members: pa.Table,
    viewing: pa.Table | Path,
    world: World,
    grid: CellGrid,
    engine: DuckDBEngine,
    credits_per_day: int | None,
) -> pa.Table:
    """The old second pass on the release's grid."""
    return two_pass_market_cells(
        members,
        viewing,
        world.markets,
        channels=grid.channels,
        period=grid.days,
        engine=engine,
        credits_per_day=credits_per_day,
    )


@pytest.mark.parametrize("exact", [False, True])
def test_release_market_rows_equal_the_two_pass_ones(
    world: World, engine: DuckDBEngine, exact: bool
) -> None:
    linked = world.voter_household.join(world.voters.select(["voter_id", "party"]), "voter_id")
    rows: dict[str, list[str]] = {}
    for r in linked.select(["household_id", "party"]).to_pylist():
        rows.setdefault(str(r["party"]), []).append(r["household_id"])
    assignments = assign(rows)
    if not exact:  # tiers are measured statewide only, in the same pass
        intensity = household_intensity(world.viewing, engine=engine)
        assignments = cross_with_intensity(assignments, intensity)
    grid = CellGrid(
        tuple(world.channels["channel"].to_pylist()[:4]),
        tuple(FRIDAY + timedelta(days=i) for i in range(3)),
    )
    rho = None if exact else 1.0
    released = release_viewership(
        assignments,
        world.viewing,
        grid,
        engine=engine,
        k=1,
        min_universe=1,
        rho=rho,
        exact=exact,
        segments=["D", "R", "I"],
        caps=CAPS,
        noise=no_noise,
        markets=world.markets,
        lineups=world.lineups,
    )
    members = segment_members(assignments, engine)
    measured = world.viewing if exact else bound_viewing(world.viewing, grid.channels, engine)
    oracle = two_pass_cells(
        members, measured, world, grid, engine, None if exact else CAPS.credits_per_day
    )

    def alone(by_market: pa.Table | None) -> pa.Table:
        return market_release(
            members,
            measured,
            world.markets,
            grid,
            engine=engine,
            k=1,
            min_universe=1,
            segments=sorted(set(members["segment"].to_pylist())),
            rho=None if rho is None else rho * DEFAULT_MARKET_SHARE,
            lineups=world.lineups,
            caps=CAPS,
            noise=no_noise,
            by_market=by_market,
        )

    got = released.filter(pc.not_equal(released["market"], ALL_MARKETS))
    # Handed over by the statewide pass, measured by market_release alone, and the oracle.
    for want in (alone(oracle), alone(None)):
        assert got.schema == want.schema and got.num_rows == want.num_rows
        for name in want.column_names:
            assert got[name].equals(want[name]), name
    # Several markets with figures: the comparison is not of empty or suppressed rows.
    shown = got.filter(pc.invert(got["suppressed"]))
    assert len(pc.unique(shown["market"])) >= 4
    assert pc.sum(shown["aqh_households"]).as_py() > 0
