"""Tests for linkage.synth.markets: one market per household, line-ups, tastes, the rate card."""

from __future__ import annotations

import itertools

import numpy as np
import pyarrow as pa
import pytest

from linkage.measure import DAYPARTS
from linkage.synth import (
    LINEUPS_SCHEMA,
    MARKETS_SCHEMA,
    RATECARD_SCHEMA,
    World,
    generate_world,
    market_list,
)
from linkage.synth.markets import load_market_grid
from linkage.synth.reference import COMPONENTS, load_reference


@pytest.fixture(scope="module")
def two_weeks() -> World:
    return generate_world(voters=4000, days=14, seed=11)


def test_market_list_is_ohios_dmas() -> None:
    markets = market_list().to_pandas().set_index("market")
    assert {"cleveland", "columbus", "cincinnati", "dayton", "toledo"} <= set(markets.index)
    assert {"youngstown", "zanesville", "lima"} <= set(markets.index)
    assert markets["tv_households"].is_monotonic_decreasing
    assert markets.loc["cleveland", "tv_households"] > 1_000_000
    assert markets.loc["zanesville", "tv_households"] < 50_000
    assert ((markets["ohio_share"] > 0) & (markets["ohio_share"] <= 1)).all()
    # Border DMAs reach into the neighbouring states.
    assert (
        markets.loc["cincinnati", "ohio_share"] < 1 and markets.loc["columbus", "ohio_share"] == 1
    )
    ref = load_reference()
    # Every market holds a city, and every city is in one market.
    assert set(np.unique(ref.city_market)) == set(range(len(ref.market_codes)))
    assert len(ref.city_market) == len(ref.city_names)


def test_every_subscriber_household_has_one_market(two_weeks: World) -> None:
    markets = two_weeks.markets
    assert markets.schema.equals(MARKETS_SCHEMA)
    assert markets["household_id"].equals(two_weeks.subscribers["household_id"])
    assert pa.compute.count_distinct(markets["household_id"]).as_py() == markets.num_rows
    assert set(markets["market"].to_pylist()) <= set(market_list()["market"].to_pylist())
    # A household's market is its city's: Toledo's households are in the Toledo DMA. The
    # operator's address is stale for about 3% of households (they moved), so a few of
    # the subscribers listed in Toledo live, and watch, elsewhere.
    joined = two_weeks.subscribers.to_pandas().merge(markets.to_pandas(), on="household_id")
    toledo = joined[joined["city"].str.lower() == "toledo"]
    assert len(toledo) > 20 and (toledo["market"] == "toledo").mean() > 0.9


def test_lineups_follow_the_market_size(two_weeks: World) -> None:
    lineups = two_weeks.lineups
    assert lineups.schema.equals(LINEUPS_SCHEMA)
    carried = lineups.to_pandas().groupby("market")["channel"].apply(set)
    channels = two_weeks.channels.to_pandas()
    broadcast_en = set(
        channels[(channels["genre"] == "broadcast") & (channels["language"] == "en")]["channel"]
    )
    spanish = set(channels[channels["language"] == "es"]["channel"])
    sizes = market_list().to_pandas().set_index("market")["tv_households"]
    for market, chans in carried.items():
        assert broadcast_en <= chans, market
    assert spanish <= carried["cleveland"]
    assert not spanish & carried["zanesville"]
    assert {"UNIV", "TELE"} <= carried["dayton"] and "CNNE" not in carried["dayton"]
    # A larger market carries everything a smaller one does.
    order = sizes.sort_values().index
    for small, large in itertools.pairwise(order):
        assert carried[small] <= carried[large], (small, large)


def test_viewing_only_on_channels_the_market_carries(two_weeks: World) -> None:
    viewing = two_weeks.viewing.to_pandas()[["household_id", "channel"]]
    viewing = viewing.merge(two_weeks.markets.to_pandas(), on="household_id", how="left")
    assert viewing["market"].notna().all()
    carried = two_weeks.lineups.to_pandas().assign(ok=True)
    checked = viewing.merge(carried, on=["market", "channel"], how="left")
    assert checked["ok"].notna().all()
    # The check has teeth: some viewing is in markets that lack part of the channel list.
    full = carried.groupby("market").size() == len(two_weeks.channels)
    thin = set(full[~full].index)
    assert viewing["market"].isin(thin).sum() > 100
    # Spanish-language viewing exists where it is carried.
    assert viewing["channel"].isin(["UNIV", "TELE"]).any()


def test_grid_never_draws_an_uncarried_channel() -> None:
    grid = load_market_grid()
    n_mk, n_ch = grid.carried.shape
    u = np.concatenate([np.linspace(0.0, 1.0, 2001), [1.0 - 1e-17, np.nextafter(1.0, 0.0)]])
    for market in range(n_mk):
        for comp in range(len(COMPONENTS)):
            if grid.taste[market, comp] == 0:
                continue  # never chosen in this market
            row = np.full(len(u), market * len(COMPONENTS) + comp)
            pick = grid.pick(row, u)
            assert ((pick >= 0) & (pick < n_ch)).all()
            assert grid.carried[market, pick].all(), (market, comp)


def test_tastes_shift_with_market_size() -> None:
    grid = load_market_grid()
    codes = list(market_list()["market"].to_pylist())
    big, small = codes.index("cleveland"), codes.index("zanesville")
    right, young = COMPONENTS.index("news_right"), COMPONENTS.index("young")
    assert grid.taste[small, right] > grid.taste[big, right]
    assert grid.taste[small, young] < grid.taste[big, young]
    # A market with no Spanish-language channel gives the Spanish taste no weight.
    assert grid.taste[small, COMPONENTS.index("spanish")] == 0
    assert grid.taste[big, COMPONENTS.index("spanish")] > 0


def test_ratecard_rows_are_the_carried_cells(two_weeks: World) -> None:
    rc = two_weeks.ratecard
    assert rc.schema.equals(RATECARD_SCHEMA) and rc.column_names[0] == "market"
    cells = set(zip(rc["market"].to_pylist(), rc["channel"].to_pylist(), strict=True))
    lineups = two_weeks.lineups
    assert cells == set(
        zip(lineups["market"].to_pylist(), lineups["channel"].to_pylist(), strict=True)
    )
    frame = rc.to_pandas()
    assert (frame.groupby(["market", "channel"]).size() == len(DAYPARTS)).all()
    # Costs differ between markets for the same cell.
    prime = frame[(frame["channel"] == "NBC") & (frame["daypart"] == "prime")]
    assert prime["cost_per_spot"].nunique() == len(prime) > 5


def test_markets_are_deterministic(two_weeks: World) -> None:
    again = generate_world(voters=4000, days=14, seed=11)
    for name in ("markets", "lineups", "ratecard", "viewing"):
        assert getattr(again, name).equals(getattr(two_weeks, name)), name
    other = generate_world(voters=4000, days=14, seed=12)
    assert not other.ratecard.equals(two_weeks.ratecard)
