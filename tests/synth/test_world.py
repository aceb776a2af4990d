"""Tests for linkage.synth.world: parameters, determinism, contract shapes, segments, streaming."""

from __future__ import annotations

import tomllib

import pyarrow as pa
import pytest

from linkage.encode import column_kinds, evaluate, load_segments
from linkage.errors import InputError
from linkage.synth import World, WorldStream, generate_world

# Written out from docs/ARCHITECTURE.md, not imported, so a drift in the module fails here.
VOTERS = pa.schema(
    [
        ("voter_id", pa.string()),
        ("first_name", pa.string()),
        ("middle_name", pa.string()),
        ("last_name", pa.string()),
        ("suffix", pa.string()),
        ("birth_date", pa.date32()),
        ("gender", pa.string()),
        ("address", pa.string()),
        ("city", pa.string()),
        ("state", pa.string()),
        ("zip", pa.string()),
        ("phone", pa.string()),
        ("email", pa.string()),
        ("ethnicity", pa.string()),
        ("party", pa.string()),
        ("support_score", pa.int16()),
        ("turnout_score", pa.int16()),
        ("gotv_score", pa.int16()),
        ("persuasion_score", pa.int16()),
    ]
)
SUBSCRIBERS = pa.schema(
    [
        (name, pa.string())
        for name in (
            "household_id",
            "account_number",
            "first_name",
            "last_name",
            "address",
            "city",
            "state",
            "zip",
            "phone",
            "email",
        )
    ]
)
VIEWING = pa.schema(
    [
        ("household_id", pa.string()),
        ("channel", pa.string()),
        ("start", pa.timestamp("s")),
        ("end", pa.timestamp("s")),
    ]
)
CHANNELS = pa.schema([(c, pa.string()) for c in ("channel", "name", "genre", "language")])
VOTER_HOUSEHOLD = pa.schema([("voter_id", pa.string()), ("household_id", pa.string())])


# --- parameters and determinism ----------------------------------------------------------


@pytest.mark.parametrize(
    ("voters", "days"),
    [(0, 1), (-5, 1), (10, 0), (10, -1), (True, 1), (2.5, 1)],
)
def test_rejects_bad_parameters(voters: int, days: int) -> None:
    with pytest.raises(InputError) as err:
        generate_world(voters=voters, days=days)
    assert ("voters" if voters != 10 else "days") in str(err.value)


def test_same_seed_same_world() -> None:
    a = generate_world(voters=400, days=1, seed=3)
    b = generate_world(voters=400, days=1, seed=3)
    for name in ("voters", "subscribers", "viewing", "channels", "ratecard", "voter_household"):
        assert getattr(a, name).equals(getattr(b, name)), name
    assert a.segments_toml == b.segments_toml


def test_different_seed_different_world() -> None:
    a = generate_world(voters=400, days=1, seed=3)
    b = generate_world(voters=400, days=1, seed=4)
    assert not a.voters.equals(b.voters)
    assert not a.subscribers.equals(b.subscribers)
    assert not a.viewing.equals(b.viewing)


def test_tiny_world() -> None:
    w = generate_world(voters=1, days=1, seed=0)
    assert w.voters.num_rows == 1
    assert w.voters.schema.equals(VOTERS)


# --- contract shapes ----------------------------------------------------------------------


def test_schemas_match_contract(world: World) -> None:
    assert world.voters.schema.equals(VOTERS)
    assert world.subscribers.schema.equals(SUBSCRIBERS)
    assert world.viewing.schema.equals(VIEWING)
    assert world.channels.schema.equals(CHANNELS)
    assert world.voter_household.schema.equals(VOTER_HOUSEHOLD)
    assert world.ratecard.column_names == [
        "market",
        "channel",
        "daypart",
        "cost_per_spot",
        "units_available",
    ]
    assert pa.types.is_floating(world.ratecard.schema.field("cost_per_spot").type)
    assert pa.types.is_integer(world.ratecard.schema.field("units_available").type)


def test_channels(world: World) -> None:
    ch = world.channels.to_pandas()
    assert len(ch) == 60 and ch["channel"].is_unique
    assert {"UNIV", "TELE", "BET", "CNN", "FNC", "ESPN"} <= set(ch["channel"])
    assert set(ch["language"]) == {"en", "es"}
    assert set(world.viewing.column("channel").to_pylist()) <= set(ch["channel"])


# --- segments -----------------------------------------------------------------------------


def test_segments_toml(world: World) -> None:
    doc = tomllib.loads(world.segments_toml)
    segments = doc["segments"]
    assert {"persuadable", "turnout_target", "latino", "african_american"} <= set(segments)
    for body in segments.values():
        assert body["description"] and body["rule"]
    assert "hispanic" in segments["latino"]["rule"]
    assert "black" in segments["african_american"]["rule"]


def test_segment_sizes_are_usable(world: World) -> None:
    rules = load_segments(
        world.segments_toml, columns=column_kinds(world.voters.schema), file="segments.toml"
    )
    members = evaluate(rules, world.voters)
    n = world.voters.num_rows
    for name in ("persuadable", "turnout_target"):
        assert 0.08 < members[name].sum() / n < 0.25, name
    for name in ("latino", "african_american"):
        assert members[name].sum() / n > 0.07, name


# --- streaming ------------------------------------------------------------------------------


def test_one_chunk_stream_is_generate_world() -> None:
    world = generate_world(voters=1_500, days=2, seed=21)
    stream = WorldStream(voters=1_500, days=2, seed=21, chunk_voters=1_500)
    (chunk,) = list(stream.chunks())
    assert chunk.voters.equals(world.voters)
    assert chunk.subscribers.equals(world.subscribers)
    assert chunk.viewing.equals(world.viewing)
    assert chunk.voter_household.equals(world.voter_household)
    assert stream.ratecard().equals(world.ratecard)
    assert stream.channels.equals(world.channels)
    assert chunk.markets.equals(world.markets)
    assert stream.lineups.equals(world.lineups)


def test_chunked_stream_is_one_consistent_world() -> None:
    stream = WorldStream(voters=2_500, days=2, seed=5, chunk_voters=1_000)
    chunks = list(stream.chunks())
    assert stream.n_chunks == 3
    assert [c.voters.num_rows for c in chunks] == [1_000, 1_000, 500]
    voters = pa.concat_tables([c.voters for c in chunks])
    subs = pa.concat_tables([c.subscribers for c in chunks])
    truth = pa.concat_tables([c.voter_household for c in chunks])
    viewing = pa.concat_tables([c.viewing for c in chunks])
    ids = voters["voter_id"].to_pylist()
    assert ids == sorted(ids) and len(set(ids)) == len(ids)
    assert truth["voter_id"].to_pylist() == sorted(truth["voter_id"].to_pylist())
    households = subs["household_id"].to_pylist()
    assert len(set(households)) == len(households)
    assert len(set(subs["account_number"].to_pylist())) == subs.num_rows
    assert set(truth["voter_id"].to_pylist()) <= set(ids)
    assert set(viewing["household_id"].to_pylist()) <= set(households)
    # Chunks are distinct draws, not copies of one another.
    assert chunks[0].voters["first_name"] != chunks[1].voters["first_name"].slice(0, 1_000)
    # Deterministic: the same arguments give the same chunks and rate card.
    again = WorldStream(voters=2_500, days=2, seed=5, chunk_voters=1_000)
    assert all(a.viewing.equals(b.viewing) for a, b in zip(again.chunks(), chunks, strict=True))
    assert again.ratecard().equals(stream.ratecard())


def test_stream_ratecard_needs_every_chunk_and_args_are_checked() -> None:
    stream = WorldStream(voters=500, days=1, seed=1, chunk_voters=200)
    with pytest.raises(InputError, match="every chunk"):
        stream.ratecard()
    with pytest.raises(InputError, match="chunk_voters"):
        WorldStream(voters=500, chunk_voters=0)
    with pytest.raises(InputError, match="workers"):
        WorldStream(voters=500, workers=0)
    with pytest.raises(InputError, match="every chunk"):
        stream.truth_viewership()
    with pytest.raises(InputError, match="voters"):
        WorldStream(voters=0)


def test_workers_draw_the_same_world() -> None:
    # Each chunk is seeded by its index: two spawned workers give the same bytes as one process.
    one = WorldStream(voters=900, days=1, seed=8, chunk_voters=300)
    two = WorldStream(voters=900, days=1, seed=8, chunk_voters=300, workers=2)
    for a, b in zip(one.chunks(), two.chunks(), strict=True):
        for name in ("voters", "subscribers", "viewing", "voter_household"):
            assert getattr(a, name).equals(getattr(b, name)), name
    assert one.ratecard().equals(two.ratecard())
    assert one.truth_viewership().equals(two.truth_viewership())
