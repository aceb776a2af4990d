"""Tests for linkage.measure.aggregation: hand-computed AQH cases and SQL vs the reference."""

from __future__ import annotations

import math
import random
from collections.abc import Mapping, Sequence
from datetime import date, datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from linkage.engine import DuckDBEngine
from linkage.errors import InputError
from linkage.measure import (
    DAYPARTS,
    aggregation,
    compute_viewership,
    daypart_of,
    reference_viewership,
    resolve_period,
    segment_members,
    viewership_of_members,
)
from linkage.tables import ALL_HOUSEHOLDS, CELLS_SCHEMA
from tests.measure.inputs import MONDAY, WEEK, Event, assign, viewing


def cell(
    cells: pa.Table,
    *,
    grain: str = "quarter_hour",
    segment: str = "A",
    channel: str = "c1",
    day_type: str = "weekday",
    quarter_hour: int | None = None,
    daypart: str | None = None,
) -> dict[str, object]:
    found = [
        r
        for r in cells.to_pylist()
        if r["grain"] == grain
        and r["segment"] == segment
        and r["channel"] == channel
        and r["day_type"] == day_type
        and (quarter_hour is None or r["quarter_hour"] == quarter_hour)
        and (daypart is None or r["daypart"] == daypart)
    ]
    assert len(found) == 1, found
    only: dict[str, object] = found[0]
    return only


def credited_qhs(cells: pa.Table, segment: str = "A", channel: str = "c1") -> dict[int, float]:
    return {
        r["quarter_hour"]: r["aqh_households"]
        for r in cells.to_pylist()
        if r["grain"] == "quarter_hour"
        and r["segment"] == segment
        and r["channel"] == channel
        and r["aqh_households"] > 0
    }


def run(
    engine: DuckDBEngine,
    events: Sequence[Event],
    groups: Mapping[str, Sequence[str]] | None = None,
    *,
    channels: Sequence[str] = ("c1", "c2"),
    period: Sequence[date] | None = (MONDAY,),
) -> pa.Table:
    return compute_viewership(
        assign(groups or {"A": ["h1"]}),
        viewing(events),
        channels=channels,
        engine=engine,
        period=period,
    )


# --------------------------------------------------------------------------- crediting


def test_six_minutes_inside_one_quarter_hour_credits_it(engine: DuckDBEngine) -> None:
    cells = run(engine, [("h1", "c1", "03-04 20:03", "03-04 20:09")])
    assert credited_qhs(cells) == {80: 1.0}
    row = cell(cells, quarter_hour=80)
    assert row["contributors"] == 1 and row["rating"] == 100.0 and row["daypart"] == "prime"


def test_event_split_three_plus_three_credits_nothing(engine: DuckDBEngine) -> None:
    cells = run(engine, [("h1", "c1", "03-04 20:12", "03-04 20:18")])
    assert credited_qhs(cells) == {}
    assert cell(cells, quarter_hour=80)["contributors"] == 0
    assert cell(cells, quarter_hour=81)["contributors"] == 0


def test_two_events_adding_to_five_minutes_credit(engine: DuckDBEngine) -> None:
    events = [
        ("h1", "c1", "03-04 20:16", "03-04 20:19"),
        ("h1", "c1", "03-04 20:25", "03-04 20:27"),
    ]
    assert credited_qhs(run(engine, events)) == {81: 1.0}


def test_credit_threshold_is_inclusive_at_the_second(engine: DuckDBEngine) -> None:
    short = run(engine, [("h1", "c1", "03-04 20:00:00", "03-04 20:04:59")])
    exact = run(engine, [("h1", "c1", "03-04 20:00:00", "03-04 20:05:00")])
    assert credited_qhs(short) == {}
    assert credited_qhs(exact) == {80: 1.0}


def test_overlapping_events_on_one_channel_are_not_double_counted(
    engine: DuckDBEngine,
) -> None:
    # Two boxes on the same channel for the same four minutes: 4 minutes tuned, not 8.
    events = [
        ("h1", "c1", "03-04 20:00", "03-04 20:04"),
        ("h1", "c1", "03-04 20:00", "03-04 20:04"),
        ("h1", "c1", "03-04 20:02", "03-04 20:03"),
    ]
    assert credited_qhs(run(engine, events)) == {}


def test_overlapping_pieces_credit_by_their_union(engine: DuckDBEngine) -> None:
    # Pieces of 3 + 2 + 2 minutes whose union is 20:00-20:05:30: credited on
    # the union alone, and the next quarter-hour's lone 30 s piece is not.
    chained = [
        ("h1", "c1", "03-04 20:00", "03-04 20:03"),
        ("h1", "c1", "03-04 20:02", "03-04 20:04"),
        ("h1", "c1", "03-04 20:03:30", "03-04 20:05:30"),
    ]
    assert credited_qhs(run(engine, chained)) == {80: 1.0}
    # A box inside another's interval adds nothing: 4.5 minutes, not 5.5.
    nested = [
        ("h1", "c1", "03-04 20:00", "03-04 20:04:30"),
        ("h1", "c1", "03-04 20:01", "03-04 20:02"),
    ]
    assert credited_qhs(run(engine, nested)) == {}


def test_too_many_keys_for_one_run_is_refused(
    engine: DuckDBEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(aggregation, "_KEY_LIMIT", 100)
    with pytest.raises(ValueError, match="split the reporting period"):
        run(engine, [("h1", "c1", "03-04 20:00", "03-04 20:06")])


def test_long_event_credits_every_full_quarter_hour(engine: DuckDBEngine) -> None:
    cells = run(engine, [("h1", "c1", "03-04 19:56", "03-04 21:04")])
    # 19:56-20:00 is 4 min (no), 21:00-21:04 is 4 min (no).
    assert credited_qhs(cells) == {80: 1.0, 81: 1.0, 82: 1.0, 83: 1.0}


def test_event_crossing_midnight_credits_both_dates(engine: DuckDBEngine) -> None:
    cells = run(engine, [("h1", "c1", "03-04 23:50", "03-05 00:10")], period=[MONDAY, WEEK[1]])
    # qh 95 on Monday and qh 0 on Tuesday, each averaged over 2 weekdays.
    assert credited_qhs(cells) == {95: 0.5, 0: 0.5}


# --------------------------------------------------------------------------- figures


def test_universe_hut_share_and_rating(engine: DuckDBEngine) -> None:
    groups = {"A": ["h1", "h2", "h3", "h4", "h5"], "B": ["h1"]}
    events = [
        ("h1", "c1", "03-04 20:00", "03-04 20:15"),
        ("h2", "c2", "03-04 20:00", "03-04 20:15"),
        ("h3", "c1", "03-04 20:00", "03-04 20:15"),
        # c9 is not published but h4 is still using TV: it counts in HUT.
        ("h4", "c9", "03-04 20:00", "03-04 20:15"),
        # h5 never watches; a viewer outside every segment is ignored.
        ("x9", "c1", "03-04 20:00", "03-04 20:15"),
    ]
    cells = run(engine, events, groups)
    c1 = cell(cells, quarter_hour=80)
    assert c1["universe"] == 5
    assert c1["aqh_households"] == 2.0
    assert c1["rating"] == pytest.approx(40.0)
    assert c1["share"] == pytest.approx(50.0)  # 2 of HUT 4
    assert cell(cells, channel="c2", quarter_hour=80)["share"] == pytest.approx(25.0)
    b = cell(cells, segment="B", quarter_hour=80)
    assert (b["universe"], b["rating"], b["share"]) == (1, 100.0, 100.0)
    star = cell(cells, segment=ALL_HOUSEHOLDS, quarter_hour=80)
    assert star["universe"] == 5 and star["aqh_households"] == 2.0
    assert {r["channel"] for r in cells.to_pylist()} == {"c1", "c2"}
    quiet = cell(cells, quarter_hour=10)
    assert (quiet["aqh_households"], quiet["rating"], quiet["share"]) == (0.0, 0.0, 0.0)


def test_weekday_and_weekend_day_counts(engine: DuckDBEngine) -> None:
    events = [
        ("h1", "c1", "03-04 20:00", "03-04 20:15"),  # Monday
        ("h1", "c1", "03-05 20:00", "03-05 20:15"),  # Tuesday
        ("h1", "c1", "03-09 20:00", "03-09 20:15"),  # Saturday
    ]
    cells = run(engine, events, period=WEEK)
    weekday = cell(cells, quarter_hour=80)
    weekend = cell(cells, day_type="weekend", quarter_hour=80)
    assert weekday["aqh_households"] == pytest.approx(2 / 5)
    assert weekday["contributors"] == 1
    assert weekend["aqh_households"] == pytest.approx(1 / 2)


def test_full_grid_is_emitted(engine: DuckDBEngine) -> None:
    cells = run(engine, [("h1", "c1", "03-04 20:00", "03-04 20:15")], period=WEEK)
    assert cells.schema == CELLS_SCHEMA
    segments, channels, day_types = 2, 2, 2  # A and *
    grains = cells["grain"].to_pylist()
    assert grains.count("quarter_hour") == segments * channels * day_types * 96
    assert grains.count("daypart") == segments * channels * day_types * len(DAYPARTS)
    assert grains.count("period") == segments * channels


def test_only_day_types_in_the_period_are_emitted(engine: DuckDBEngine) -> None:
    cells = run(engine, [("h1", "c1", "03-04 20:00", "03-04 20:15")])
    assert set(cells["day_type"].to_pylist()) == {"weekday", "all"}


def test_daypart_roll_up_wraps_midnight(engine: DuckDBEngine) -> None:
    events = [
        ("h1", "c1", "03-04 23:45", "03-04 23:59"),  # qh 95
        ("h1", "c1", "03-04 00:30", "03-04 00:45"),  # qh 2, same daypart
        ("h2", "c1", "03-04 00:00", "03-04 00:15"),  # qh 0
    ]
    cells = run(engine, events, {"A": ["h1", "h2"]})
    late = cell(cells, grain="daypart", daypart="late_fringe")
    assert daypart_of(95) == daypart_of(0) == "late_fringe"
    assert late["aqh_households"] == pytest.approx(3 / 6)  # 6 quarter-hours, 1 day
    assert late["rating"] == pytest.approx(3 / 6 / 2 * 100)
    assert late["share"] == pytest.approx(100.0)
    assert late["contributors"] == 2
    assert cell(cells, grain="daypart", daypart="prime")["contributors"] == 0


def test_period_reach(engine: DuckDBEngine) -> None:
    events = [
        ("h1", "c1", "03-04 20:00", "03-04 20:15"),
        ("h1", "c1", "03-05 21:00", "03-05 21:15"),
        ("h2", "c1", "03-06 08:00", "03-06 08:10"),
        ("h3", "c2", "03-06 08:00", "03-06 08:10"),
    ]
    cells = run(engine, events, {"A": ["h1", "h2", "h3", "h4"]}, period=WEEK)
    reach = cell(cells, grain="period", day_type="all")
    assert reach["daypart"] == "all" and reach["quarter_hour"] is None
    assert reach["reach_households"] == 2 and reach["contributors"] == 2
    assert reach["reach"] == pytest.approx(50.0)
    assert reach["aqh_households"] == pytest.approx(3 / (7 * 96))
    assert reach["share"] == pytest.approx(75.0)  # 3 of 4 credited household-slots
    assert cell(cells, quarter_hour=80)["reach"] is None


def test_viewing_outside_the_period_is_ignored(engine: DuckDBEngine) -> None:
    events = [
        ("h1", "c1", "03-03 20:00", "03-03 20:15"),
        ("h1", "c1", "03-04 20:00", "03-04 20:15"),
    ]
    cells = run(engine, events)
    assert credited_qhs(cells) == {80: 1.0}


def test_viewing_from_parquet_path(engine: DuckDBEngine, tmp_path: Path) -> None:
    events = [("h1", "c1", "03-04 20:03", "03-04 20:09")]
    path = tmp_path / "viewing.parquet"
    pq.write_table(viewing(events), path)
    from_path = compute_viewership(
        assign({"A": ["h1"]}), path, channels=["c1"], engine=engine, period=[MONDAY]
    )
    from_table = compute_viewership(
        assign({"A": ["h1"]}), viewing(events), channels=["c1"], engine=engine, period=[MONDAY]
    )
    assert from_path.equals(from_table)


def test_members_found_once_give_the_same_cells(engine: DuckDBEngine) -> None:
    assignments, events = random_world(5)
    channels = ["c1", "c2"]
    members = segment_members(assignments, engine)
    given = viewership_of_members(members, events, channels=channels, engine=engine)
    assert given.equals(compute_viewership(assignments, events, channels=channels, engine=engine))
    with pytest.raises(ValueError, match="credit_minutes"):
        viewership_of_members(members, events, channels=channels, engine=engine, credit_minutes=0)


def test_star_rows_in_assignments_only_widen_the_union(engine: DuckDBEngine) -> None:
    events = [("h1", "c1", "03-04 20:00", "03-04 20:15")]
    cells = run(engine, events, {"A": ["h1"], ALL_HOUSEHOLDS: ["h1", "h2"]})
    assert cell(cells, segment=ALL_HOUSEHOLDS, quarter_hour=80)["universe"] == 2
    assert cell(cells, segment="A", quarter_hour=80)["universe"] == 1


# --------------------------------------------------------------------------- errors


def test_bad_inputs(engine: DuckDBEngine) -> None:
    good = viewing([("h1", "c1", "03-04 20:00", "03-04 20:15")])
    with pytest.raises(InputError) as info:
        compute_viewership(
            assign({"A": ["h1"]}), good.drop_columns(["end"]), channels=["c1"], engine=engine
        )
    assert info.value.column == "end"
    with pytest.raises(InputError, match="empty"):
        compute_viewership(assign({}), good, channels=["c1"], engine=engine)
    nulls = pa.table({"household_id": [None], "segment": ["A"]}, schema=assign({}).schema)
    with pytest.raises(InputError, match="nulls"):
        compute_viewership(nulls, good, channels=["c1"], engine=engine)
    with pytest.raises(ValueError, match="credit_minutes"):
        compute_viewership(
            assign({"A": ["h1"]}), good, channels=["c1"], engine=engine, credit_minutes=16
        )
    with pytest.raises(ValueError, match="channels"):
        compute_viewership(assign({"A": ["h1"]}), good, channels=[], engine=engine)
    with pytest.raises(InputError, match="no events"):
        resolve_period(good.slice(0, 0), engine)


# --------------------------------------------------------------------------- reference


def random_world(seed: int) -> tuple[pa.Table, pa.Table]:
    rng = random.Random(seed)
    households = [f"h{i}" for i in range(10)]
    pairs: dict[str, list[str]] = {"A": [], "B": [], "C": []}
    for hh in households[:8]:
        for seg in pairs:
            if rng.random() < 0.5:
                pairs[seg].append(hh)
    pairs["C"].append("h9")  # assigned, may never watch
    start = datetime(2024, 3, 8, 18, 0)  # Friday evening into the weekend
    events = []
    for _ in range(45):
        begin = start + timedelta(seconds=rng.randrange(0, 3 * 86_400 // 60) * 60)
        begin += timedelta(seconds=rng.choice([0, 0, rng.randrange(60)]))
        end = begin + timedelta(seconds=rng.randrange(30, 50 * 60))
        hh = rng.choice([*households, "outsider"])
        channel = rng.choice(["c1", "c2", "c3", "c4"])
        events.append((hh, channel, begin, end))
        if rng.random() < 0.2:  # a second box overlapping on the same channel
            events.append((hh, channel, begin + timedelta(minutes=2), end + timedelta(minutes=3)))
    table = pa.table(
        {
            "household_id": [e[0] for e in events],
            "channel": [e[1] for e in events],
            "start": pa.array([e[2] for e in events], pa.timestamp("s")),
            "end": pa.array([e[3] for e in events], pa.timestamp("s")),
        }
    )
    return assign(pairs), table


def assert_same_cells(fast: pa.Table, slow: pa.Table) -> None:
    assert fast.schema == slow.schema
    assert fast.num_rows == slow.num_rows
    for got, want in zip(fast.to_pylist(), slow.to_pylist(), strict=True):
        for key, value in want.items():
            if isinstance(value, float):
                assert math.isclose(got[key], value, rel_tol=1e-9, abs_tol=1e-12), (key, got, want)
            else:
                assert got[key] == value, (key, got, want)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_sql_agrees_with_reference(engine: DuckDBEngine, seed: int) -> None:
    assignments, events = random_world(seed)
    channels = ["c1", "c2", "c3"]  # c4 only feeds HUT
    fast = compute_viewership(assignments, events, channels=channels, engine=engine)
    slow = reference_viewership(assignments, events, channels=channels)
    assert sum(fast["contributors"].to_pylist()) > 0
    assert_same_cells(fast, slow)


def test_sql_agrees_with_reference_explicit_period_and_credit(engine: DuckDBEngine) -> None:
    assignments, events = random_world(7)
    period = [date(2024, 3, 9), date(2024, 3, 11)]  # Saturday and Monday, not contiguous
    channels = ["c1", "c4"]
    fast = compute_viewership(
        assignments, events, channels=channels, engine=engine, period=period, credit_minutes=8
    )
    slow = reference_viewership(
        assignments, events, channels=channels, period=period, credit_minutes=8
    )
    assert_same_cells(fast, slow)


def test_many_segments_fall_back_to_one_pattern_per_household(
    engine: DuckDBEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(aggregation, "_MAX_MASK_SEGMENTS", 1)
    assignments, events = random_world(4)
    channels = ["c1", "c2", "c3"]
    fast = compute_viewership(assignments, events, channels=channels, engine=engine)
    assert_same_cells(fast, reference_viewership(assignments, events, channels=channels))


def test_an_event_inside_a_long_one_shares_its_slots_with_it(engine: DuckDBEngine) -> None:
    # c1's 20:40-20:46 event follows a short one (20:10-20:12) but still lies
    # inside the 20:00-21:00 event two rows back: it is summed with it, never
    # credited on its own as well.
    events = [
        ("h1", "c1", "03-04 20:00", "03-04 21:00"),
        ("h1", "c1", "03-04 20:10", "03-04 20:12"),
        ("h1", "c1", "03-04 20:40", "03-04 20:46"),
        ("h1", "c1", "03-04 22:00", "03-04 22:06"),  # shares nothing: credited alone
    ]
    cells = run(engine, events)
    assert credited_qhs(cells) == {80: 1.0, 81: 1.0, 82: 1.0, 83: 1.0, 88: 1.0}
    assert cell(cells, quarter_hour=82)["contributors"] == 1
    slow = reference_viewership(
        assign({"A": ["h1"]}), viewing(events), channels=["c1", "c2"], period=[MONDAY]
    )
    assert_same_cells(cells, slow)


def test_periods_longer_than_one_day_mask_agree_with_reference(
    engine: DuckDBEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Two days per mask block, so the random world's days span several blocks,
    # as a period of more than 62 days would.
    monkeypatch.setattr(aggregation, "_MASK_DAYS", 2)
    assignments, events = random_world(5)
    channels = ["c1", "c2", "c3"]
    fast = compute_viewership(assignments, events, channels=channels, engine=engine)
    assert_same_cells(fast, reference_viewership(assignments, events, channels=channels))


def test_credits_per_day_keeps_the_earliest_credits_of_a_busy_day(engine: DuckDBEngine) -> None:
    events = [
        ("h1", "c1", "03-04 20:00", "03-04 20:30"),  # qh 80 and 81 on c1
        ("h1", "c2", "03-04 20:00", "03-04 20:15"),  # qh 80 on c2: ties with c1 at 80
        ("h1", "c2", "03-05 21:00", "03-05 21:15"),  # Tuesday: a day of its own
        ("h2", "c1", "03-04 21:00", "03-04 21:45"),  # three credits, under no cap of 3
    ]
    cells = compute_viewership(
        assign({"A": ["h1", "h2"]}),
        viewing(events),
        channels=["c1", "c2"],
        engine=engine,
        period=[MONDAY, WEEK[1]],
        credits_per_day=2,
    )
    # h1 keeps (80, c1) and (80, c2) on Monday, drops (81, c1); h2 keeps 84 and 85.
    per_day = {k: v * 2 for k, v in credited_qhs(cells).items()}
    assert per_day == {80: 1.0, 84: 1.0, 85: 1.0}
    assert {k: v * 2 for k, v in credited_qhs(cells, channel="c2").items()} == {80: 1.0, 84: 1.0}
    hut = cell(cells, channel="c1", quarter_hour=80)
    assert hut["share"] == pytest.approx(100.0)  # h1 counts once in HUT at 80
    assert cell(cells, grain="period", day_type="all", daypart="all")["reach_households"] == 2
