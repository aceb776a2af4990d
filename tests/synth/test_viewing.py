"""Tests for linkage.synth.viewing: valid non-overlapping events, volume, dayparts and tastes."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pandas as pd

from tests.synth.sample import DAYS, START

SPANISH = {"UNIV", "TELE", "UMAS", "GALA", "ESPD", "CNNE"}


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
