"""Tests for linkage.measure.calendar: the public time grid and the reporting period."""

from __future__ import annotations

from datetime import date

import pytest

from linkage.engine import DuckDBEngine
from linkage.errors import InputError
from linkage.measure import (
    DAY_TYPES,
    DAYPART_NAMES,
    DAYPARTS,
    INTENSITY_TIERS,
    QUARTER_HOURS_PER_DAY,
    TIER_NAMES,
    WEEK_DAYS,
    day_type,
    daypart_of,
    resolve_period,
)
from linkage.measure.calendar import (
    day_index,
    day_types_table,
    daypart_table,
    offsets_table,
    period_table,
)
from tests.measure.inputs import MONDAY, WEEK, viewing


def test_dayparts_cover_each_quarter_hour_once() -> None:
    covered = [qh for dp in DAYPARTS for qh in dp.quarter_hours()]
    assert sorted(covered) == list(range(QUARTER_HOURS_PER_DAY))
    assert tuple(dp.name for dp in DAYPARTS) == DAYPART_NAMES
    assert daypart_of(80) == "prime" and daypart_of(95) == daypart_of(0) == "late_fringe"
    late = next(dp for dp in DAYPARTS if dp.name == "late_fringe")
    assert late.wraps_midnight and late.quarter_hours() == (94, 95, 0, 1, 2, 3)


def test_day_types() -> None:
    assert [day_type(d) for d in WEEK] == ["weekday"] * 5 + ["weekend"] * 2
    assert set(WEEK_DAYS) == set(DAY_TYPES)
    assert sum(WEEK_DAYS.values()) == len(WEEK)
    assert day_index(date(1970, 1, 2)) == 1


def test_intensity_tiers_are_ordered() -> None:
    assert TIER_NAMES == ("light", "medium", "heavy")
    bounds = [b for _, b in INTENSITY_TIERS if b is not None]
    assert bounds == sorted(bounds) and INTENSITY_TIERS[-1][1] is None


def test_grid_tables() -> None:
    days = [WEEK[4], WEEK[5]]  # Friday, Saturday
    assert period_table(days).to_pylist() == [
        {"day_index": day_index(WEEK[4]), "dti": 0},
        {"day_index": day_index(WEEK[5]), "dti": 1},
    ]
    assert day_types_table([MONDAY, WEEK[1]]).to_pylist() == [
        {"dti": 0, "day_type": "weekday", "n_days": 2}
    ]
    assert daypart_table().num_rows == QUARTER_HOURS_PER_DAY
    assert offsets_table(days).num_rows == 2 * QUARTER_HOURS_PER_DAY


def test_period_defaults_to_dates_spanned(engine: DuckDBEngine) -> None:
    midnight = viewing([("h1", "c1", "03-04 23:00", "03-05 00:00")])
    assert resolve_period(midnight, engine) == [MONDAY]
    spread = viewing(
        [("h1", "c1", "03-04 23:00", "03-04 23:30"), ("h1", "c1", "03-06 10:00", "03-06 10:01")]
    )
    assert resolve_period(spread, engine) == WEEK[:3]
    assert resolve_period(spread, engine, [WEEK[2], MONDAY, MONDAY]) == [MONDAY, WEEK[2]]


def test_an_empty_period_is_refused(engine: DuckDBEngine) -> None:
    with pytest.raises(InputError, match="no dates"):
        resolve_period(viewing([]), engine, [])
    with pytest.raises(InputError, match="no events"):
        resolve_period(viewing([]), engine)
