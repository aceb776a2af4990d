"""TV markets (DMAs): where each household is, what its market carries, how it watches.

A household's market is its city's (``cities.csv`` names each city's DMA, and
``markets.csv`` holds the DMAs with their real TV-household counts). Each
market carries a channel line-up derived from the channel list, the way cable
systems differ in practice: broadcast networks and the widely carried cable
networks everywhere; Univision and Telemundo only in markets of at least
:data:`SPANISH_BROADCAST_MIN` TV households, the rest of the Spanish-language
tier only in the largest (:data:`FULL_TIER_MIN`); and thin English cable
networks (popularity under :data:`NICHE_POPULARITY`, sports aside: the state's
regional sports tier is everywhere) from :data:`SPANISH_BROADCAST_MIN` up.

Tastes shift a little with the size of the market: smaller, more rural DMAs
lean to right-leaning and older-skewing news and away from young-skewing
channels. A taste component a market does not carry at all (Spanish in a small
market) gets no weight there, so its households watch something else.

Channel choice stays one vectorised draw: the per-(market, component) CDFs are
laid end to end, each offset by its row number, so one ``searchsorted`` serves
every event (:attr:`MarketGrid.flat_cdf`). A channel a market does not carry has
a zero-width step in that market's CDFs and can never be drawn.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Final

import numpy as np
import pyarrow as pa

from linkage.synth._arrays import BoolArray, FloatArray, IntArray, take
from linkage.synth.population import Households
from linkage.synth.reference import COMPONENTS, FAVORITES, Reference, load_reference
from linkage.synth.schemas import LINEUPS_SCHEMA, MARKET_LIST_SCHEMA, MARKETS_SCHEMA
from linkage.synth.subscribers import Subscribers

__all__ = [
    "FULL_TIER_MIN",
    "NICHE_POPULARITY",
    "SPANISH_BROADCAST_MIN",
    "MarketGrid",
    "lineups_table",
    "load_market_grid",
    "market_list",
    "markets_table",
    "subscriber_markets",
]

SPANISH_BROADCAST_MIN: Final = 400_000
"""TV households from which a market carries Spanish-language broadcast and niche cable."""
FULL_TIER_MIN: Final = 900_000
"""TV households from which a market carries the whole Spanish-language cable tier."""
NICHE_POPULARITY: Final = 0.75
"""English cable networks below this popularity are niche (larger markets only)."""

# Per-market taste multipliers, from 0 (the largest market) to 1 (the smallest) of rurality.
_RURAL_SHIFT = {"news_right": 0.3, "news_left": -0.25, "young": -0.2, "older": 0.2}
_MAX_U: Final = 1.0 - 2.0**-40  # keeps row + u below the next row's start


@dataclass(frozen=True)
class MarketGrid:
    """Line-ups, tastes and channel CDFs per market (indices follow ``Reference``).

    Attributes:
        carried: ``[market, channel]``: the market carries the channel.
        taste: ``[market, component]`` multipliers on a household's taste mixture;
            zero for a component the market carries no channel of.
        flat_cdf: Row ``market * len(COMPONENTS) + component`` of the per-market
            component CDFs, plus its row number, laid end to end (see :meth:`pick`).
    """

    carried: BoolArray
    taste: FloatArray
    flat_cdf: FloatArray

    def pick(self, row: IntArray, u: FloatArray) -> IntArray:
        """Channel index for uniform draws ``u`` in CDF rows ``row`` (inverse CDF, vectorised)."""
        n_channels = self.carried.shape[1]
        value = row + np.minimum(u, _MAX_U)
        pick = np.searchsorted(self.flat_cdf, value, side="right") - row * n_channels
        out: IntArray = np.minimum(pick, n_channels - 1)
        return out


def _carried(ref: Reference) -> BoolArray:
    """``[market, channel]``: the line-up rules of the module docstring."""
    size = ref.market_tv_households[:, None]
    genre = np.array(ref.channel_genres.to_pylist())[None, :]
    popular = ref.channel_popularity[None, :]
    spanish = np.array(ref.channel_languages.to_pylist())[None, :] == "es"
    # Univision and Telemundo: the Spanish broadcast networks with a national following.
    spanish_broadcast = spanish & (genre == "broadcast") & (popular >= 1.0)
    niche = ~spanish & (genre != "broadcast") & (genre != "sports") & (popular < NICHE_POPULARITY)
    carried: BoolArray = (
        (~spanish & ~niche)
        | ((spanish_broadcast | niche) & (size >= SPANISH_BROADCAST_MIN))
        | (spanish & (size >= FULL_TIER_MIN))
    )
    return carried


def _component_members(ref: Reference) -> BoolArray:
    """``[component, channel]``: the channel belongs to the component's audience."""
    members = ref.component_cdf > 0
    members[:, 1:] &= np.diff(ref.component_cdf, axis=1) > 0
    members[FAVORITES] = True
    return members


@lru_cache(maxsize=1)
def load_market_grid() -> MarketGrid:
    """The market grid of the reference data (built once per process)."""
    ref = load_reference()
    carried = _carried(ref)
    members = _component_members(ref)
    n_mk, n_comp, n_ch = carried.shape[0], len(COMPONENTS), carried.shape[1]

    households = ref.market_tv_households.astype(np.float64)
    span = np.log(households.max() / households.min()) or 1.0
    rural = np.log(households.max() / households) / span
    taste = np.ones((n_mk, n_comp))
    for name, shift in _RURAL_SHIFT.items():
        taste[:, COMPONENTS.index(name)] *= 1.0 + shift * rural

    weight = ref.channel_popularity[None, None, :] * members[None, :, :] * carried[:, None, :]
    cum = np.cumsum(weight, axis=2)
    total = cum[:, :, -1:]
    taste[total[:, :, 0] <= 0] = 0.0
    # x / x is exactly 1, so every step after the last carried channel is flat at 1.0.
    cdf = np.divide(cum, total, out=np.ones_like(cum), where=total > 0)
    rows = np.arange(n_mk * n_comp, dtype=np.float64)[:, None]
    flat = (cdf.reshape(n_mk * n_comp, n_ch) + rows).ravel()
    return MarketGrid(carried=carried, taste=taste, flat_cdf=flat)


def subscriber_markets(hh: Households, subs: Subscribers, ref: Reference) -> IntArray:
    """Market index of each subscriber row: the market of its household's city."""
    out: IntArray = ref.city_market[hh.address.city[subs.hh]]
    return out


def markets_table(subs: Subscribers, market: IntArray, ref: Reference) -> pa.Table:
    """``markets.parquet``: each subscriber household's market (``MARKETS_SCHEMA``)."""
    codes = pa.array(ref.market_codes, pa.string())
    return pa.table(
        {"household_id": subs.household_id, "market": take(codes, market)},
        schema=MARKETS_SCHEMA,
    )


def lineups_table(ref: Reference, grid: MarketGrid) -> pa.Table:
    """``lineups.csv``: one row per (market, channel) carried, markets then channels in order."""
    mk, ch = np.nonzero(grid.carried)
    return pa.table(
        {
            "market": take(pa.array(ref.market_codes, pa.string()), mk),
            "channel": ref.channel_codes.take(pa.array(ch)),
        },
        schema=LINEUPS_SCHEMA,
    )


def market_list() -> pa.Table:
    """The markets of the reference data (``MARKET_LIST_SCHEMA``), largest first.

    The DMA's TV households are the whole market's, across state lines: what a
    spot there reaches and is priced by. ``ohio_share`` is the part in Ohio.
    """
    ref = load_reference()
    return pa.table(
        {
            "market": pa.array(ref.market_codes, pa.string()),
            "name": pa.array(ref.market_names, pa.string()),
            "tv_households": pa.array(ref.market_tv_households, pa.int64()),
            "ohio_share": pa.array(ref.market_ohio_share, pa.float64()),
        },
        schema=MARKET_LIST_SCHEMA,
    )
