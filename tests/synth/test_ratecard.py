"""Tests for linkage.synth.ratecard: one price per carried (market, channel, daypart)."""

from __future__ import annotations

from linkage.measure import DAYPARTS
from linkage.synth import World


def test_ratecard(world: World) -> None:
    ch = world.channels.to_pandas()
    rc = world.ratecard.to_pandas()
    assert list(rc.columns[:3]) == ["market", "channel", "daypart"]
    assert len(rc) == world.lineups.num_rows * len(DAYPARTS)
    assert not rc.duplicated(["market", "channel", "daypart"]).any()
    assert set(rc["daypart"]) == {dp.name for dp in DAYPARTS}
    assert set(rc["channel"]) == set(ch["channel"])
    assert (rc["cost_per_spot"] > 0).all() and (rc["units_available"] >= 1).all()
    cost = rc.groupby("daypart")["cost_per_spot"].median()
    assert cost["prime"] > 2 * cost["overnight"]
    big = rc[rc["market"] == "cleveland"]
    by_channel = big.groupby("channel")["cost_per_spot"].mean()
    assert by_channel["CBS"] > by_channel["ESPD"]


def test_ratecard_prices_follow_market_size(world: World) -> None:
    rc = world.ratecard.to_pandas()
    prime_cbs = rc[(rc["channel"] == "CBS") & (rc["daypart"] == "prime")]
    cost = prime_cbs.set_index("market")["cost_per_spot"]
    # Cleveland has 20 times Lima's TV households; noise and shrinkage cannot undo that.
    assert cost["cleveland"] > 4 * cost["lima"]
    assert cost["cleveland"] > cost["dayton"] > cost["zanesville"]
