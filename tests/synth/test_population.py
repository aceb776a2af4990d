"""Tests for linkage.synth.population: the voter file's values, noise and demographic realism."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

from tests.synth.sample import START, canon


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
    same_addr = multi.groupby("household_id")["address"].agg(lambda s: s.map(canon).nunique())
    assert (same_addr == 1).all()
