"""Tests for linkage.synth.ratecard: one price per channel and daypart, following the audience."""

from __future__ import annotations

from linkage.measure import DAYPARTS
from linkage.synth import World


def test_ratecard(world: World) -> None:
    ch = world.channels.to_pandas()
    rc = world.ratecard.to_pandas()
    assert len(rc) == 60 * len(DAYPARTS)
    assert set(rc["daypart"]) == {dp.name for dp in DAYPARTS}
    assert set(rc["channel"]) == set(ch["channel"])
    assert (rc["cost_per_spot"] > 0).all() and (rc["units_available"] >= 1).all()
    cost = rc.groupby("daypart")["cost_per_spot"].median()
    assert cost["prime"] > 2 * cost["overnight"]
    by_channel = rc.groupby("channel")["cost_per_spot"].mean()
    assert by_channel["CBS"] > by_channel["ESPD"]
