"""Tests for linkage.synth.refresh and world_weeks: the voter file a week on, and its truth."""

from __future__ import annotations

from datetime import date

import pandas as pd
import pyarrow as pa
import pytest

from linkage.encode import column_kinds, evaluate, load_segments
from linkage.synth import VOTERS_SCHEMA, World, WorldStream, generate_world, world_weeks
from linkage.synth.refresh import NEW_RATE, REMOVED_RATE

_SCORES = ["support_score", "turnout_score", "gotv_score", "persuasion_score"]
_FIXED = ["first_name", "last_name", "birth_date", "gender", "address", "zip", "party"]


@pytest.fixture(scope="module")
def world() -> World:
    return generate_world(voters=6000, days=14, seed=4)


def _household_key(frame: pd.DataFrame) -> pd.Series:
    # One household's voters share an address; a few carry it in noisy case or spacing.
    address = frame["address"].str.lower().str.split().str.join(" ")
    return address + "|" + frame["zip"].str[:5]


def test_world_weeks() -> None:
    assert world_weeks(14) == ["2026-10-05..2026-10-11", "2026-10-12..2026-10-18"]
    assert world_weeks(7) == ["2026-10-05..2026-10-11"]
    assert world_weeks(10, start=date(2026, 1, 5)) == [
        "2026-01-05..2026-01-11",
        "2026-01-12..2026-01-14",
    ]
    assert len(world_weeks(21)) == 3


def test_one_week_has_no_refresh() -> None:
    assert generate_world(voters=300, days=7, seed=1).weekly_voters == ()


def test_week_two_differs_the_promised_way(world: World) -> None:
    (week2,) = world.weekly_voters
    assert week2.schema.equals(VOTERS_SCHEMA)
    one, two = world.voters.to_pandas(), week2.to_pandas()
    ids = two["voter_id"].tolist()
    assert ids == sorted(ids) and len(set(ids)) == len(ids)
    removed = set(one["voter_id"]) - set(two["voter_id"])
    new = set(two["voter_id"]) - set(one["voter_id"])
    n = len(one)
    # Binomial counts around the stated rates (6000 voters: about 18 out, 30 in).
    assert 0.3 * REMOVED_RATE * n < len(removed) < 2.5 * REMOVED_RATE * n
    assert 0.4 * NEW_RATE * n < len(new) < 2.0 * NEW_RATE * n

    # The same voters: identity fields unchanged, scores drifted.
    both = one.merge(two, on="voter_id", suffixes=("_1", "_2"))
    for column in _FIXED:
        same = (both[f"{column}_1"] == both[f"{column}_2"]) | both[f"{column}_1"].isna()
        assert same.all(), column
    moved = pd.concat([(both[f"{c}_1"] != both[f"{c}_2"]) for c in _SCORES], axis=1).any(axis=1)
    assert moved.mean() > 0.8
    for column in _SCORES:
        step = (both[f"{column}_2"].astype(int) - both[f"{column}_1"].astype(int)).abs()
        assert 1.5 < step.mean() < 6.0, column
        assert two[column].between(1, 100).all()

    # The rules are unchanged, yet some voters enter and some leave each segment.
    rules = load_segments(
        world.segments_toml, columns=column_kinds(VOTERS_SCHEMA), file="segments.toml"
    )
    kept = pa.Table.from_pandas(one[one["voter_id"].isin(both["voter_id"])], preserve_index=False)
    kept2 = pa.Table.from_pandas(two[two["voter_id"].isin(both["voter_id"])], preserve_index=False)
    before, after = (
        evaluate(rules, kept.cast(VOTERS_SCHEMA)),
        evaluate(rules, kept2.cast(VOTERS_SCHEMA)),
    )
    for name in ("persuadable", "turnout_target"):
        entered = (~before[name] & after[name]).sum()
        left = (before[name] & ~after[name]).sum()
        assert entered > 10 and left > 10, name
        assert entered + left < 0.3 * before[name].sum(), name
    for name in ("latino", "african_american"):
        assert (before[name] == after[name]).all(), name


def test_new_registrants_join_existing_households_and_the_truth(world: World) -> None:
    (week2,) = world.weekly_voters
    one, two = world.voters.to_pandas(), week2.to_pandas()
    truth = world.voter_household.to_pandas()
    new = two[~two["voter_id"].isin(one["voter_id"])].copy()
    one["key"], new["key"] = _household_key(one), _household_key(new)
    # Every registrant shares an address with a week-1 voter, and the surname of one there.
    assert new["key"].isin(set(one["key"])).all()
    households = one.merge(truth, on="voter_id", how="left").groupby("key")["household_id"].first()
    expected = new["key"].map(households)
    got = new["voter_id"].map(truth.set_index("voter_id")["household_id"])
    covered = expected.notna()
    assert covered.any() and (~covered).any()
    assert (got[covered] == expected[covered]).all()
    assert got[~covered].isna().all()
    # The truth covers every voter of every week, week 1's removed voters included.
    assert set(truth["voter_id"]) <= set(one["voter_id"]) | set(two["voter_id"])
    assert truth["voter_id"].is_unique and truth["voter_id"].is_monotonic_increasing


def test_refresh_is_deterministic_and_chunks_never_share_ids() -> None:
    a = generate_world(voters=800, days=21, seed=9)
    b = generate_world(voters=800, days=21, seed=9)
    assert len(a.weekly_voters) == 2
    for x, y in zip(a.weekly_voters, b.weekly_voters, strict=True):
        assert x.equals(y)
    assert a.voter_household.equals(b.voter_household)
    # Week 3 builds on week 2: it keeps week 2's scores' drift and adds registrants of its own.
    assert set(a.weekly_voters[1]["voter_id"].to_pylist()) - set(
        a.weekly_voters[0]["voter_id"].to_pylist()
    )

    stream = WorldStream(voters=1_200, days=14, seed=2, chunk_voters=500)
    weeks = pa.concat_tables([c.weekly_voters[0] for c in stream.chunks()])
    ids = weeks["voter_id"].to_pylist()
    assert ids == sorted(ids) and len(set(ids)) == len(ids)
