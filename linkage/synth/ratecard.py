"""The synthetic rate card: what a spot costs in each market, on each channel, in each daypart.

Spot TV is bought per market (DMA), so there is one row per (market, channel,
daypart) for the channels the market carries. Prices follow the expected
audience: the market's rating in the sample (shrunk towards the statewide
rating, as a small market's sample is thin) times the whole DMA's TV
households, at a CPM by genre (Spanish-language a little cheaper), discounted
on channels whose audience leans to light viewers, with some noise. The
audience is a sum of tuned seconds over events, so a streamed world totals it
chunk by chunk (:func:`ratecard_seconds`) and prices once at the end
(:func:`ratecard_prices`).
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from linkage.measure import DAY_SECONDS, DAYPARTS
from linkage.synth._arrays import FloatArray, IntArray, take
from linkage.synth.markets import MarketGrid
from linkage.synth.reference import Reference
from linkage.synth.schemas import RATECARD_SCHEMA
from linkage.synth.subscribers import Subscribers
from linkage.synth.viewing import Tuning

__all__ = ["market_subscribers", "ratecard", "ratecard_prices", "ratecard_seconds"]


# A market's sample rating counts as much as this many households' worth of the state's.
_SHRINK_HOUSEHOLDS = 500.0

_GENRE_CPM = {
    "broadcast": 34.0,
    "news": 28.0,
    "sports": 32.0,
    "entertainment": 22.0,
    "lifestyle": 20.0,
    "documentary": 20.0,
    "kids": 14.0,
    "streaming": 14.0,
}
_GENRE_SPOTS_PER_HOUR = {"broadcast": 1.0, "news": 2.0, "sports": 2.0, "kids": 1.5}


def ratecard(
    rng: np.random.Generator,
    tuning: Tuning,
    subs: Subscribers,
    ref: Reference,
    grid: MarketGrid,
    days: int,
) -> pa.Table:
    """Spot prices roughly proportional to expected audience; light-viewer channels cheaper."""
    seconds, light_seconds = ratecard_seconds(tuning, ref)
    subscribers = market_subscribers(tuning.market, ref)
    return ratecard_prices(rng, seconds, light_seconds, subscribers, ref, grid, days)


def market_subscribers(market: IntArray, ref: Reference) -> FloatArray:
    """Subscriber households per market (``market`` holds one index per subscriber row)."""
    counts: FloatArray = np.bincount(market, minlength=len(ref.market_codes)).astype(np.float64)
    return counts


def _daypart_intervals() -> list[tuple[int, int, int]]:
    """(start second, end second, daypart index) within a day; midnight-wrapping parts split."""
    intervals: list[tuple[int, int, int]] = []
    for i, dp in enumerate(DAYPARTS):
        if dp.wraps_midnight:
            intervals += [(dp.start_qh * 900, DAY_SECONDS, i), (0, dp.end_qh * 900, i)]
        else:
            intervals.append((dp.start_qh * 900, dp.end_qh * 900, i))
    return intervals


def ratecard_seconds(tuning: Tuning, ref: Reference) -> tuple[FloatArray, FloatArray]:
    """Tuned seconds per (market, channel, daypart), flat, and light-viewer seconds per channel.

    Both are sums over events, so a streamed world adds them up chunk by chunk.
    """
    n_ch = len(ref.channel_codes)
    n_dp = len(DAYPARTS)
    n_cells = len(ref.market_codes) * n_ch * n_dp
    cell = (tuning.market[tuning.hh] * n_ch + tuning.channel) * n_dp
    intervals = _daypart_intervals()
    tod = tuning.start_s % DAY_SECONDS
    end = tod + (tuning.end_s - tuning.start_s)
    light_ev = tuning.light[tuning.hh]
    seconds = np.zeros(n_cells)
    light_seconds = np.zeros(n_ch)
    for shift in (0, DAY_SECONDS):
        for a, b, i in intervals:
            overlap = np.clip(np.minimum(end, b + shift) - np.maximum(tod, a + shift), 0, None)
            seconds += np.bincount(cell + i, weights=overlap, minlength=n_cells)
            light_seconds += np.bincount(tuning.channel, weights=overlap * light_ev, minlength=n_ch)
    return seconds, light_seconds


def ratecard_prices(
    rng: np.random.Generator,
    seconds: FloatArray,
    light_seconds: FloatArray,
    subscribers: FloatArray,
    ref: Reference,
    grid: MarketGrid,
    days: int,
) -> pa.Table:
    """The rate card from the totals of :func:`ratecard_seconds` and :func:`market_subscribers`."""
    n_mk = len(ref.market_codes)
    n_ch = len(ref.channel_codes)
    n_dp = len(DAYPARTS)
    dp_seconds = np.zeros(n_dp)
    for a, b, i in _daypart_intervals():
        dp_seconds[i] += b - a
    per_cell = seconds.reshape(n_mk, n_ch, n_dp)
    exposure = (dp_seconds * days)[None, :]
    state_rating = per_cell.sum(axis=0) / exposure / max(float(subscribers.sum()), 1.0)
    # A market's rating, shrunk towards the state's in proportion to how thin its sample is.
    n_sub = subscribers[:, None, None]
    rating = (per_cell / exposure[None] + _SHRINK_HOUSEHOLDS * state_rating[None]) / (
        n_sub + _SHRINK_HOUSEHOLDS
    )
    avg_households = rating * ref.market_tv_households[:, None, None]
    ch_total = per_cell.sum(axis=(0, 2))
    light_share = np.divide(light_seconds, ch_total, out=np.zeros(n_ch), where=ch_total > 0)
    mid = float(np.median(light_share))
    discount = np.clip(1.0 - 2.0 * (light_share - mid), 0.6, 1.4)

    genres = ref.channel_genres.to_pylist()
    languages = ref.channel_languages.to_pylist()
    cpm = np.array(
        [
            _GENRE_CPM.get(g, 20.0) * (0.8 if lang == "es" else 1.0)
            for g, lang in zip(genres, languages, strict=True)
        ]
    )
    noise = rng.lognormal(0.0, 0.15, (n_mk, n_ch, n_dp))
    cost = avg_households / 1000.0 * (cpm * discount)[None, :, None] * noise
    cost = np.round(np.maximum(cost, 5.0), 2)
    spots = np.array([_GENRE_SPOTS_PER_HOUR.get(g, 2.5) for g in genres])
    units = np.maximum(
        1,
        np.rint(
            spots[None, :, None]
            * (dp_seconds / 3600.0)[None, None, :]
            * 7
            * rng.uniform(0.6, 1.4, (n_mk, n_ch, n_dp))
        ),
    ).astype(np.int64)

    # Rows for carried channels only, in market, channel, daypart order.
    mk, ch = np.nonzero(grid.carried)
    rows = ((mk * n_ch + ch)[:, None] * n_dp + np.arange(n_dp)[None, :]).ravel()
    return pa.table(
        {
            "market": take(pa.array(ref.market_codes, pa.string()), np.repeat(mk, n_dp)),
            "channel": ref.channel_codes.take(pa.array(np.repeat(ch, n_dp))),
            "daypart": pa.array([dp.name for dp in DAYPARTS] * len(mk), pa.string()),
            "cost_per_spot": pa.array(cost.ravel()[rows], pa.float64()),
            "units_available": pa.array(units.ravel()[rows], pa.int64()),
        },
        schema=RATECARD_SCHEMA,
    )
