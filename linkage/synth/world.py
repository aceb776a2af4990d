"""The synthetic world: a reproducible Ohio-like exchange with its ground truth.

:func:`generate_world` builds the campaign's voter file (and its weekly
refreshes when the world spans more than a week), the operator's subscriber
file, tuning log and each household's TV market, the channel list and each
market's line-up, a rate card per market and segment rules, plus the truth no
party sees (which voters live in which subscribing household), so that linkage
quality and end-to-end rating error can be measured. :class:`WorldStream`
builds the same world chunk by chunk, in memory bounded by the chunk size, in
as many worker processes as it is given, and counts the truth's audience
(:mod:`linkage.synth.audience`) on the way.

Each builder draws from its own seeded stream, in a fixed order (households,
people, voter file, subscribers, viewing, rate card, weekly refresh): the same
arguments always give the same tables, byte for byte. Everything is vectorised
numpy / Arrow compute; Python loops run only over distinct values or over the
few corrupted records.

The package is pure: it returns tables and text; ``narwhal synth`` writes them.
"""

from __future__ import annotations

import multiprocessing
import signal
from collections import deque
from collections.abc import Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from functools import lru_cache
from typing import Final

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from linkage.encode import SegmentSet, column_kinds, evaluate, load_segments
from linkage.errors import InputError
from linkage.measure import DAYPARTS
from linkage.synth._arrays import BoolArray, FloatArray
from linkage.synth.audience import AudienceCounts, count_audience
from linkage.synth.markets import (
    lineups_table,
    load_market_grid,
    markets_table,
    subscriber_markets,
)
from linkage.synth.population import (
    Households,
    People,
    draw_households,
    draw_people,
    voter_table,
)
from linkage.synth.ratecard import (
    market_subscribers,
    ratecard,
    ratecard_prices,
    ratecard_seconds,
)
from linkage.synth.reference import Reference, load_reference
from linkage.synth.refresh import refresh_weeks
from linkage.synth.schemas import CHANNELS_SCHEMA, VOTERS_SCHEMA
from linkage.synth.subscribers import Subscribers, draw_subscribers, voter_household
from linkage.synth.viewing import Tuning, draw_viewing

__all__ = [
    "DEFAULT_CHUNK_VOTERS",
    "SEGMENTS_TOML",
    "WORLD_START",
    "World",
    "WorldChunk",
    "WorldStream",
    "generate_world",
    "world_period",
    "world_weeks",
]


SEGMENTS_TOML = """\
# Segment rules for the synthetic world (format: docs/ARCHITECTURE.md, "Segment rules").

[segments.persuadable]
description = "Movable voters: high persuasion score and middling support"
rule = "persuasion_score >= 70 and 35 <= support_score <= 65"

[segments.turnout_target]
description = "Likely supporters who may stay home: high support, middling turnout"
rule = "support_score >= 70 and 25 <= turnout_score <= 55"

[segments.latino]
description = "Voters modelled as Hispanic or Latino"
rule = "ethnicity == 'hispanic'"

[segments.african_american]
description = "Voters modelled as Black or African American"
rule = "ethnicity == 'black'"
"""


WORLD_START: Final = date(2026, 10, 5)
"""First viewing day of a synthetic world (a Monday)."""


def world_period(days: int, start: date = WORLD_START) -> str:
    """A world's public reporting period as ``provider aggregate --period`` takes it."""
    last = start + timedelta(days=days - 1)
    return f"{start.isoformat()}..{last.isoformat()}"


def world_weeks(days: int, start: date = WORLD_START) -> list[str]:
    """Each reporting week's period, ``FIRST..LAST``: 7-day blocks from ``start``.

    A world whose length is not a whole number of weeks ends with a shorter week.
    """
    return [
        world_period(min(7, days - offset), start + timedelta(days=offset))
        for offset in range(0, days, 7)
    ]


def _week_starts(days: int, start: date) -> list[date]:
    return [start + timedelta(days=offset) for offset in range(0, days, 7)]


@dataclass(frozen=True)
class World:
    """A complete synthetic world; ``narwhal synth`` writes it to disk.

    Attributes:
        voters: Campaign voter file of the first week (``VOTERS_SCHEMA``).
        subscribers: Operator subscriber file, corrupted (``SUBSCRIBERS_SCHEMA``).
        viewing: Set-top-box tuning events (``VIEWING_SCHEMA``).
        channels: The channel list (``CHANNELS_SCHEMA``).
        ratecard: Spot prices per market, channel and daypart (``RATECARD_SCHEMA``).
        voter_household: Truth: voter -> subscribing household, for the voters of
            every week's file (``VOTER_HOUSEHOLD_SCHEMA``).
        segments_toml: Segment rules for the campaign (TOML text).
        markets: Each subscriber household's market (``MARKETS_SCHEMA``).
        lineups: The channels each market carries (``LINEUPS_SCHEMA``).
        weekly_voters: The voter file refreshed for week 2, week 3, ...
            (``VOTERS_SCHEMA``; empty for a world of one week).
    """

    voters: pa.Table
    subscribers: pa.Table
    viewing: pa.Table
    channels: pa.Table
    ratecard: pa.Table
    voter_household: pa.Table
    segments_toml: str
    markets: pa.Table
    lineups: pa.Table
    weekly_voters: tuple[pa.Table, ...]


def generate_world(
    voters: int = 50_000,
    days: int = 7,
    seed: int = 0,
    start: date = WORLD_START,
) -> World:
    """Build a synthetic world.

    Args:
        voters: Number of registered voters (>= 1).
        days: Days of viewing (>= 1), starting at ``start`` 00:00 local time.
        seed: Seed; the same arguments always give the same tables.
        start: First viewing day.

    Returns:
        The world's tables and segment rules.

    Raises:
        InputError: ``voters`` or ``days`` is out of range.
    """
    start = _check_args(voters, days, start)
    voters, days = int(voters), int(days)
    ref = load_reference()
    streams = _streams(seed, 0)
    chunk, tuning, subs, _ = _chunk(streams, voters, days, start, ref, (0, 1))
    grid = load_market_grid()
    return World(
        voters=chunk.voters,
        subscribers=chunk.subscribers,
        viewing=chunk.viewing,
        channels=_channels_table(ref),
        ratecard=ratecard(streams[5], tuning, subs, ref, grid, days),
        voter_household=chunk.voter_household,
        segments_toml=SEGMENTS_TOML,
        markets=chunk.markets,
        lineups=lineups_table(ref, grid),
        weekly_voters=chunk.weekly_voters,
    )


def _check_args(voters: object, days: object, start: object) -> date:
    for name, value in (("voters", voters), ("days", days)):
        if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 1:
            raise InputError(f"{name} must be an integer >= 1", hint="pass a positive whole number")
    if not isinstance(start, date):
        raise InputError("start must be a date")
    return start.date() if isinstance(start, datetime) else start


def _streams(seed: int, chunk: int) -> list[np.random.Generator]:
    # Chunk 0 uses exactly generate_world's streams, so a one-chunk stream is the same world.
    sequence = np.random.SeedSequence(seed if chunk == 0 else [seed, chunk])
    # spawn(n)'s children do not depend on n: a new last stream leaves the others as they were.
    return [np.random.default_rng(s) for s in sequence.spawn(7)]


def _channels_table(ref: Reference) -> pa.Table:
    return pa.table(
        {
            "channel": ref.channel_codes,
            "name": ref.channel_names,
            "genre": ref.channel_genres,
            "language": ref.channel_languages,
        },
        schema=CHANNELS_SCHEMA,
    )


@dataclass(frozen=True)
class WorldChunk:
    """The per-household tables of one chunk of a streamed world.

    Households never straddle chunks, and identifiers (voter, household, account)
    come from disjoint ranges, so chunks concatenate into one valid world:
    ``voters`` and ``voter_household`` stay sorted by ``voter_id`` across chunks.

    Attributes:
        voters: Voter rows of this chunk, first week (``VOTERS_SCHEMA``).
        subscribers: Subscriber rows (``SUBSCRIBERS_SCHEMA``).
        viewing: Tuning events of this chunk's subscribers (``VIEWING_SCHEMA``).
        voter_household: Truth rows for the voters of every week (``VOTER_HOUSEHOLD_SCHEMA``).
        markets: Each subscriber household's market (``MARKETS_SCHEMA``).
        weekly_voters: Voter rows of week 2, week 3, ... (``VOTERS_SCHEMA``).
    """

    voters: pa.Table
    subscribers: pa.Table
    viewing: pa.Table
    voter_household: pa.Table
    markets: pa.Table
    weekly_voters: tuple[pa.Table, ...]


def _chunk(
    streams: list[np.random.Generator],
    voters: int,
    days: int,
    start: date,
    ref: Reference,
    part: tuple[int, int],
) -> tuple[WorldChunk, Tuning, Subscribers, dict[str, BoolArray]]:
    """One chunk, its events and subscribers, and which subscriber rows each segment holds."""
    # One stream per builder, in this order: the order of draws is the world.
    hh = draw_households(streams[0], voters, ref)
    people = draw_people(streams[1], hh, ref, start)
    voter_file, voter_id = voter_table(streams[2], hh, people, ref, part)
    subs = draw_subscribers(streams[3], hh, people, ref, part)
    market = subscriber_markets(hh, subs, ref)
    tuning = draw_viewing(streams[4], hh, people, subs, ref, days, start, market)
    starts = _week_starts(days, start)
    weekly = refresh_weeks(
        streams[6],
        voter_file,
        voter_household(hh, people, subs, voter_id),
        len(starts),
        starts,
        part,
    )
    chunk = WorldChunk(
        voters=voter_file,
        subscribers=subs.table,
        viewing=tuning.table,
        voter_household=weekly.voter_household,
        markets=markets_table(subs, market, ref),
        weekly_voters=weekly.weeks,
    )
    return chunk, tuning, subs, _subscriber_segments(voter_file, voter_id, hh, people, subs)


@lru_cache(maxsize=1)
def _segment_rules() -> SegmentSet:
    return load_segments(SEGMENTS_TOML, columns=column_kinds(VOTERS_SCHEMA), file="segments.toml")


def _subscriber_segments(
    voter_file: pa.Table, voter_id: pa.Array, hh: Households, people: People, subs: Subscribers
) -> dict[str, BoolArray]:
    """Segment -> which subscriber rows hold at least one of its voters (the true map)."""
    masks = evaluate(_segment_rules(), voter_file)
    # The voter file is sorted by voter_id: its row r is person order[r].
    order = np.asarray(pc.sort_indices(voter_id), dtype=np.int64)
    out: dict[str, BoolArray] = {}
    for name, mask in masks.items():
        person = np.zeros(len(order), dtype=np.float64)
        person[order] = mask
        out[name] = (np.bincount(people.hh, weights=person, minlength=hh.n) > 0)[subs.hh]
    return out


@dataclass(frozen=True)
class _Built:
    """A chunk and the totals the stream adds up over chunks (what a worker sends back)."""

    chunk: WorldChunk
    seconds: FloatArray
    light_seconds: FloatArray
    subscribers: FloatArray  # per market
    audience: AudienceCounts


def _build_chunk(seed: int, index: int, parts: int, voters: int, days: int, start: date) -> _Built:
    """Chunk ``index`` of ``parts``: a function of its arguments only, so any process may run it."""
    ref = load_reference()
    streams = _streams(seed, index)
    chunk, tuning, _, members = _chunk(streams, voters, days, start, ref, (index, parts))
    counts = count_audience(
        tuning.hh,
        tuning.channel,
        tuning.start_s,
        tuning.end_s,
        members,
        len(ref.channel_codes),
        days,
    )
    seconds, light = ratecard_seconds(tuning, ref)
    return _Built(chunk, seconds, light, market_subscribers(tuning.market, ref), counts)


def _ignore_interrupt() -> None:
    """Worker initializer: Ctrl-C is the parent's to handle (it stops the pool)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)


DEFAULT_CHUNK_VOTERS = 250_000
"""Voters per chunk of a :class:`WorldStream` (about 0.7 GB peak with 7 days of viewing)."""


class WorldStream:
    """A synthetic world generated chunk by chunk, in memory bounded by the chunk size.

    Iterate :meth:`chunks` once, writing each chunk out; then :meth:`ratecard`
    gives the rate card priced from the whole world's viewing, and
    :meth:`truth_viewership` the truth's viewership table. Each chunk of
    ``chunk_voters`` voters has its own households and its own seeded streams,
    so the world depends only on the arguments, never on how it is consumed
    or on how many ``workers`` draw it.

    With ``voters <= chunk_voters`` there is one chunk, and the tables are
    exactly :func:`generate_world`'s for the same arguments. Larger worlds are
    a different (equally valid) draw: identifiers come from one slice of their
    range per chunk, and addresses are unique within a chunk only, so a few
    households in different chunks may share an address line.

    Attributes:
        voters: Registered voters in the whole world.
        days: Days of viewing.
        seed: Seed of every stream.
        start: First viewing day.
        chunk_voters: Voters per chunk (the last chunk holds the remainder).
        workers: Processes drawing chunks; 1 draws them in this process.
        channels: The channel list (``CHANNELS_SCHEMA``).
        segments_toml: Segment rules for the campaign (TOML text).
        lineups: The channels each market carries (``LINEUPS_SCHEMA``).
    """

    def __init__(
        self,
        voters: int = 50_000,
        days: int = 7,
        seed: int = 0,
        start: date = WORLD_START,
        chunk_voters: int = DEFAULT_CHUNK_VOTERS,
        workers: int = 1,
    ) -> None:
        """Validate the arguments; nothing is generated until :meth:`chunks` runs.

        Raises:
            InputError: ``voters``, ``days``, ``chunk_voters`` or ``workers`` is out of range.
        """
        self.start = _check_args(voters, days, start)
        for name, value in (("chunk_voters", chunk_voters), ("workers", workers)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise InputError(f"{name} must be an integer >= 1")
        self.voters, self.days, self.seed = int(voters), int(days), int(seed)
        self.chunk_voters, self.workers = chunk_voters, workers
        self._ref = load_reference()
        self.channels = _channels_table(self._ref)
        self.segments_toml = SEGMENTS_TOML
        self._grid = load_market_grid()
        self.lineups = lineups_table(self._ref, self._grid)
        self._seconds: FloatArray | None = None
        self._light_seconds: FloatArray | None = None
        self._subscribers = np.zeros(len(self._ref.market_codes))
        self._audience: AudienceCounts | None = None

    @property
    def n_chunks(self) -> int:
        """How many chunks :meth:`chunks` yields."""
        return -(-self.voters // self.chunk_voters)

    def _jobs(self) -> Iterator[tuple[int, int, int, int, int, date]]:
        k = self.n_chunks
        for i in range(k):
            n = min(self.chunk_voters, self.voters - i * self.chunk_voters)
            yield self.seed, i, k, n, self.days, self.start

    def _built(self) -> Iterator[_Built]:
        """Each chunk in order, drawn here or by a pool of spawned workers."""
        if self.workers == 1 or self.n_chunks == 1:
            yield from (_build_chunk(*job) for job in self._jobs())
            return
        # Spawned, not forked: this process may hold threads (Arrow's pool, DuckDB).
        pool = ProcessPoolExecutor(
            max_workers=self.workers,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_ignore_interrupt,
        )
        pending: deque[Future[_Built]] = deque()
        try:
            for job in self._jobs():
                pending.append(pool.submit(_build_chunk, *job))
                # In order, with one chunk queued beyond the running ones: bounded memory.
                if len(pending) > self.workers:
                    yield pending.popleft().result()
            while pending:
                yield pending.popleft().result()
        except BaseException:
            pool.shutdown(wait=False, cancel_futures=True)
            raise
        pool.shutdown(wait=True)

    def chunks(self) -> Iterator[WorldChunk]:
        """Generate the chunks in order, totalling the rate card and the truth on the way."""
        n_mk, n_ch, n_dp = len(self._ref.market_codes), len(self._ref.channel_codes), len(DAYPARTS)
        seconds, light_seconds = np.zeros(n_mk * n_ch * n_dp), np.zeros(n_ch)
        subscribers = np.zeros(n_mk)
        audience: AudienceCounts | None = None
        for built in self._built():
            # Added in chunk order, so the float totals never depend on the workers.
            seconds += built.seconds
            light_seconds += built.light_seconds
            subscribers += built.subscribers
            audience = built.audience if audience is None else audience.plus(built.audience)
            chunk = built.chunk
            del built
            yield chunk
        self._seconds, self._light_seconds = seconds, light_seconds
        self._subscribers = subscribers
        self._audience = audience

    def ratecard(self) -> pa.Table:
        """Spot prices per market from the whole world's viewing (``RATECARD_SCHEMA``).

        Raises:
            InputError: :meth:`chunks` has not been run to the end yet.
        """
        if self._seconds is None or self._light_seconds is None:
            raise InputError("the rate card needs every chunk", hint="iterate chunks() first")
        rng = _streams(self.seed, 0)[5]
        return ratecard_prices(
            rng,
            self._seconds,
            self._light_seconds,
            self._subscribers,
            self._ref,
            self._grid,
            self.days,
        )

    def truth_viewership(self) -> pa.Table:
        """The truth's ``viewership.csv`` table, counted while the chunks were drawn.

        Equal to :func:`~linkage.synth.truth_viewership_of` on the whole world's
        true assignments and viewing, without reading the viewing again.

        Raises:
            InputError: :meth:`chunks` has not been run to the end yet, or the
                world has no viewing at all.
        """
        if self._audience is None:
            raise InputError("the truth needs every chunk", hint="iterate chunks() first")
        return self._audience.viewership(self.channels["channel"].to_pylist(), self.start)
