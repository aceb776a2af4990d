"""Weekly panels at the provider: the week store and retention, released under zCDP.

A *panel* is a provider-campaign relationship that spans exchanges (weeks),
named by a panel id. Inside the provider a household's panel ID is
:func:`linkage.protocol.panel_household_ids` (HMAC of the provider secret,
a domain, the panel id and the household id): stable within the panel,
unrelated across panels. Panel IDs never leave the provider: nothing sealed
carries them, and what leaves stays per exchange (per-exchange pseudonyms,
random rids, random segment codes).

**The week store.** :func:`panel_week` is what one week leaves for the next:
one row per (panel household, channel it *watched* in the period), where
watched means at least :data:`WATCHED_MINUTES` minutes of bounded tuning
(:func:`~linkage.release.dp.bound_viewing`: published channels only, one
channel at a time) in the period. It is sorted, so the same week gives the
same table (and the same file). Its size is bounded by households x channels.

**Retention.** :func:`release_retention` measures, per segment code of *this*
week (plain segments and ``*``; viewing-intensity tiers are not included:
they are defined by this week's viewing, which is what retention measures,
and would double ``M``) and published channel:

* ``earlier`` - the segment's households that watched the channel in the
  earlier week, and
* ``both`` - those that watched it in both weeks,

and derives ``retention = both / earlier x 100``. Membership is this week's
(segments may change between weeks). A household known this week only as an
unseen pseudonym (no tuning at all this week) has no household id to derive
a panel ID from, so it is outside both counts; the truth
(:mod:`linkage.synth.retention_truth`) counts it, so the bias is measured.

**Sensitivity.** The unit of privacy is one household (all of its viewing in
both weeks and its segment memberships). With ``M`` the most released
segments one household sits in (:func:`~linkage.release.dp.memberships_bound`
of the plain codes and ``*``) and ``C`` the published channels, adding or
removing a household changes each ``earlier`` cell and each ``both`` cell by
at most 1, in at most ``M x C`` cells of each vector, so each vector has L2
sensitivity ``sqrt(M x C)``. Each vector is one Gaussian measurement at half
the retention rho (certified by OpenDP's privacy map, as in
:mod:`linkage.release.dp`), so the retention release is ``rho``-zCDP and
composes with the viewership release by adding rho: the provider charges
both to the organisation's ledger as one release (one receipt).

**Rules on noisy values only.** A cell is suppressed when its noisy
``earlier`` or noisy ``both`` household count is under ``k`` (both are counts
of households, so the k rule applies to each); nothing is refused on exact
counts. The 95% half-width of retention is the delta method over the two
independent noises.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Final

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc
from opendp.mod import enable_features

from linkage.engine import Engine
from linkage.errors import InputError, PrivacyError, StateError
from linkage.io import read_private_cache, write_private_cache
from linkage.protocol import UNSEEN_PREFIX, panel_household_ids, validate_exchange_id
from linkage.release.budget import DEFAULT_RETENTION_RHO
from linkage.release.dp import (
    Z95,
    NoiseFn,
    bound_viewing,
    certified_scale,
    discrete_gaussian,
    memberships_bound,
)
from linkage.tables import ALL_HOUSEHOLDS, RETENTION_SCHEMA, TIER_SEPARATOR

__all__ = [
    "PANEL_STORE_SCHEMA",
    "WATCHED_MINUTES",
    "PanelStep",
    "PanelStore",
    "RetentionNoise",
    "earlier_week",
    "panel_week",
    "plan_retention",
    "release_retention",
    "retention_counts",
    "retention_table",
    "validate_panel_id",
    "watched_channels",
]

enable_features("contrib")

WATCHED_MINUTES: Final = 5
"""Minutes of bounded tuning in the period for a household to have *watched* a channel."""

PANEL_STORE_SCHEMA: Final = pa.schema([("panel_household", pa.string()), ("channel", pa.string())])
"""One week of a panel at the provider: the channels each panel household watched."""


def validate_panel_id(panel_id: str) -> str:
    """Check a panel id; it names a directory, like an exchange id.

    Raises:
        InputError: Not 1-64 characters of ``[A-Za-z0-9._-]`` or starts with a dot.
    """
    try:
        return validate_exchange_id(panel_id)
    except InputError:
        raise InputError(
            "invalid panel id",
            hint="use 1-64 characters from A-Z a-z 0-9 . _ - , not starting with a dot",
        ) from None


def watched_channels(
    viewing: pa.Table | Path,
    channels: Sequence[str],
    engine: Engine,
    period: Sequence[date],
    minutes: int = WATCHED_MINUTES,
) -> pa.Table:
    """``household_id, channel``: each household's channels watched in ``period``.

    Tuning is bounded first (:func:`~linkage.release.dp.bound_viewing`), then
    clipped to the period's days; a channel is watched with at least
    ``minutes`` minutes of it. Sorted by household and channel.
    """
    if not period:
        raise ValueError("a panel week needs a reporting period")
    d = engine.dialect
    start, end = d.ident("start"), d.ident("end")
    first = datetime.combine(min(period), time())
    stop = datetime.combine(max(period) + timedelta(days=1), time())
    lo, hi = (f"TIMESTAMP '{t.isoformat(sep=' ')}'" for t in (first, stop))
    s = f"CASE WHEN {start} < {lo} THEN {lo} ELSE {start} END"
    e = f"CASE WHEN {end} > {hi} THEN {hi} ELSE {end} END"
    sql = f"""
    SELECT household_id, channel FROM bounded
    WHERE {end} > {lo} AND {start} < {hi}
    GROUP BY household_id, channel
    HAVING SUM({d.epoch_seconds(e)} - {d.epoch_seconds(s)}) >= {int(minutes) * 60}
    ORDER BY household_id, channel
    """
    bounded = bound_viewing(viewing, channels, engine)
    return engine.query(sql, {"bounded": bounded})


def panel_week(secret: bytes, panel_id: str, watched: pa.Table) -> pa.Table:
    """The week's store rows: ``watched`` under panel household IDs, sorted (deterministic).

    Args:
        secret: The provider's secret.
        panel_id: The panel.
        watched: :func:`watched_channels` output.

    Returns:
        :data:`PANEL_STORE_SCHEMA` rows, one per (panel household, channel).
    """
    hids = [str(h) for h in watched["household_id"].to_pylist()]
    table = pa.table(
        {
            "panel_household": pa.array(panel_household_ids(secret, panel_id, hids), pa.string()),
            "channel": watched["channel"].cast(pa.string()),
        },
        schema=PANEL_STORE_SCHEMA,
    )
    unique = table.group_by(["panel_household", "channel"]).aggregate([])
    return unique.select(PANEL_STORE_SCHEMA.names).sort_by(
        [("panel_household", "ascending"), ("channel", "ascending")]
    )


Week = tuple[date, date]
"""A stored week's first and last day."""


class PanelStore:
    """One panel's private directory at the provider (under ``HOME/panels/<panel>``)::

        weeks/FIRST_LAST.parquet     one week's store (:data:`PANEL_STORE_SCHEMA`), 0600
        retention/EXCHANGE.parquet   the retention released for an exchange (for replays)

    Files are written atomically and readable by the provider only; the bytes
    go through :mod:`linkage.io`.
    """

    def __init__(self, directory: str | os.PathLike[str]) -> None:
        root = Path(directory)
        self._weeks = root / "weeks"
        self._retention = root / "retention"

    def _week_path(self, week: Week) -> Path:
        return self._weeks / f"{week[0].isoformat()}_{week[1].isoformat()}.parquet"

    def weeks(self) -> tuple[Week, ...]:
        """The stored weeks, oldest first (one per first day: the longest wins)."""
        found: dict[date, date] = {}
        for path in self._weeks.glob("*.parquet") if self._weeks.is_dir() else ():
            try:
                first, last = (date.fromisoformat(p) for p in path.stem.split("_"))
            except ValueError:
                continue  # not a week's file
            found[first] = max(last, found.get(first, last))
        return tuple(sorted(found.items()))

    def earlier_week(self, first_day: date) -> Week | None:
        """The latest stored week that ends before ``first_day`` (None if none)."""
        return earlier_week(self.weeks(), first_day)

    def load_week(self, week: Week) -> pa.Table:
        """A stored week's rows.

        Raises:
            StateError: Missing or unreadable.
        """
        table = read_private_cache(self._week_path(week))
        if table is None or table.schema.names != PANEL_STORE_SCHEMA.names:
            raise StateError(
                "a panel week is missing or unreadable",
                file=str(self._week_path(week)),
                hint="restore the panel directory, or release without --panel",
            )
        return table.cast(PANEL_STORE_SCHEMA)

    def save_week(self, week: Week, table: pa.Table) -> None:
        """Write a week's rows (atomic, 0600); the same week gives the same file."""
        write_private_cache(self._week_path(week), table.cast(PANEL_STORE_SCHEMA))

    def load_retention(self, exchange: str) -> pa.Table:
        """The retention released for ``exchange``.

        Raises:
            StateError: Missing or unreadable.
        """
        path = self._retention / f"{exchange}.parquet"
        table = read_private_cache(path)
        if table is None:
            raise StateError(
                "the retention of an earlier release is missing",
                file=str(path),
                hint="restore the panel directory; a replay re-sends what was released",
            )
        return table.cast(RETENTION_SCHEMA)

    def save_retention(self, exchange: str, table: pa.Table) -> None:
        """Keep the retention released for ``exchange`` (atomic, 0600)."""
        write_private_cache(self._retention / f"{exchange}.parquet", table)


def earlier_week(stored: Sequence[Week], first_day: date) -> Week | None:
    """The latest of ``stored`` that ends before ``first_day`` (None if none)."""
    before = [w for w in stored if w[1] < first_day]
    return max(before) if before else None


@dataclass(frozen=True)
class PanelStep:
    """One week of a panel inside ``provider aggregate``: store this week, measure retention.

    Attributes:
        panel_id: The panel.
        week: This week's first and last day.
        rows: This week's store rows (:func:`panel_week`).
        earlier: The earlier week and its rows, None when the panel has none
            (or the release is exact: retention is DP only).
        rho: The retention's zCDP rho (0 without an earlier week).
    """

    panel_id: str
    week: Week
    rows: pa.Table
    earlier: tuple[Week, pa.Table] | None
    rho: float

    @classmethod
    def prepare(
        cls,
        store: PanelStore,
        *,
        secret: bytes,
        panel_id: str,
        viewing: pa.Table | Path,
        channels: Sequence[str],
        days: Sequence[date],
        engine: Engine,
        dp: bool,
        rho: float = DEFAULT_RETENTION_RHO,
    ) -> PanelStep:
        """This week's rows and the panel's earlier week (read, nothing written)."""
        week = (min(days), max(days))
        rows = panel_week(secret, panel_id, watched_channels(viewing, channels, engine, days))
        before = store.earlier_week(week[0]) if dp else None
        earlier = None if before is None else (before, store.load_week(before))
        return cls(panel_id, week, rows, earlier, rho if earlier is not None else 0.0)

    def retention(
        self,
        assignments: pa.Table,
        *,
        secret: bytes,
        segments: Sequence[str],
        channels: Sequence[str],
        k: int,
        noise: NoiseFn = discrete_gaussian,
    ) -> pa.Table | None:
        """The ``retention`` payload (:func:`release_retention`), None without an earlier week."""
        if self.earlier is None:
            return None
        before, rows = self.earlier
        return release_retention(
            assignments,
            rows,
            self.rows,
            secret=secret,
            panel_id=self.panel_id,
            segments=segments,
            channels=channels,
            earlier_period=before,
            rho=self.rho,
            k=k,
            noise=noise,
        )


@dataclass(frozen=True)
class RetentionNoise:
    """The noise of one retention release.

    Attributes:
        rho: zCDP rho of the whole retention release (half per vector).
        sensitivity: L2 sensitivity of each vector, ``sqrt(M x C)``.
        scale: Gaussian scale of each vector, certified by OpenDP's map.
    """

    rho: float
    sensitivity: float
    scale: float

    def half_width(self) -> float:
        """95% half-width of one noisy count."""
        return Z95 * self.scale


def plan_retention(segments: Sequence[str], channels: Sequence[str], rho: float) -> RetentionNoise:
    """The scale that makes the two retention vectors together ``rho``-zCDP.

    Raises:
        PrivacyError: ``rho`` is not a positive finite number.
        ValueError: No segment or no channel.
    """
    if not (math.isfinite(rho) and rho > 0):
        raise PrivacyError("the retention rho must be a positive number")
    if not channels:
        raise ValueError("retention needs at least one channel")
    sensitivity = math.sqrt(memberships_bound(segments) * len(set(channels)))
    scale = certified_scale(math.ceil(sensitivity), rho / 2.0)
    return RetentionNoise(rho=rho, sensitivity=sensitivity, scale=scale)


IntArray = npt.NDArray[np.int64]


def retention_counts(
    members: pa.Table,
    earlier: pa.Table,
    current: pa.Table,
    segments: Sequence[str],
    channels: Sequence[str],
) -> tuple[IntArray, IntArray]:
    """Exact ``earlier`` and ``both`` counts, ``[segment, channel]`` in the given orders.

    Args:
        members: ``panel_household, segment`` (this week's memberships).
        earlier: The earlier week's store (:data:`PANEL_STORE_SCHEMA`).
        current: This week's store.
        segments: Segment codes, the first axis (absent ones count 0).
        channels: Channels, the second axis (others are ignored).
    """
    both = earlier.join(current, keys=["panel_household", "channel"], join_type="inner")
    out: list[IntArray] = []
    seg_at = {s: i for i, s in enumerate(segments)}
    ch_at = {c: i for i, c in enumerate(channels)}
    for weeks in (earlier, both):
        counts = np.zeros((len(segments), len(channels)), dtype=np.int64)
        joined = members.join(weeks, keys="panel_household", join_type="inner")
        grouped = joined.group_by(["segment", "channel"]).aggregate(
            [("panel_household", "count_distinct")]
        )
        for seg, ch, n in zip(
            grouped["segment"].to_pylist(),
            grouped["channel"].to_pylist(),
            grouped["panel_household_count_distinct"].to_pylist(),
            strict=True,
        ):
            if seg in seg_at and ch in ch_at:
                counts[seg_at[seg], ch_at[ch]] = int(n)
        out.append(counts)
    return out[0], out[1]


def release_retention(
    assignments: pa.Table,
    earlier: pa.Table,
    current: pa.Table,
    *,
    secret: bytes,
    panel_id: str,
    segments: Sequence[str],
    channels: Sequence[str],
    earlier_period: tuple[date, date],
    rho: float,
    k: int,
    noise: NoiseFn = discrete_gaussian,
) -> pa.Table:
    """The ``retention`` payload: noisy counts and retention per segment code and channel.

    Args:
        assignments: ``household_id, segment`` of this week (tier rows and
            unseen households are left out; see the module doc).
        earlier: The panel's earlier week (:data:`PANEL_STORE_SCHEMA`).
        current: This week's store (:func:`panel_week`).
        secret: The provider's secret (panel IDs of this week's members).
        panel_id: The panel.
        segments: Every plain segment code the campaign asked for; ``*`` is
            always added. Each is released whether or not anyone matched it.
        channels: The public channel list (the grid's).
        earlier_period: First and last day of the earlier week (public).
        rho: zCDP rho of this retention release.
        k: Cells whose noisy ``earlier`` or ``both`` count is under ``k`` are suppressed.
        noise: Noise source (tests pass a deterministic one).

    Returns:
        :data:`~linkage.tables.RETENTION_SCHEMA` rows, segments sorted, channels in order.
    """
    codes = sorted({ALL_HOUSEHOLDS, *(s for s in segments if TIER_SEPARATOR not in s)})
    channel_list = list(dict.fromkeys(channels))
    plan = plan_retention(codes, channel_list, rho)
    plain = assignments.filter(
        pc.and_(
            pc.is_in(assignments["segment"], pa.array(codes, pa.string())),
            pc.invert(pc.starts_with(assignments["household_id"], UNSEEN_PREFIX)),
        )
    )
    # One household, one row per segment: ``*`` is every assigned household.
    hids = sorted({str(h) for h in plain["household_id"].to_pylist()})
    panel_of = dict(zip(hids, panel_household_ids(secret, panel_id, hids), strict=True))
    members = pa.table(
        {
            "panel_household": pa.array(
                [panel_of[str(h)] for h in plain["household_id"].to_pylist()], pa.string()
            ),
            "segment": plain["segment"].cast(pa.string()),
        }
    )
    members = pa.concat_tables(
        [
            members,
            pa.table(
                {
                    "panel_household": pa.array(list(panel_of.values()), pa.string()),
                    "segment": pa.array([ALL_HOUSEHOLDS] * len(panel_of), pa.string()),
                }
            ),
        ]
    )
    exact_earlier, exact_both = retention_counts(members, earlier, current, codes, channel_list)
    return retention_table(
        codes,
        channel_list,
        exact_earlier,
        exact_both,
        plan=plan,
        k=k,
        earlier_period=earlier_period,
        noise=noise,
    )


def retention_table(
    segments: Sequence[str],
    channels: Sequence[str],
    earlier: IntArray,
    both: IntArray,
    *,
    plan: RetentionNoise,
    k: int,
    earlier_period: tuple[date, date],
    noise: NoiseFn = discrete_gaussian,
) -> pa.Table:
    """Noise the two count arrays once each and build the payload from the noisy values."""
    shape = earlier.shape
    noisy_e = np.asarray(noise([int(x) for x in earlier.ravel()], plan.scale), np.int64)
    noisy_b = np.asarray(noise([int(x) for x in both.ravel()], plan.scale), np.int64)
    noisy_e, noisy_b = noisy_e.reshape(shape), noisy_b.reshape(shape)
    suppressed = (noisy_e < k) | (noisy_b < k)
    # Clamp to what is possible (post-processing): 0 <= both <= earlier.
    e = np.maximum(noisy_e, 0).astype(np.float64)
    b = np.clip(noisy_b, 0, np.maximum(noisy_e, 0)).astype(np.float64)
    safe = np.where(e > 0, e, 1.0)
    retention = np.where(e > 0, 100.0 * b / safe, np.nan)
    var = plan.scale**2 * ((100.0 / safe) ** 2 + (100.0 * b / safe**2) ** 2)
    ci = np.where(e > 0, Z95 * np.sqrt(var), np.nan)
    blank = (suppressed | (e <= 0)).ravel()
    rows = len(segments) * len(channels)
    return pa.table(
        {
            "segment": pa.array([s for s in segments for _ in channels], pa.string()),
            "channel": pa.array(list(channels) * len(segments), pa.string()),
            "earlier_first_day": pa.array([earlier_period[0]] * rows, pa.date32()),
            "earlier_last_day": pa.array([earlier_period[1]] * rows, pa.date32()),
            "earlier_households": pa.array(
                e.ravel().astype(np.int64), pa.int64(), mask=suppressed.ravel()
            ),
            "both_households": pa.array(
                b.ravel().astype(np.int64), pa.int64(), mask=suppressed.ravel()
            ),
            "retention": pa.array(np.nan_to_num(retention.ravel()), pa.float64(), mask=blank),
            "retention_ci": pa.array(np.nan_to_num(ci.ravel()), pa.float64(), mask=blank),
            "suppressed": pa.array(suppressed.ravel(), pa.bool_()),
            "k": pa.array([k] * rows, pa.int64()),
            "rho": pa.array([plan.rho] * rows, pa.float64()),
        },
        schema=RETENTION_SCHEMA,
    )
