"""Differential privacy for released viewership counts, with OpenDP's discrete Laplace.

Unit of privacy: **one household** — all of its viewing in the reporting
period and all of its segment memberships. Adding or removing one household
changes the released counts by at most the L1 sensitivities below, so each
measure noised with discrete Laplace of scale ``sensitivity / epsilon_i`` is
``epsilon_i``-DP, and the release is ``sum(epsilon_i) = epsilon``-DP by basic
sequential composition. The provider's ledger (:mod:`linkage.release.ledger`) adds
releases up the same way against the campaign's total budget.

Contribution bounding (enforced, not assumed): :func:`bound_viewing` keeps
only tuning to the public channel list and removes overlapping tuning inside
a household (several set-top boxes: the event that started first wins the
overlap). A household then watches one channel at a time, so in one
quarter-hour of one day it is credited to at most ``r = min(C, 15 //
credit_minutes)`` channels (3 with the 5-minute rule) and counts at most once
towards HUT. With ``G`` released segments (``*`` included; segments may
overlap, so a household may sit in all of them), ``C`` public channels,
``D_t`` days of day type ``t`` and ``D = sum(D_t)`` days:

============  =====================================================  ===========
measure       what is noised                                         L1 bound
============  =====================================================  ===========
views         credited household-days per quarter-hour cell           G*96*D*r
hut           households-using-TV days per (segment, day type, qh)    G*96*D
contributors  distinct households per quarter-hour cell, and reach    G*(96*sum_t min(C, r*D_t)
              (distinct households per segment and channel)            + min(C, r*96*D))
universe      households per segment                                  G
============  =====================================================  ===========

The epsilon of a release is split over the four measures by
:data:`DEFAULT_SPLIT`. Everything else is post-processing of the noisy
measures (free under DP): ratings and shares are recomputed from noisy
counts; daypart and period figures are sums of the noisy quarter-hour counts;
k-suppression uses the noisy contributor count (a daypart cell the largest
noisy contributor count among its quarter-hours, a period cell its noisy
reach), so which cells are blanked is itself private.

What DP does not cover: refusals. The minimum-universe and differencing
checks run on exact counts and a refusal reveals that a rule failed; the
rules are public and the campaign learns no figure. The reporting period is
taken from the viewing log's dates; the cell grid is otherwise public.
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

import pyarrow as pa
from opendp.domains import atom_domain, vector_domain
from opendp.measurements import make_laplace
from opendp.metrics import l1_distance
from opendp.mod import Measurement, enable_features

from linkage.engine import Engine
from linkage.errors import PrivacyError
from linkage.measure import DAYPARTS, QUARTER_HOUR_SECONDS, QUARTER_HOURS_PER_DAY, day_type
from linkage.tables import INTERVAL_COLUMNS, RELEASE_SCHEMA, VIEWERSHIP_SCHEMA

__all__ = [
    "DEFAULT_SPLIT",
    "CellGrid",
    "MeasureSplit",
    "Measures",
    "NoiseFn",
    "NoisePlan",
    "Sensitivities",
    "bound_viewing",
    "discrete_laplace",
    "discrete_laplace_variance",
    "measures",
    "noisy_release",
    "plan_noise",
    "sensitivities",
    "single_half_width",
]

enable_features("contrib")

CONFIDENCE: Final = 0.95
_Z95: Final = 1.959963984540054

NoiseFn = Callable[[Sequence[int], float], list[int]]
"""``(true counts, scale) -> noisy counts``; the default is :func:`discrete_laplace`."""


@dataclass(frozen=True)
class CellGrid:
    """The public cell grid of a release: channels x day types x quarter-hours (and dayparts).

    Fixed by the public channel list and the reporting period, never by who
    watched what: every cell is released (or suppressed) whatever the data.

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
class Sensitivities:
    """L1 sensitivity of each measure to adding or removing one household (see module doc)."""

    views: int
    hut: int
    contributors: int
    universe: int


def sensitivities(grid: CellGrid, n_segments: int) -> Sensitivities:
    """Per-household L1 sensitivity of each measure for ``n_segments`` segments (``*`` included).

    Raises:
        ValueError: ``n_segments`` is below 1.
    """
    if n_segments < 1:
        raise ValueError("a release has at least one segment")
    g, r, q = n_segments, grid.channels_per_slot, QUARTER_HOURS_PER_DAY
    c, days = len(grid.channels), len(grid.days)
    per_qh = sum(min(c, r * n) for n in grid.day_type_counts.values())
    return Sensitivities(
        views=g * q * days * r,
        hut=g * q * days,
        contributors=g * (q * per_qh + min(c, r * q * days)),
        universe=g,
    )


@dataclass(frozen=True)
class MeasureSplit:
    """Fractions of a release's epsilon given to each measure (they sum to 1)."""

    views: float = 0.45
    contributors: float = 0.35
    hut: float = 0.15
    universe: float = 0.05

    def __post_init__(self) -> None:
        parts = (self.views, self.contributors, self.hut, self.universe)
        if any(p <= 0 for p in parts) or not math.isclose(sum(parts), 1.0, abs_tol=1e-9):
            raise ValueError("the epsilon split needs four positive fractions summing to 1")


DEFAULT_SPLIT: Final = MeasureSplit()
"""Most of the budget to the ratings (views) and the suppression decisions (contributors)."""


@dataclass(frozen=True)
class NoisePlan:
    """Noise scales for one release, checked against OpenDP's privacy maps.

    Attributes:
        epsilon: Total epsilon of the release (pure DP).
        sensitivity: Per-measure L1 sensitivities.
        scales: Discrete-Laplace scale per measure (``views``, ``hut``,
            ``contributors``, ``universe``).
        epsilons: Epsilon per measure, certified by OpenDP's ``check`` at
            the measure's sensitivity.
    """

    epsilon: float
    sensitivity: Sensitivities
    scales: Mapping[str, float] = field(default_factory=dict)
    epsilons: Mapping[str, float] = field(default_factory=dict)


def _measurement(scale: float) -> Measurement:
    # The opendp submodules, not opendp.prelude: the prelude also loads
    # scikit-learn (1.1 s at every CLI start).
    return make_laplace(vector_domain(atom_domain(T=int)), l1_distance(T=int), scale=scale)


def plan_noise(
    grid: CellGrid, n_segments: int, epsilon: float, split: MeasureSplit = DEFAULT_SPLIT
) -> NoisePlan:
    """Scales so that the release is ``epsilon``-DP, as certified by OpenDP's maps.

    Raises:
        PrivacyError: ``epsilon`` is not a positive finite number.
        ValueError: Bad ``n_segments``.
    """
    if not (math.isfinite(epsilon) and epsilon > 0):
        raise PrivacyError("epsilon must be a positive number", hint="e.g. --epsilon 1")
    sens = sensitivities(grid, n_segments)
    scales: dict[str, float] = {}
    spent: dict[str, float] = {}
    for name in ("views", "hut", "contributors", "universe"):
        share = float(getattr(split, name)) * epsilon
        d_in = int(getattr(sens, name))
        scale = d_in / share
        # OpenDP rounds its privacy maps conservatively; widen a hair if that tips over.
        while not _measurement(scale).check(d_in, share):
            scale *= 1 + 1e-9
        scales[name], spent[name] = scale, share
    return NoisePlan(epsilon=epsilon, sensitivity=sens, scales=scales, epsilons=spent)


def discrete_laplace(counts: Sequence[int], scale: float) -> list[int]:
    """Add discrete Laplace noise of ``scale`` to each count, with OpenDP (CSPRNG, unseedable)."""
    if not counts:
        return []
    return [int(x) for x in _measurement(scale)([int(c) for c in counts])]


def discrete_laplace_variance(scale: float) -> float:
    """Variance of discrete Laplace noise: ``2p / (1 - p)^2`` with ``p = exp(-1/scale)``."""
    p = math.exp(-1.0 / scale)
    return 2.0 * p / (1.0 - p) ** 2


def single_half_width(scale: float) -> float:
    """95% half-width of one discrete-Laplace draw: smallest t with P(|X| > t) <= 5%."""
    p = math.exp(-1.0 / scale)
    # P(|X| >= t) = 2 p^t / (1 + p) for t >= 1.
    t = math.log((1.0 - CONFIDENCE) * (1.0 + p) / 2.0) / math.log(p)
    return float(max(0, math.ceil(t) - 1))


def _sum_half_width(scale: float, terms: int) -> float:
    """Half-width for a sum of ``terms`` independent draws (single: exact; more: normal)."""
    if terms == 1:
        return single_half_width(scale)
    return _Z95 * math.sqrt(terms * discrete_laplace_variance(scale))


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


def _qh_key(row: Mapping[str, object]) -> tuple[object, ...]:
    return (row["segment"], row["channel"], row["day_type"], row["quarter_hour"])


def _ratio_ci(num: float, num_var: float, den: float, den_var: float, scale: float) -> float:
    """Delta-method half-width of ``scale * num / den``."""
    if den <= 0:
        return 0.0
    var = (scale / den) ** 2 * num_var + (scale * num / den**2) ** 2 * den_var
    return _Z95 * math.sqrt(var)


@dataclass(frozen=True)
class Measures:
    """The exact counts a DP release noises, in a fixed order given by the grid.

    Attributes:
        views: Credited household-days per quarter-hour cell, in row order.
        hut: HUT household-days per (segment, day type, quarter-hour).
        contributors: Distinct households per quarter-hour cell (row order),
            then reach per period cell (row order).
        universe: Households per segment, by segment code.
    """

    views: list[int]
    hut: dict[tuple[str, str, int], int]
    contributors: list[int]
    universe: dict[str, int]

    def vector(self) -> dict[str, list[int]]:
        """Each measure as a flat list (for sensitivity checks)."""
        return {
            "views": list(self.views),
            "hut": list(self.hut.values()),
            "contributors": list(self.contributors),
            "universe": list(self.universe.values()),
        }


def measures(cells: pa.Table, grid: CellGrid) -> Measures:
    """Recover the exact measures from unsuppressed cells on ``grid``.

    Views and HUT come back exactly from the figures (``aqh = views / days``,
    ``share = views * 100 / hut``); HUT is recoverable because bounded viewing
    holds published channels only, so a household in HUT is credited to a
    published channel in the same slot.

    Raises:
        ValueError: ``cells`` does not cover exactly the grid.
    """
    rows = cells.to_pylist()
    days = grid.day_type_counts
    segments = sorted({str(r["segment"]) for r in rows})
    qh_rows = [r for r in rows if r["grain"] == "quarter_hour"]
    period_rows = [r for r in rows if r["grain"] == "period"]
    n_cells = len(segments) * len(grid.channels) * len(days) * QUARTER_HOURS_PER_DAY
    if len(qh_rows) != n_cells or len(period_rows) != len(segments) * len(grid.channels):
        raise ValueError("cells do not cover the public grid exactly")
    if {str(r["channel"]) for r in rows} != set(grid.channels):
        raise ValueError("cells hold channels outside the public grid")
    views = [round(float(r["aqh_households"]) * days[str(r["day_type"])]) for r in qh_rows]
    hut = {
        (seg, kind, qh): 0
        for seg in segments
        for kind in days
        for qh in range(QUARTER_HOURS_PER_DAY)
    }
    for r, n in zip(qh_rows, views, strict=True):
        if n > 0 and r["share"]:
            hut[(str(r["segment"]), str(r["day_type"]), int(r["quarter_hour"]))] = round(
                n * 100.0 / float(r["share"])
            )
    contributors = [int(r["contributors"]) for r in qh_rows] + [
        int(r["reach_households"]) for r in period_rows
    ]
    universe = {seg: 0 for seg in segments}
    for r in rows:
        universe[str(r["segment"])] = int(r["universe"])
    return Measures(views, hut, contributors, universe)


def noisy_release(
    cells: pa.Table,
    grid: CellGrid,
    plan: NoisePlan,
    k: int,
    noise: NoiseFn = discrete_laplace,
) -> pa.Table:
    """Noise the measures behind ``cells`` and rebuild every released figure from them.

    Args:
        cells: :func:`linkage.measure.compute_viewership` output for
            :func:`bound_viewing` data on exactly ``grid`` (same channels,
            ``period=grid.days``, same credit minutes).
        grid: The public cell grid.
        plan: Noise scales from :func:`plan_noise` for this grid and segment count.
        k: Cells whose noisy contributor count is below ``k`` are suppressed.
        noise: Noise source (tests pass a deterministic one).

    Returns:
        One row per input row, :data:`RELEASE_SCHEMA`, no ``contributors``.

    Raises:
        ValueError: ``cells`` does not cover exactly the grid.
    """
    rows = cells.to_pylist()
    days = grid.day_type_counts
    m = measures(cells, grid)
    segments = list(m.universe)
    qh_rows = [r for r in rows if r["grain"] == "quarter_hour"]
    period_rows = [r for r in rows if r["grain"] == "period"]

    s = plan.scales
    views_n = noise(m.views, s["views"])
    hut_n = dict(zip(m.hut, noise(list(m.hut.values()), s["hut"]), strict=True))
    contrib_n = noise(m.contributors, s["contributors"])
    uni_noisy = noise(list(m.universe.values()), s["universe"])
    uni_n = {seg: max(1, n) for seg, n in zip(segments, uni_noisy, strict=True)}
    var_v = discrete_laplace_variance(s["views"])
    var_h = discrete_laplace_variance(s["hut"])
    var_c = discrete_laplace_variance(s["contributors"])
    var_u = discrete_laplace_variance(s["universe"])

    qh_views = {_qh_key(r): v for r, v in zip(qh_rows, views_n, strict=True)}
    qh_contrib = {_qh_key(r): c for r, c in zip(qh_rows, contrib_n[: len(qh_rows)], strict=True)}
    reach_n = {
        (r["segment"], r["channel"]): c
        for r, c in zip(period_rows, contrib_n[len(qh_rows) :], strict=True)
    }
    qh_of = {dp.name: dp.quarter_hours() for dp in DAYPARTS}
    all_qh = range(QUARTER_HOURS_PER_DAY)

    out: list[dict[str, object]] = []
    for r in rows:
        seg, ch, grain = str(r["segment"]), r["channel"], r["grain"]
        if grain == "quarter_hour":
            slots = [(str(r["day_type"]), r["quarter_hour"])]
            n_days = days[str(r["day_type"])]
            cover = qh_contrib[_qh_key(r)]
        elif grain == "daypart":
            slots = [(str(r["day_type"]), q) for q in qh_of[str(r["daypart"])]]
            n_days = days[str(r["day_type"])]
            cover = max(qh_contrib[(seg, ch, t, q)] for t, q in slots)
        else:
            slots = [(t, q) for t in days for q in all_qh]
            n_days = len(grid.days)
            cover = reach_n[(seg, ch)]
        n_slots = n_days * (len(slots) if grain != "period" else QUARTER_HOURS_PER_DAY)
        u = uni_n[seg]
        # Clamp to what is possible (post-processing): 0 <= aqh <= universe.
        n = min(u * n_slots, max(0, sum(qh_views[(seg, ch, t, q)] for t, q in slots)))
        hut = min(u * n_slots, max(0, sum(hut_n[(seg, t, q)] for t, q in slots)))
        row: dict[str, object] = {name: r[name] for name in VIEWERSHIP_SCHEMA.names}
        row["universe"] = u
        if cover < k:
            for name in ("aqh_households", "rating", "share", "reach_households", "reach"):
                row[name] = None
            row["suppressed"] = True
            row.update(dict.fromkeys(INTERVAL_COLUMNS))
            out.append(row)
            continue
        den = max(hut, n)
        terms = len(slots)
        aqh = n / n_slots
        row["aqh_households"] = aqh
        row["rating"] = aqh * 100.0 / u
        row["share"] = n * 100.0 / den if n > 0 else 0.0
        row["aqh_households_ci"] = _sum_half_width(s["views"], terms) / n_slots
        row["rating_ci"] = _ratio_ci(aqh, terms * var_v / n_slots**2, u, var_u, 100.0)
        row["share_ci"] = _ratio_ci(n, terms * var_v, max(den, 1), terms * var_h, 100.0)
        row["reach_ci"] = None
        if grain == "period":
            reach = min(u, max(0, cover))
            row["reach_households"] = reach
            row["reach"] = reach * 100.0 / u
            row["reach_ci"] = _ratio_ci(reach, var_c, u, var_u, 100.0)
        out.append(row)
    return pa.Table.from_pylist(out, schema=RELEASE_SCHEMA)
