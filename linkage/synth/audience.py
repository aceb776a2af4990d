"""True audience counts, credited chunk by chunk as the world is drawn.

The truth viewership (:mod:`linkage.synth.truth`) is what the provider's
aggregation (:func:`linkage.measure.compute_viewership`) gives on the *true*
voter -> household map with nothing suppressed. Running that SQL over a
state's tuning log after the fact costs more than drawing the world, so a
streamed world counts its audience here instead, while each chunk's events
are still in memory, with the same crediting rules:

- each event is cut into quarter-hour pieces (naive local time);
- a household is credited to (channel, date, quarter-hour) when its pieces
  there add up to at least ``credit_minutes``; HUT counts each credited
  (household, date, quarter-hour) once, whatever the channel;
- quarter-hour cells average the credits over the days of their day type;
  ratings divide by the segment's universe, shares by its HUT.

Every count is a sum over households, and households never straddle chunks,
so the counts of the chunks add up to the world's (:meth:`AudienceCounts.plus`)
and workers can count their own chunks. Events of one household never overlap
(:mod:`linkage.synth.viewing` guarantees it, and :func:`count_audience` checks
it), so the sum of a key's pieces is the tuned time the SQL's sweep measures.
Tests compare the result with :func:`~linkage.measure.compute_viewership`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

import numpy as np
import pyarrow as pa

from linkage.errors import InputError
from linkage.measure import DAY_SECONDS, DAY_TYPES, QUARTER_HOUR_SECONDS, QUARTER_HOURS_PER_DAY
from linkage.report import decode_viewership, viewership_csv_table
from linkage.synth._arrays import BoolArray, IntArray
from linkage.tables import ALL_HOUSEHOLDS, VIEWERSHIP_SCHEMA

__all__ = ["AudienceCounts", "count_audience"]


@dataclass(frozen=True)
class AudienceCounts:
    """Credited counts of some households of a world, per segment.

    Slots count quarter-hours from midnight of the world's first day.

    Attributes:
        segments: Segment names, ``*`` (every subscribing household) first.
        universe: Households per segment, shape ``(segments,)``.
        credited: Credited households per (segment, channel, slot).
        hut: Households credited to any channel per (segment, slot).
        first_start: Earliest event start (seconds from the world's start), or -1.
        last_end: Latest event end, or -1 when there are no events.
    """

    segments: tuple[str, ...]
    universe: IntArray
    credited: IntArray
    hut: IntArray
    first_start: int
    last_end: int

    def plus(self, other: AudienceCounts) -> AudienceCounts:
        """The counts of both sets of households (which must be disjoint)."""
        if other.segments != self.segments or other.credited.shape != self.credited.shape:
            raise ValueError("audience counts of different grids")
        starts = [s for s in (self.first_start, other.first_start) if s >= 0]
        return AudienceCounts(
            segments=self.segments,
            universe=self.universe + other.universe,
            credited=self.credited + other.credited,
            hut=self.hut + other.hut,
            first_start=min(starts, default=-1),
            last_end=max(self.last_end, other.last_end),
        )

    def viewership(self, channels: list[str], start: date) -> pa.Table:
        """The truth's ``viewership.csv`` table: every quarter-hour cell, nothing suppressed.

        Args:
            channels: The published channel list (index = the counts' channel axis).
            start: The world's first day (slot 0).

        Raises:
            InputError: There are no events (the period cannot be resolved).
        """
        if self.last_end < 0:
            raise InputError("viewing table has no events", hint="draw a larger world")
        qpd = QUARTER_HOURS_PER_DAY
        # The period resolve_period gives: every date from the first start to the last end.
        first = self.first_start // DAY_SECONDS
        last = max(self.first_start, self.last_end - 1) // DAY_SECONDS
        period = np.arange(first, last + 1)
        weekend = np.array([(start + timedelta(days=int(d))).weekday() >= 5 for d in period])
        day_types = [(i, name) for i, name in enumerate(DAY_TYPES) if (weekend == bool(i)).any()]
        present = [s for s, u in enumerate(self.universe) if u > 0]
        n_ch = len(channels)
        credited = self.credited.reshape(len(self.segments), n_ch, -1, qpd)
        hut = self.hut.reshape(len(self.segments), -1, qpd)
        blocks: list[dict[str, np.ndarray]] = []
        for dti, name in day_types:
            days = period[weekend == bool(dti)]
            n_days = len(days)
            for s in present:
                n = credited[s][:, days, :].sum(axis=1)  # (channel, quarter-hour)
                h = np.broadcast_to(hut[s][days, :].sum(axis=0), n.shape)
                # Same operations, in the same order, as the SQL (_figures_sql): same doubles.
                aqh = n.astype(np.float64) / n_days
                rating = aqh * 100.0 / float(self.universe[s])
                share = np.zeros(n.shape)
                np.divide(n * 100.0, h.astype(np.float64), out=share, where=h > 0)
                blocks.append(
                    {
                        "segment": np.full(n.size, self.segments[s], dtype=object),
                        "channel": np.repeat(np.array(channels, dtype=object), qpd),
                        "day_type": np.full(n.size, name, dtype=object),
                        "quarter_hour": np.tile(np.arange(qpd, dtype=np.int16), n_ch),
                        "universe": np.full(n.size, self.universe[s], dtype=np.int64),
                        "aqh_households": aqh.ravel(),
                        "rating": rating.ravel(),
                        "share": share.ravel(),
                    }
                )
        columns = {k: np.concatenate([b[k] for b in blocks]) for k in blocks[0]}
        rows = len(columns["segment"])
        table = pa.table(
            {
                "grain": pa.array(np.full(rows, "quarter_hour", dtype=object), pa.string()),
                **{k: pa.array(v) for k, v in columns.items()},
                "suppressed": pa.array(np.zeros(rows, dtype=bool)),
            }
        )
        schema = pa.schema([VIEWERSHIP_SCHEMA.field(name) for name in table.column_names])
        cells = table.cast(schema)
        # Keyed by segment name already: decode with the identity mapping ("*" is renamed).
        names = {s for s in self.segments if s != ALL_HOUSEHOLDS}
        return viewership_csv_table(decode_viewership(cells, {n: n for n in names}))


def count_audience(
    hh: IntArray,
    channel: IntArray,
    start_s: IntArray,
    end_s: IntArray,
    members: dict[str, BoolArray],
    n_channels: int,
    days: int,
    credit_minutes: int = 5,
) -> AudienceCounts:
    """Credit a chunk's tuning events to its households' segments.

    Args:
        hh: Subscriber row of each event; events sorted by household, then start.
        channel: Channel index of each event (``< n_channels``).
        start_s: Event start, seconds from midnight of the world's first day.
        end_s: Event end (``> start_s``, at most ``days`` days in).
        members: Segment name -> which subscriber rows belong to it; ``*`` is
            added first (every row).
        n_channels: Channels in the list.
        days: Days in the world.
        credit_minutes: Minutes of tuning in a quarter-hour needed for credit.

    Raises:
        ValueError: Events are out of order or overlap within a household.
    """
    m = len(next(iter(members.values()))) if members else int(hh.max(initial=-1)) + 1
    names = (ALL_HOUSEHOLDS, *members)
    # Households with the same memberships share a pattern: count once per pattern.
    patterns, pid = np.ones((1, len(names)), dtype=bool), np.zeros(m, dtype=np.int64)
    if m:
        member = np.vstack([np.ones(m, dtype=bool), *members.values()])
        patterns, inverse = np.unique(member.T, axis=0, return_inverse=True)
        pid = inverse.ravel().astype(np.int64)
    n_p, n_slots = len(patterns), days * QUARTER_HOURS_PER_DAY
    credited = np.zeros(n_p * n_channels * n_slots, dtype=np.int64)
    hut = np.zeros(n_p * n_slots, dtype=np.int64)
    if len(hh):
        same = hh[1:] == hh[:-1]
        if (hh[1:] < hh[:-1]).any() or (same & (start_s[1:] < end_s[:-1])).any():
            raise ValueError("events must be sorted by household and never overlap within one")
    # A quarter-hour strictly inside an event is the household's whole quarter-hour:
    # credited once, and its only HUT credit. Count those runs with difference arrays.
    qs = QUARTER_HOUR_SECONDS
    first, last = start_s // qs, (end_s - 1) // qs
    inner = np.flatnonzero(last - first >= 2)
    p_in, row = pid[hh[inner]], (pid[hh[inner]] * n_channels + channel[inner]) * n_slots
    for sign, at in ((1, first[inner] + 1), (-1, last[inner])):
        credited += sign * np.bincount(row + at, minlength=len(credited))
        hut += sign * np.bincount(p_in * n_slots + at, minlength=len(hut))
    credited = np.cumsum(credited.reshape(-1, n_slots), axis=1).ravel()
    hut = np.cumsum(hut.reshape(-1, n_slots), axis=1).ravel()
    # The first and last quarter-hour of each event may share it with other events.
    p_hh, p_ch, p_slot = _credited_ends(hh, channel, start_s, end_s, first, last, credit_minutes)
    p = pid[p_hh]
    credited += np.bincount((p * n_channels + p_ch) * n_slots + p_slot, minlength=len(credited))
    # Credited ends are in (household, slot) order: the first of each run is one HUT.
    key = p_hh * n_slots + p_slot
    new = np.ones(len(key), dtype=bool)
    new[1:] = key[1:] != key[:-1]
    hut += np.bincount(p[new] * n_slots + p_slot[new], minlength=len(hut))
    # Pattern counts to segment counts: each segment sums the patterns it contains.
    inside = patterns.T.astype(np.int64)  # (segments, patterns)
    return AudienceCounts(
        segments=names,
        universe=inside @ np.bincount(pid, minlength=n_p),
        credited=inside @ credited.reshape(n_p, -1),
        hut=inside @ hut.reshape(n_p, -1),
        first_start=int(start_s.min()) if len(start_s) else -1,
        last_end=int(end_s.max()) if len(end_s) else -1,
    )


def _credited_ends(
    hh: IntArray,
    channel: IntArray,
    start_s: IntArray,
    end_s: IntArray,
    first: IntArray,
    last: IntArray,
    credit_minutes: int,
) -> tuple[IntArray, IntArray, IntArray]:
    """(household, channel, slot) of the credited first and last quarter-hours of events.

    Each once, in (household, slot) order.
    """
    qs = QUARTER_HOUR_SECONDS
    two = (last > first).astype(np.int64)
    ev = np.repeat(np.arange(len(hh)), 1 + two)
    is_last = np.zeros(len(ev), dtype=bool)
    is_last[1:] = ev[1:] == ev[:-1]
    slot = np.where(is_last, last[ev], first[ev])
    seconds = np.minimum(end_s[ev], (slot + 1) * qs) - np.maximum(start_s[ev], slot * qs)
    p_hh, p_ch = hh[ev], channel[ev]
    del ev, is_last
    n_slots = int(slot.max(initial=0)) + 1
    # Pieces of one (household, slot) are adjacent, and only a few: at most one per
    # event there, and events last at least a few minutes. Pieces on the same channel
    # (A, B, A within a quarter-hour) add up; only the first of them may be credited.
    run = p_hh * n_slots + slot
    key = run * (int(channel.max(initial=0)) + 1) + p_ch
    total = seconds.copy()
    later = np.zeros(len(key), dtype=bool)
    d = 1
    while d < len(run) and (run[d:] == run[:-d]).any():
        match = key[d:] == key[:-d]
        total[d:] += np.where(match, seconds[:-d], 0)
        total[:-d] += np.where(match, seconds[d:], 0)
        later[d:] |= match
        d += 1
    keep = ~later & (total >= credit_minutes * 60)
    return p_hh[keep], p_ch[keep], slot[keep]
