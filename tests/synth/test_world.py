"""Tests for linkage.synth: contract shapes, determinism, realism and corruption rates."""

from __future__ import annotations

import re
import tomllib
from datetime import date, timedelta

import jellyfish
import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from nicknames import NickNamer

from linkage.encode import column_kinds, evaluate, load_segments
from linkage.errors import InputError
from linkage.measure import DAYPARTS
from linkage.synth import World, WorldStream, generate_world

START = date(2026, 10, 5)  # a Monday
DAYS = 2
SPANISH = {"UNIV", "TELE", "UMAS", "GALA", "ESPD", "CNNE"}

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


@pytest.fixture(scope="module")
def world() -> World:
    return generate_world(voters=3000, days=DAYS, seed=7, start=START)


@pytest.fixture(scope="module")
def frames(world: World) -> dict[str, pd.DataFrame]:
    voters = world.voters.to_pandas()
    truth = world.voter_household.to_pandas()
    members = truth.merge(voters, on="voter_id")
    viewing = world.viewing.to_pandas()
    viewing["seconds"] = (viewing["end"] - viewing["start"]).dt.total_seconds()
    return {
        "voters": voters,
        "subscribers": world.subscribers.to_pandas(),
        "truth": truth,
        "members": members,
        "viewing": viewing,
    }


def _canon(text: object) -> str:
    return " ".join(str(text).casefold().split())


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
        "channel",
        "daypart",
        "cost_per_spot",
        "units_available",
    ]
    assert pa.types.is_floating(world.ratecard.schema.field("cost_per_spot").type)
    assert pa.types.is_integer(world.ratecard.schema.field("units_available").type)


def test_voter_values(frames: dict[str, pd.DataFrame]) -> None:
    v = frames["voters"]
    assert len(v) == 3000
    assert v["voter_id"].is_unique
    assert v["voter_id"].str.fullmatch(r"OH\d{9}").all()
    assert v["zip"].str.fullmatch(r"4[345]\d{3}(-\d{4})?").all()
    assert 0.05 < v["zip"].str.contains("-").mean() < 0.3
    assert set(v["state"]) == {"OH"}
    assert set(v["gender"]) == {"M", "F"}
    assert set(v["ethnicity"]) == {"white", "black", "hispanic", "asian", "other"}
    assert set(v["party"]) == {"D", "R", "I"}
    for col in ("support_score", "turnout_score", "gotv_score", "persuasion_score"):
        assert v[col].between(1, 100).all(), col
    birth = pd.to_datetime(v["birth_date"])
    age = (pd.Timestamp(START) - birth).dt.days / 365.2425
    assert age.min() >= 18 and age.max() < 96
    assert 0.65 < v["phone"].notna().mean() < 0.75
    assert 0.45 < v["email"].notna().mean() < 0.55
    assert v["middle_name"].isna().any() and v["middle_name"].notna().any()
    assert v["address"].str.match(r"\d+ ").all()


def test_voter_file_formatting_noise(frames: dict[str, pd.DataFrame]) -> None:
    v = frames["voters"]
    assert (v["last_name"] == v["last_name"].str.upper()).mean() > 0.02
    assert v["address"].str.contains("  ").any()
    formats = v["phone"].dropna().map(lambda p: re.sub(r"\d", "9", p))
    assert formats.nunique() >= 3


def test_ethnicity_mix_has_sizeable_segments(frames: dict[str, pd.DataFrame]) -> None:
    share = frames["voters"]["ethnicity"].value_counts(normalize=True)
    assert 0.55 < share["white"] < 0.75
    assert share["black"] > 0.10
    assert share["hispanic"] > 0.07


def test_scores_follow_demographics(frames: dict[str, pd.DataFrame]) -> None:
    v = frames["voters"]
    age = (pd.Timestamp(START) - pd.to_datetime(v["birth_date"])).dt.days / 365.2425
    assert np.corrcoef(age, v["turnout_score"])[0, 1] > 0.5
    support = v.groupby("party")["support_score"].mean()
    assert support["D"] > support["I"] + 15 > support["R"] + 30
    persuasion = v.groupby("party")["persuasion_score"].mean()
    assert persuasion["I"] > persuasion["D"] and persuasion["I"] > persuasion["R"]


def test_names_common_and_rare(frames: dict[str, pd.DataFrame]) -> None:
    v = frames["voters"]
    last = v["last_name"].str.strip().str.title()
    counts = last.value_counts()
    assert 15 <= counts.iloc[0] < 0.03 * len(v)  # common surnames repeat, Census-like
    assert (counts <= 2).sum() > 250  # and there is a long tail of rare ones
    first = v["first_name"].str.strip().str.title().value_counts()
    assert first.iloc[0] >= 20 and (first <= 2).sum() > 100
    # Surnames carry ethnicity (Census-style): -ez names are mostly Hispanic.
    ez = v.loc[last.str.endswith("ez"), "ethnicity"]
    assert len(ez) > 50 and (ez == "hispanic").mean() > 0.7
    assert (v.loc[last == "Nguyen", "ethnicity"] != "hispanic").all()


def test_households_share_surnames_mostly(frames: dict[str, pd.DataFrame]) -> None:
    m = frames["members"]
    sizes = m.groupby("household_id").size()
    assert sizes.between(1, 4).all()
    assert {1, 2, 3, 4} <= set(sizes)
    multi = m[m["household_id"].isin(sizes[sizes > 1].index)]
    shared = multi.groupby("household_id")["last_name"].agg(
        lambda s: s.str.strip().str.casefold().nunique() == 1
    )
    assert 0.6 < shared.mean() < 0.95
    same_eth = multi.groupby("household_id")["ethnicity"].nunique() == 1
    assert same_eth.mean() > 0.85
    same_addr = multi.groupby("household_id")["address"].agg(lambda s: s.map(_canon).nunique())
    assert (same_addr == 1).all()


# --- subscribers and truth ----------------------------------------------------------------


def test_truth_covers_exactly_subscribed_households(frames: dict[str, pd.DataFrame]) -> None:
    subs, truth, v = frames["subscribers"], frames["truth"], frames["voters"]
    assert subs["household_id"].is_unique
    assert subs["account_number"].is_unique
    assert subs["household_id"].str.fullmatch(r"HH[0-9a-f]{10}").all()
    assert set(truth["household_id"]) == set(subs["household_id"])
    assert truth["voter_id"].is_unique
    assert set(truth["voter_id"]) <= set(v["voter_id"])
    assert 0.5 < len(truth) / len(v) < 0.72


def _per_subscriber(frames: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """Subscriber rows with their household's true voters' values as sets."""
    m = frames["members"]
    grouped = m.groupby("household_id").agg(
        firsts=("first_name", lambda s: {_canon(x) for x in s}),
        lasts=("last_name", lambda s: {_canon(x) for x in s}),
        addresses=("address", lambda s: {_canon(x) for x in s}),
        houses=("address", lambda s: {str(x).split()[0] for x in s}),
    )
    return frames["subscribers"].merge(grouped, left_on="household_id", right_index=True)


def test_corruption_rates(frames: dict[str, pd.DataFrame]) -> None:
    s = _per_subscriber(frames)
    nn = NickNamer()
    first = s["first_name"].map(_canon)
    exact_first = [f in fs for f, fs in zip(first, s["firsts"], strict=True)]
    nickname = [
        not ok and any(f in nn.nicknames_of(g) for g in fs)
        for f, fs, ok in zip(first, s["firsts"], exact_first, strict=True)
    ]
    assert 0.05 < np.mean(nickname) < 0.15

    last = s["last_name"].map(_canon)
    typo = [
        ln not in ls and min(jellyfish.damerau_levenshtein_distance(ln, x) for x in ls) <= 2
        for ln, ls in zip(last, s["lasts"], strict=True)
    ]
    assert 0.015 < np.mean(typo) < 0.08

    house = s["address"].str.split().str[0]
    stale = np.array([h not in hs for h, hs in zip(house, s["houses"], strict=True)])
    assert 0.01 < stale.mean() < 0.06

    current = s[~stale]
    differs = [
        _canon(a) not in addrs
        for a, addrs in zip(current["address"], current["addresses"], strict=True)
    ]
    assert 0.2 < np.mean(differs) < 0.45

    unit_re = r"(?i)\b(?:apt|unit|apartment)\b|#"
    has_unit = current["addresses"].map(lambda addrs: any(re.search(unit_re, a) for a in addrs))
    lost = ~current.loc[has_unit, "address"].str.contains(unit_re)
    assert has_unit.sum() > 50
    assert 0.08 < lost.mean() < 0.35


def test_subscriber_contact_fields(frames: dict[str, pd.DataFrame]) -> None:
    s, v = frames["subscribers"], frames["voters"]
    assert s["phone"].notna().mean() < v["phone"].notna().mean() - 0.05
    assert s["email"].notna().mean() < v["email"].notna().mean() - 0.05
    shapes = set(s["phone"].dropna().map(lambda p: re.sub(r"\d", "9", p)))
    assert {"(999) 999-9999", "999.999.9999", "+9 999 999 9999"} <= shapes  # +1 turns into +9 too
    emails = s["email"].dropna()
    assert (emails != emails.str.lower()).mean() > 0.05
    assert s["address"].str.contains(r"\b(?:Street|Avenue|Road|Drive)\b", case=False).any()


# --- viewing ------------------------------------------------------------------------------


def test_events_valid_and_non_overlapping(frames: dict[str, pd.DataFrame]) -> None:
    ev = frames["viewing"].sort_values(["household_id", "start"])
    assert (ev["seconds"] >= 5 * 60).all() and (ev["seconds"] <= 120 * 60).all()
    assert ev["start"].min() >= pd.Timestamp(START)
    assert ev["end"].max() <= pd.Timestamp(START + timedelta(days=DAYS))
    same = ev["household_id"].to_numpy()[1:] == ev["household_id"].to_numpy()[:-1]
    gap = ev["start"].to_numpy()[1:] - ev["end"].to_numpy()[:-1]
    assert (gap[same] >= np.timedelta64(0, "s")).all()
    # back-to-back events are channel switches, so the channel changes
    contiguous = same & (gap == np.timedelta64(0, "s"))
    assert contiguous.any()
    ch = ev["channel"].to_numpy()
    assert (ch[1:][contiguous] != ch[:-1][contiguous]).mean() > 0.9


def test_viewing_volume_and_light_viewers(frames: dict[str, pd.DataFrame]) -> None:
    ev, subs = frames["viewing"], frames["subscribers"]
    assert set(ev["household_id"]) <= set(subs["household_id"])
    per_day = len(ev) / len(subs) / DAYS
    assert 3.5 < per_day < 6.5
    hours = ev.groupby("household_id")["seconds"].sum().reindex(subs["household_id"]).fillna(0)
    light = (hours / 3600 / DAYS < 2).mean()
    assert 0.22 < light < 0.40


def test_daypart_curve_peaks_in_prime(frames: dict[str, pd.DataFrame]) -> None:
    ev = frames["viewing"]
    by_hour = ev.groupby(ev["start"].dt.hour)["seconds"].sum()
    assert by_hour.idxmax() in (19, 20, 21, 22)
    assert by_hour[20:23].mean() > 3 * by_hour[2:5].mean()
    assert by_hour[7] > by_hour[4]  # the morning bump


def test_tastes_follow_segments(frames: dict[str, pd.DataFrame]) -> None:
    ev, m = frames["viewing"], frames["members"]
    eth = m.groupby("household_id")["ethnicity"].agg(lambda s: s.mode().iloc[0])
    ev = ev.assign(eth=ev["household_id"].map(eth))
    spanish = ev["channel"].isin(SPANISH) * ev["seconds"]
    share = spanish.groupby(ev["eth"]).sum() / ev.groupby("eth")["seconds"].sum()
    others = share.drop("hispanic").max()
    assert share["hispanic"] > 0.1
    assert share["hispanic"] > 5 * others
    black = ev["channel"].isin(["BET", "TV1"]) * ev["seconds"]
    share = black.groupby(ev["eth"]).sum() / ev.groupby("eth")["seconds"].sum()
    assert share["black"] > 2 * share["white"]


def test_channels_and_ratecard(world: World) -> None:
    ch = world.channels.to_pandas()
    assert len(ch) == 60 and ch["channel"].is_unique
    assert {"UNIV", "TELE", "BET", "CNN", "FNC", "ESPN"} <= set(ch["channel"])
    assert set(ch["language"]) == {"en", "es"}
    assert set(world.viewing.column("channel").to_pylist()) <= set(ch["channel"])
    rc = world.ratecard.to_pandas()
    assert len(rc) == 60 * len(DAYPARTS)
    assert set(rc["daypart"]) == {dp.name for dp in DAYPARTS}
    assert set(rc["channel"]) == set(ch["channel"])
    assert (rc["cost_per_spot"] > 0).all() and (rc["units_available"] >= 1).all()
    cost = rc.groupby("daypart")["cost_per_spot"].median()
    assert cost["prime"] > 2 * cost["overnight"]
    by_channel = rc.groupby("channel")["cost_per_spot"].mean()
    assert by_channel["CBS"] > by_channel["ESPD"]


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
    with pytest.raises(InputError, match="voters"):
        WorldStream(voters=0)
