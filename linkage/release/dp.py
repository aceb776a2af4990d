"""Differential privacy for released viewership: zCDP Gaussian noise through OpenDP.

Unit of privacy: **one household** - all of its viewing in the reporting
period and all of its segment memberships, however many voter records point
at it (a segment is a set of households, so 100 copies of one voter add
nothing). Every count a release holds is a Gaussian measurement of household
contributions, and Gaussian measurements compose by adding their rho
(zero-concentrated DP): the measures of one release, and the releases to one
campaign (:mod:`linkage.release.budget`, :mod:`linkage.release.ledger`).

**Contribution bounds, enforced, at public caps.** :func:`bound_viewing`
keeps only tuning to the public channel list and removes overlapping tuning
inside a household (several set-top boxes: the event that started first wins
the overlap), so a household watches one channel at a time. Crediting then
counts at most ``H = caps.credits_per_day`` (channel, quarter-hour) credits per
household and day (the earliest; default 72, eighteen hours of viewing). With
``D_t`` days of day type ``t`` and ``M`` the most released segments one
household can sit in (every segment that is not a tier, plus one tier per
parent: tiers of one parent are disjoint), the L2 sensitivities are:

============  ============================================  =======================
measure       what is noised                                L2 bound
============  ============================================  =======================
views         credited household-days per quarter-hour      sqrt(M * H * sum D_t^2)
              cell (segment, channel, day type, qh)
hut           households-using-TV days per (segment, day    sqrt(M * min(H, 96)
              type, quarter-hour)                           * sum D_t^2)
reach         distinct households per (segment, channel)    sqrt(M * min(C, H * D))
              over the period
universe      households per segment                        sqrt(M)
records       linked real voter records per segment (not    R * sqrt(S)
              tiers), at most ``R = 8`` per household
============  ============================================  =======================

(``S``: released segments that are not tiers, ``*`` included.)

(In a cell of day type ``t`` a household counts at most ``D_t`` times, and
in one day at most ``H`` times over all cells, so the squares of its counts
sum to at most ``D_t * H * D_t``.) A release's rho is split over the four
measures by :data:`DEFAULT_SPLIT`, each scale is certified by OpenDP's privacy
map, and the release is ``rho``-zCDP.

**The finest grain is measured once; coarse grains are sums of it.** Daypart
and period AQH are sums of the noisy quarter-hour counts, so their relative
noise falls as one over the square root of the number of quarter-hours they
cover: the whole budget serves every grain, and the coarse grains, which the
buyer acts on, are the most accurate. Ratings and shares are recomputed from
noisy counts. Everything after the noise is post-processing (free under DP).

**Decisions on noisy counts.** Nothing is refused per segment: a segment
whose noisy universe is under the minimum universe comes back with every
cell suppressed; a cell is suppressed when its noisy household estimate (its
AQH households at the quarter-hour and daypart grains, its reach over the
period) is under ``k``. Which cells are blanked is therefore itself private,
and the k rule stays as a second layer on top of the noise.

The reporting period and the channel list are the public grid
(:class:`CellGrid`): they never come from the viewing data.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Final

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc
from opendp.domains import atom_domain, vector_domain
from opendp.measurements import make_gaussian
from opendp.metrics import l2_distance
from opendp.mod import Measurement, enable_features

from linkage.engine import Engine
from linkage.errors import PrivacyError
from linkage.measure import DAYPARTS, QUARTER_HOUR_SECONDS, QUARTER_HOURS_PER_DAY, day_type
from linkage.tables import ALL_MARKETS, INTERVAL_COLUMNS, RELEASE_SCHEMA, TIER_SEPARATOR

__all__ = [
    "DEFAULT_CAPS",
    "DEFAULT_SPLIT",
    "Z95",
    "CellGrid",
    "ContributionCaps",
    "MeasureSplit",
    "Measures",
    "NoiseFn",
    "NoisePlan",
    "Sensitivities",
    "bound_viewing",
    "certified_scale",
    "discrete_gaussian",
    "half_width",
    "measures",
    "memberships_bound",
    "noisy_release",
    "plan_noise",
    "ratio_half_width",
    "sensitivities",
]

enable_features("contrib")

CONFIDENCE: Final = 0.95
Z95: Final = 1.959963984540054
"""The normal 95% quantile every half-width uses."""

IntArray = npt.NDArray[np.int64]

NoiseFn = Callable[[Sequence[int], float], list[int]]
"""``(true counts, scale) -> noisy counts``; the default is :func:`discrete_gaussian`."""


@dataclass(frozen=True)
class CellGrid:
    """The public cell grid of a release: channels x day types x quarter-hours (and dayparts).

    Fixed by the public channel list and the public reporting period, never by
    who watched what: every cell is released (or suppressed) whatever the data.

    Attributes:
        channels: Public channel list, in release order, no duplicates.
        days: Reporting dates, sorted, no duplicates.
        credit_minutes: Minutes of tuning in a quarter-hour needed for credit.
    """

    channels: tuple[str, ...]
    days: tuple[date, ...]
    credit_minutes: int = 5

    def __post_init__(self) -> None:
        if not self.channels or len(set(self.channels)) != len(self.channels):
            raise ValueError("the grid needs a non-empty list of distinct channels")
        if not self.days or list(self.days) != sorted(set(self.days)):
            raise ValueError("the grid needs sorted, distinct reporting dates")
        if not 1 <= self.credit_minutes <= QUARTER_HOUR_SECONDS // 60:
            raise ValueError("credit_minutes must be between 1 and 15")

    @property
    def day_type_counts(self) -> dict[str, int]:
        """Days per day type present in the period (``weekday`` / ``weekend``)."""
        counts: dict[str, int] = defaultdict(int)
        for day in self.days:
            counts[day_type(day)] += 1
        return dict(sorted(counts.items()))

    @property
    def channels_per_slot(self) -> int:
        """``r``: most published channels one bounded household is credited to per slot."""
        return min(len(self.channels), (QUARTER_HOUR_SECONDS // 60) // self.credit_minutes)

    def digest(self) -> str:
        """SHA-256 (hex) of the grid's canonical JSON: equal grids, equal digests."""
        doc = {
            "channels": list(self.channels),
            "days": [d.isoformat() for d in self.days],
            "credit_minutes": self.credit_minutes,
            "quarter_hours": QUARTER_HOURS_PER_DAY,
            "dayparts": [[dp.name, dp.start_qh, dp.end_qh] for dp in DAYPARTS],
        }
        text = json.dumps(doc, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class ContributionCaps:
    """Public caps on one household's contribution, which the sensitivities rest on.

    Attributes:
        credits_per_day: Most (channel, quarter-hour) credits one household
            earns in one day; later credits that day are not counted. 72 is
            eighteen hours of one channel at a time, or six hours of
            switching between three channels every five minutes (each
            switch earns a quarter-hour one more credit). At 48 the cap cut
            heavy, channel-switching homes' evening viewing and biased
            market daypart ratings by more than half their noise
            (``scripts/dp_utility.py --credits-per-day 48`` prints the bias
            as ``cap_bias``); 72 costs ``sqrt(72 / 48)``, 1.22 times, the
            quarter-hours' noise and ``sqrt(12 / 9)``, 1.15 times, the
            market rows'.
        records_per_household: Most linked voter records one household adds
            to a segment's ``matched_records`` (the matcher's report uses the
            same cap), so 100 copies of a voter count as 8.
    """

    credits_per_day: int = 72
    records_per_household: int = 8

    def __post_init__(self) -> None:
        if not 1 <= self.credits_per_day <= QUARTER_HOURS_PER_DAY * QUARTER_HOUR_SECONDS // 60:
            raise ValueError("credits_per_day must be between 1 and 1440")
        if self.records_per_household < 1:
            raise ValueError("records_per_household must be at least 1")


DEFAULT_CAPS: Final = ContributionCaps()


def memberships_bound(segments: Sequence[str]) -> int:
    """``M``: the most of ``segments`` one household can belong to.

    Every segment that is not a viewing-intensity tier counts (segments may
    overlap), and each parent's tiers count once (a household is in exactly
    one tier of a parent).

    Raises:
        ValueError: ``segments`` is empty.
    """
    if not segments:
        raise ValueError("a release has at least one segment")
    plain = {s for s in segments if TIER_SEPARATOR not in s}
    parents = {s.split(TIER_SEPARATOR, 1)[0] for s in segments if TIER_SEPARATOR in s}
    return len(plain) + len(parents)


@dataclass(frozen=True)
class Sensitivities:
    """L2 sensitivity of each measure to adding or removing one household (see module doc)."""

    views: float
    hut: float
    reach: float
    universe: float
    records: float


def sensitivities(
    grid: CellGrid, segments: Sequence[str], caps: ContributionCaps = DEFAULT_CAPS
) -> Sensitivities:
    """Per-household L2 sensitivity of each measure for the released ``segments``.

    Raises:
        ValueError: ``segments`` is empty.
    """
    m = memberships_bound(segments)
    q = QUARTER_HOURS_PER_DAY
    h = min(caps.credits_per_day, q * grid.channels_per_slot)
    squares = sum(n * n for n in grid.day_type_counts.values())
    return Sensitivities(
        views=math.sqrt(m * h * squares),
        hut=math.sqrt(m * min(h, q) * squares),
        reach=math.sqrt(m * min(len(grid.channels), h * len(grid.days))),
        universe=math.sqrt(m),
        records=caps.records_per_household * math.sqrt(_plain_segments(segments)),
    )


def _plain_segments(segments: Sequence[str]) -> int:
    """Segments that are not tiers (``matched_records`` is released for these only)."""
    return max(1, sum(TIER_SEPARATOR not in s for s in segments))


@dataclass(frozen=True)
class MeasureSplit:
    """Fractions of a release's rho given to each measure (they sum to 1)."""

    views: float = 0.70
    reach: float = 0.14
    hut: float = 0.10
    universe: float = 0.04
    records: float = 0.02

    def __post_init__(self) -> None:
        parts = (self.views, self.reach, self.hut, self.universe, self.records)
        if any(p <= 0 for p in parts) or not math.isclose(sum(parts), 1.0, abs_tol=1e-9):
            raise ValueError("the rho split needs five positive fractions summing to 1")


DEFAULT_SPLIT: Final = MeasureSplit()
"""Most of the budget to the ratings (views), which every grain is built from."""

_MEASURES: Final = ("views", "reach", "hut", "universe", "records")


@dataclass(frozen=True)
class NoisePlan:
    """Noise scales for one release, checked against OpenDP's privacy maps.

    Attributes:
        rho: zCDP rho of the whole release.
        sensitivity: Per-measure L2 sensitivities.
        caps: The contribution caps the sensitivities assume.
        scales: Gaussian scale (standard deviation) per measure.
        rhos: rho per measure, certified by OpenDP's map at the measure's
            sensitivity (rounded up to a whole number: integer counts).
    """

    rho: float
    sensitivity: Sensitivities
    caps: ContributionCaps = DEFAULT_CAPS
    scales: Mapping[str, float] = field(default_factory=dict)
    rhos: Mapping[str, float] = field(default_factory=dict)


def _measurement(scale: float) -> Measurement:
    # The opendp submodules, not opendp.prelude: the prelude also loads
    # scikit-learn (1.1 s at every CLI start).
    return make_gaussian(vector_domain(atom_domain(T=int)), l2_distance(T=int), scale=scale)


def certified_scale(d_in: float, rho: float, *, real: bool = False) -> float:
    """The Gaussian scale at which OpenDP's privacy map certifies ``d_in`` (L2) costs <= ``rho``.

    ``d_in ** 2 / (2 rho)`` in theory; OpenDP rounds its maps conservatively,
    so the scale is widened a hair until the map agrees. ``real``: the vector
    is of floats (scaled counts), else of integers (``d_in`` a whole number).
    """
    scale = d_in / math.sqrt(2.0 * rho)
    while _map(scale, d_in, real=real) > rho:
        scale *= 1 + 1e-9
    return scale


def _map(scale: float, d_in: float, *, real: bool) -> float:
    if real:
        gauss = make_gaussian(
            vector_domain(atom_domain(T=float, nan=False)), l2_distance(T=float), scale=scale
        )
        return float(gauss.map(d_in))  # type: ignore[no-untyped-call]
    return float(_measurement(scale).map(int(d_in)))  # type: ignore[no-untyped-call]


def plan_noise(
    grid: CellGrid,
    segments: Sequence[str],
    rho: float,
    split: MeasureSplit = DEFAULT_SPLIT,
    caps: ContributionCaps = DEFAULT_CAPS,
) -> NoisePlan:
    """Scales so that the release is ``rho``-zCDP, as certified by OpenDP's maps.

    Raises:
        PrivacyError: ``rho`` is not a positive finite number.
        ValueError: ``segments`` is empty.
    """
    if not (math.isfinite(rho) and rho > 0):
        raise PrivacyError("rho must be a positive number", hint="e.g. --rho 0.25")
    sens = sensitivities(grid, segments, caps)
    scales: dict[str, float] = {}
    spent: dict[str, float] = {}
    for name in _MEASURES:
        share = float(getattr(split, name)) * rho
        scale = certified_scale(math.ceil(float(getattr(sens, name))), share)
        scales[name], spent[name] = scale, share
    return NoisePlan(rho=rho, sensitivity=sens, caps=caps, scales=scales, rhos=spent)


def discrete_gaussian(counts: Sequence[int], scale: float) -> list[int]:
    """Add discrete Gaussian noise of ``scale`` to each count, with OpenDP (CSPRNG, unseedable)."""
    if not counts:
        return []
    return [int(x) for x in _measurement(scale)([int(c) for c in counts])]


def half_width(scale: float, terms: int = 1) -> float:
    """95% half-width of a sum of ``terms`` independent draws of Gaussian noise of ``scale``.

    The discrete Gaussian's variance is at most ``scale**2``, so the normal
    half-width is conservative.
    """
    return Z95 * scale * math.sqrt(terms)


def bound_viewing(viewing: pa.Table | Path, channels: Sequence[str], engine: Engine) -> pa.Table:
    """Enforce the per-household contribution bound DP relies on.

    Keeps only tuning to ``channels`` and clips overlapping tuning inside a
    household so it watches one channel at a time: each event starts no
    earlier than the latest end of the events that started before it (ties
    broken by end, then channel), and events left empty are dropped.

    Returns:
        ``household_id, channel, start, end`` with no overlap per household.
    """
    d = engine.dialect
    start, end = d.ident("start"), d.ident("end")
    sql = f"""
    WITH kept AS (
        SELECT v.household_id, v.channel, v.{start} AS s, v.{end} AS e
        FROM viewing v JOIN published p ON p.channel = v.channel
        WHERE v.{end} > v.{start}
    ),
    ordered AS (
        SELECT household_id, channel, s, e,
               MAX(e) OVER (PARTITION BY household_id ORDER BY s, e, channel
                            ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) AS prev_end
        FROM kept
    )
    SELECT household_id, channel,
           CASE WHEN prev_end IS NOT NULL AND prev_end > s THEN prev_end ELSE s END AS {start},
           e AS {end}
    FROM ordered
    WHERE prev_end IS NULL OR prev_end < e
    ORDER BY household_id, {start}
    """
    published = pa.table({"channel": pa.array(list(dict.fromkeys(channels)), pa.string())})
    return engine.query(sql, {"viewing": viewing, "published": published})


@dataclass(frozen=True)
class Measures:
    """The exact counts a DP release noises, as arrays indexed by the public grid.

    Attributes:
        segments: Segment codes, sorted (the first axis of every array).
        day_types: Day types of the period, sorted.
        views: Credited household-days, ``[segment, channel, day type, qh]``
            (channels in grid order).
        hut: HUT household-days, ``[segment, day type, qh]``.
        reach: Distinct households per period cell, ``[segment, channel]``.
        universe: Households per segment.
    """

    segments: tuple[str, ...]
    day_types: tuple[str, ...]
    views: IntArray
    hut: IntArray
    reach: IntArray
    universe: IntArray

    def vector(self) -> dict[str, list[int]]:
        """Each measure as a flat list (for sensitivity checks)."""
        return {
            name: [int(x) for x in getattr(self, name).ravel()]
            for name in ("views", "hut", "reach", "universe")
        }


@dataclass(frozen=True)
class _CellIndex:
    """Where each row of a cells table sits on the grid's axes."""

    grain: npt.NDArray[np.str_]
    segment: IntArray
    channel: IntArray
    day_type: IntArray
    daypart: IntArray
    quarter_hour: IntArray


def _index(cells: pa.Table, segments: Sequence[str], grid: CellGrid) -> _CellIndex:
    def where(column: str, values: Sequence[str]) -> IntArray:
        found = pc.index_in(cells[column], value_set=pa.array(list(values), pa.string()))
        return np.asarray(found.fill_null(-1).to_numpy(zero_copy_only=False), dtype=np.int64)

    qh = cells["quarter_hour"].fill_null(-1).to_numpy(zero_copy_only=False)
    return _CellIndex(
        grain=np.asarray(cells["grain"].to_numpy(zero_copy_only=False), dtype=np.str_),
        segment=where("segment", segments),
        channel=where("channel", grid.channels),
        day_type=where("day_type", sorted(grid.day_type_counts)),
        daypart=where("daypart", [dp.name for dp in DAYPARTS]),
        quarter_hour=np.asarray(qh, dtype=np.int64),
    )


def _column(cells: pa.Table, name: str) -> npt.NDArray[np.float64]:
    return np.asarray(
        cells[name].cast(pa.float64()).fill_null(0.0).to_numpy(zero_copy_only=False),
        dtype=np.float64,
    )


def measures(cells: pa.Table, grid: CellGrid) -> Measures:
    """Recover the exact measures from unsuppressed cells on ``grid``.

    Views and HUT come back exactly from the figures (``aqh = views / days``,
    ``share = views * 100 / hut``); HUT is recoverable because bounded viewing
    holds published channels only, so a household in HUT is credited to a
    published channel in the same slot.

    Raises:
        ValueError: ``cells`` does not cover exactly the grid.
    """
    return _indexed_measures(cells, grid)[0]


def _indexed_measures(cells: pa.Table, grid: CellGrid) -> tuple[Measures, _CellIndex]:
    """:func:`measures`, and where each row of ``cells`` sits on the grid."""
    segments = tuple(sorted(set(cells["segment"].to_pylist())))
    types = tuple(sorted(grid.day_type_counts))
    n_s, n_c, n_t, n_q = len(segments), len(grid.channels), len(types), QUARTER_HOURS_PER_DAY
    at = _index(cells, segments, grid)
    if (at.channel < 0).any():
        raise ValueError("cells hold channels outside the public grid")
    is_qh, is_period = at.grain == "quarter_hour", at.grain == "period"
    if int(is_qh.sum()) != n_s * n_c * n_t * n_q or int(is_period.sum()) != n_s * n_c:
        raise ValueError("cells do not cover the public grid exactly")
    if (at.day_type[is_qh] < 0).any():
        raise ValueError("cells hold day types outside the public grid")
    n_days = np.array([grid.day_type_counts[t] for t in types], dtype=np.float64)
    s, c, t, q = (a[is_qh] for a in (at.segment, at.channel, at.day_type, at.quarter_hour))
    views = np.zeros((n_s, n_c, n_t, n_q), dtype=np.int64)
    counted = np.rint(_column(cells, "aqh_households")[is_qh] * n_days[t]).astype(np.int64)
    views[s, c, t, q] = counted
    hut = np.zeros((n_s, n_t, n_q), dtype=np.int64)
    share = _column(cells, "share")[is_qh]
    seen = (counted > 0) & (share > 0)
    hut[s[seen], t[seen], q[seen]] = np.rint(counted[seen] * 100.0 / share[seen]).astype(np.int64)
    reach = np.zeros((n_s, n_c), dtype=np.int64)
    reach[at.segment[is_period], at.channel[is_period]] = _column(cells, "reach_households")[
        is_period
    ].astype(np.int64)
    universe = np.zeros(n_s, dtype=np.int64)
    universe[at.segment] = _column(cells, "universe").astype(np.int64)
    return Measures(segments, types, views, hut, reach, universe), at


def _noised(values: IntArray, scale: float, noise: NoiseFn) -> IntArray:
    """``values`` with noise added, in one call for the whole array (same shape)."""
    flat = noise([int(x) for x in values.ravel()], scale)
    return np.asarray(flat, dtype=np.int64).reshape(values.shape)


def ratio_half_width(
    num: npt.NDArray[np.float64],
    num_var: npt.NDArray[np.float64] | float,
    den: npt.NDArray[np.float64],
    den_var: npt.NDArray[np.float64] | float,
    scale: float,
) -> npt.NDArray[np.float64]:
    """Delta-method half-width of ``scale * num / den`` (0 where ``den`` is 0)."""
    safe = np.where(den > 0, den, 1.0)
    var = (scale / safe) ** 2 * num_var + (scale * num / safe**2) ** 2 * den_var
    return np.where(den > 0, Z95 * np.sqrt(var), 0.0)


def noisy_release(
    cells: pa.Table,
    grid: CellGrid,
    plan: NoisePlan,
    k: int,
    min_universe: int = 1,
    noise: NoiseFn = discrete_gaussian,
    records: Mapping[str, int] | None = None,
) -> pa.Table:
    """Noise the measures behind ``cells`` and rebuild every released figure from them.

    Each measure is noised once, as one vector. A segment whose noisy universe
    is under ``min_universe`` has every cell suppressed; a cell whose noisy
    household estimate (AQH households; reach for a period cell) is under
    ``k`` is suppressed. Both decisions read only noisy values.

    Args:
        cells: :func:`linkage.measure.compute_viewership` output for
            :func:`bound_viewing` data on exactly ``grid`` (same channels,
            ``period=grid.days``, same credit minutes, ``credits_per_day``
            from ``plan.caps``).
        grid: The public cell grid.
        plan: Noise scales from :func:`plan_noise` for this grid and these segments.
        k: Cells whose noisy household estimate is below ``k`` are suppressed.
        min_universe: Segments whose noisy universe is below it are suppressed whole.
        noise: Noise source (tests pass a deterministic one).
        records: Linked real records per segment that is not a tier, each
            household counting at most ``plan.caps.records_per_household``;
            absent segments count 0. None: ``matched_records`` is null.

    Returns:
        One row per input row, :data:`RELEASE_SCHEMA`, no ``contributors``.

    Raises:
        ValueError: ``cells`` does not cover exactly the grid.
    """
    m, at = _indexed_measures(cells, grid)
    sc = plan.scales
    views = _noised(m.views, sc["views"], noise).astype(np.float64)
    hut = _noised(m.hut, sc["hut"], noise).astype(np.float64)
    reach = _noised(m.reach, sc["reach"], noise).astype(np.float64)
    universe = np.maximum(1, _noised(m.universe, sc["universe"], noise)).astype(np.float64)
    var_v, var_h, var_r, var_u = (sc[name] ** 2 for name in _MEASURES_VAR)
    n_days = np.array([grid.day_type_counts[t] for t in m.day_types], dtype=np.float64)
    u4 = universe[:, None, None, None]

    # Sums of noisy quarter-hours per grain: [segment, channel, day type, bucket].
    dayparts = [np.array(dp.quarter_hours()) for dp in DAYPARTS]
    grains: dict[str, tuple[npt.NDArray[np.float64], ...]] = {}
    per_dp = np.stack([views[..., qs].sum(axis=-1) for qs in dayparts], axis=-1)
    hut_dp = np.stack([hut[..., qs].sum(axis=-1) for qs in dayparts], axis=-1)
    dp_len = np.array([len(qs) for qs in dayparts], dtype=np.float64)
    for name, v, h, slots, terms in (
        ("quarter_hour", views, hut[:, None], n_days[:, None] * np.ones(1), np.ones(1)),
        ("daypart", per_dp, hut_dp[:, None], n_days[:, None] * dp_len, dp_len),
        (
            "period",
            views.sum(axis=(2, 3))[..., None, None],
            hut.sum(axis=(1, 2))[:, None, None, None],
            np.full((1, 1), n_days.sum() * QUARTER_HOURS_PER_DAY),
            np.full(1, float(len(m.day_types) * QUARTER_HOURS_PER_DAY)),
        ),
    ):
        # Clamp to what is possible (post-processing): 0 <= aqh <= universe.
        n = np.clip(v, 0.0, u4 * slots)
        hh = np.clip(np.broadcast_to(h, n.shape), 0.0, u4 * slots)
        den = np.maximum(hh, n)
        aqh = n / slots
        grains[name] = (
            aqh,
            aqh * 100.0 / u4,
            np.where(n > 0, n * 100.0 / np.where(den > 0, den, 1.0), 0.0),
            np.broadcast_to(half_width(sc["views"]) * np.sqrt(terms) / slots, n.shape),
            ratio_half_width(
                aqh, terms * var_v / slots**2, np.broadcast_to(u4, n.shape), var_u, 100.0
            ),
            ratio_half_width(n, terms * var_v, np.maximum(den, 1.0), terms * var_h, 100.0),
        )

    rows = cells.num_rows
    columns = {name: np.full(rows, np.nan) for name in _FIGURES}
    cover = np.zeros(rows)
    for name, (aqh, rating, share, aqh_ci, rating_ci, share_ci) in grains.items():
        mask = at.grain == name
        if not mask.any():
            continue
        s, c = at.segment[mask], at.channel[mask]
        t = np.maximum(at.day_type[mask], 0)
        b = {"quarter_hour": at.quarter_hour, "daypart": at.daypart}.get(name)
        key = (s, c, t, b[mask]) if b is not None else (s, c, 0, 0)
        for column, values in (
            ("aqh_households", aqh),
            ("rating", rating),
            ("share", share),
            ("aqh_households_ci", aqh_ci),
            ("rating_ci", rating_ci),
            ("share_ci", share_ci),
        ):
            columns[column][mask] = values[key]
        cover[mask] = aqh[key]
    period = at.grain == "period"
    s_p, c_p = at.segment[period], at.channel[period]
    u_p = universe[s_p]
    reached = np.minimum(u_p, np.maximum(0.0, reach[s_p, c_p]))
    cover[period] = reach[s_p, c_p]
    columns["reach_households"][period] = reached
    columns["reach"][period] = reached * 100.0 / u_p
    columns["reach_ci"][period] = ratio_half_width(reached, var_r, u_p, var_u, 100.0)
    row_universe = universe[at.segment]
    suppressed = (row_universe < min_universe) | (cover < k)
    matched = np.full(len(m.segments), np.nan)
    if records is not None:
        plain = [i for i, seg in enumerate(m.segments) if TIER_SEPARATOR not in seg]
        counts = np.array([records.get(m.segments[i], 0) for i in plain], dtype=np.int64)
        noisy = _noised(counts, sc["records"], noise)
        matched[plain] = np.maximum(0, noisy)
    matched[universe < min_universe] = np.nan
    return _release_table(
        cells, row_universe, columns, suppressed, matched[at.segment], (k, min_universe)
    )


_MEASURES_VAR: Final = ("views", "hut", "reach", "universe")
_FIGURES: Final = (
    "aqh_households",
    "rating",
    "share",
    "reach_households",
    "reach",
    *INTERVAL_COLUMNS,
)


def _release_table(
    cells: pa.Table,
    universe: npt.NDArray[np.float64],
    columns: Mapping[str, npt.NDArray[np.float64]],
    suppressed: npt.NDArray[np.bool_],
    matched_records: npt.NDArray[np.float64],
    rules: tuple[int, int],
) -> pa.Table:
    """The payload: the cells' keys, the noisy figures, nulls where suppressed, the rules."""
    out: dict[str, pa.Array] = {
        name: cells[name].combine_chunks()
        for name in ("grain", "segment", "channel", "day_type", "daypart", "quarter_hour")
    }
    out["market"] = pa.array([ALL_MARKETS] * cells.num_rows, pa.string())
    out["universe"] = pa.array(universe.astype(np.int64), pa.int64())
    for name in _FIGURES:
        values = columns[name]
        blank = suppressed | np.isnan(values)
        if name == "reach_households":
            whole = np.nan_to_num(values, nan=0.0).astype(np.int64)
            out[name] = pa.array(whole, pa.int64(), mask=blank)
        else:
            out[name] = pa.array(values, pa.float64(), mask=blank)
    out["suppressed"] = pa.array(suppressed, pa.bool_())
    whole = np.nan_to_num(matched_records, nan=0.0).astype(np.int64)
    out["matched_records"] = pa.array(whole, pa.int64(), mask=np.isnan(matched_records))
    out["k"] = pa.array(np.full(len(suppressed), rules[0], np.int64), pa.int64())
    out["min_universe"] = pa.array(np.full(len(suppressed), rules[1], np.int64), pa.int64())
    return pa.table(out).select(RELEASE_SCHEMA.names).cast(RELEASE_SCHEMA)
