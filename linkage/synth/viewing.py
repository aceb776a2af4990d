"""The synthetic tuning log: when each subscribing household watches, and what.

A household's taste is a mixture over audience components (general, Spanish,
news left/right, sports, kids...) weighted by its members' ethnicity, age,
party and sex, plus three favourite channels. Daily hours are heavy-tailed
(a real share of light viewers); sessions start by an hourly curve and run
as back-to-back events (channel switches). Events of one household never
overlap, and the channel of each is drawn from the taste mixture re-weighted
for its daypart and day type, among the channels the household's TV market
carries (:mod:`linkage.synth.markets`, which also shifts tastes per market).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import numpy as np
import pyarrow as pa

from linkage.measure import DAY_SECONDS, DAYPARTS
from linkage.synth._arrays import BoolArray, FloatArray, IntArray
from linkage.synth.markets import MarketGrid, load_market_grid
from linkage.synth.population import Households, People
from linkage.synth.reference import BLACK, COMPONENTS, FAVORITES, HISPANIC, Reference
from linkage.synth.schemas import VIEWING_SCHEMA
from linkage.synth.subscribers import Subscribers

__all__ = ["Tuning", "draw_viewing"]


_MIN_EVENT_S = 5 * 60
_MAX_EVENT_S = 120 * 60

# Hourly weights for the start of a viewing session (weekday, weekend).
_SESSION_START_HOURLY = np.array(
    [
        [1.2, 0.5, 0.25, 0.2, 0.25, 0.8, 2.6, 3.2, 2.4, 1.8, 1.6, 1.6, 2.0, 1.8, 1.8, 2.2, 2.8,
         3.6, 4.6, 5.8, 7.0, 5.6, 3.6, 2.0],
        [1.6, 0.8, 0.35, 0.2, 0.2, 0.3, 0.8, 1.6, 2.6, 3.2, 3.4, 3.4, 3.6, 3.8, 3.8, 3.8, 3.9,
         4.2, 4.8, 5.6, 6.6, 5.6, 3.8, 2.4],
    ]
)  # fmt: skip

_N_FAVORITES = 3
# Component weight multipliers per daypart (rows follow DAYPARTS order), weekday then weekend.
_DP_FACTOR_WEEKDAY = np.array(
    [
        # gen  spa  blk  nwr  nwl  yng  spo  kid  lif  old  fav
        [1.0, 1.0, 0.6, 2.6, 2.6, 0.4, 0.5, 1.8, 0.8, 1.2, 1.0],  # early_morning
        [1.0, 1.0, 0.8, 1.3, 1.3, 0.6, 0.6, 1.6, 1.4, 1.4, 1.0],  # daytime
        [1.0, 1.0, 1.0, 1.5, 1.5, 0.8, 0.8, 1.4, 1.2, 1.2, 1.0],  # early_fringe
        [1.0, 1.2, 1.0, 1.3, 1.3, 1.0, 1.2, 0.8, 1.0, 1.0, 1.0],  # prime_access
        [1.0, 1.3, 1.2, 0.9, 0.9, 1.1, 1.4, 0.3, 1.0, 0.9, 1.0],  # prime
        [1.0, 1.0, 1.0, 2.0, 2.0, 1.3, 1.2, 0.1, 0.8, 0.9, 1.0],  # late_news
        [1.0, 0.8, 1.1, 1.0, 1.0, 1.6, 1.2, 0.05, 0.7, 0.5, 1.0],  # late_fringe
        [1.0, 0.6, 1.0, 0.8, 0.8, 1.5, 0.6, 0.05, 0.8, 0.5, 1.0],  # overnight
    ]
)
_DP_FACTOR = np.stack([_DP_FACTOR_WEEKDAY, _DP_FACTOR_WEEKDAY.copy()])
_DP_FACTOR[1, :3, 6] *= 2.2  # weekend daytime sports
_DP_FACTOR[1, :2, 7] *= 1.5  # Saturday-morning cartoons
_DP_FACTOR[1, 0, 3:5] *= 0.6  # no weekday-style morning news


@dataclass(frozen=True)
class Tuning:
    """Tuning events in window seconds, as the rate card needs them, and as a table."""

    hh: IntArray  # subscriber row per event
    channel: IntArray
    start_s: IntArray  # seconds from the start of the window
    end_s: IntArray
    light: BoolArray  # per subscriber row: under 2 h/day on average
    market: IntArray  # per subscriber row: index into Reference.market_codes
    table: pa.Table


def _quarter_hour_cdf(hourly: FloatArray) -> FloatArray:
    qh = np.repeat(hourly, 4) * (1.0 + 0.05 * np.tile(np.arange(4) - 1.5, 24))
    cdf: FloatArray = np.cumsum(qh) / qh.sum()
    return cdf


def _qh_daypart() -> IntArray:
    out = np.full(96, -1, dtype=np.int64)
    for i, dp in enumerate(DAYPARTS):
        out[list(dp.quarter_hours())] = i
    return out


def draw_viewing(
    rng: np.random.Generator,
    hh: Households,
    people: People,
    subs: Subscribers,
    ref: Reference,
    days: int,
    start: date,
    market: IntArray,
) -> Tuning:
    """The subscribing households' tuning events over ``days`` from ``start``.

    ``market`` is each subscriber row's market: a household watches only what
    its market carries, with its market's taste multipliers.
    """
    grid = load_market_grid()
    m = len(subs.hh)
    k = len(COMPONENTS)
    size = hh.size[subs.hh].astype(np.float64)

    def hh_mean(values: FloatArray) -> FloatArray:
        total = np.bincount(people.hh, weights=values, minlength=hh.n)
        return (total[subs.hh]) / size

    age = hh_mean(people.age)
    r_share = hh_mean((people.party == 1).astype(np.float64))
    d_share = hh_mean((people.party == 0).astype(np.float64))
    i_share = 1.0 - r_share - d_share
    female = hh_mean(people.sex.astype(np.float64))
    pers = hh_mean(people.persuasion.astype(np.float64)) / 100.0
    turnout = hh_mean(people.turnout.astype(np.float64)) / 100.0
    eth = hh.ethnicity[subs.hh]
    primary_age = people.age[hh.offset[subs.hh]]
    kids = rng.random(m) < np.where((primary_age > 25) & (primary_age < 50), 0.4, 0.07)

    # Household taste: mixture weights over the audience components.
    mix = np.zeros((m, k))
    het = rng.gamma(2.0, 0.5, (m, k))
    older = np.clip((age - 25.0) / 40.0, 0.05, 1.5) * (0.5 + turnout)
    mix[:, 0] = 1.0
    mix[:, 1] = np.where(eth == HISPANIC, 2.2, 0.01)
    mix[:, 2] = np.where(eth == BLACK, 1.1, 0.04)
    mix[:, 3] = older * (r_share + 0.3 * i_share) * 0.9
    mix[:, 4] = older * (d_share + 0.3 * i_share) * 0.9
    mix[:, 5] = np.clip((60.0 - age) / 30.0, 0.0, 1.3) + 0.5 * pers
    mix[:, 6] = 0.2 + 0.6 * (1.0 - female) + 0.9 * pers
    mix[:, 7] = np.where(kids, 0.8, 0.0)
    mix[:, 8] = 0.3 + 0.7 * female
    mix[:, 9] = np.clip((age - 50.0) / 25.0, 0.0, 1.2)
    mix[:, 10] = 0.9
    mix *= het * grid.taste[market]
    prime = [dp.name for dp in DAYPARTS].index("prime")
    favorites = _sample_channels(
        rng,
        np.repeat(np.arange(m), _N_FAVORITES),
        np.full(m * _N_FAVORITES, prime),
        mix,
        None,
        market,
        grid,
    ).reshape(m, _N_FAVORITES)

    # Heavy-tailed intensity: a real share of households are light viewers.
    hours = np.minimum(rng.lognormal(np.log(3.4) + 0.012 * (age - 50.0), 0.95), 15.0)
    weekday0 = start.weekday()
    weekend_day = ((weekday0 + np.arange(days)) % 7) >= 5
    hd_hh = np.repeat(np.arange(m), days)
    hd_day = np.tile(np.arange(days), m)
    day_mult = rng.gamma(3.0, 1.0 / 3.0, m * days) * np.where(weekend_day[hd_day], 1.12, 1.0)
    mean_event_min = 50.0
    n_ev = rng.poisson(hours[hd_hh] * day_mult * 60.0 / mean_event_min)
    ev_hh = np.repeat(hd_hh, n_ev)
    ev_day = np.repeat(hd_day, n_ev)
    e = len(ev_hh)
    pos = np.arange(e) - np.repeat(np.cumsum(n_ev) - n_ev, n_ev)

    # Sessions: a run of back-to-back events (channel switches) from one start time.
    first = (pos == 0) | (rng.random(e) >= 0.55)
    sess = np.cumsum(first) - 1
    sess_day = ev_day[first]
    sess_qh = np.zeros(len(sess_day), dtype=np.int64)
    for wk in (0, 1):
        sel = np.flatnonzero(weekend_day[sess_day] == bool(wk))
        cdf = _quarter_hour_cdf(_SESSION_START_HOURLY[wk])
        sess_qh[sel] = np.minimum(np.searchsorted(cdf, rng.random(len(sel)), side="right"), 95)
    sess_start = sess_day * DAY_SECONDS + sess_qh * 900 + rng.integers(0, 900, len(sess_day))

    short = rng.random(e) < 0.2
    dur_min = np.where(short, rng.uniform(5.0, 15.0, e), rng.lognormal(np.log(55.0), 0.6, e))
    dur = np.clip(np.rint(dur_min * 60.0), _MIN_EVENT_S, _MAX_EVENT_S).astype(np.int64)
    before = np.cumsum(dur) - dur
    start_s = sess_start[sess] + before - before[first][sess]
    end_s = start_s + dur

    # One channel at a time: clip each event to start after every earlier one ended.
    # Events are grouped by household already; one int64 key orders them in time within it.
    big = int(end_s.max()) + 1 if e else 1
    order = np.argsort(ev_hh * big + start_s)
    ev_hh, start_s, end_s = ev_hh[order], start_s[order], end_s[order]
    key_end = ev_hh * big + end_s
    prev_end = np.empty(e, dtype=np.int64)
    if e:
        prev_end[0] = -1
        prev_end[1:] = np.maximum.accumulate(key_end)[:-1]
    start_s = np.maximum(ev_hh * big + start_s, prev_end) - ev_hh * big
    window = days * DAY_SECONDS
    end_s = np.minimum(end_s, window)
    keep = (end_s - start_s >= _MIN_EVENT_S) & (start_s < window)
    ev_hh, start_s, end_s = ev_hh[keep], start_s[keep], end_s[keep]

    qh_dp = _qh_daypart()
    slot = (
        weekend_day[start_s // DAY_SECONDS] * len(DAYPARTS) + qh_dp[(start_s % DAY_SECONDS) // 900]
    )
    channel = _sample_channels(rng, ev_hh, slot, mix, favorites, market, grid)
    # A switch to the same channel is not a switch: draw once more.
    same = np.zeros(len(channel), dtype=bool)
    if len(channel) > 1:
        same[1:] = (
            (ev_hh[1:] == ev_hh[:-1]) & (start_s[1:] == end_s[:-1]) & (channel[1:] == channel[:-1])
        )
    if same.any():
        idx = np.flatnonzero(same)
        channel[idx] = _sample_channels(rng, ev_hh[idx], slot[idx], mix, favorites, market, grid)

    watched = np.bincount(ev_hh, weights=end_s - start_s, minlength=m)
    light = watched / days < 2 * 3600

    epoch = (start - date(1970, 1, 1)).days * DAY_SECONDS
    table = pa.table(
        {
            "household_id": subs.household_id.take(pa.array(ev_hh)),
            "channel": ref.channel_codes.take(pa.array(channel)),
            "start": pa.array(start_s + epoch, pa.int64()).cast(pa.timestamp("s")),
            "end": pa.array(end_s + epoch, pa.int64()).cast(pa.timestamp("s")),
        },
        schema=VIEWING_SCHEMA,
    )
    return Tuning(
        hh=ev_hh,
        channel=channel,
        start_s=start_s,
        end_s=end_s,
        light=light,
        market=market,
        table=table,
    )


def _sample_channels(
    rng: np.random.Generator,
    ev_hh: IntArray,
    slot: IntArray,
    mix: FloatArray,
    favorites: IntArray | None,
    market: IntArray,
    grid: MarketGrid,
) -> IntArray:
    """Channel per event: pick a taste component, then a channel within it (inverse CDF).

    Args:
        rng: Random stream.
        ev_hh: Subscriber row of each event.
        slot: ``day_type * len(DAYPARTS) + daypart`` of each event.
        mix: Household taste weights over ``COMPONENTS`` (market tastes applied).
        favorites: Each household's favourite channels; None leaves that component out.
        market: Market index of each subscriber row.
        grid: Per-market channel distributions (only carried channels have weight).
    """
    n = len(ev_hh)
    k = mix.shape[1] if favorites is not None else FAVORITES
    # Column-wise 1-D gathers are far faster than gathering (events x components) rows.
    mix_t = np.ascontiguousarray(mix.T)
    factor_t = np.ascontiguousarray(_DP_FACTOR.reshape(-1, _DP_FACTOR.shape[2]).T)

    def weight(c: int) -> FloatArray:
        w: FloatArray = mix_t[c][ev_hh] * factor_t[c][slot]
        return w

    total = np.zeros(n)
    for c in range(k):
        total += weight(c)
    target = rng.random(n) * total
    comp = np.zeros(n, dtype=np.int64)
    acc = np.zeros(n)
    for c in range(k):
        acc += weight(c)
        comp += acc < target  # ends as the first component whose cumulative weight passes
    comp = np.minimum(comp, k - 1)
    # One inverse-CDF draw over every (market, component) row at once.
    channel = grid.pick(market[ev_hh] * len(COMPONENTS) + comp, rng.random(n))
    if favorites is not None:
        fav = np.flatnonzero(comp == FAVORITES)
        channel[fav] = favorites[ev_hh[fav], rng.integers(0, favorites.shape[1], len(fav))]
    return channel
