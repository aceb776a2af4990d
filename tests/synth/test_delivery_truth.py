"""Tests for linkage.synth.delivery_truth: the true delivery, and interval coverage."""

from __future__ import annotations

import random
from collections.abc import Sequence
from datetime import date, datetime, timedelta

import numpy as np
import pyarrow as pa
import pytest

from linkage.engine import DuckDBEngine
from linkage.plan import as_run
from linkage.release import (
    NoiseFn,
    delivery_grid,
    measure_delivery,
    noisy_delivery,
    plan_delivery_noise,
)
from linkage.synth import COVERED_FIGURES, delivery_coverage, true_delivery_of
from linkage.tables import ALL_MATCHED

PERIOD = (date(2026, 10, 5), date(2026, 10, 6))
MARKETS = ("cleveland", "columbus", "toledo")
CHANNELS = ("c1", "c2", "c3", "c4")
SEGMENTS = ("s1", "s2", "s3", "s4", "s5")


def small_world(seed: int, households: int = 900) -> tuple[pa.Table, pa.Table, pa.Table]:
    """Seeded assignments (names), markets and a viewing log with a lot of evening viewing."""
    rng = random.Random(seed)
    hids = [f"H{i:04d}" for i in range(households)]
    members = [(h, "*") for h in hids] + [
        (h, s) for h in hids for s in SEGMENTS if rng.random() < 0.45
    ]
    rows = []
    for h in hids:
        for day in PERIOD:
            for _ in range(rng.randint(0, 5)):
                start = datetime.combine(day, datetime.min.time()) + timedelta(
                    minutes=rng.randrange(17 * 60, 23 * 60)
                )
                rows.append((h, rng.choice(CHANNELS), start, start + timedelta(minutes=40)))
    viewing = pa.table(
        {
            "household_id": pa.array([r[0] for r in rows], pa.string()),
            "channel": pa.array([r[1] for r in rows], pa.string()),
            "start": pa.array([r[2] for r in rows], pa.timestamp("s")),
            "end": pa.array([r[3] for r in rows], pa.timestamp("s")),
        }
    )
    assignments = pa.table(
        {"household_id": [m[0] for m in members], "segment": [m[1] for m in members]}
    )
    markets = pa.table({"household_id": hids, "market": [rng.choice(MARKETS) for _ in hids]})
    return assignments, markets, viewing


def schedule() -> pa.Table:
    plan = pa.table(
        {
            "market": ["cleveland", "cleveland", "columbus", "toledo", "*"],
            "channel": ["c1", "c2", "c3", "c4", "c1"],
            "daypart": ["prime", "prime_access", "prime", "prime", "prime"],
            "spots": [6, 4, 5, 5, 3],
        }
    )
    return as_run(plan, PERIOD, seed=5)


def seeded_gaussian(seed: int) -> NoiseFn:
    """Rounded Gaussian noise from a seeded generator (OpenDP's sampler cannot be seeded)."""
    rng = np.random.default_rng(seed)

    def noise(counts: Sequence[int], scale: float) -> list[int]:
        draws = rng.normal(0.0, scale, len(counts))
        return [int(c + round(float(x))) for c, x in zip(counts, draws, strict=True)]

    return noise


def test_the_truth_names_segments_and_counts_every_row() -> None:
    assignments, markets, viewing = small_world(1, households=200)
    truth = true_delivery_of(assignments, viewing, markets, schedule(), PERIOD)
    segments = set(truth["segment"].to_pylist())
    assert ALL_MATCHED in segments and f"{ALL_MATCHED}:light" in segments and "*" not in segments
    assert not any(truth["suppressed"].to_pylist())
    star = truth.filter(pa.compute.equal(truth["market"], "*"))
    everyone = {r["segment"]: r for r in star.to_pylist()}[ALL_MATCHED]
    assert everyone["universe"] == 200
    markets_rows = truth.filter(pa.compute.equal(truth["segment"], ALL_MATCHED))
    by_market = {r["market"]: r["impressions"] for r in markets_rows.to_pylist()}
    assert by_market["*"] == pytest.approx(sum(v for m, v in by_market.items() if m != "*"))


def test_released_intervals_cover_the_truth_about_95_percent_of_the_time() -> None:
    # Large enough that the noise is small against the counts, as at state scale (at a
    # few hundred households the clamps to what is possible shrink the errors).
    assignments, markets, viewing = small_world(7, households=20_000)
    aired = schedule()
    truth = true_delivery_of(assignments, viewing, markets, aired, PERIOD, tiers=False)
    grid = delivery_grid(
        aired, markets, CHANNELS, PERIOD, market_list=sorted(set(markets["market"].to_pylist()))
    )
    with DuckDBEngine() as engine:
        measured = measure_delivery(assignments, viewing, markets, grid, engine)
    plan = plan_delivery_noise(grid, measured.segments, rho=0.02)
    covered = cells = 0
    per_figure = dict.fromkeys(COVERED_FIGURES, (0, 0))
    for seed in range(8):
        released = noisy_delivery(measured, grid, plan, k=1, noise=seeded_gaussian(seed))
        named = released.set_column(
            1,
            "segment",
            pa.array([ALL_MATCHED if s == "*" else s for s in released["segment"].to_pylist()]),
        )
        result = delivery_coverage(named, truth)
        covered += result.covered
        cells += result.cells
        for name, (n, hit) in result.by_figure.items():
            per_figure[name] = (per_figure[name][0] + n, per_figure[name][1] + hit)
    # Up to 8 draws x 4 markets x 6 segments x 3 ratios (a row whose noisy reach is
    # under k = 1 is suppressed); a 95% interval, not 50% nor 100%.
    assert 0.9 * 8 * 4 * 6 * 3 <= cells <= 8 * 4 * 6 * 3
    assert 0.9 <= covered / cells <= 0.99
    assert all(0.85 <= hit / n <= 1.0 for n, hit in per_figure.values())


def test_coverage_fails_a_release_that_is_off() -> None:
    assignments, markets, viewing = small_world(3, households=300)
    aired = schedule()
    truth = true_delivery_of(assignments, viewing, markets, aired, PERIOD, tiers=False)
    shifted = truth.set_column(
        truth.schema.get_field_index("trps"), "trps", pa.compute.add(truth["trps"], 50.0)
    )
    result = delivery_coverage(shifted, truth)  # half-widths 0: only exact figures cover
    assert result.by_figure["trps"] == (result.by_figure["trps"][0], 0)
    assert result.by_figure["reach"][0] == result.by_figure["reach"][1] > 0
    assert result.trps_mean_abs_error == pytest.approx(50.0)
