"""Tests for parties.world: the files ``narwhal synth`` writes for markets and later weeks."""

from __future__ import annotations

import csv
from pathlib import Path

import pyarrow.parquet as pq

from linkage.synth import MARKETS_SCHEMA, VOTER_HOUSEHOLD_SCHEMA, VOTERS_SCHEMA
from parties.world import make_world, world_guide


def test_two_week_world_files(tmp_path: Path) -> None:
    root = tmp_path / "world"
    make_world(root, voters=700, days=14, seed=3, chunk_voters=400, workers=1)
    camp, prov, tru = root / "campaign", root / "provider", root / "truth"

    markets = pq.read_table(prov / "markets.parquet")
    subscribers = pq.read_table(prov / "subscribers.parquet")
    assert markets.schema.equals(MARKETS_SCHEMA)
    assert markets["household_id"].to_pylist() == subscribers["household_id"].to_pylist()

    with (prov / "lineups.csv").open(newline="") as f:
        lineups = list(csv.DictReader(f))
    assert list(lineups[0]) == ["market", "channel"]
    carried = {(r["market"], r["channel"]) for r in lineups}
    with (camp / "ratecard.csv").open(newline="") as f:
        ratecard = list(csv.DictReader(f))
    assert list(ratecard[0]) == ["market", "channel", "daypart", "cost_per_spot", "units_available"]
    assert {(r["market"], r["channel"]) for r in ratecard} == carried

    week2 = pq.read_table(camp / "voters_week2.parquet")
    assert week2.schema.equals(VOTERS_SCHEMA)
    assert not (camp / "voters_week3.parquet").exists()
    voters = pq.read_table(camp / "voters.parquet")
    truth = pq.read_table(tru / "voter_household.parquet")
    assert truth.schema.equals(VOTER_HOUSEHOLD_SCHEMA)
    new = set(week2["voter_id"].to_pylist()) - set(voters["voter_id"].to_pylist())
    assert new and set(truth["voter_id"].to_pylist()) & new

    guide = "\n".join(world_guide(root, days=14))
    for path in ("markets.parquet", "lineups.csv", "voters_week2.parquet"):
        assert path in guide, path
    assert "2026-10-12..2026-10-18" in guide
    assert "voters_week2" not in "\n".join(world_guide(root, days=7))
