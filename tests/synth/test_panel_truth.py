"""Tests for linkage.synth.retention_truth: true retention and the intervals' coverage."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime

import pyarrow as pa
import pytest

from linkage.engine import DuckDBEngine
from linkage.release import panel_week, release_retention, watched_channels
from linkage.report import decode_retention
from linkage.synth import retention_coverage, trend_coverage, true_retention_of, true_trend_of

CHANNELS = ("c1", "c2")
WEEK1 = tuple(date(2024, 3, d) for d in range(4, 11))
WEEK2 = tuple(date(2024, 3, d) for d in range(11, 18))
SECRET = b"\x05" * 32


def log() -> pa.Table:
    """80 households watch c1 in week 1; 0-29 again in week 2; 60-79 have no week-2 tuning."""
    rows = []
    for i in range(80):
        hid = f"H{i:02d}"
        rows.append((hid, "c1", datetime(2024, 3, 6, 20), datetime(2024, 3, 6, 21)))
        if i < 30:
            rows.append((hid, "c1", datetime(2024, 3, 14, 20), datetime(2024, 3, 14, 21)))
        elif i < 60:
            rows.append((hid, "c2", datetime(2024, 3, 14, 20), datetime(2024, 3, 14, 21)))
    return pa.table(
        {
            "household_id": [r[0] for r in rows],
            "channel": [r[1] for r in rows],
            "start": pa.array([r[2] for r in rows], pa.timestamp("s")),
            "end": pa.array([r[3] for r in rows], pa.timestamp("s")),
        }
    )


def assignments() -> pa.Table:
    hids = [f"H{i:02d}" for i in range(80)]
    return pa.table(
        {"household_id": hids + hids[:50], "segment": ["*"] * 80 + ["persuadable"] * 50}
    )


def test_true_retention_counts_households_without_tuning_this_week() -> None:
    truth = true_retention_of(assignments(), log(), CHANNELS, earlier=WEEK1, period=WEEK2)
    rows = {(r["segment"], r["channel"]): r for r in truth.to_pylist()}
    assert set(rows) == {(s, c) for s in ("all_matched", "persuadable") for c in CHANNELS}
    everyone = rows[("all_matched", "c1")]
    assert (everyone["earlier_households"], everyone["both_households"]) == (80, 30)
    assert everyone["retention"] == pytest.approx(37.5)
    assert rows[("persuadable", "c1")]["retention"] == pytest.approx(60.0)
    assert rows[("persuadable", "c2")]["retention"] is None  # nobody in week 1


def no_noise(counts: Sequence[int], scale: float) -> list[int]:
    return list(counts)


def test_coverage_of_the_release_against_the_truth() -> None:
    viewing = log()
    # The provider knows households 60-79 only as unseen pseudonyms this week.
    seen = assignments().filter(pa.compute.less(assignments()["household_id"], pa.scalar("H60")))
    with DuckDBEngine() as engine:
        earlier = panel_week(SECRET, "p", watched_channels(viewing, CHANNELS, engine, WEEK1))
        current = panel_week(SECRET, "p", watched_channels(viewing, CHANNELS, engine, WEEK2))
    released = release_retention(
        seen, earlier, current, secret=SECRET, panel_id="p", segments=["persuadable"],
        channels=CHANNELS, earlier_period=(WEEK1[0], WEEK1[-1]), rho=0.5, k=5, noise=no_noise,
    )  # fmt: skip
    decoded = decode_retention(released, {"persuadable": "persuadable"})
    truth = true_retention_of(assignments(), viewing, CHANNELS, earlier=WEEK1, period=WEEK2)
    result = retention_coverage(decoded, truth)
    # persuadable (0-49) is fully seen: exact; all_matched misses 20 households: 50% vs 37.5%.
    assert result.cells == 2
    assert result.mean_abs_error == pytest.approx((0.0 + 12.5) / 2)
    ci = {r["segment"]: r["retention_ci"] for r in decoded.to_pylist() if not r["suppressed"]}
    assert result.covered == 1 + int(ci["all_matched"] >= 12.5)
    assert result.suppressed_share == pytest.approx(0.5)
    assert 0.0 < result.coverage <= 1.0


def test_true_trend_and_its_coverage() -> None:
    viewing = log()
    weeks = [("w1", assignments(), WEEK1), ("w2", assignments(), WEEK2)]
    truth = true_trend_of(weeks, viewing, CHANNELS)
    rows = {(r["grain"], r["segment"], r["channel"]): r for r in truth.to_pylist()}
    everyone = rows[("period", "all_matched", "c1")]
    # c1 reach: 80 of 80 households in week 1, 30 of 80 in week 2.
    assert everyone["reach_previous"] == pytest.approx(100.0)
    assert everyone["reach_change"] == pytest.approx(-62.5)
    assert everyone["reach_change_ci"] is None  # the truth has no noise

    # A release off by 1 point everywhere, with 2-point intervals: all covered;
    # with 0.5-point intervals: none.
    def shifted(ci: float) -> pa.Table:
        out = truth
        for metric in ("rating", "share", "reach"):
            change = pa.compute.add(truth[f"{metric}_change"], 1.0)
            out = out.set_column(out.schema.get_field_index(f"{metric}_change"),
                                 f"{metric}_change", change)  # fmt: skip
            interval = pa.array([ci] * truth.num_rows, pa.float64(), mask=pa.compute.is_null(
                change).to_numpy(zero_copy_only=False))  # fmt: skip
            out = out.set_column(out.schema.get_field_index(f"{metric}_change_ci"),
                                 f"{metric}_change_ci", interval)  # fmt: skip
        return out

    wide, narrow = trend_coverage(shifted(2.0), truth), trend_coverage(shifted(0.5), truth)
    assert wide.cells["reach"] == 4  # two segments x two channels at the period grain
    assert wide.coverage("reach") == 1.0 and narrow.coverage("reach") == 0.0
    assert wide.mean_abs_error["rating"] == pytest.approx(1.0)
