"""What the release says about its protection: suppression counts, stated rules, noise."""

from __future__ import annotations

import math

import pyarrow as pa

from linkage.report import (
    NOISE_COLUMNS,
    SUPPRESSION_COLUMNS,
    ReleaseFacts,
    decode_viewership,
    noise_table,
    release_facts,
    suppression_table,
)
from tests.report.coded_release import CODES, viewership


def test_suppression_table_counts_by_segment_and_grain() -> None:
    table = suppression_table(decode_viewership(viewership(), CODES))
    assert tuple(table.column_names) == SUPPRESSION_COLUMNS
    rows = {(r["segment"], r["grain"]): r for r in table.to_pylist()}
    # daypart grain: persuadable has 5 cells, FOX prime suppressed.
    persuadable = rows["persuadable", "daypart"]
    assert (persuadable["cells"], persuadable["suppressed"]) == (5, 1)
    assert math.isclose(rows["persuadable", "daypart"]["suppressed_share"], 1 / 5)
    every = rows["(all segments)", "daypart"]
    assert (every["cells"], every["suppressed"]) == (13, 2)
    assert (rows["persuadable", "quarter_hour"]["suppressed"]) == 1
    segments = [r["segment"] for r in table.to_pylist()]
    assert segments[0] == "all_matched" and segments[-1] == "(all segments)"
    grains = [r["grain"] for r in table.to_pylist() if r["segment"] == "persuadable"]
    assert grains == ["quarter_hour", "daypart", "period"]


def test_release_facts_without_dp_columns() -> None:
    facts = release_facts(decode_viewership(viewership(), CODES))
    assert facts == ReleaseFacts(None, None, None, 1000, ())
    assert noise_table(decode_viewership(viewership(), CODES)).num_rows == 0


def test_all_null_interval_columns_are_not_noise() -> None:
    decoded = decode_viewership(viewership(), CODES)
    exact = decoded.append_column("rating_ci", pa.nulls(decoded.num_rows, pa.float64()))
    assert release_facts(exact).noisy_figures == ()
    assert noise_table(exact).num_rows == 0


def test_release_facts_and_noise_with_dp_columns() -> None:
    decoded = decode_viewership(viewership(), CODES)
    n = decoded.num_rows
    rating = decoded["rating"].to_pylist()
    universe = list(range(500, 500 + n))
    decoded = decoded.set_column(
        decoded.column_names.index("universe"), "universe", pa.array(universe, pa.int64())
    )
    decoded = decoded.append_column("k", pa.array([50] * n, pa.int64()))
    decoded = decoded.append_column("epsilon", pa.array([0.5] * n, pa.float64()))
    decoded = decoded.append_column(
        "rating_ci", pa.array([None if r is None else 0.2 for r in rating], pa.float64())
    )
    decoded = decoded.append_column(
        "aqh_households_low", pa.array([1.0] * n, pa.float64())
    ).append_column("aqh_households_high", pa.array([3.0 + i for i in range(n)], pa.float64()))
    facts = release_facts(decoded)
    assert facts.k == 50 and facts.epsilon == 0.5 and facts.min_universe is None
    assert facts.noisy_figures == ("aqh_households", "rating")
    assert facts.smallest_released_universe == 500  # row 0 is released
    noise = noise_table(decoded)
    assert tuple(noise.column_names) == NOISE_COLUMNS
    rows = {(r["grain"], r["figure"]): r for r in noise.to_pylist()}
    assert rows["daypart", "rating"]["cells"] == 11  # 13 daypart rows, 2 suppressed
    assert math.isclose(rows["daypart", "rating"]["median_half_width"], 0.2)
    hq = rows["quarter_hour", "aqh_households"]
    # quarter-hour rows 0, 2-5 are released: half-widths (2 + i) / 2
    assert hq["cells"] == 5
    assert math.isclose(hq["max_half_width"], (2 + 5) / 2)
