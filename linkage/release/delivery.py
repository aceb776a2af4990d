"""Post-buy delivery: what the spots that aired delivered to each segment, under zCDP.

The campaign sends the schedule that aired (``aired-schedule``,
:data:`~linkage.tables.AIRED_SCHEMA`); the provider measures it on the same
exchange's households and segments as the viewership release, per market and
statewide, and sends back the ``delivery`` payload
(:data:`~linkage.tables.DELIVERY_SCHEMA`).

**Exposure.** A household is exposed to a spot when one of its tuning events
on the spot's channel covers the spot's start (``start <= at < end``) and the
household is in the spot's market (a ``*`` spot aired in every market). A
household is exposed to a spot at most once, however many boxes were tuned.
Its **impressions** are its exposures, counted up to a public cap ``F``
(:data:`DEFAULT_FREQUENCY_CAP`) over the period.

**Figures** per (market, segment), each segment incl. ``*`` and the viewing
intensity tiers: universe ``U`` (the segment's households in the market),
target impressions ``I``, **TRPs** ``100 I / U``, **reach** ``R`` (households
exposed at least once; percent ``100 R / U``), **average frequency** ``I / R``,
and for each segment its **light-viewer reach**: its ``:light`` tier's reach
percent, copied onto the segment's row.

**Unit of privacy and sensitivities.** One household: all of its viewing and
all of its segment memberships. It sits in at most ``M`` released segments
(:func:`~linkage.release.dp.memberships_bound`: every plain segment, one tier
per parent) and in **one** market. Adding or removing it changes, in each of
its ``M`` segments of its own market only:

============  ====================================  ==============================
measure       what is noised                        L2 bound
============  ====================================  ==============================
impressions   capped exposures per (market,         ``min(F, S) * sqrt(M)``
              segment), markets where spots aired
reach         exposed households per (market,       ``sqrt(M)``
              segment), the same markets
universe      households per (market, segment),     ``sqrt(M)``
              every market
============  ====================================  ==============================

(``S``: the most spots aired in one market, ``*`` spots included.) Markets
are disjoint sets of households, so the whole (market x segment) vector of a
measure has the sensitivity of one market's: each measure is noised **once,
as one vector**, over every market. Statewide (``*``) figures are sums of the
noisy market figures (post-processing), their half-widths grow as the square
root of the number of markets summed. Impressions and reach in a market where
nothing aired are zero whatever the data (the schedule is public): they are
not measured, and cost nothing. Households in no market (missing from the
operator's market file) form one more, unreleased bucket that the statewide
sums include.

The release's rho is split over the three measures by :class:`DeliverySplit`;
each scale is certified by OpenDP's privacy map, as in :mod:`linkage.release.dp`,
and the delivery is ``rho``-zCDP, charged to the campaign organisation's
ledger like a viewership release.

**Decisions on noisy values only.** A row is suppressed when its noisy
universe is under the minimum universe or its noisy reach under ``k``;
nothing is ever refused on an exact count. Every figure carries its 95%
half-width (``*_ci``; delta method for ratios).
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Final

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc
from opendp.mod import enable_features

from linkage.engine import Engine
from linkage.errors import InputError, PrivacyError
from linkage.release.budget import DEFAULT_DELIVERY_RHO
from linkage.release.dp import Z95, NoiseFn, certified_scale, discrete_gaussian, memberships_bound
from linkage.tables import ALL_MARKETS, DELIVERY_SCHEMA, TIER_SEPARATOR

__all__ = [
    "DEFAULT_FREQUENCY_CAP",
    "DELIVERY_FIGURES",
    "DeliveryGrid",
    "DeliveryMeasures",
    "DeliveryNoise",
    "DeliverySplit",
    "delivery_grid",
    "exact_delivery",
    "measure_delivery",
    "noisy_delivery",
    "plan_delivery_noise",
]

enable_features("contrib")

DEFAULT_FREQUENCY_CAP: Final = 30
"""``F``: most impressions one household counts for over a delivery period."""

DELIVERY_FIGURES: Final = ("impressions", "trps", "reach", "frequency", "light_reach")
"""The delivery's figures; each has a ``<figure>_ci`` 95% half-width."""

_UNPLACED: Final = ""
"""The internal bucket of households in no market: in the ``*`` sums, never a row."""

_LIGHT: Final = "light"

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


@dataclass(frozen=True)
class DeliveryGrid:
    """The public grid of a delivery: the operator's markets, the schedule, the period, the cap.

    Attributes:
        markets: The operator's market codes, sorted, distinct, none ``*``.
        aired: The aired schedule (:data:`~linkage.tables.AIRED_SCHEMA`).
        days: The reporting dates, sorted, distinct.
        frequency_cap: ``F``, impressions counted per household at most.
    """

    markets: tuple[str, ...]
    aired: pa.Table
    days: tuple[date, ...]
    frequency_cap: int = DEFAULT_FREQUENCY_CAP

    def __post_init__(self) -> None:
        if not self.markets or list(self.markets) != sorted(set(self.markets)):
            raise ValueError("the grid needs sorted, distinct market codes")
        if ALL_MARKETS in self.markets or _UNPLACED in self.markets:
            raise ValueError("a market code is neither '*' nor empty")
        if not self.days or list(self.days) != sorted(set(self.days)):
            raise ValueError("the grid needs sorted, distinct reporting dates")
        if self.frequency_cap < 1:
            raise ValueError("the frequency cap is at least 1")

    @property
    def buckets(self) -> tuple[str, ...]:
        """Every household bucket measured: the markets, then the no-market bucket."""
        return (*self.markets, _UNPLACED)

    def spots_in(self, market: str) -> int:
        """Spots aired in ``market`` (its own and statewide ones); ``*``: every spot."""
        if market == ALL_MARKETS:
            return int(self.aired.num_rows)
        markets = self.aired["market"].to_pylist()
        return sum(m in (market, ALL_MARKETS) for m in markets)

    @property
    def aired_markets(self) -> tuple[str, ...]:
        """The buckets where any spot aired (every bucket when a ``*`` spot aired)."""
        return tuple(b for b in self.buckets if self.spots_in(b) > 0)

    @property
    def released_markets(self) -> tuple[str, ...]:
        """The market rows of the payload: ``*``, then each market where a spot aired."""
        return (ALL_MARKETS, *(m for m in self.aired_markets if m != _UNPLACED))

    @property
    def max_spots(self) -> int:
        """``S``: the most spots one household can be exposed to."""
        return max(self.spots_in(b) for b in self.buckets)

    def digest(self) -> str:
        """SHA-256 (hex) of the grid's canonical JSON: equal grids, equal digests."""
        doc = {
            "kind": "delivery",
            "markets": list(self.markets),
            "days": [d.isoformat() for d in self.days],
            "frequency_cap": self.frequency_cap,
            "aired": [
                [
                    r["market"],
                    r["channel"],
                    r["date"].isoformat(),
                    r["time"].isoformat(),
                    r["spot_seconds"],
                ]
                for r in self.aired.to_pylist()
            ],
        }
        text = json.dumps(doc, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode("utf-8")).hexdigest()


def delivery_grid(
    aired: pa.Table,
    markets: pa.Table,
    channels: Sequence[str] | None,
    days: Sequence[date],
    frequency_cap: int = DEFAULT_FREQUENCY_CAP,
    *,
    market_list: Sequence[str] | None = None,
    file: str | None = None,
) -> DeliveryGrid:
    """Check the aired schedule against the public facts and build the delivery grid.

    Args:
        aired: :func:`linkage.plan.parse_aired` rows (the opened message).
        markets: The operator's ``household_id, market`` file.
        channels: The public channel list; None skips the channel check.
        days: The reporting period.
        frequency_cap: ``F``.
        market_list: The public list of markets (the line-ups'): a spot aired in
            every market (``*``) is measured in each of them. Never taken from
            where households live: a market listed only when someone lives there
            would say whether a market's one household subscribes.
        file: The schedule's name, for errors.

    Raises:
        InputError: A household in two markets, an empty or ``*`` market code
            in the market file, or a spot on a channel outside the list or
            outside the period (rows numbered from 1 in the schedule's order).
            A market without households is not refused: its rows come back
            suppressed on their noisy universe.
    """
    codes = markets["market"].cast(pa.string())
    if codes.null_count or pc.any(pc.is_in(codes, pa.array([ALL_MARKETS, _UNPLACED]))).as_py():
        raise InputError("the market file holds an empty or '*' market code", column="market")
    hids = markets["household_id"]
    if pc.count_distinct(hids).as_py() != markets.num_rows:
        raise InputError(
            "a household is listed in more than one market (or twice)",
            column="household_id",
            hint="the operator's market file has one row per household",
        )
    # A market the schedule names but no household is in still gets its rows (universe
    # about 0, suppressed): which markets hold households is not for a refusal to say.
    markets_named = {str(m) for m in aired["market"].to_pylist()}
    named = markets_named - {ALL_MARKETS}
    if ALL_MARKETS in markets_named and market_list is None:
        raise InputError(
            "a spot aired in every market ('*') needs the public list of markets",
            file=file,
            column="market",
            hint="give --lineups (its markets are the list)",
        )
    served = sorted(set(market_list or ()) | named)
    if not served:
        raise InputError("the schedule names no market", file=file, column="market")
    published = None if channels is None else set(channels)
    period = set(days)
    for row, spot in enumerate(aired.to_pylist(), start=1):
        if published is not None and spot["channel"] not in published:
            raise InputError(
                "a spot aired on a channel outside the public channel list",
                file=file,
                column="channel",
                row=row,
            )
        if spot["date"] not in period:
            raise InputError(
                "a spot aired outside the reporting period", file=file, column="date", row=row
            )
    return DeliveryGrid(tuple(served), aired, tuple(sorted(set(days))), frequency_cap)


@dataclass(frozen=True)
class DeliveryMeasures:
    """The exact counts a delivery noises, ``[bucket, segment]`` (buckets as in the grid).

    Attributes:
        segments: Segment codes, sorted.
        universe: Households per (bucket, segment).
        impressions: Capped exposures summed per (bucket, segment).
        reach: Households exposed at least once per (bucket, segment).
    """

    segments: tuple[str, ...]
    universe: IntArray
    impressions: IntArray
    reach: IntArray


def _spots(grid: DeliveryGrid) -> pa.Table:
    aired = grid.aired.to_pylist()
    return pa.table(
        {
            "spot": pa.array(range(len(aired)), pa.int64()),
            "market": pa.array([s["market"] for s in aired], pa.string()),
            "channel": pa.array([s["channel"] for s in aired], pa.string()),
            "at": pa.array(
                [datetime.combine(s["date"], s["time"]) for s in aired], pa.timestamp("s")
            ),
        }
    )


def measure_delivery(
    assignments: pa.Table,
    viewing: pa.Table | Path,
    markets: pa.Table,
    grid: DeliveryGrid,
    engine: Engine,
    segments: Sequence[str] | None = None,
) -> DeliveryMeasures:
    """Count universe, capped impressions and reach per (bucket, segment).

    Args:
        assignments: ``household_id``, ``segment`` (codes, ``*`` and tiers).
        viewing: Sanitised tuning events (``household_id, channel, start, end``).
        markets: ``household_id, market`` (checked by :func:`delivery_grid`).
        grid: The public delivery grid.
        engine: Runs the SQL (DuckDB or Spark).
        segments: Every segment released (absent ones count 0); None: those
            in ``assignments``.
    """
    d = engine.dialect
    start, end = d.ident("start"), d.ident("end")
    cap = int(grid.frequency_cap)
    sql = f"""
    WITH hm AS (SELECT household_id, market FROM markets),
    seen AS (
        SELECT DISTINCT v.household_id, s.spot
        FROM viewing v
        JOIN spots s ON v.channel = s.channel AND v.{start} <= s.at AND v.{end} > s.at
        LEFT JOIN hm ON hm.household_id = v.household_id
        WHERE s.market = '{ALL_MARKETS}' OR s.market = hm.market
    ),
    credited AS (
        SELECT household_id, LEAST(COUNT(*), {cap}) AS n FROM seen GROUP BY household_id
    ),
    a AS (SELECT DISTINCT household_id, segment FROM assignments)
    SELECT COALESCE(hm.market, '{_UNPLACED}') AS market, a.segment,
           COUNT(*) AS universe,
           SUM(COALESCE(c.n, 0)) AS impressions,
           SUM(CASE WHEN c.n > 0 THEN 1 ELSE 0 END) AS reach
    FROM a
    LEFT JOIN hm ON hm.household_id = a.household_id
    LEFT JOIN credited c ON c.household_id = a.household_id
    GROUP BY COALESCE(hm.market, '{_UNPLACED}'), a.segment
    """
    counts = engine.query(
        sql,
        {
            "viewing": viewing,
            "spots": _spots(grid),
            # A household of a market off the public list is unplaced (the '*' row only).
            "markets": markets.select(["household_id", "market"]).filter(
                pc.is_in(markets["market"], pa.array(list(grid.markets), pa.string()))
            ),
            "assignments": assignments.select(["household_id", "segment"]),
        },
    )
    codes = tuple(
        sorted(set(segments) if segments is not None else set(assignments["segment"].to_pylist()))
    )
    at_bucket = {b: i for i, b in enumerate(grid.buckets)}
    at_segment = {s: i for i, s in enumerate(codes)}
    shape = (len(grid.buckets), len(codes))
    arrays = {
        name: np.zeros(shape, dtype=np.int64) for name in ("universe", "impressions", "reach")
    }
    for row in counts.to_pylist():
        s = at_segment.get(str(row["segment"]))
        if s is None:
            continue
        b = at_bucket[str(row["market"])]
        for name, values in arrays.items():
            values[b, s] = int(row[name] or 0)
    return DeliveryMeasures(codes, arrays["universe"], arrays["impressions"], arrays["reach"])


@dataclass(frozen=True)
class DeliverySplit:
    """Fractions of a delivery's rho given to each measure (they sum to 1)."""

    impressions: float = 0.50
    reach: float = 0.35
    universe: float = 0.15

    def __post_init__(self) -> None:
        parts = (self.impressions, self.reach, self.universe)
        if any(p <= 0 for p in parts) or not math.isclose(sum(parts), 1.0, abs_tol=1e-9):
            raise ValueError("the delivery's rho split needs three positive fractions summing to 1")


_MEASURES: Final = ("impressions", "reach", "universe")


@dataclass(frozen=True)
class DeliveryNoise:
    """Noise scales of one delivery, each certified by OpenDP's privacy map.

    Attributes:
        rho: zCDP rho of the whole delivery.
        sensitivity: L2 sensitivity per measure (see the module doc).
        scales: Gaussian scale per measure.
        rhos: rho per measure.
    """

    rho: float
    sensitivity: dict[str, float]
    scales: dict[str, float]
    rhos: dict[str, float]


def plan_delivery_noise(
    grid: DeliveryGrid,
    segments: Sequence[str],
    rho: float = DEFAULT_DELIVERY_RHO,
    split: DeliverySplit = DeliverySplit(),
) -> DeliveryNoise:
    """Scales so that the delivery is ``rho``-zCDP, as certified by OpenDP's maps.

    Raises:
        PrivacyError: ``rho`` is not a positive finite number.
        ValueError: ``segments`` is empty.
    """
    if not (math.isfinite(rho) and rho > 0):
        raise PrivacyError("rho must be a positive number", hint="e.g. --rho 0.02")
    root_m = math.sqrt(memberships_bound(segments))
    per_household = min(grid.frequency_cap, max(grid.max_spots, 1))
    sensitivity = {"impressions": per_household * root_m, "reach": root_m, "universe": root_m}
    scales: dict[str, float] = {}
    rhos: dict[str, float] = {}
    for name in _MEASURES:
        share = float(getattr(split, name)) * rho
        scales[name], rhos[name] = certified_scale(math.ceil(sensitivity[name]), share), share
    return DeliveryNoise(rho, sensitivity, scales, rhos)


def _noised(values: IntArray, scale: float, noise: NoiseFn) -> IntArray:
    flat = noise([int(x) for x in values.ravel()], scale)
    return np.asarray(flat, dtype=np.int64).reshape(values.shape)


def _ratio_ci(
    num: FloatArray, num_var: FloatArray, den: FloatArray, den_var: FloatArray, scale: float
) -> FloatArray:
    """Delta-method 95% half-width of ``scale * num / den`` (NaN where ``den`` is 0)."""
    safe = np.where(den > 0, den, 1.0)
    var = (scale / safe) ** 2 * num_var + (scale * num / safe**2) ** 2 * den_var
    return np.where(den > 0, Z95 * np.sqrt(var), np.nan)


@dataclass(frozen=True)
class _Rows:
    """Per released (market, segment): sums over buckets, and the noise variances behind them."""

    markets: list[str]
    segments: list[str]
    spots: IntArray
    universe: FloatArray
    impressions: FloatArray
    reach: FloatArray
    var_universe: FloatArray
    var_impressions: FloatArray
    var_reach: FloatArray


def _rows(
    grid: DeliveryGrid,
    segments: Sequence[str],
    values: dict[str, IntArray],
    variances: dict[str, float],
) -> _Rows:
    """Sum the bucket figures into the released rows (``*``: every bucket)."""
    aired = set(grid.aired_markets)
    markets: list[str] = []
    codes: list[str] = []
    sums: dict[str, list[float]] = {name: [] for name in _MEASURES}
    var: dict[str, list[float]] = {name: [] for name in _MEASURES}
    spots: list[int] = []
    for market in grid.released_markets:
        buckets = [i for i, b in enumerate(grid.buckets) if market == ALL_MARKETS or b == market]
        for s, code in enumerate(segments):
            markets.append(market)
            codes.append(code)
            spots.append(grid.spots_in(market))
            for name in _MEASURES:
                # Impressions and reach exist (and were noised) only where spots aired.
                used = (
                    buckets
                    if name == "universe"
                    else [i for i in buckets if grid.buckets[i] in aired]
                )
                sums[name].append(float(sum(values[name][i, s] for i in used)))
                var[name].append(variances[name] * len(used))
    return _Rows(
        markets,
        codes,
        np.array(spots, dtype=np.int64),
        *(np.array(sums[name], dtype=np.float64) for name in ("universe", "impressions", "reach")),
        *(np.array(var[name], dtype=np.float64) for name in ("universe", "impressions", "reach")),
    )


def _payload(rows: _Rows, grid: DeliveryGrid, k: int, min_universe: int) -> pa.Table:
    """The figures of every released row, clamped to what is possible, suppressed on ``rows``."""
    universe = np.maximum(1.0, rows.universe)
    reach = np.clip(rows.reach, 0.0, universe)
    ceiling = universe * np.minimum(grid.frequency_cap, rows.spots)
    impressions = np.clip(rows.impressions, reach, np.maximum(reach, ceiling))
    figures: dict[str, FloatArray] = {
        "impressions": impressions,
        "trps": impressions * 100.0 / universe,
        "reach": reach * 100.0 / universe,
        "frequency": np.where(reach > 0, impressions / np.where(reach > 0, reach, 1.0), np.nan),
        "impressions_ci": Z95 * np.sqrt(rows.var_impressions),
        "trps_ci": _ratio_ci(impressions, rows.var_impressions, universe, rows.var_universe, 100.0),
        "reach_ci": _ratio_ci(reach, rows.var_reach, universe, rows.var_universe, 100.0),
        "frequency_ci": np.where(
            reach > 0,
            _ratio_ci(impressions, rows.var_impressions, reach, rows.var_reach, 1.0),
            np.nan,
        ),
    }
    suppressed = (rows.universe < min_universe) | (reach < k)
    # Light-viewer reach: the `:light` tier's row, same market, onto its parent's row.
    where = {(m, s): i for i, (m, s) in enumerate(zip(rows.markets, rows.segments, strict=True))}
    light = np.full(len(rows.markets), np.nan)
    light_ci = np.full(len(rows.markets), np.nan)
    for i, (market, code) in enumerate(zip(rows.markets, rows.segments, strict=True)):
        j = where.get((market, f"{code}{TIER_SEPARATOR}{_LIGHT}"))
        if TIER_SEPARATOR in code or j is None or suppressed[j]:
            continue
        light[i], light_ci[i] = figures["reach"][j], figures["reach_ci"][j]
    figures["light_reach"], figures["light_reach_ci"] = light, light_ci
    n = len(rows.markets)
    out: dict[str, pa.Array] = {
        "market": pa.array(rows.markets, pa.string()),
        "segment": pa.array(rows.segments, pa.string()),
        "spots": pa.array(rows.spots, pa.int64()),
        "universe": pa.array(np.rint(np.maximum(rows.universe, 0.0)).astype(np.int64), pa.int64()),
        "reach_households": pa.array(np.rint(reach).astype(np.int64), pa.int64(), mask=suppressed),
        "suppressed": pa.array(suppressed, pa.bool_()),
        "frequency_cap": pa.array(np.full(n, grid.frequency_cap, np.int64), pa.int64()),
        "k": pa.array(np.full(n, k, np.int64), pa.int64()),
        "min_universe": pa.array(np.full(n, min_universe, np.int64), pa.int64()),
    }
    for name, values in figures.items():
        out[name] = pa.array(values, pa.float64(), mask=suppressed | np.isnan(values))
    return pa.table(out).select(DELIVERY_SCHEMA.names).cast(DELIVERY_SCHEMA)


def noisy_delivery(
    measures: DeliveryMeasures,
    grid: DeliveryGrid,
    plan: DeliveryNoise,
    k: int,
    min_universe: int = 1,
    noise: NoiseFn = discrete_gaussian,
) -> pa.Table:
    """Noise each measure once, as one vector over every market, and build the payload.

    Args:
        measures: :func:`measure_delivery` counts on ``grid``.
        grid: The public delivery grid.
        plan: :func:`plan_delivery_noise` for this grid and these segments.
        k: A row whose noisy reach is under ``k`` is suppressed.
        min_universe: A row whose noisy universe is under it is suppressed.
        noise: Noise source (tests pass a deterministic one).

    Returns:
        :data:`~linkage.tables.DELIVERY_SCHEMA` rows: ``*`` then each market
        where spots aired, every segment in each.
    """
    aired = [i for i, b in enumerate(grid.buckets) if b in set(grid.aired_markets)]
    values: dict[str, IntArray] = {
        "universe": _noised(measures.universe, plan.scales["universe"], noise)
    }
    for name in ("impressions", "reach"):
        noisy = np.zeros_like(getattr(measures, name))
        if aired:
            noisy[aired] = _noised(getattr(measures, name)[aired], plan.scales[name], noise)
        values[name] = noisy
    variances = {name: plan.scales[name] ** 2 for name in _MEASURES}
    rows = _rows(grid, measures.segments, values, variances)
    return _payload(rows, grid, k, min_universe)


def exact_delivery(measures: DeliveryMeasures, grid: DeliveryGrid) -> pa.Table:
    """The delivery figures without noise or suppression (the synthetic truth; never sent).

    Half-widths are 0; ``k`` and ``min_universe`` are 0 on every row.
    """
    values = {name: getattr(measures, name) for name in _MEASURES}
    rows = _rows(grid, measures.segments, values, dict.fromkeys(_MEASURES, 0.0))
    return _payload(rows, grid, 0, 0)
