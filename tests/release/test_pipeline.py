"""Tests for linkage.release.pipeline: the whole viewership release, exact and with DP."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

import pyarrow as pa
import pytest

from linkage.engine import DuckDBEngine
from linkage.errors import PrivacyError
from linkage.measure import compute_viewership, segment_members
from linkage.release import (
    SUPPRESSIBLE_COLUMNS,
    CellGrid,
    pipeline,
    release_grid,
    release_viewership,
    with_intensity_tiers,
)
from linkage.tables import INTERVAL_COLUMNS, RELEASE_SCHEMA
from tests.measure.inputs import MONDAY, assign, households, viewing


def grid_of(viewing: pa.Table, engine: DuckDBEngine, channels: Sequence[str] = ("c1",)) -> CellGrid:
    return release_grid(viewing, channels=channels, engine=engine)


# --------------------------------------------------------------------------- grid


def test_grid_is_the_channel_list_and_the_dates_spanned(engine: DuckDBEngine) -> None:
    _, viewing = world(150, 120)
    grid = release_grid(viewing, channels=["c2", "c1", "c2"], engine=engine)
    assert grid == CellGrid(("c2", "c1"), (MONDAY,))
    explicit = release_grid(viewing, channels=["c1"], engine=engine, period=[MONDAY, MONDAY])
    assert explicit.days == (MONDAY,)


# --------------------------------------------------------------------------- exact


def world(n_a: int, n_b: int) -> tuple[pa.Table, pa.Table]:
    """Segment A watches c1 in prime time; B (disjoint) watches c2 a little."""
    a, b = households("a", n_a), households("b", n_b)
    rows: list[tuple[str, str, datetime, datetime]] = []
    prime = datetime(2024, 3, 4, 20, 0)
    for i, hh in enumerate(a):
        rows.append((hh, "c1", prime, prime + timedelta(minutes=15 if i < 60 else 4)))
    for hh in b[:3]:
        rows.append((hh, "c2", prime, prime + timedelta(minutes=15)))
    viewing = pa.table(
        {
            "household_id": [r[0] for r in rows],
            "channel": [r[1] for r in rows],
            "start": pa.array([r[2] for r in rows], pa.timestamp("s")),
            "end": pa.array([r[3] for r in rows], pa.timestamp("s")),
        }
    )
    return assign({"A": a, "B": b}), viewing


def test_release_suppresses_small_cells(engine: DuckDBEngine) -> None:
    assignments, viewing = world(150, 120)
    released = release_viewership(
        assignments,
        viewing,
        CellGrid(("c1", "c2"), (MONDAY,)),
        engine=engine,
        k=50,
        min_universe=100,
        exact=True,
    )
    cells = compute_viewership(
        assignments, viewing, channels=["c1", "c2"], engine=engine, period=[MONDAY]
    )
    assert released.schema == RELEASE_SCHEMA
    assert released.num_rows == cells.num_rows
    shown = {
        (r["grain"], r["segment"], r["channel"], r["daypart"], r["quarter_hour"])
        for r in released.to_pylist()
        if not r["suppressed"]
    }
    expected = {
        (r["grain"], r["segment"], r["channel"], r["daypart"], r["quarter_hour"])
        for r in cells.to_pylist()
        if r["contributors"] >= 50
    }
    assert shown == expected
    assert ("quarter_hour", "A", "c1", "prime", 80) in shown
    assert ("quarter_hour", "B", "c2", "prime", 80) not in shown
    for row in released.to_pylist():
        if row["suppressed"]:
            assert all(row[c] is None for c in SUPPRESSIBLE_COLUMNS)
            assert row["universe"] is not None


def test_release_refuses_small_segment(engine: DuckDBEngine) -> None:
    assignments, viewing = world(150, 80)
    with pytest.raises(PrivacyError, match=r"segment\(s\) B have"):
        release_viewership(
            assignments,
            viewing,
            grid_of(viewing, engine),
            engine=engine,
            k=50,
            min_universe=100,
            exact=True,
        )


def test_release_refuses_near_duplicate_segments(engine: DuckDBEngine) -> None:
    _, viewing = world(150, 0)
    a = households("a", 150)
    assignments = assign({"A": a, "A2": a[:-1]})
    with pytest.raises(PrivacyError, match="differ"):
        release_viewership(
            assignments, viewing, grid_of(viewing, engine), engine=engine, k=50, exact=True
        )


def test_release_validates_k(engine: DuckDBEngine) -> None:
    assignments, viewing = world(150, 120)
    with pytest.raises(PrivacyError, match="at least 1"):
        release_viewership(
            assignments, viewing, grid_of(viewing, engine), engine=engine, k=0, exact=True
        )


def test_members_are_found_once(engine: DuckDBEngine, monkeypatch: pytest.MonkeyPatch) -> None:
    assignments, viewing = world(150, 120)
    calls: list[int] = []
    found = segment_members

    def counted(table: pa.Table, eng: DuckDBEngine) -> pa.Table:
        calls.append(table.num_rows)
        return found(table, eng)

    monkeypatch.setattr(pipeline, "segment_members", counted)
    grid = CellGrid(("c1", "c2"), (MONDAY,))
    release_viewership(
        assignments, viewing, grid, engine=engine, k=50, min_universe=100, exact=True
    )
    release_viewership(assignments, viewing, grid, engine=engine, k=50, min_universe=100, rho=1.0)
    assert calls == [assignments.num_rows] * 2


# --------------------------------------------------------------------------- DP


def test_release_viewership_with_rho(engine: DuckDBEngine) -> None:
    ids = [f"h{i}" for i in range(120)]
    assignments = assign({"A": ids[:80], "B": ids[40:]})
    grid = CellGrid(("c1", "c2", "c3"), (MONDAY,))
    prime = datetime(2024, 3, 4, 20)
    view = pa.table(
        {
            "household_id": pa.array(ids, pa.string()),
            "channel": pa.array(["c1"] * len(ids), pa.string()),
            "start": pa.array([prime] * len(ids), pa.timestamp("s")),
            "end": pa.array([prime + timedelta(hours=1)] * len(ids), pa.timestamp("s")),
        }
    )
    exact = release_viewership(
        assignments, view, grid, engine=engine, k=5, min_universe=20, exact=True
    )
    assert exact.schema == RELEASE_SCHEMA
    assert all(exact[c].null_count == exact.num_rows for c in INTERVAL_COLUMNS)
    noisy = release_viewership(
        assignments, view, grid, engine=engine, k=5, min_universe=20, rho=1000.0
    )
    assert noisy.schema == RELEASE_SCHEMA
    assert noisy.num_rows == exact.num_rows
    shown = [r for r in noisy.to_pylist() if not r["suppressed"]]
    assert shown and all(r["rating_ci"] is not None for r in shown)
    prime_ratings = {
        (r["segment"], r["day_type"]): r["rating"]
        for r in noisy.to_pylist()
        if r["grain"] == "quarter_hour" and r["channel"] == "c1" and r["quarter_hour"] == 80
    }
    # Everyone watched c1 at 20:00: ratings near 100 despite the noise.
    assert all(v is not None and 80 < v < 120 for v in prime_ratings.values()), prime_ratings


def test_dp_refuses_nothing_per_segment_but_checks_its_parameters(
    engine: DuckDBEngine,
) -> None:
    _, viewing = world(150, 0)
    a = households("a", 150)
    near = assign({"A": a, "A2": a[:-1], "tiny": a[:3]})
    grid = grid_of(viewing, engine)
    # Near-duplicate and tiny segments: refused when exact (a refusal on exact
    # counts is an oracle), released with noise and noisy suppression under DP.
    with pytest.raises(PrivacyError, match="fewer than"):
        release_viewership(near, viewing, grid, engine=engine, k=50, exact=True)
    released = release_viewership(near, viewing, grid, engine=engine, k=50, rho=0.25)
    assert set(released["segment"].to_pylist()) == {"*", "A", "A2", "tiny"}
    for bad in (-1.0, 0.0, float("nan")):
        with pytest.raises(PrivacyError, match="rho"):
            release_viewership(near, viewing, grid, engine=engine, k=50, rho=bad)
    for both in ({"rho": 0.25, "exact": True}, {}):
        with pytest.raises(PrivacyError, match="either differentially private or exact"):
            release_viewership(near, viewing, grid, engine=engine, k=50, **both)  # type: ignore[arg-type]


def test_tiers_are_added_and_thin_ones_dropped_with_their_siblings() -> None:
    engine = DuckDBEngine()
    # Twelve households in segment s1: six light viewers, six heavy ones.
    events = [(f"h{i}", "c1", "03-04 10:00", "03-04 10:30") for i in range(6)]
    events += [(f"h{i}", "c1", "03-04 08:00", "03-04 16:00") for i in range(6, 12)]
    everyone = [f"h{i}" for i in range(12)]
    assigned = assign({"s1": everyone, "*": everyone})
    kept, dropped = with_intensity_tiers(
        assigned, viewing(events), engine=engine, k=2, min_universe=3
    )
    segments = set(kept["segment"].to_pylist())
    assert {"s1:light", "s1:heavy", "*:light", "*:heavy"} <= segments and not dropped
    # With a minimum universe above six, both tiers go, and no other segment does.
    kept, dropped = with_intensity_tiers(
        assigned, viewing(events), engine=engine, k=2, min_universe=7
    )
    assert not any(":" in s for s in kept["segment"].to_pylist())
    assert set(dropped) == {"s1:light", "s1:heavy", "*:light", "*:heavy"}
    assert set(kept["segment"].to_pylist()) == set(assigned["segment"].to_pylist())


def test_every_requested_segment_and_tier_comes_back_under_dp(engine: DuckDBEngine) -> None:
    assignments, viewing = world(150, 120)
    grid = grid_of(viewing, engine)
    asked = ["A", "nobody", "nobody:light", "nobody:medium", "nobody:heavy"]
    released = release_viewership(
        assignments, viewing, grid, engine=engine, k=50, rho=0.25, segments=asked
    )
    # A segment nobody matched is there, on the full grid, every cell blank:
    # its absence would have said that none of its voters subscribes.
    per_segment = pa.TableGroupBy(released, "segment").aggregate([("grain", "count")]).to_pylist()
    counts = {row["segment"]: row["grain_count"] for row in per_segment}
    assert set(counts) == {"*", "B", *asked}  # B: in the assignments
    assert len(set(counts.values())) == 1
    empty = released.filter(pa.compute.equal(released["segment"], "nobody"))
    assert all(empty["suppressed"].to_pylist())
    # Exact counts refuse it instead (and the audit fails every exact release).
    with pytest.raises(PrivacyError, match="fewer than"):
        release_viewership(
            assignments, viewing, grid, engine=engine, k=50, exact=True, segments=asked
        )
