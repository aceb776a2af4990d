"""Reference data for the synthetic world, loaded once from ``linkage/data``.

Names, streets, cities, TV markets and channels are package resources (CSV
with ``#`` comments); :func:`load_reference` turns them into sampling weights
indexed the way the builders draw: given names by (sex, ethnicity), surnames and
cities by ethnicity, channels by taste component, and each city's market (DMA).
Nicknames come from NickNamer.

The ethnicity list and the taste components live here because the weight
tables are indexed by them; the builders import the indices from here.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

import numpy as np
import pyarrow as pa
from nicknames import NickNamer

from linkage.errors import InputError
from linkage.synth._arrays import BoolArray, FloatArray, IntArray

__all__ = [
    "BLACK",
    "COMPONENTS",
    "ETHNICITIES",
    "FAVORITES",
    "HISPANIC",
    "Reference",
    "load_reference",
]

ETHNICITIES = ("white", "black", "hispanic", "asian", "other")
"""Modelled ethnicities; every ethnicity-indexed table follows this order."""
HISPANIC, BLACK = 2, 1

# Taste components: a household's channel choice is a mixture of these audiences.
COMPONENTS = (
    "general",
    "spanish",
    "black",
    "news_right",
    "news_left",
    "young",
    "sports",
    "kids",
    "lifestyle",
    "older",
    "favorites",
)
FAVORITES = len(COMPONENTS) - 1
"""The last component: a household's own favourite channels, not a reference audience."""

# Name groups over-represented in one ethnicity; boost when it matches, damp otherwise.
_GROUP_BOOST = {"hispanic": 25.0, "black": 6.0, "asian": 40.0}
_BIG_CITIES = ("Columbus", "Cleveland", "Cincinnati", "Toledo", "Akron", "Dayton")


@dataclass(frozen=True)
class Reference:
    """Reference tables as Arrow arrays and numpy sampling weights."""

    given_names: pa.Array  # all given names (both sexes)
    given_weight: FloatArray  # [sex(0=M,1=F), ethnicity, name] sampling weights
    given_has_nick: BoolArray
    given_nicks: tuple[tuple[str, ...], ...]
    surnames: pa.Array
    surname_weight: FloatArray  # [ethnicity, name]
    streets: pa.Array
    street_weight: FloatArray
    city_names: pa.Array
    city_weight: FloatArray  # [ethnicity, city]
    city_big: BoolArray
    city_area_codes: tuple[tuple[int, ...], ...]
    city_zips: tuple[tuple[str, ...], ...]
    city_market: IntArray  # [city] index into market_codes
    market_codes: tuple[str, ...]  # markets.csv order
    market_names: tuple[str, ...]
    market_tv_households: IntArray  # the whole DMA's TV households
    market_ohio_share: FloatArray
    channel_codes: pa.Array
    channel_names: pa.Array
    channel_genres: pa.Array
    channel_languages: pa.Array
    channel_popularity: FloatArray
    component_cdf: FloatArray  # [component, channel] cumulative distributions


def _read_csv(name: str) -> list[dict[str, str]]:
    text = resources.files("linkage.data").joinpath(name).read_text(encoding="utf-8")
    lines = [line for line in text.splitlines() if line and not line.startswith("#")]
    return list(csv.DictReader(lines))


@lru_cache(maxsize=1)
def _nicknamer() -> NickNamer:
    return NickNamer()


@lru_cache(maxsize=1)
def load_reference() -> Reference:
    """The reference tables (read once per process)."""
    eth_index = {e: i for i, e in enumerate(ETHNICITIES)}
    given = _read_csv("first_names.csv")
    weight = np.zeros((2, len(ETHNICITIES), len(given)))
    for j, row in enumerate(given):
        sex = 0 if row["sex"] == "M" else 1
        base = float(row["weight"])
        group = row["group"]
        for e in range(len(ETHNICITIES)):
            factor = 1.0
            if group:
                factor = _GROUP_BOOST[group] if eth_index[group] == e else 0.12
            weight[sex, e, j] = base * factor
    nn = _nicknamer()
    nicks = tuple(
        tuple(
            sorted(
                n.capitalize()
                for n in nn.nicknames_of(row["name"])
                if n.isalpha() and len(n) > 2 and n != row["name"].lower()
            )
        )
        for row in given
    )

    surnames = _read_csv("surnames.csv")
    pct_cols = [f"pct_{e}" for e in ETHNICITIES]
    s_count = np.array([float(r["weight"]) for r in surnames])
    s_pct = np.array([[float(r[c]) for c in pct_cols] for r in surnames]) / 100.0
    # Census-style: count * P(ethnicity | surname) gives P(surname | ethnicity) up to scale.
    surname_weight = (s_count[:, None] * s_pct).T

    streets = _read_csv("streets.csv")
    cities = _read_csv("cities.csv")
    c_pop = np.array([float(r["population"]) for r in cities])
    c_pct = np.array([[float(r[c]) for c in pct_cols] for r in cities]) / 100.0

    markets = _read_csv("markets.csv")
    market_codes = tuple(r["market"] for r in markets)
    market_index = {code: i for i, code in enumerate(market_codes)}
    for line, r in enumerate(cities, start=1):
        if r["market"] not in market_index:
            raise InputError("city names no market of markets.csv", file="cities.csv", row=line)
    city_market = np.array([market_index[r["market"]] for r in cities], dtype=np.int64)
    # Each market's cities together weigh what its Ohio TV households do (cities.csv
    # holds each market's largest cities only, so their populations alone would give
    # Cincinnati a third of Cleveland's households instead of about half).
    ohio_households = np.array(
        [float(r["tv_households"]) * float(r["ohio_share"]) for r in markets]
    )
    market_pop = np.bincount(city_market, weights=c_pop, minlength=len(markets))
    c_pop = c_pop * (ohio_households / np.where(market_pop > 0, market_pop, 1.0))[city_market]
    city_weight = (c_pop[:, None] * c_pct).T

    channels = _read_csv("channels.csv")
    popularity = np.array([float(r["popularity"]) for r in channels])
    cdf = np.zeros((len(COMPONENTS), len(channels)))
    for k, comp in enumerate(COMPONENTS[:FAVORITES]):
        member = np.array(
            [
                comp in r["audiences"].split()
                or (comp == "general" and r["language"] == "en" and r["genre"] != "kids")
                for r in channels
            ]
        )
        w = popularity * member
        cdf[k] = np.cumsum(w) / w.sum()
    cdf[FAVORITES] = np.linspace(1.0 / len(channels), 1.0, len(channels))

    return Reference(
        given_names=pa.array([r["name"] for r in given], pa.string()),
        given_weight=weight,
        given_has_nick=np.array([bool(n) for n in nicks]),
        given_nicks=nicks,
        surnames=pa.array([r["name"] for r in surnames], pa.string()),
        surname_weight=surname_weight,
        streets=pa.array([r["name"] for r in streets], pa.string()),
        street_weight=np.array([float(r["weight"]) for r in streets]),
        city_names=pa.array([r["city"] for r in cities], pa.string()),
        city_weight=city_weight,
        city_big=np.array([r["city"] in _BIG_CITIES for r in cities]),
        city_area_codes=tuple(tuple(int(a) for a in r["area_codes"].split()) for r in cities),
        city_zips=tuple(tuple(r["zips"].split()) for r in cities),
        city_market=city_market,
        market_codes=market_codes,
        market_names=tuple(r["name"] for r in markets),
        market_tv_households=np.array([int(r["tv_households"]) for r in markets]),
        market_ohio_share=np.array([float(r["ohio_share"]) for r in markets]),
        channel_codes=pa.array([r["channel"] for r in channels], pa.string()),
        channel_names=pa.array([r["name"] for r in channels], pa.string()),
        channel_genres=pa.array([r["genre"] for r in channels], pa.string()),
        channel_languages=pa.array([r["language"] for r in channels], pa.string()),
        channel_popularity=popularity,
        component_cdf=cdf,
    )
