"""Audience metrics on decoded viewership: definitions checked on hand-made cells."""

from __future__ import annotations

from datetime import date, datetime

import pyarrow as pa
import pyarrow.compute as pc
import pytest

from linkage.errors import InputError
from linkage.measure import (
    PROJECTION_NOTE,
    channel_reach_frequency,
    hut,
    index_vs_all,
    project_to_voters,
    reference_viewership,
    schedule_points,
    split_tier,
    spot_ratings,
    tier_codes,
)
from linkage.report import decode_viewership
from linkage.tables import VIEWERSHIP_SCHEMA


def row(**values: object) -> dict[str, object]:
    base: dict[str, object] = {name: None for name in VIEWERSHIP_SCHEMA.names}
    base.update(suppressed=False)
    base.update(values)
    return base


def table(rows: list[dict[str, object]]) -> pa.Table:
    return pa.Table.from_pylist(rows, schema=VIEWERSHIP_SCHEMA)


def daypart(
    segment: str,
    channel: str,
    day_type: str,
    rating: float | None,
    *,
    name: str = "prime",
    share: float | None = None,
    universe: int = 1000,
) -> dict[str, object]:
    aqh = None if rating is None else rating * universe / 100.0
    return row(
        grain="daypart",
        segment=segment,
        channel=channel,
        day_type=day_type,
        daypart=name,
        universe=universe,
        rating=rating,
        aqh_households=aqh,
        share=share,
        suppressed=rating is None,
    )


# --------------------------------------------------------------------------- spot ratings


def test_spot_rating_weights_weekdays_five_to_two() -> None:
    t = table(
        [
            daypart("persuadable", "A", "weekday", 7.0),
            daypart("persuadable", "A", "weekend", 14.0),
        ]
    )
    (r,) = spot_ratings(t).to_pylist()
    assert r["rating"] == pytest.approx((5 * 7.0 + 2 * 14.0) / 7)
    assert r["aqh_households"] == pytest.approx(r["rating"] * 10)
    assert not r["suppressed"] and not r["partial"]


def test_spot_rating_suppressed_day_type_is_a_lower_bound() -> None:
    t = table(
        [
            daypart("persuadable", "A", "weekday", 7.0),
            daypart("persuadable", "A", "weekend", None),
            daypart("persuadable", "B", "weekday", None),
            daypart("persuadable", "B", "weekend", None),
        ]
    )
    a, b = spot_ratings(t).to_pylist()
    assert a["rating"] == pytest.approx(5.0) and a["partial"]
    assert b["rating"] is None and b["suppressed"] and not b["partial"]


def test_spot_rating_with_one_day_type_uses_it_whole() -> None:
    (r,) = spot_ratings(table([daypart("p", "A", "weekday", 3.0)])).to_pylist()
    assert r["rating"] == pytest.approx(3.0)


def test_spot_rating_orders_dayparts_by_broadcast_day() -> None:
    t = table(
        [
            daypart("p", "A", "weekday", 1.0, name="overnight"),
            daypart("p", "A", "weekday", 1.0, name="early_morning"),
            daypart("p", "A", "weekday", 1.0, name="prime"),
        ]
    )
    assert spot_ratings(t)["daypart"].to_pylist() == ["early_morning", "prime", "overnight"]


def test_missing_column_is_an_input_error() -> None:
    with pytest.raises(InputError, match="column"):
        spot_ratings(table([daypart("p", "A", "weekday", 1.0)]).drop_columns(["rating"]))


# --------------------------------------------------------------------------- HUT, index, points


def test_hut_sums_channels_and_recovers_hut_from_share() -> None:
    # 1000 households; A holds 100 AQH, B 50; provider HUT (each home once) = 120.
    t = table(
        [
            daypart("all_matched", "A", "weekday", 10.0, share=100 * 100 / 120),
            daypart("all_matched", "B", "weekday", 5.0, share=50 * 100 / 120),
        ]
    )
    (r,) = hut(t).to_pylist()
    assert r["hut_households"] == pytest.approx(150.0)
    assert r["hut_rating"] == pytest.approx(15.0)
    assert r["hut_from_share"] == pytest.approx(120.0)
    assert r["complete"]


def test_hut_flags_a_suppressed_channel() -> None:
    t = table(
        [
            daypart("p", "A", "weekday", 10.0, share=50.0),
            daypart("p", "B", "weekday", None),
        ]
    )
    (r,) = hut(t).to_pylist()
    assert not r["complete"] and r["hut_households"] == pytest.approx(100.0)


def test_hut_from_share_matches_the_true_hut_on_real_crediting() -> None:
    """Household h1 watches A and B at once: summed AQH counts it twice, HUT once."""
    t0 = datetime(2026, 10, 5, 20, 0)  # a Monday, prime
    viewing = pa.table(
        {
            "household_id": ["h1", "h1", "h2"],
            "channel": ["A", "B", "A"],
            "start": pa.array([t0, t0, t0], pa.timestamp("s")),
            "end": pa.array([t0.replace(minute=15)] * 3, pa.timestamp("s")),
        }
    )
    assignments = pa.table({"household_id": ["h1", "h2"], "segment": ["s1", "s1"]})
    cells = reference_viewership(
        assignments, viewing, channels=["A", "B"], period=[date(2026, 10, 5)]
    ).drop_columns(["contributors"])
    decoded = decode_viewership(cells, {"persuadable": "s1"})
    result = hut(decoded)
    prime = result.filter(
        pc.and_(pc.equal(result["grain"], "quarter_hour"), pc.equal(result["quarter_hour"], 80))
    )
    assert prime.num_rows == 2  # persuadable and all_matched
    for r in prime.to_pylist():
        assert r["hut_households"] == pytest.approx(3.0)  # h1 twice + h2
        assert r["hut_from_share"] == pytest.approx(2.0)  # two homes using TV


def test_index_vs_all_matched_at_any_grain() -> None:
    t = table(
        [
            daypart("all_matched", "A", "weekday", 4.0),
            daypart("persuadable", "A", "weekday", 6.0),
            daypart("persuadable:light", "A", "weekday", 2.0),
            daypart("all_matched", "B", "weekday", 0.0),
            daypart("persuadable", "B", "weekday", 1.0),
        ]
    )
    rows = {(r["segment"], r["channel"]): r for r in index_vs_all(t).to_pylist()}
    assert rows[("persuadable", "A")]["index"] == pytest.approx(150.0)
    assert rows[("persuadable:light", "A")]["index"] == pytest.approx(50.0)
    assert rows[("persuadable", "B")]["index"] is None  # zero base
    assert ("all_matched", "A") not in rows


def test_schedule_points_are_spots_times_rating() -> None:
    t = table(
        [
            daypart("persuadable", "A", "weekday", 2.0),
            daypart("persuadable", "B", "weekday", 3.0),
            daypart("persuadable", "C", "weekday", None),
        ]
    )
    schedule = pa.table(
        {"channel": ["A", "B", "C", "D"], "daypart": ["prime"] * 4, "spots": [4, 1, 9, 9]}
    )
    assert schedule_points(schedule, spot_ratings(t), "persuadable") == pytest.approx(11.0)


def test_channel_reach_and_average_frequency() -> None:
    period = row(
        grain="period",
        segment="persuadable",
        channel="A",
        day_type="all",
        daypart="all",
        universe=1000,
        aqh_households=0.5,
        rating=0.05,
        reach_households=24,
        reach=2.4,
    )
    (r,) = channel_reach_frequency(table([period]), days=2).to_pylist()
    assert r["gross_quarter_hours"] == pytest.approx(0.5 * 2 * 96)
    assert r["avg_frequency"] == pytest.approx(96 / 24)
    with pytest.raises(ValueError):
        channel_reach_frequency(table([period]), days=0)


def test_projection_is_labelled_and_scaled_by_segment_voters() -> None:
    summary = pa.table({"segment": ["persuadable", "persuadable:light"], "reach": [40.0, 10.0]})
    rates = pa.table(
        {
            "segment": ["persuadable"],
            "voters": pa.array([5000], pa.int64()),
            "match_rate": [0.5],
            "suppressed": [False],
        }
    )
    a, b = project_to_voters(summary, rates).to_pylist()
    assert a["projected_reach_voters"] == pytest.approx(2000.0)
    assert a["match_rate"] == 0.5 and a["projection"] == PROJECTION_NOTE
    assert b["projected_reach_voters"] is None


# --------------------------------------------------------------------------- tiers


def test_tier_codes_let_the_report_decode_tier_segments() -> None:
    codes = {"persuadable": "s1"}
    t = table(
        [
            daypart("s1:light", "A", "weekday", 1.0),
            daypart("*:heavy", "A", "weekday", 1.0),
            daypart("s1", "A", "weekday", 1.0),
        ]
    )
    decoded = decode_viewership(t, tier_codes(codes))
    assert decoded["segment"].to_pylist() == [
        "persuadable:light",
        "all_matched:heavy",
        "persuadable",
    ]
    assert split_tier("persuadable:light") == ("persuadable", "light")
    assert split_tier("persuadable") == ("persuadable", None)
