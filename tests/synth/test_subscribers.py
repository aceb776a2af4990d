"""Tests for linkage.synth.subscribers: who subscribes, the truth map, how the files disagree."""

from __future__ import annotations

import re

import jellyfish
import numpy as np
import pandas as pd
from nicknames import NickNamer

from tests.synth.sample import canon


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
        firsts=("first_name", lambda s: {canon(x) for x in s}),
        lasts=("last_name", lambda s: {canon(x) for x in s}),
        addresses=("address", lambda s: {canon(x) for x in s}),
        houses=("address", lambda s: {str(x).split()[0] for x in s}),
    )
    return frames["subscribers"].merge(grouped, left_on="household_id", right_index=True)


def test_corruption_rates(frames: dict[str, pd.DataFrame]) -> None:
    s = _per_subscriber(frames)
    nn = NickNamer()
    first = s["first_name"].map(canon)
    exact_first = [f in fs for f, fs in zip(first, s["firsts"], strict=True)]
    nickname = [
        not ok and any(f in nn.nicknames_of(g) for g in fs)
        for f, fs, ok in zip(first, s["firsts"], exact_first, strict=True)
    ]
    assert 0.05 < np.mean(nickname) < 0.15

    last = s["last_name"].map(canon)
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
        canon(a) not in addrs
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
