"""Tests for linkage.measure.sense: the public period and the viewing-log checks."""

from __future__ import annotations

import itertools
import random
from collections.abc import Iterator
from datetime import date, datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from linkage.engine import DuckDBEngine
from linkage.errors import InputError
from linkage.measure import (
    MAX_EVENT_HOURS,
    MAX_PERIOD_DAYS,
    ViewingCheck,
    parse_period,
    sanitize_viewing,
    sanitize_viewing_file,
)
from tests.measure.inputs import WEEK, Event, ts, viewing

SECRET_HOUSEHOLD = "Zebediah"  # a household id that must never reach a message
SECRET_CHANNEL = "XYZZY"


@pytest.fixture(scope="module")
def engine() -> Iterator[DuckDBEngine]:
    with DuckDBEngine(threads=2) as eng:
        yield eng


def events_of(table: pa.Table) -> list[tuple[str, str, datetime, datetime]]:
    return [(r["household_id"], r["channel"], r["start"], r["end"]) for r in table.to_pylist()]


def with_nulls(table: pa.Table, rows: dict[int, str]) -> pa.Table:
    """``table`` with the named column of each given row set to null."""
    for row, column in rows.items():
        values = table[column].to_pylist()
        values[row] = None
        index = table.column_names.index(column)
        table = table.set_column(index, column, pa.array(values, table[column].type))
    return table


# --- the period -----------------------------------------------------------------------


def test_parse_period_lists_every_date_inclusive() -> None:
    assert parse_period("2024-03-04..2024-03-10") == tuple(WEEK)
    assert parse_period(" 2026-10-05..2026-10-05\n") == (date(2026, 10, 5),)
    leap_year = parse_period("2024-01-01..2024-12-31")
    assert len(leap_year) == MAX_PERIOD_DAYS and leap_year[59] == date(2024, 2, 29)


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("2026-10-05", "FIRST..LAST"),
        ("2026-10-05...2026-10-11", "FIRST..LAST"),
        ("2026-10-05 .. 2026-10-11", "FIRST..LAST"),
        ("05/10/2026..11/10/2026", "FIRST..LAST"),
        ("", "FIRST..LAST"),
        ("2026-02-30..2026-03-02", "first date"),
        ("2026-10-05..2026-13-01", "last date"),
        ("2026-10-11..2026-10-05", "ends before it starts"),
        ("2024-01-01..2025-01-01", "367 days"),
    ],
)
def test_parse_period_refuses_bad_periods(text: str, needle: str) -> None:
    with pytest.raises(InputError, match=needle) as caught:
        parse_period(text)
    assert caught.value.hint


# --- each rejected kind ---------------------------------------------------------------

GOOD: list[Event] = [
    ("h1", "C1", "03-04 20:00", "03-04 21:00"),
    ("h1", "C1", "03-04 21:00", "03-04 21:30"),  # touches the one before: not an overlap
    ("h2", "C2", "03-03 23:00", "03-04 01:00"),  # partly before the period: kept whole
    ("h3", "C1", "03-10 00:00", "03-11 00:00"),  # exactly the maximum length, at the end
]
BAD: list[Event] = [
    ("h4", "C1", "03-05 10:00", "03-05 10:00"),  # zero length
    ("h4", "C1", "03-05 11:00", "03-05 10:00"),  # negative
    ("h4", "C1", "03-05 10:00", "03-06 10:00:01"),  # one second over 24 h
    (SECRET_HOUSEHOLD, SECRET_CHANNEL, "03-01 10:00", "03-31 10:00"),  # a month long
    ("h5", "C1", "03-03 23:00", "03-04 00:00"),  # ends when the period starts
    ("h5", "C1", "03-11 00:00", "03-11 00:30"),  # starts when the period ends
    ("h6", "C1", "03-05 10:00", "03-05 11:00"),  # null household
    ("h6", "C1", "03-05 10:00", "03-05 11:00"),  # null channel
    ("h6", "C1", "03-05 10:00", "03-05 11:00"),  # null start
    ("h6", "C1", "03-05 10:00", "03-05 11:00"),  # null end
    ("h6", "C1", "03-05 10:00", "03-05 09:00"),  # null end and negative: counted as null
]
NULLS = {10: "household_id", 11: "channel", 12: "start", 13: "end", 14: "end"}


def test_each_rejected_kind_is_counted(engine: DuckDBEngine) -> None:
    table = with_nulls(viewing(GOOD + BAD), NULLS)
    kept, check = sanitize_viewing(table, WEEK, engine)
    assert check == ViewingCheck(
        rows_in=15,
        rows_kept=4,
        non_positive=2,
        too_long=2,
        outside_period=2,
        null_fields=5,
        overlaps_merged=0,
    )
    assert check.rows_rejected == 11
    assert sum(check.as_dict().values()) == 2 * check.rows_in
    assert events_of(kept) == [(h, c, ts(s), ts(e)) for h, c, s, e in GOOD]
    assert kept.schema == table.schema


def test_max_event_hours_is_a_parameter(engine: DuckDBEngine) -> None:
    day = viewing([("h1", "C1", "03-05 10:00", "03-06 10:00")])
    assert sanitize_viewing(day, WEEK, engine)[1].too_long == 0
    check = sanitize_viewing(
        viewing([*GOOD, ("h1", "C1", "03-05 10:00", "03-05 14:00")]),
        WEEK,
        engine,
        max_event_hours=3,
    )[1]
    assert (check.too_long, check.rows_kept) == (2, 3)  # the 24-hour GOOD event too
    assert MAX_EVENT_HOURS == 24
    with pytest.raises(ValueError, match="at least 1"):
        sanitize_viewing(day, WEEK, engine, max_event_hours=0)


def test_nothing_left_is_an_error_with_the_counts_and_no_value(engine: DuckDBEngine) -> None:
    table = with_nulls(viewing(BAD), {i - len(GOOD): c for i, c in NULLS.items()})
    with pytest.raises(InputError) as caught:
        sanitize_viewing(table, WEEK, engine)
    message = str(caught.value)
    assert "no viewing events are left" in message
    assert "11 rows in, 0 events kept" in message
    assert "5 with a null field, 2 ending at or before their start, 2 too long" in message
    assert "2 outside the period" in message
    for secret in (SECRET_HOUSEHOLD, SECRET_CHANNEL, "2024", "03-01"):
        assert secret not in message


def test_summary_shows_counts_never_values(engine: DuckDBEngine) -> None:
    _, check = sanitize_viewing(viewing(GOOD + BAD), WEEK, engine)
    line = check.summary()
    assert "\n" not in line
    assert f"{check.rows_in} rows in" in line and f"{check.too_long} too long" in line
    for secret in (SECRET_HOUSEHOLD, SECRET_CHANNEL, "h1", "C1", "2024", "20:00"):
        assert secret not in line


# --- merging --------------------------------------------------------------------------


def test_same_channel_overlaps_become_their_union(engine: DuckDBEngine) -> None:
    events: list[Event] = [
        ("h1", "C1", "03-05 10:00", "03-05 11:00"),
        ("h1", "C1", "03-05 10:10", "03-05 10:20"),  # inside the first
        ("h1", "C1", "03-05 10:30", "03-05 12:00"),  # overlaps the first
        ("h1", "C1", "03-05 10:00", "03-05 11:00"),  # a duplicated log line
        ("h1", "C1", "03-05 11:59", "03-05 12:30"),  # overlaps the third
        ("h1", "C1", "03-05 12:30", "03-05 13:00"),  # touches: stays apart
        ("h2", "C1", "03-05 10:30", "03-05 11:30"),  # another household: untouched
    ]
    kept, check = sanitize_viewing(viewing(events), WEEK, engine)
    assert events_of(kept) == [
        ("h1", "C1", ts("03-05 10:00"), ts("03-05 12:30")),
        ("h1", "C1", ts("03-05 12:30"), ts("03-05 13:00")),
        ("h2", "C1", ts("03-05 10:30"), ts("03-05 11:30")),
    ]
    assert (check.rows_in, check.rows_kept, check.overlaps_merged) == (7, 3, 4)


def test_cross_channel_overlaps_are_left_alone(engine: DuckDBEngine) -> None:
    events: list[Event] = [
        ("h1", "C1", "03-05 10:00", "03-05 11:00"),
        ("h1", "C2", "03-05 10:30", "03-05 11:30"),
        ("h1", "C3", "03-05 10:00", "03-05 11:00"),
    ]
    kept, check = sanitize_viewing(viewing(events), WEEK, engine)
    assert events_of(kept) == [(h, c, ts(s), ts(e)) for h, c, s, e in events]
    assert check.overlaps_merged == 0


def _union_seconds(spans: list[tuple[int, int]]) -> int:
    """Length of a union of intervals, the slow obvious way: one second at a time."""
    covered: set[int] = set()
    for s, e in spans:
        covered.update(range(s, e))
    return len(covered)


def test_merged_length_matches_a_slow_union(engine: DuckDBEngine) -> None:
    rng = random.Random(11)
    origin = datetime(2024, 3, 5, 18, 0)
    rows: list[tuple[str, str, int, int]] = []
    for _ in range(300):
        start = rng.randrange(0, 4 * 3600, 60)
        rows.append(
            (
                f"h{rng.randrange(6)}",
                f"C{rng.randrange(3)}",
                start,
                start + rng.randrange(60, 3600, 60),
            )
        )
    table = pa.table(
        {
            "household_id": [r[0] for r in rows],
            "channel": [r[1] for r in rows],
            "start": pa.array([origin + timedelta(seconds=r[2]) for r in rows], pa.timestamp("s")),
            "end": pa.array([origin + timedelta(seconds=r[3]) for r in rows], pa.timestamp("s")),
        }
    )
    kept, check = sanitize_viewing(table, WEEK, engine)
    assert check.rows_kept + check.overlaps_merged == len(rows)
    assert check.overlaps_merged > 0
    out: dict[tuple[str, str], list[tuple[int, int]]] = {}
    for h, c, s, e in events_of(kept):
        out.setdefault((h, c), []).append(
            (int((s - origin).total_seconds()), int((e - origin).total_seconds()))
        )
    for key in {(r[0], r[1]) for r in rows}:
        spans = sorted(out[key])
        # Disjoint (touching allowed) and covering exactly what the input covered.
        assert all(a[1] <= b[0] for a, b in itertools.pairwise(spans))
        wanted = _union_seconds([(r[2], r[3]) for r in rows if (r[0], r[1]) == key])
        assert sum(e - s for s, e in spans) == wanted


# --- inputs ---------------------------------------------------------------------------


def test_parquet_path_gives_the_same_events(engine: DuckDBEngine, tmp_path: Path) -> None:
    table = with_nulls(
        viewing([*GOOD, ("h1", "C1", "03-04 20:30", "03-04 20:45"), *BAD]),
        {i + 1: c for i, c in NULLS.items()},
    )
    path = tmp_path / "viewing.parquet"
    pq.write_table(table, path)
    from_path, path_check = sanitize_viewing(path, WEEK, engine)
    from_table, table_check = sanitize_viewing(table, WEEK, engine)
    assert path_check == table_check and path_check.overlaps_merged == 1
    assert events_of(from_path) == events_of(from_table)
    assert pa.types.is_timestamp(from_path.schema.field("start").type)


def test_missing_or_mistyped_columns_are_refused(engine: DuckDBEngine, tmp_path: Path) -> None:
    table = viewing(GOOD)
    with pytest.raises(InputError, match="column 'channel'"):
        sanitize_viewing(table.drop_columns(["channel"]), WEEK, engine)
    as_text = table.set_column(3, "end", table["end"].cast(pa.string()))
    path = tmp_path / "viewing.parquet"
    pq.write_table(as_text, path)
    with pytest.raises(InputError, match=r"column 'end'.*not a timestamp") as caught:
        sanitize_viewing(path, WEEK, engine)
    assert caught.value.file == str(path)
    with pytest.raises(InputError, match="no dates"):
        sanitize_viewing(table, [], engine)


# --- the streaming path ---------------------------------------------------------------


def _sorted_events(table: pa.Table) -> list[tuple[str, str, datetime, datetime]]:
    return sorted(events_of(table))


def test_file_path_streams_the_same_events_and_counts(
    engine: DuckDBEngine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from linkage.measure import sense
    from linkage.synth import generate_world

    monkeypatch.setattr(sense, "_BATCH_ROWS", 700)  # several batches and partitions

    world = generate_world(voters=600, days=2, seed=3)
    period = [world.viewing["start"][0].as_py().date() + timedelta(days=i) for i in range(2)]
    # Every rejection kind and overlaps on top of the seeded log.
    raw = world.viewing.slice(0, 40).to_pylist()
    extra = [
        {**raw[0], "start": raw[0]["start"] + timedelta(minutes=1)},  # overlap
        {**raw[1], "end": raw[1]["start"]},  # non-positive
        {**raw[2], "end": raw[2]["start"] + timedelta(hours=30)},  # too long
        {
            **raw[3],
            "start": raw[3]["start"] - timedelta(days=9),
            "end": raw[3]["start"] - timedelta(days=9) + timedelta(hours=1),
        },  # outside
        {**raw[4], "channel": None},  # null
    ]
    table = pa.concat_tables([world.viewing, pa.Table.from_pylist(extra, world.viewing.schema)])
    source = tmp_path / "viewing.parquet"
    pq.write_table(table, source, row_group_size=1_000)
    in_memory, check = sanitize_viewing(table, period, engine)
    target = tmp_path / "out" / "sane.parquet"
    streamed = sanitize_viewing_file(
        source, target, period, engine, partition_rows=table.num_rows // 5
    )
    assert streamed == check
    assert min(check.non_positive, check.too_long, check.outside_period, check.null_fields) >= 1
    assert check.overlaps_merged >= 1
    out = pq.read_table(target)
    from_path, path_check = sanitize_viewing(source, period, engine)
    assert path_check == check and out.schema == from_path.schema
    assert _sorted_events(out) == _sorted_events(in_memory) == _sorted_events(from_path)
    # Each household's events sit in one partition, in (channel, start) order.
    keys = [(r[0], r[1], r[2]) for r in events_of(out)]
    by_household: dict[str, list[tuple[str, datetime]]] = {}
    for hh, ch, start in keys:
        by_household.setdefault(hh, []).append((ch, start))
    assert all(v == sorted(v) for v in by_household.values())
    assert sorted(p.name for p in target.parent.iterdir()) == ["sane.parquet"]  # scratch gone
    assert (target.stat().st_mode & 0o777) == 0o600


def test_file_path_refuses_an_empty_result_and_bad_arguments(
    engine: DuckDBEngine, tmp_path: Path
) -> None:
    source = tmp_path / "viewing.parquet"
    pq.write_table(viewing([("h1", "C1", "03-20 10:00", "03-20 11:00")]), source)
    target = tmp_path / "sane.parquet"
    with pytest.raises(InputError, match="no viewing events") as caught:
        sanitize_viewing_file(source, target, WEEK, engine)
    assert caught.value.file == str(source) and not target.exists()
    with pytest.raises(ValueError, match="partition_rows"):
        sanitize_viewing_file(source, target, WEEK, engine, partition_rows=0)
