"""Tests for linkage.synth.truth: true assignments, truth viewership and rating error."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from linkage.encode import column_kinds, evaluate, load_segments
from linkage.synth import (
    World,
    rating_error,
    true_assignments,
    truth_viewership,
    truth_viewership_of,
)
from linkage.tables import ALL_HOUSEHOLDS


@pytest.fixture(scope="module")
def truth(world: World) -> pa.Table:
    return truth_viewership(world)


def test_true_assignments_follow_the_true_map(world: World) -> None:
    got = true_assignments(world)
    pairs = set(zip(got["household_id"].to_pylist(), got["segment"].to_pylist(), strict=True))
    assert len(pairs) == got.num_rows  # one row per (household, segment)
    # Obviously-correct reference: each covered voter's household gets "*" and its segments.
    rules = load_segments(
        world.segments_toml, columns=column_kinds(world.voters.schema), file="segments.toml"
    )
    masks = {name: list(mask) for name, mask in evaluate(rules, world.voters).items()}
    row = {v: i for i, v in enumerate(world.voters["voter_id"].to_pylist())}
    expected: set[tuple[str, str]] = set()
    vh = world.voter_household
    voters, households = vh["voter_id"].to_pylist(), vh["household_id"].to_pylist()
    for voter, household in zip(voters, households, strict=True):
        expected.add((household, ALL_HOUSEHOLDS))
        expected |= {(household, name) for name, m in masks.items() if m[row[voter]]}
    assert pairs == expected


def test_truth_viewership_releases_every_cell(truth: pa.Table) -> None:
    assert truth.num_rows > 0
    assert not any(truth["suppressed"].to_pylist())
    segments = set(truth["segment"].to_pylist())
    assert {"persuadable", "turnout_target", "latino", "african_american"} <= segments
    err = rating_error(truth, truth)
    assert err.cells == truth.num_rows
    assert err.mean_abs_error == err.max_abs_error == err.suppressed_share == 0.0


def test_truth_viewership_of_reads_viewing_from_parquet(
    world: World, truth: pa.Table, tmp_path: Path
) -> None:
    path = tmp_path / "viewing.parquet"
    pq.write_table(world.viewing, path)
    from_file = truth_viewership_of(true_assignments(world), path, world.channels)
    assert from_file.equals(truth)


def _cells(ratings: list[float], suppressed: list[bool]) -> pa.Table:
    n = len(ratings)
    return pa.table(
        {
            "segment": pa.array(["s"] * n, pa.string()),
            "channel": pa.array(["CBS"] * n, pa.string()),
            "day_type": pa.array(["weekday"] * n, pa.string()),
            "quarter_hour": pa.array(range(n), pa.int16()),
            "rating": pa.array(ratings, pa.float64()),
            "suppressed": pa.array(suppressed, pa.bool_()),
        }
    )


def test_rating_error_over_released_cells_only() -> None:
    released = _cells([1.0, 5.0, 9.0, 2.0], [False, False, True, False])
    truth = _cells([1.5, 3.0, 0.0, 2.0], [False] * 4)
    err = rating_error(released, truth)
    assert err.cells == 3  # the suppressed cell is not compared
    assert err.mean_abs_error == pytest.approx((0.5 + 2.0 + 0.0) / 3)
    assert err.max_abs_error == pytest.approx(2.0)
    assert err.suppressed_share == pytest.approx(0.25)


def test_rating_error_of_nothing_released() -> None:
    err = rating_error(_cells([], []), _cells([], []))
    assert (err.cells, err.mean_abs_error, err.max_abs_error, err.suppressed_share) == (
        0,
        0.0,
        0.0,
        0.0,
    )
