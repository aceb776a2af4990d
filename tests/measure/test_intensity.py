"""Tests for linkage.measure.intensity: minutes per day, tiers, and tier segments."""

from __future__ import annotations

import random
from datetime import datetime, timedelta

import pyarrow as pa
import pytest

from linkage.engine import DuckDBEngine
from linkage.errors import InputError
from linkage.measure import cross_with_intensity, household_intensity
from tests.measure.inputs import MONDAY, WEEK, viewing

MONDAY_MIDNIGHT = datetime(MONDAY.year, MONDAY.month, MONDAY.day)


def test_household_intensity_tiers(engine: DuckDBEngine) -> None:
    events = [
        ("h1", "c1", "03-04 10:00", "03-04 11:00"),  # 60 min: light
        ("h2", "c1", "03-04 10:00", "03-04 13:00"),  # 180 min
        ("h2", "c2", "03-04 12:00", "03-04 13:00"),  # overlaps, adds nothing
        ("h3", "c1", "03-04 10:00", "03-04 15:00"),  # 300 min: heavy
        ("h4", "c1", "03-03 10:00", "03-03 15:00"),  # outside the period
    ]
    out = household_intensity(viewing(events), engine=engine, period=[MONDAY]).to_pylist()
    assert out == [
        {"household_id": "h1", "avg_minutes_per_day": 60.0, "tier": "light"},
        {"household_id": "h2", "avg_minutes_per_day": 180.0, "tier": "medium"},
        {"household_id": "h3", "avg_minutes_per_day": 300.0, "tier": "heavy"},
    ]
    two_days = household_intensity(viewing(events[:1]), engine=engine, period=WEEK[:2])
    assert two_days["avg_minutes_per_day"].to_pylist() == [30.0]
    # A period with a gap (Monday and Wednesday): Tuesday's viewing is out,
    # also when one interval runs across the gap.
    gap = [
        ("h1", "c1", "03-04 23:00", "03-06 01:00"),  # 60 min Mon, 24 h Tue, 60 min Wed
        ("h2", "c1", "03-05 10:00", "03-05 12:00"),  # Tuesday only
    ]
    out = household_intensity(viewing(gap), engine=engine, period=[WEEK[0], WEEK[2]])
    assert out.to_pylist() == [{"household_id": "h1", "avg_minutes_per_day": 60.0, "tier": "light"}]
    # Consecutive days take the shortcut and give the same minutes as the cut-up path.
    three = household_intensity(viewing(gap), engine=engine, period=WEEK[:3])
    assert three["avg_minutes_per_day"].to_pylist() == [(60 + 1440 + 60) / 3, 40.0]


def test_cross_with_intensity_adds_tier_segments() -> None:
    assignments = pa.table(
        {"household_id": ["h1", "h1", "h2", "h3"], "segment": ["s1", "s2", "s1", "*"]}
    )
    intensity = pa.table(
        {
            "household_id": ["h1", "h3"],
            "avg_minutes_per_day": [400.0, 150.0],
            "tier": ["heavy", "medium"],
        }
    )
    out = cross_with_intensity(assignments, intensity)
    pairs = list(zip(out["household_id"].to_pylist(), out["segment"].to_pylist(), strict=True))
    assert pairs[:4] == [("h1", "s1"), ("h1", "s2"), ("h2", "s1"), ("h3", "*")]
    assert set(pairs[4:]) == {
        ("h1", "s1:heavy"),
        ("h1", "s2:heavy"),
        ("h1", "*:heavy"),
        ("h2", "s1:light"),  # no viewing at all: light
        ("h2", "*:light"),
        ("h3", "*:medium"),
    }
    assert len(pairs) == len(set(pairs))
    only = cross_with_intensity(assignments, intensity, include_all=False)
    assert not any(s.startswith("*:") for s in only["segment"].to_pylist())


def test_cross_with_intensity_rejects_bad_tiers_and_nulls() -> None:
    assignments = pa.table({"household_id": ["h1"], "segment": ["s1"]})
    with pytest.raises(InputError, match="tier"):
        cross_with_intensity(assignments, pa.table({"household_id": ["h1"], "tier": ["binge"]}))
    with pytest.raises(InputError, match="nulls"):
        cross_with_intensity(
            pa.table({"household_id": ["h1", None], "segment": ["s1", "s1"]}),
            pa.table({"household_id": ["h1"], "tier": ["light"]}),
        )


def test_household_intensity_is_the_union_of_each_households_tuning(
    engine: DuckDBEngine,
) -> None:
    # Nested, overlapping, touching and repeated events on several sets and channels.
    rng = random.Random(3)
    events: list[tuple[str, str, str, str]] = []
    tuned: dict[str, set[int]] = {}
    for h in range(12):
        for _ in range(rng.randint(1, 9)):
            start = rng.randrange(0, 2 * 24 * 60 - 1)
            end = min(start + rng.choice([1, 5, 30, 90, 400]), 2 * 24 * 60)
            first, last = (
                (MONDAY_MIDNIGHT + timedelta(minutes=m)).strftime("%m-%d %H:%M")
                for m in (start, end)
            )
            events.append((f"h{h}", rng.choice(["c1", "c2", "c3"]), first, last))
            tuned.setdefault(f"h{h}", set()).update(range(start, end))
    events.append(events[0])  # an exact repeat adds nothing
    out = household_intensity(viewing(events), engine=engine, period=WEEK[:2])
    got = dict(
        zip(out["household_id"].to_pylist(), out["avg_minutes_per_day"].to_pylist(), strict=True)
    )
    assert got == {h: pytest.approx(len(minutes) / 2) for h, minutes in tuned.items()}


def test_cross_with_intensity_keeps_the_input_order_and_the_last_tier() -> None:
    assignments = pa.table(
        {
            "household_id": ["h2", "h1", "h2", "h1", "h3"],
            "segment": ["s1", "*", "s1", "s2", "s1"],
        }
    )
    # h1 is listed twice: its last tier counts; h3 watched nothing.
    intensity = pa.table({"household_id": ["h1", "h2", "h1"], "tier": ["light", "heavy", "medium"]})
    out = cross_with_intensity(assignments, intensity)
    assert list(zip(out["household_id"].to_pylist(), out["segment"].to_pylist(), strict=True)) == [
        ("h2", "s1"),
        ("h1", "*"),
        ("h1", "s2"),
        ("h3", "s1"),
        ("h2", "s1:heavy"),
        ("h2", "*:heavy"),
        ("h1", "*:medium"),
        ("h1", "s2:medium"),
        ("h3", "s1:light"),
        ("h3", "*:light"),
    ]
    with pytest.raises(InputError) as refused:
        cross_with_intensity(
            assignments, pa.table({"household_id": ["h1", None], "tier": ["light", "light"]})
        )
    assert refused.value.row == 1
