"""Tests for linkage.plan.schedule: the as-run log's checks and the demo's stand-in post-log."""

from __future__ import annotations

from datetime import date, time, timedelta

import pyarrow as pa
import pytest

from linkage.errors import InputError
from linkage.measure import DAYPARTS
from linkage.plan import as_run, parse_aired
from linkage.tables import AIRED_SCHEMA

PERIOD = tuple(date(2026, 10, 5) + timedelta(days=i) for i in range(7))


def log(**columns: list[object]) -> pa.Table:
    base: dict[str, list[object]] = {
        "market": ["cleveland", "toledo"],
        "channel": ["WKYC", "WTOL"],
        "date": ["2026-10-05", "2026-10-06"],
        "time": ["20:15:00", "07:00:30"],
    }
    base.update(columns)
    return pa.table(base)


def test_a_good_log_becomes_the_payload() -> None:
    out = parse_aired(log(spot_seconds=["15", None]))
    assert out.schema == AIRED_SCHEMA
    assert out["time"].to_pylist() == [time(20, 15), time(7, 0, 30)]
    assert out["spot_seconds"].to_pylist() == [15, 30]


@pytest.mark.parametrize(
    ("columns", "column", "row"),
    [
        ({"time": ["20:15:00", "7:00"]}, "time", 2),
        ({"time": ["24:00:00", "07:00:30"]}, "time", 1),
        ({"date": ["2026-10-05", "10/06/2026"]}, "date", 2),
        ({"date": ["2026-02-30", "2026-10-06"]}, "date", 1),
        ({"market": [None, "toledo"]}, "market", 1),
        ({"spot_seconds": ["30", "forever"]}, "spot_seconds", 2),
        ({"spot_seconds": ["-5", "30"]}, "spot_seconds", 1),
    ],
)
def test_bad_cells_name_the_row_and_column_never_the_value(
    columns: dict[str, list[object]], column: str, row: int
) -> None:
    with pytest.raises(InputError) as err:
        parse_aired(log(**columns), file="aired.csv")
    assert (err.value.column, err.value.row) == (column, row)
    for value in columns[column]:
        if value not in (None, "30"):
            assert str(value) not in str(err.value)


def test_unknown_columns_and_duplicates_are_refused() -> None:
    with pytest.raises(InputError) as err:
        parse_aired(log(voter_id=["x", "y"]))
    assert err.value.column == "voter_id"
    twice = log(
        market=["cleveland", "cleveland"],
        channel=["WKYC", "WKYC"],
        date=["2026-10-05", "2026-10-05"],
        time=["20:15:00", "20:15:00"],
    )
    with pytest.raises(InputError, match=r"twice .*row 1") as dup:
        parse_aired(twice)
    assert dup.value.row == 2
    with pytest.raises(InputError, match="no spot"):
        parse_aired(log().slice(0, 0))


def plan(**extra: list[object]) -> pa.Table:
    base: dict[str, list[object]] = {
        "channel": ["WKYC", "WKYC", "ESPN"],
        "daypart": ["prime", "late_fringe", "prime"],
        "spots": [20, 9, 0],
    }
    return pa.table({**extra, **base})


def test_as_run_spreads_each_row_inside_its_daypart_and_period() -> None:
    out = as_run(plan(market=["cleveland", "cleveland", "lima"]), PERIOD, seed=3)
    assert out.schema == AIRED_SCHEMA and out.num_rows == 29
    parsed = parse_aired(out)  # a valid log: no spot twice
    assert parsed.num_rows == 29
    by_part = {dp.name: set(dp.quarter_hours()) for dp in DAYPARTS}
    for row in out.to_pylist():
        qh = (row["time"].hour * 60 + row["time"].minute) // 15
        part = "prime" if qh in by_part["prime"] else "late_fringe"
        assert qh in by_part[part]
        assert row["date"] in PERIOD and row["market"] == "cleveland"
    prime_days = [r["date"] for r in out.to_pylist() if r["time"].hour >= 20]
    assert len(set(prime_days)) == 7  # 20 spots over 7 days: every day has some
    assert as_run(plan(market=["cleveland"] * 3), PERIOD, seed=3).equals(
        as_run(plan(market=["cleveland"] * 3), PERIOD, seed=3)
    )
    assert not as_run(plan(), PERIOD, seed=1).equals(as_run(plan(), PERIOD, seed=2))


def test_a_plan_without_markets_airs_statewide() -> None:
    assert set(as_run(plan(), PERIOD)["market"].to_pylist()) == {"*"}


def test_as_run_refuses_an_unknown_daypart() -> None:
    bad = pa.table({"channel": ["WKYC"], "daypart": ["brunch"], "spots": [1]})
    with pytest.raises(InputError) as err:
        as_run(bad, PERIOD)
    assert (err.value.column, err.value.row) == ("daypart", 1)
