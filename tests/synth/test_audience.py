"""Tests for linkage.synth.audience: truth counted chunk by chunk equals the provider's SQL."""

from __future__ import annotations

from datetime import date

import numpy as np
import pyarrow as pa
import pytest

from linkage.errors import InputError
from linkage.measure import QUARTER_HOURS_PER_DAY
from linkage.synth import WorldStream, count_audience, true_assignments_of, truth_viewership_of

MONDAY = date(2026, 10, 5)


def _ints(values: list[int]) -> np.ndarray:
    return np.array(values, dtype=np.int64)


def test_streamed_truth_equals_compute_viewership_on_the_whole_world() -> None:
    # Three chunks over a week (weekdays and a weekend), against the SQL on the concatenation.
    stream = WorldStream(voters=2_400, days=7, seed=11, chunk_voters=800)
    chunks = list(stream.chunks())
    voters = pa.concat_tables([c.voters for c in chunks])
    truth = pa.concat_tables([c.voter_household for c in chunks])
    viewing = pa.concat_tables([c.viewing for c in chunks])
    expected = truth_viewership_of(
        true_assignments_of(voters, truth, stream.segments_toml), viewing, stream.channels
    )
    got = stream.truth_viewership()
    assert got.equals(expected)
    assert set(got["day_type"].to_pylist()) == {"weekday", "weekend"}


def test_short_world_period_follows_the_events() -> None:
    # One day, few voters: the period and the segments present come from the data.
    stream = WorldStream(voters=60, days=1, seed=2, chunk_voters=25)
    chunks = list(stream.chunks())
    expected = truth_viewership_of(
        true_assignments_of(
            pa.concat_tables([c.voters for c in chunks]),
            pa.concat_tables([c.voter_household for c in chunks]),
            stream.segments_toml,
        ),
        pa.concat_tables([c.viewing for c in chunks]),
        stream.channels,
    )
    assert stream.truth_viewership().equals(expected)


def test_pieces_on_one_channel_add_up_and_credit_once() -> None:
    # Household 0, one quarter-hour: A 200 s, B 300 s, A 200 s -> A (400 s) and B credited once.
    # Household 1: one event over three quarter-hours and 100 s of a fourth (not credited).
    hh = _ints([0, 0, 0, 1])
    channel = _ints([0, 1, 0, 2])
    start = _ints([0, 200, 500, 900])
    end = _ints([200, 500, 700, 900 + 2_700 + 100])
    members = {"seg": np.array([True, False])}
    counts = count_audience(hh, channel, start, end, members, n_channels=3, days=1)
    assert counts.segments == ("*", "seg")
    assert counts.universe.tolist() == [2, 1]
    credited = counts.credited.reshape(2, 3, QUARTER_HOURS_PER_DAY)
    assert credited[0, 0, :2].tolist() == [1, 0]
    assert credited[0, 1, :2].tolist() == [1, 0]
    assert credited[0, 2, :5].tolist() == [0, 1, 1, 1, 0]
    assert credited[1].sum(axis=1).tolist() == [1, 1, 0]  # household 0 only
    hut = counts.hut.reshape(2, QUARTER_HOURS_PER_DAY)
    assert hut[0, :5].tolist() == [1, 1, 1, 1, 0]  # one HUT credit per household and slot
    assert hut[1, :5].tolist() == [1, 0, 0, 0, 0]
    assert (counts.first_start, counts.last_end) == (0, 3_700)


def test_short_pieces_are_not_credited() -> None:
    # 299 s in the quarter-hour is under the 5-minute credit; 300 s is enough.
    counts = count_audience(
        _ints([0, 1]), _ints([0, 0]), _ints([0, 0]), _ints([299, 300]), {}, n_channels=1, days=1
    )
    assert counts.credited[0, 0] == 1
    assert counts.hut[0, 0] == 1


def test_overlapping_or_unsorted_events_are_refused() -> None:
    with pytest.raises(ValueError, match="overlap"):
        count_audience(_ints([0, 0]), _ints([0, 1]), _ints([0, 100]), _ints([600, 900]), {}, 2, 1)
    with pytest.raises(ValueError, match="sorted"):
        count_audience(_ints([1, 0]), _ints([0, 1]), _ints([0, 0]), _ints([600, 600]), {}, 2, 1)


def test_counts_add_up_and_need_events() -> None:
    a = count_audience(_ints([0]), _ints([0]), _ints([900]), _ints([1_800]), {}, 1, 1)
    b = count_audience(_ints([0]), _ints([0]), _ints([0]), _ints([900]), {}, 1, 1)
    both = a.plus(b)
    assert both.universe.tolist() == [2]
    assert (both.first_start, both.last_end) == (0, 1_800)
    assert both.credited[0, :3].tolist() == [1, 1, 0]
    empty = count_audience(_ints([]), _ints([]), _ints([]), _ints([]), {}, 1, 1)
    assert a.plus(empty).first_start == 900
    with pytest.raises(InputError, match="no events"):
        empty.viewership(["A"], MONDAY)
    with pytest.raises(ValueError, match="grids"):
        a.plus(count_audience(_ints([]), _ints([]), _ints([]), _ints([]), {}, 2, 1))
