#!/usr/bin/env python3
"""What the privacy budget costs in accuracy: the DP release against the truth, as JSON.

For each world size and each budget, the provider's DP release is computed on
the world's *true* voter-to-household map (so linkage errors are left out and
only privacy is measured) and compared, cell by cell, with the exact
viewership of the same households on the unbounded viewing log (so the error
includes the contribution caps' bias as well as the noise). For each target
segment and grain it prints:

* the median and 90th-percentile absolute rating error (rating points) over
  released cells;
* the share of released cells, and the share of the segment's viewing
  (true AQH households summed over cells) that the released cells cover;
* the share of released cells whose 95% interval holds the truth.

``cap_bias`` is the same comparison for a release without noise: what the
contribution caps alone move the figures by (``--credits-per-day`` sets the
daily credit cap, to compare caps).

Example (the README's figures)::

    python scripts/dp_utility.py --voters 100000,1000000 --days 7

Worlds are generated into ``--cache`` (reused when present, keyed by size,
days and seed).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from linkage.engine import DuckDBEngine
from linkage.measure import compute_viewership, segment_members
from linkage.release import (
    DEFAULT_CAPS,
    DEFAULT_MARKET_SHARE,
    DEFAULT_RELEASE_RHO,
    ContributionCaps,
    check_markets,
    discrete_gaussian,
    epsilon_of,
    market_release,
    memberships_bound,
    release_grid,
    release_viewership,
    sensitivities,
    with_intensity_tiers,
)
from linkage.synth import true_assignments_of
from linkage.tables import ALL_HOUSEHOLDS, DEFAULT_K, DEFAULT_MIN_UNIVERSE

TARGETS = ("persuadable", "turnout_target")
GRAINS = ("daypart", "quarter_hour", "period")

_JOIN_SQL = """
SELECT r.grain, r.segment, r.suppressed, r.rating_ci,
       t.aqh_households AS true_aqh, t.rating AS true_rating, r.rating AS released_rating
FROM released r JOIN truth t
  ON r.grain = t.grain AND r.segment = t.segment AND r.channel = t.channel
 AND r.day_type = t.day_type AND r.daypart = t.daypart
 AND r.quarter_hour IS NOT DISTINCT FROM t.quarter_hour
WHERE r.segment IN ({segments}) AND r.market = '*'
"""

_MARKET_JOIN_SQL = """
SELECT r.grain, r.market, r.segment, r.suppressed, r.rating_ci,
       t.aqh_households AS true_aqh, t.rating AS true_rating, r.rating AS released_rating
FROM released r JOIN truth t
  ON r.grain = t.grain AND r.market = t.market AND r.segment = t.segment
 AND r.channel = t.channel AND r.day_type = t.day_type AND r.daypart = t.daypart
WHERE r.segment IN ({segments}) AND r.market <> '*'
"""

_MARKET_STATS_SQL = """
SELECT market, grain, segment,
       COUNT(*) AS cells,
       AVG(CASE WHEN suppressed THEN 0.0 ELSE 1.0 END) AS released_cells,
       SUM(CASE WHEN suppressed THEN 0.0 ELSE true_aqh END) / NULLIF(SUM(true_aqh), 0) AS coverage,
       QUANTILE_CONT(ABS(released_rating - true_rating), 0.5)
           FILTER (WHERE NOT suppressed) AS median_abs_error,
       QUANTILE_CONT(ABS(released_rating - true_rating), 0.9)
           FILTER (WHERE NOT suppressed) AS p90_abs_error,
       AVG(CASE WHEN ABS(released_rating - true_rating) <= rating_ci THEN 1.0 ELSE 0.0 END)
           FILTER (WHERE NOT suppressed) AS ci_coverage
FROM joined GROUP BY market, grain, segment ORDER BY market, segment, grain
"""

_STATS_SQL = """
SELECT grain, segment,
       COUNT(*) AS cells,
       AVG(CASE WHEN suppressed THEN 0.0 ELSE 1.0 END) AS released_cells,
       SUM(CASE WHEN suppressed THEN 0.0 ELSE true_aqh END) / NULLIF(SUM(true_aqh), 0) AS coverage,
       QUANTILE_CONT(ABS(released_rating - true_rating), 0.5)
           FILTER (WHERE NOT suppressed) AS median_abs_error,
       QUANTILE_CONT(ABS(released_rating - true_rating), 0.9)
           FILTER (WHERE NOT suppressed) AS p90_abs_error,
       AVG(CASE WHEN ABS(released_rating - true_rating) <= rating_ci THEN 1.0 ELSE 0.0 END)
           FILTER (WHERE NOT suppressed) AS ci_coverage
FROM joined GROUP BY grain, segment ORDER BY segment, grain
"""


def _world(cache: Path, voters: int, days: int, seed: int) -> Path:
    """A synthetic world of this size, generated once into the cache."""
    from parties.world import make_world

    target = cache / f"world-{voters}-{days}-{seed}"
    if not (target / "truth" / "voter_household.parquet").exists():
        print(f"generating a world of {voters:,} voters, {days} days", file=sys.stderr)
        make_world(target, voters=voters, days=days, seed=seed)
    return target


def _no_noise(counts: Sequence[int], scale: float) -> list[int]:
    return list(counts)


def measure_world(
    world: Path,
    rhos: list[float],
    targets: tuple[str, ...],
    k: int,
    min_universe: int,
    caps: ContributionCaps = DEFAULT_CAPS,
) -> dict[str, Any]:
    """The utility figures of one world at each budget."""
    voters = pq.read_table(world / "campaign" / "voters.parquet")
    truth_map = pq.read_table(world / "truth" / "voter_household.parquet")
    toml = (world / "campaign" / "segments.toml").read_text(encoding="utf-8")
    viewing = world / "provider" / "viewing.parquet"
    channels = pacsv.read_csv(world / "provider" / "channels.csv")["channel"].to_pylist()
    result: dict[str, Any] = {"world": str(world), "voters": voters.num_rows}
    with DuckDBEngine() as engine:
        assigned = true_assignments_of(voters, truth_map, toml)
        tiered, _ = with_intensity_tiers(
            assigned, viewing, engine=engine, k=k, min_universe=min_universe, prune=False
        )
        grid = release_grid(viewing, channels=channels, engine=engine)
        segments = sorted(set(tiered["segment"].to_pylist()))
        t0 = time.perf_counter()
        truth = compute_viewership(
            tiered, viewing, channels=grid.channels, engine=engine, period=grid.days
        ).drop_columns(["contributors"])
        universes = {
            row["segment"]: row["universe"]
            for row in truth.filter(pa.compute.equal(truth["grain"], "period"))
            .select(["segment", "universe"])
            .to_pylist()
        }
        result["exact_seconds"] = round(time.perf_counter() - t0, 2)
        result["households"] = universes.get(ALL_HOUSEHOLDS)
        result["universes"] = {s: universes.get(s) for s in targets}
        result["memberships_bound"] = memberships_bound(segments)
        sens = sensitivities(grid, segments, caps)
        result["l2_sensitivity"] = {
            name: round(float(getattr(sens, name)), 2) for name in ("views", "hut", "reach")
        }
        markets = _markets(world)
        lineups = None if markets is None else pacsv.read_csv(world / "provider" / "lineups.csv")
        market_truth = None
        if markets is not None:
            market_truth = market_release(
                segment_members(tiered, engine),
                viewing,
                markets,
                grid,
                engine=engine,
                k=1,
                min_universe=1,
                segments=segments,
                rho=None,
                lineups=lineups,
            )
            result["market_share_of_rho"] = DEFAULT_MARKET_SHARE
        result["budgets"] = []
        quoted = ", ".join(f"'{s}'" for s in targets)
        for rho in [*rhos, None]:
            t0 = time.perf_counter()
            released = release_viewership(
                tiered,
                viewing,
                grid,
                engine=engine,
                k=k,
                min_universe=min_universe,
                rho=rhos[0] if rho is None else rho,
                segments=segments,
                markets=markets,
                lineups=lineups,
                caps=caps,
                noise=_no_noise if rho is None else discrete_gaussian,
            )
            seconds = time.perf_counter() - t0
            entry: dict[str, Any] = {
                "segments": _segment_stats(engine, released, truth, quoted),
            }
            if market_truth is not None:
                entry["markets"] = _market_stats(engine, released, market_truth, quoted)
            if rho is None:  # the caps alone: every figure, no noise
                result["cap_bias"] = entry
            else:
                header = {"rho": rho, "epsilon": round(epsilon_of(rho), 3), "delta": 1e-7}
                result["budgets"].append({**header, "seconds": round(seconds, 2), **entry})
    return result


def _segment_stats(
    engine: DuckDBEngine, released: pa.Table, truth: pa.Table, quoted: str
) -> dict[str, dict[str, Any]]:
    """Each target's statewide error per grain."""
    joined = engine.query(_JOIN_SQL.format(segments=quoted), {"released": released, "truth": truth})
    per_segment: dict[str, dict[str, Any]] = {}
    for row in engine.query(_STATS_SQL, {"joined": joined}).to_pylist():
        per_segment.setdefault(row["segment"], {})[row["grain"]] = _figures(row)
    return per_segment


def _figures(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "cells": row["cells"],
        "released_cells": _round(row["released_cells"]),
        "viewing_covered": _round(row["coverage"]),
        "median_abs_error": _round(row["median_abs_error"]),
        "p90_abs_error": _round(row["p90_abs_error"]),
        "ci95_coverage": _round(row["ci_coverage"]),
    }


def _markets(world: Path) -> pa.Table | None:
    """The world's household markets, when it has them."""
    path = world / "provider" / "markets.parquet"
    return check_markets(pq.read_table(path), file=str(path)) if path.exists() else None


def _market_stats(
    engine: DuckDBEngine, released: pa.Table, truth: pa.Table, quoted: str
) -> dict[str, Any]:
    """Per market (largest first by households), each target's error per grain."""
    joined = engine.query(
        _MARKET_JOIN_SQL.format(segments=quoted), {"released": released, "truth": truth}
    )
    stats = engine.query(_MARKET_STATS_SQL, {"joined": joined}).to_pylist()
    sizes = {
        row["market"]: row["universe"]
        for row in truth.filter(
            pa.compute.and_(
                pa.compute.equal(truth["grain"], "period"),
                pa.compute.equal(truth["segment"], ALL_HOUSEHOLDS),
            )
        )
        .select(["market", "universe"])
        .to_pylist()
    }
    out: dict[str, Any] = {}
    for market in sorted(sizes, key=lambda m: -int(sizes[m])):
        per: dict[str, Any] = {"households": sizes[market], "segments": {}}
        for row in stats:
            if row["market"] != market:
                continue
            per["segments"].setdefault(row["segment"], {})[row["grain"]] = _figures(row)
        out[market] = per
    return out


def _round(value: object) -> float | None:
    return None if value is None else round(float(str(value)), 5)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--voters", default="100000,1000000", help="world sizes, comma-separated")
    parser.add_argument("--days", type=int, default=7)
    parser.add_argument("--seed", type=int, default=3)
    parser.add_argument(
        "--rho",
        default=f"{DEFAULT_RELEASE_RHO},{DEFAULT_RELEASE_RHO / 4},{DEFAULT_RELEASE_RHO * 4}",
        help="budgets (zCDP rho per release), comma-separated; the default release's first",
    )
    parser.add_argument("--targets", default=",".join(TARGETS))
    parser.add_argument("--k", type=int, default=DEFAULT_K)
    parser.add_argument("--min-universe", type=int, default=DEFAULT_MIN_UNIVERSE)
    parser.add_argument(
        "--credits-per-day",
        type=int,
        default=DEFAULT_CAPS.credits_per_day,
        help="the daily credit cap (default: the release's)",
    )
    parser.add_argument("--cache", type=Path, default=Path("build/dp-utility"))
    parser.add_argument("--world", type=Path, action="append", help="use this world directory")
    args = parser.parse_args(argv)
    rhos = [float(x) for x in args.rho.split(",") if x]
    targets = tuple(t for t in args.targets.split(",") if t)
    worlds = args.world or [
        _world(args.cache, int(n), args.days, args.seed) for n in args.voters.split(",") if n
    ]
    try:
        caps = ContributionCaps(credits_per_day=args.credits_per_day)
    except ValueError as exc:
        parser.error(str(exc))
    report = {
        "targets": list(targets),
        "k": args.k,
        "credits_per_day": caps.credits_per_day,
        "worlds": [
            measure_world(w, rhos, targets, args.k, args.min_universe, caps) for w in worlds
        ],
    }
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
