"""The synthetic world: voters, subscribers, viewing, channels, rate card and truth.

:func:`generate_world` builds a reproducible Ohio-like world with ground truth so that
linkage quality and end-to-end rating error can be measured. Everything is vectorised
numpy / Arrow compute; Python loops run only over distinct values (ethnicities, name
table rows, taste components) or over the few corrupted records. Reference data
(names, streets, cities, channels) are package resources under ``linkage/data``.

The module is pure: it returns tables and text, :mod:`linkage.files` writes them.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime
from functools import lru_cache
from importlib import resources

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc
from nicknames import NickNamer

from linkage.errors import InputError
from linkage.measure import DAYPARTS

__all__ = [
    "CHANNELS_SCHEMA",
    "DEFAULT_CHUNK_VOTERS",
    "RATECARD_SCHEMA",
    "SEGMENTS_TOML",
    "SUBSCRIBERS_SCHEMA",
    "VIEWING_SCHEMA",
    "VOTERS_SCHEMA",
    "VOTER_HOUSEHOLD_SCHEMA",
    "World",
    "WorldChunk",
    "WorldStream",
    "generate_world",
]

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]

VOTERS_SCHEMA = pa.schema(
    [
        ("voter_id", pa.string()),
        ("first_name", pa.string()),
        ("middle_name", pa.string()),
        ("last_name", pa.string()),
        ("suffix", pa.string()),
        ("birth_date", pa.date32()),
        ("gender", pa.string()),
        ("address", pa.string()),
        ("city", pa.string()),
        ("state", pa.string()),
        ("zip", pa.string()),
        ("phone", pa.string()),
        ("email", pa.string()),
        ("ethnicity", pa.string()),
        ("party", pa.string()),
        ("support_score", pa.int16()),
        ("turnout_score", pa.int16()),
        ("gotv_score", pa.int16()),
        ("persuasion_score", pa.int16()),
    ]
)
SUBSCRIBERS_SCHEMA = pa.schema(
    [
        ("household_id", pa.string()),
        ("account_number", pa.string()),
        ("first_name", pa.string()),
        ("last_name", pa.string()),
        ("address", pa.string()),
        ("city", pa.string()),
        ("state", pa.string()),
        ("zip", pa.string()),
        ("phone", pa.string()),
        ("email", pa.string()),
    ]
)
VIEWING_SCHEMA = pa.schema(
    [
        ("household_id", pa.string()),
        ("channel", pa.string()),
        ("start", pa.timestamp("s")),
        ("end", pa.timestamp("s")),
    ]
)
CHANNELS_SCHEMA = pa.schema(
    [
        ("channel", pa.string()),
        ("name", pa.string()),
        ("genre", pa.string()),
        ("language", pa.string()),
    ]
)
RATECARD_SCHEMA = pa.schema(
    [
        ("channel", pa.string()),
        ("daypart", pa.string()),
        ("cost_per_spot", pa.float64()),
        ("units_available", pa.int64()),
    ]
)
VOTER_HOUSEHOLD_SCHEMA = pa.schema([("voter_id", pa.string()), ("household_id", pa.string())])

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

_STATE = "OH"
_DAY = 86_400
_MIN_EVENT_S = 5 * 60
_MAX_EVENT_S = 120 * 60
_OHIO_TV_HOUSEHOLDS = 4_700_000  # scales sample audiences to market size for spot prices

_ETHNICITIES = ("white", "black", "hispanic", "asian", "other")
_ETH_MIX = np.array([0.66, 0.16, 0.11, 0.04, 0.03])
_HISPANIC, _BLACK, _ASIAN = 2, 1, 3
# Name groups over-represented in one ethnicity; boost when it matches, damp otherwise.
_GROUP_BOOST = {"hispanic": 25.0, "black": 6.0, "asian": 40.0}
_SYNTH_SURNAME_P = np.array([0.26, 0.2, 0.08, 0.05, 0.2])
_SYNTH_GIVEN_P = 0.05

_SIZE_VALUES = np.array([1, 2, 3, 4])
_SIZE_P = np.array([0.31, 0.43, 0.16, 0.10])

_PARTIES = ("D", "R", "I")
# P(D, R, I) by ethnicity.
_PARTY_P = np.array(
    [
        [0.30, 0.43, 0.27],
        [0.80, 0.05, 0.15],
        [0.55, 0.20, 0.25],
        [0.48, 0.20, 0.32],
        [0.40, 0.30, 0.30],
    ]
)

_PREDIR_ABBR = ("N", "S", "E", "W", "NE", "NW", "SE", "SW")
_PREDIR_FULL = (
    "North",
    "South",
    "East",
    "West",
    "Northeast",
    "Northwest",
    "Southeast",
    "Southwest",
)
_PREDIR_P = np.array([0.86, 0.035, 0.035, 0.03, 0.03, 0.0025, 0.0025, 0.0025, 0.0025])
_SUFFIXES = (
    ("St", "Street", 24.0),
    ("Ave", "Avenue", 20.0),
    ("Rd", "Road", 16.0),
    ("Dr", "Drive", 14.0),
    ("Ln", "Lane", 5.0),
    ("Ct", "Court", 5.0),
    ("Blvd", "Boulevard", 3.0),
    ("Pl", "Place", 3.0),
    ("Way", "Way", 3.0),
    ("Cir", "Circle", 2.0),
    ("Pkwy", "Parkway", 1.0),
    ("Ter", "Terrace", 1.5),
    ("Trl", "Trail", 1.5),
    ("Pike", "Pike", 1.0),
)
_BIG_CITIES = ("Columbus", "Cleveland", "Cincinnati", "Toledo", "Akron", "Dayton")

_EMAIL_DOMAINS = (
    ("gmail.com", 40.0),
    ("yahoo.com", 17.0),
    ("hotmail.com", 8.0),
    ("outlook.com", 7.0),
    ("icloud.com", 7.0),
    ("aol.com", 6.0),
    ("att.net", 3.0),
    ("sbcglobal.net", 3.0),
    ("msn.com", 2.0),
    ("live.com", 2.0),
    ("comcast.net", 2.0),
    ("protonmail.com", 1.0),
    ("osu.edu", 1.0),
    ("case.edu", 0.5),
)


def _parts(*groups: str) -> tuple[tuple[str, ...], ...]:
    """Syllable tables written as space-separated words ("-" stands for the empty piece)."""
    return tuple(tuple("" if w == "-" else w for w in g.split()) for g in groups)


# Rare-name tail: plausible names composed from syllables.
_SURNAME_PARTS = _parts(
    "Ash Bal Brad Car Dal Ell Fair Gar Hal Har Kel Lind Mar Mor Pen Ross Stan Thorn Wal Whit "
    "Win Brom Cul Dun Hen Kirk Mel Ned Quin Rad Shel Tal Ver Wes York Stock Bur Cran Eck Fitz "
    "Gold Hoch Kess Lam Nord Ost Pfl Rott",
    "- - - a e en er in ing o ol and ver ter",
    "by den ford ham ley lock man mer ner ridge sen son ston ton well wick worth er dale field "
    "baugh berger ski ek ich stein hart ling mann horn",
)
_HISPANIC_SURNAME_PARTS = _parts(
    "Al Bel Cas Es Gal Man Mon Ol Pa Sal Ter Val Vil Zam Ar Bar Cor Fig Lar Ros Bus Cal Quin Tor",
    "- - - r t l",
    "ado ares arez ena era ero ez illa ino ueda ona uz iga ano edo anza ientos oya",
)
_GIVEN_PARTS = {
    "M": _parts(
        "Ja Ka Da Ma Ty Ke Jo Ra Bre Co Tre Za De La Ri Bra Ca Ro Jer Dar Mal Ez Ar Ber",
        "den son ron lin vin rick mar shawn von rell ton iel ius dell ric quan tin ek",
    ),
    "F": _parts(
        "Ja Ka Ma Bri Ash Kay Na Sha Ta Lu Ari Em Ne Ro Zo Ade Mi Jo Cae Ly El Tem Sa Ve",
        "lyn leigh ana ina elle isha ette ona ara ia onna anda ey essa issa ani ora ice",
    ),
}

# Hourly weights for the start of a viewing session (weekday, weekend).
_SESSION_START_HOURLY = np.array(
    [
        [1.2, 0.5, 0.25, 0.2, 0.25, 0.8, 2.6, 3.2, 2.4, 1.8, 1.6, 1.6, 2.0, 1.8, 1.8, 2.2, 2.8,
         3.6, 4.6, 5.8, 7.0, 5.6, 3.6, 2.0],
        [1.6, 0.8, 0.35, 0.2, 0.2, 0.3, 0.8, 1.6, 2.6, 3.2, 3.4, 3.4, 3.6, 3.8, 3.8, 3.8, 3.9,
         4.2, 4.8, 5.6, 6.6, 5.6, 3.8, 2.4],
    ]
)  # fmt: skip

# Taste components: a household's channel choice is a mixture of these audiences.
_COMPONENTS = (
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
_FAVORITES = len(_COMPONENTS) - 1
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

_KEYBOARD = {
    "a": "qswz", "b": "vghn", "c": "xdfv", "d": "serfcx", "e": "wsdr", "f": "drtgvc",
    "g": "ftyhbv", "h": "gyujnb", "i": "ujko", "j": "huikmn", "k": "jiolm", "l": "kop",
    "m": "njk", "n": "bhjm", "o": "iklp", "p": "ol", "q": "wa", "r": "edft", "s": "awedxz",
    "t": "rfgy", "u": "yhji", "v": "cfgb", "w": "qase", "x": "zsdc", "y": "tghu", "z": "asx",
}  # fmt: skip


@dataclass(frozen=True)
class World:
    """A complete synthetic world; :mod:`linkage.files` writes it to disk.

    Attributes:
        voters: Campaign voter file (``VOTERS_SCHEMA``).
        subscribers: Operator subscriber file, corrupted (``SUBSCRIBERS_SCHEMA``).
        viewing: Set-top-box tuning events (``VIEWING_SCHEMA``).
        channels: The channel list (``CHANNELS_SCHEMA``).
        ratecard: Spot prices per channel and daypart (``RATECARD_SCHEMA``).
        voter_household: Truth: voter -> subscribing household (``VOTER_HOUSEHOLD_SCHEMA``).
        segments_toml: Segment rules for the campaign (TOML text).
    """

    voters: pa.Table
    subscribers: pa.Table
    viewing: pa.Table
    channels: pa.Table
    ratecard: pa.Table
    voter_household: pa.Table
    segments_toml: str


def generate_world(
    voters: int = 50_000,
    days: int = 7,
    seed: int = 0,
    start: date = date(2026, 10, 5),
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
    ref = _reference()
    streams = _streams(seed, 0)
    chunk, tuning, subs = _chunk(streams, voters, days, start, ref, (0, 1))
    return World(
        voters=chunk.voters,
        subscribers=chunk.subscribers,
        viewing=chunk.viewing,
        channels=_channels_table(ref),
        ratecard=_ratecard(streams[5], tuning, subs, ref, days),
        voter_household=chunk.voter_household,
        segments_toml=SEGMENTS_TOML,
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
    return [np.random.default_rng(s) for s in sequence.spawn(6)]


def _channels_table(ref: _Reference) -> pa.Table:
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
        voters: Voter rows of this chunk (``VOTERS_SCHEMA``).
        subscribers: Subscriber rows (``SUBSCRIBERS_SCHEMA``).
        viewing: Tuning events of this chunk's subscribers (``VIEWING_SCHEMA``).
        voter_household: Truth rows (``VOTER_HOUSEHOLD_SCHEMA``).
    """

    voters: pa.Table
    subscribers: pa.Table
    viewing: pa.Table
    voter_household: pa.Table


def _chunk(
    streams: list[np.random.Generator],
    voters: int,
    days: int,
    start: date,
    ref: _Reference,
    part: tuple[int, int],
) -> tuple[WorldChunk, _Tuning, _Subscribers]:
    hh = _households(streams[0], voters, ref)
    people = _people(streams[1], hh, ref, start)
    voter_table, voter_id = _voter_table(streams[2], hh, people, ref, part)
    subs = _subscribers(streams[3], hh, people, ref, part)
    tuning = _viewing(streams[4], hh, people, subs, ref, days, start)
    chunk = WorldChunk(
        voters=voter_table,
        subscribers=subs.table,
        viewing=tuning.table,
        voter_household=_truth(hh, people, subs, voter_id),
    )
    return chunk, tuning, subs


DEFAULT_CHUNK_VOTERS = 250_000
"""Voters per chunk of a :class:`WorldStream` (about 0.7 GB peak with 7 days of viewing)."""


class WorldStream:
    """A synthetic world generated chunk by chunk, in memory bounded by the chunk size.

    Iterate :meth:`chunks` once, writing each chunk out; then :meth:`ratecard`
    gives the rate card priced from the whole world's viewing. Each chunk of
    ``chunk_voters`` voters has its own households and its own seeded streams,
    so the world depends only on the arguments, never on how it is consumed.

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
        channels: The channel list (``CHANNELS_SCHEMA``).
        segments_toml: Segment rules for the campaign (TOML text).
    """

    def __init__(
        self,
        voters: int = 50_000,
        days: int = 7,
        seed: int = 0,
        start: date = date(2026, 10, 5),
        chunk_voters: int = DEFAULT_CHUNK_VOTERS,
    ) -> None:
        """Validate the arguments; nothing is generated until :meth:`chunks` runs.

        Raises:
            InputError: ``voters``, ``days`` or ``chunk_voters`` is out of range.
        """
        self.start = _check_args(voters, days, start)
        if isinstance(chunk_voters, bool) or not isinstance(chunk_voters, int) or chunk_voters < 1:
            raise InputError("chunk_voters must be an integer >= 1")
        self.voters, self.days, self.seed = int(voters), int(days), int(seed)
        self.chunk_voters = chunk_voters
        self._ref = _reference()
        self.channels = _channels_table(self._ref)
        self.segments_toml = SEGMENTS_TOML
        self._seconds: FloatArray | None = None
        self._light_seconds: FloatArray | None = None
        self._subscribers = 0

    @property
    def n_chunks(self) -> int:
        """How many chunks :meth:`chunks` yields."""
        return -(-self.voters // self.chunk_voters)

    def chunks(self) -> Iterator[WorldChunk]:
        """Generate the chunks in order, totalling what the rate card needs on the way."""
        k = self.n_chunks
        n_ch, n_dp = len(self._ref.channel_codes), len(DAYPARTS)
        seconds, light_seconds, subscribers = np.zeros(n_ch * n_dp), np.zeros(n_ch), 0
        for i in range(k):
            n = min(self.chunk_voters, self.voters - i * self.chunk_voters)
            streams = _streams(self.seed, i)
            chunk, tuning, subs = _chunk(streams, n, self.days, self.start, self._ref, (i, k))
            s, light = _ratecard_seconds(tuning, self._ref)
            seconds += s
            light_seconds += light
            subscribers += len(subs.hh)
            del tuning, subs
            yield chunk
        self._seconds, self._light_seconds = seconds, light_seconds
        self._subscribers = subscribers

    def ratecard(self) -> pa.Table:
        """Spot prices from the whole world's viewing (``RATECARD_SCHEMA``).

        Raises:
            InputError: :meth:`chunks` has not been run to the end yet.
        """
        if self._seconds is None or self._light_seconds is None:
            raise InputError("the rate card needs every chunk", hint="iterate chunks() first")
        rng = _streams(self.seed, 0)[5]
        return _ratecard_prices(
            rng, self._seconds, self._light_seconds, self._subscribers, self._ref, self.days
        )


# --- reference data ---------------------------------------------------------------------


@dataclass(frozen=True)
class _Reference:
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
def _reference() -> _Reference:
    eth_index = {e: i for i, e in enumerate(_ETHNICITIES)}
    given = _read_csv("first_names.csv")
    weight = np.zeros((2, len(_ETHNICITIES), len(given)))
    for j, row in enumerate(given):
        sex = 0 if row["sex"] == "M" else 1
        base = float(row["weight"])
        group = row["group"]
        for e in range(len(_ETHNICITIES)):
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
    pct_cols = [f"pct_{e}" for e in _ETHNICITIES]
    s_count = np.array([float(r["weight"]) for r in surnames])
    s_pct = np.array([[float(r[c]) for c in pct_cols] for r in surnames]) / 100.0
    # Census-style: count * P(ethnicity | surname) gives P(surname | ethnicity) up to scale.
    surname_weight = (s_count[:, None] * s_pct).T

    streets = _read_csv("streets.csv")
    cities = _read_csv("cities.csv")
    c_pop = np.array([float(r["population"]) for r in cities])
    c_pct = np.array([[float(r[c]) for c in pct_cols] for r in cities]) / 100.0
    city_weight = (c_pop[:, None] * c_pct).T

    channels = _read_csv("channels.csv")
    popularity = np.array([float(r["popularity"]) for r in channels])
    cdf = np.zeros((len(_COMPONENTS), len(channels)))
    for k, comp in enumerate(_COMPONENTS[:_FAVORITES]):
        member = np.array(
            [
                comp in r["audiences"].split()
                or (comp == "general" and r["language"] == "en" and r["genre"] != "kids")
                for r in channels
            ]
        )
        w = popularity * member
        cdf[k] = np.cumsum(w) / w.sum()
    cdf[_FAVORITES] = np.linspace(1.0 / len(channels), 1.0, len(channels))

    return _Reference(
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
        channel_codes=pa.array([r["channel"] for r in channels], pa.string()),
        channel_names=pa.array([r["name"] for r in channels], pa.string()),
        channel_genres=pa.array([r["genre"] for r in channels], pa.string()),
        channel_languages=pa.array([r["language"] for r in channels], pa.string()),
        channel_popularity=popularity,
        component_cdf=cdf,
    )


# --- small vectorised helpers -----------------------------------------------------------


def _draw(rng: np.random.Generator, weights: FloatArray, n: int) -> IntArray:
    """Inverse-CDF draws of ``n`` indices with probability proportional to ``weights``."""
    cdf = np.cumsum(weights, dtype=np.float64)
    idx = np.searchsorted(cdf, rng.random(n) * cdf[-1], side="right")
    out: IntArray = np.minimum(idx, len(weights) - 1).astype(np.int64)
    return out


def _draw_by_group(
    rng: np.random.Generator, weights: FloatArray, groups: IntArray, base: int = 0
) -> IntArray:
    """One draw per element from ``weights[base + group]`` (a 2-D table), grouped."""
    out = np.zeros(len(groups), dtype=np.int64)
    for g in np.unique(groups):
        sel = np.flatnonzero(groups == g)
        out[sel] = _draw(rng, weights[base + int(g)], len(sel))
    return out


def _digits(values: IntArray, width: int, base: int = 10) -> pa.Array:
    """Fixed-width zero-padded decimal or lowercase hex strings, without a Python loop."""
    alphabet = np.frombuffer(b"0123456789abcdef", dtype=np.uint8)
    powers = base ** np.arange(width - 1, -1, -1, dtype=np.int64)
    codes = alphabet[(values[:, None] // powers) % base]
    raw = np.ascontiguousarray(codes).view(f"S{width}").ravel()
    return pa.array(raw, pa.binary(width)).cast(pa.string())


def _unique_ints(
    rng: np.random.Generator, n: int, high: int, part: tuple[int, int] = (0, 1)
) -> IntArray:
    """``n`` distinct random integers in ``[0, high)``, in random order.

    ``part = (i, k)`` draws from the ``i``-th of ``k`` equal slices of the range, so
    chunks of a streamed world never share an identifier; ``(0, 1)`` is the whole range.
    """
    index, parts = part
    width = high // parts
    out = rng.integers(0, width, size=n, dtype=np.int64)
    while True:
        _, first = np.unique(out, return_index=True)
        if len(first) == n:
            return out + index * width
        dup = np.ones(n, dtype=bool)
        dup[first] = False
        out[dup] = rng.integers(0, width, size=int(dup.sum()), dtype=np.int64)


def _take(values: pa.Array, idx: IntArray) -> pa.Array:
    return values.take(pa.array(idx, pa.int64()))


def _str(values: IntArray) -> pa.Array:
    return pc.cast(pa.array(values, pa.int64()), pa.string())


def _where(mask: BoolArray, yes: pa.Array, no: pa.Array | None) -> pa.Array:
    """Arrow ``if_else`` with a numpy mask; ``no=None`` means null."""
    if no is None:
        no = pa.nulls(len(mask), pa.string())
    return pc.if_else(pa.array(mask, pa.bool_()), yes, no)


def _join(parts: list[pa.Array], sep: str = "") -> pa.Array:
    """Element-wise join that skips null parts (so optional pieces just vanish).

    Built from ``emit_null`` joins and ``coalesce`` because Arrow's ``skip`` mode drops
    rows whose parts are all null instead of returning null for them.
    """
    result = parts[0]
    for part in parts[1:]:
        both = pc.binary_join_element_wise(result, part, sep)
        result = pc.coalesce(both, result, part)
    return result


def _choose(which: IntArray, options: list[pa.Array]) -> pa.Array:
    return pc.choose(pa.array(which.astype(np.int8), pa.int8()), *options)


def _synth_names(rng: np.random.Generator, n: int, parts: tuple[tuple[str, ...], ...]) -> pa.Array:
    """Plausible rare names from syllable tables (the long tail beyond the name lists)."""
    pieces = [_take(pa.array(p, pa.string()), rng.integers(0, len(p), n)) for p in parts]
    return _join(pieces)


# --- households -------------------------------------------------------------------------


@dataclass(frozen=True)
class _Address:
    house: IntArray
    predir: IntArray  # 0 = none, else index + 1 into _PREDIR_ABBR
    street: IntArray
    suffix: IntArray
    unit_kind: IntArray  # 0 none, 1 Apt, 2 Unit
    unit_id: pa.Array  # string, null when no unit
    city: IntArray
    zip5: pa.Array
    zip4: pa.Array


@dataclass(frozen=True)
class _Households:
    n: int
    size: IntArray
    offset: IntArray  # index of the household's first voter
    ethnicity: IntArray
    address: _Address
    area_code: IntArray


def _addresses(
    rng: np.random.Generator, city: IntArray, ref: _Reference, avoid_street: IntArray | None = None
) -> _Address:
    n = len(city)
    house = np.clip(np.rint(rng.lognormal(np.log(900.0), 1.05, n)), 1, 29_999).astype(np.int64)
    predir = _draw(rng, _PREDIR_P, n)
    street = _draw(rng, ref.street_weight, n)
    if avoid_street is not None:
        same = street == avoid_street
        street[same] = (street[same] + 1 + rng.integers(0, 20, int(same.sum()))) % len(
            ref.street_weight
        )
    suffix = _draw(rng, np.array([s[2] for s in _SUFFIXES]), n)
    p_unit = np.where(ref.city_big[city], 0.21, 0.11)
    has_unit = rng.random(n) < p_unit
    unit_kind = np.where(has_unit, np.where(rng.random(n) < 0.8, 1, 2), 0)
    style = rng.random(n)
    num = _str(rng.integers(1, 25, n))
    letter = _take(pa.array(list("ABCDEF"), pa.string()), rng.integers(0, 6, n))
    unit_id = _choose(
        np.where(style < 0.6, 0, np.where(style < 0.8, 1, 2)),
        [num, _join([num, letter]), _str(rng.integers(1, 5, n) * 100 + rng.integers(1, 21, n))],
    )
    unit_id = _where(has_unit, unit_id, None)
    zip5 = np.empty(n, dtype=object)
    for c in np.unique(city):
        sel = np.flatnonzero(city == c)
        zips = ref.city_zips[int(c)]
        zip5[sel] = np.asarray(zips, dtype=object)[rng.integers(0, len(zips), len(sel))]
    return _Address(
        house=house,
        predir=predir,
        street=street,
        suffix=suffix,
        unit_kind=unit_kind,
        unit_id=unit_id,
        city=city,
        zip5=pa.array(zip5, pa.string()),
        zip4=_digits(rng.integers(1, 10_000, n), 4),
    )


def _dedupe_addresses(rng: np.random.Generator, addr: _Address) -> _Address:
    """Re-draw house numbers until no two households share a full address."""
    house = addr.house.copy()
    zip_codes = np.asarray(pc.cast(addr.zip5, pa.int64()), dtype=np.int64)
    unit_codes = np.asarray(
        pc.fill_null(pc.dictionary_encode(addr.unit_id).indices, -1), dtype=np.int64
    )
    rest = [addr.predir, addr.street, addr.suffix, addr.unit_kind, unit_codes + 1, zip_codes]
    for _ in range(20):
        key = house.copy()  # mixed-radix packing: one int64 per address (fits easily)
        for part in rest:
            key = key * (int(part.max(initial=0)) + 1) + part
        _, first, counts = np.unique(key, return_index=True, return_counts=True)
        if (counts == 1).all():
            break
        dup = np.ones(len(house), dtype=bool)
        dup[first] = False
        house[dup] = rng.integers(1, 20_000, int(dup.sum()))
    return _Address(
        house=house,
        predir=addr.predir,
        street=addr.street,
        suffix=addr.suffix,
        unit_kind=addr.unit_kind,
        unit_id=addr.unit_id,
        city=addr.city,
        zip5=addr.zip5,
        zip4=addr.zip4,
    )


def _households(rng: np.random.Generator, n_voters: int, ref: _Reference) -> _Households:
    sizes = _SIZE_VALUES[_draw(rng, _SIZE_P, n_voters)].astype(np.int64)
    cum = np.cumsum(sizes)
    last = int(np.searchsorted(cum, n_voters))
    sizes = sizes[: last + 1].copy()
    sizes[last] -= int(cum[last]) - n_voters
    n = len(sizes)
    ethnicity = _draw(rng, _ETH_MIX, n)
    city = _draw_by_group(rng, ref.city_weight, ethnicity)
    addr = _dedupe_addresses(rng, _addresses(rng, city, ref))
    area_code = np.zeros(n, dtype=np.int64)
    for c in np.unique(city):
        sel = np.flatnonzero(city == c)
        codes = np.array(ref.city_area_codes[int(c)])
        area_code[sel] = codes[rng.integers(0, len(codes), len(sel))]
    return _Households(
        n=n,
        size=sizes,
        offset=np.cumsum(sizes) - sizes,
        ethnicity=ethnicity,
        address=addr,
        area_code=area_code,
    )


# --- people -----------------------------------------------------------------------------


@dataclass(frozen=True)
class _People:
    hh: IntArray  # household index per voter
    pos: IntArray  # position within household (0 = primary adult)
    sex: IntArray  # 0 = M, 1 = F
    age: FloatArray
    birth_days: IntArray  # days since 1970-01-01
    ethnicity: IntArray
    party: IntArray
    given_idx: IntArray  # row in the first-name table, -1 for a synthesised name
    first_name: pa.Array
    middle_name: pa.Array
    last_name: pa.Array
    suffix: pa.Array
    phone_digits: pa.Array  # 10 digits or null
    email: pa.Array
    support: IntArray
    turnout: IntArray
    gotv: IntArray
    persuasion: IntArray


def _people(rng: np.random.Generator, hh: _Households, ref: _Reference, start: date) -> _People:
    n = int(hh.size.sum())
    hh_of = np.repeat(np.arange(hh.n), hh.size)
    pos = np.arange(n) - hh.offset[hh_of]
    primary = hh.offset[hh_of]
    is_primary = pos == 0

    # Ages: a primary adult, then a spouse or an adult child/roommate/parent.
    age = 18.0 + rng.beta(2.0, 2.5, n) * 77.0
    p_age = age[primary]
    spouse = (pos == 1) & (rng.random(n) < 0.72)
    age = np.where(spouse, p_age + rng.normal(-1.5, 4.0, n), age)
    child = (pos >= 1) & ~spouse & (p_age >= 42)
    age = np.where(child, p_age - rng.uniform(20.0, 36.0, n), age)
    other = (pos >= 1) & ~spouse & ~child
    age = np.where(other, rng.uniform(18.0, 40.0, n), age)
    age = np.clip(age, 18.02, 95.9)

    sex = (rng.random(n) < 0.53).astype(np.int64)
    opposite = spouse & (rng.random(n) < 0.95)
    sex = np.where(opposite, 1 - sex[primary], sex)

    start_days = (start - date(1970, 1, 1)).days
    birth_days = start_days - np.floor(age * 365.2425).astype(np.int64)

    # Ethnicity is per household; some spouses and roommates differ.
    ethnicity = hh.ethnicity[hh_of].copy()
    mixed = (spouse & (rng.random(n) < 0.07)) | (other & (rng.random(n) < 0.3))
    ethnicity[mixed] = _draw(rng, _ETH_MIX, int(mixed.sum()))

    # Surnames: shared within the household mostly.
    own_surname = _draw_by_group(rng, ref.surname_weight, ethnicity)
    p_share = np.select([spouse, child, other], [0.8, 0.9, 0.08], 1.0)
    share = ~is_primary & (rng.random(n) < p_share)
    synth_surname = rng.random(n) < _SYNTH_SURNAME_P[ethnicity]
    surname = _take(ref.surnames, own_surname)
    anglo = _synth_names(rng, n, _SURNAME_PARTS)
    hisp = _synth_names(rng, n, _HISPANIC_SURNAME_PARTS)
    surname = _where(synth_surname, _where(ethnicity == _HISPANIC, hisp, anglo), surname)
    surname = _take(surname, np.where(share, primary, np.arange(n)))

    # Given names by sex and ethnicity, plus a synthesised tail.
    given_idx = _draw_by_group(
        rng, ref.given_weight.reshape(-1, len(ref.given_names)), sex * 5 + ethnicity
    )
    synth_given = rng.random(n) < _SYNTH_GIVEN_P
    given_idx[synth_given] = -1
    synth = _choose(
        sex,
        [_synth_names(rng, n, _GIVEN_PARTS["M"]), _synth_names(rng, n, _GIVEN_PARTS["F"])],
    )
    first_name = _where(synth_given, synth, _take(ref.given_names, np.maximum(given_idx, 0)))
    middle_idx = _draw_by_group(
        rng, ref.given_weight.reshape(-1, len(ref.given_names)), sex * 5 + ethnicity
    )
    middle_full = _take(ref.given_names, middle_idx)
    m = rng.random(n)
    middle = _where(
        m < 0.5,
        middle_full,
        _where(m < 0.72, pc.utf8_slice_codeunits(middle_full, 0, 1), None),
    )
    s = rng.random(n)
    suffix = _where(
        (sex == 0) & (s < 0.06),
        _take(
            pa.array(["Jr", "Sr", "II", "III"], pa.string()),
            _draw(rng, np.array([3.5, 1.2, 0.8, 0.5]), n),
        ),
        None,
    )

    party = _draw_by_group(rng, _PARTY_P, ethnicity)
    young = age < 35
    party = np.where(young & (rng.random(n) < 0.12), 2, party)
    follows = ~is_primary & (rng.random(n) < 0.55)
    party = np.where(follows, party[primary], party)

    support, turnout, gotv, persuasion = _scores(rng, age, party, ethnicity)

    # Phones: ~70% have one; some household members share the primary's line.
    has_phone = rng.random(n) < 0.70
    exchange = rng.integers(201, 1000, n)
    exchange = np.where(exchange % 100 == 11, exchange + 1, exchange)
    exchange = np.where(exchange == 555, 556, exchange)
    digits = _join(
        [_str(hh.area_code[hh_of]), _str(exchange), _digits(rng.integers(0, 10_000, n), 4)]
    )
    digits = _take(digits, np.where(~is_primary & (rng.random(n) < 0.12), primary, np.arange(n)))
    phone_digits = _where(has_phone, digits, None)

    email = _emails(rng, first_name, surname, birth_days)
    email = _where(rng.random(n) < 0.5, email, None)

    return _People(
        hh=hh_of,
        pos=pos,
        sex=sex,
        age=age,
        birth_days=birth_days,
        ethnicity=ethnicity,
        party=party,
        given_idx=given_idx,
        first_name=first_name,
        middle_name=middle,
        last_name=surname,
        suffix=suffix,
        phone_digits=phone_digits,
        email=email,
        support=support,
        turnout=turnout,
        gotv=gotv,
        persuasion=persuasion,
    )


def _scores(
    rng: np.random.Generator, age: FloatArray, party: IntArray, ethnicity: IntArray
) -> tuple[IntArray, IntArray, IntArray, IntArray]:
    """Model scores (1-100): party drives support, age drives turnout."""
    n = len(age)
    eth_shift = np.array([-3.0, 9.0, 5.0, 3.0, 0.0])[ethnicity]
    support = np.array([77.0, 22.0, 50.0])[party] + eth_shift + rng.normal(0, 13.0, n)
    partisan = np.where(party == 2, -6.0, 6.0)
    turnout = 12.0 + 0.95 * (age - 18.0) + partisan + rng.normal(0, 13.0, n)
    turnout = np.clip(turnout, 1, 100)
    support = np.clip(support, 1, 100)
    gotv = 0.7 * support + 0.55 * (100.0 - turnout) - 20.0 + rng.normal(0, 9.0, n)
    persuasion = (
        78.0
        - 1.5 * np.abs(support - 50.0)
        + np.where(party == 2, 6.0, -8.0)
        + np.where(age < 40, 4.0, 0.0)
        + rng.normal(0, 11.0, n)
    )

    def clip(x: FloatArray) -> IntArray:
        return np.clip(np.rint(x), 1, 100).astype(np.int64)

    return clip(support), clip(turnout), clip(gotv), clip(persuasion)


def _emails(
    rng: np.random.Generator, first: pa.Array, last: pa.Array, birth_days: IntArray
) -> pa.Array:
    n = len(first)
    f = pc.replace_substring_regex(pc.utf8_lower(first), "[^a-z0-9]", "")
    la = pc.replace_substring_regex(pc.utf8_lower(last), "[^a-z0-9]", "")
    initial = pc.utf8_slice_codeunits(f, 0, 1)
    yy = _digits((1970 + birth_days // 365) % 100, 2)
    num = _str(rng.integers(1, 1000, n))
    local = _choose(
        _draw(rng, np.array([20.0, 14.0, 12.0, 6.0, 14.0, 10.0, 16.0, 8.0]), n),
        [
            _join([f, la], "."),
            _join([f, la]),
            _join([initial, la]),
            _join([f, la], "_"),
            _join([f, la, yy]),
            _join([f, num]),
            _join([initial, la, num]),
            _join([la, f], "."),
        ],
    )
    domains = pa.array([d for d, _ in _EMAIL_DOMAINS], pa.string())
    domain = _take(domains, _draw(rng, np.array([w for _, w in _EMAIL_DOMAINS]), n))
    return _join([local, domain], "@")


# --- formatting -------------------------------------------------------------------------


def _format_address(
    rng: np.random.Generator, addr: _Address, ref: _Reference, alt: BoolArray, keep_unit: BoolArray
) -> pa.Array:
    """Address line 1; ``alt`` rows use expanded words and ``#`` units (operator style)."""
    n = len(addr.house)
    abbr = pa.array([None, *_PREDIR_ABBR], pa.string())
    full = pa.array([None, *_PREDIR_FULL], pa.string())
    predir = _where(alt & (rng.random(n) < 0.8), _take(full, addr.predir), _take(abbr, addr.predir))
    suf_abbr = _take(pa.array([s[0] for s in _SUFFIXES], pa.string()), addr.suffix)
    suf_full = _take(pa.array([s[1] for s in _SUFFIXES], pa.string()), addr.suffix)
    dotted = _join([suf_abbr, pa.array(np.full(n, "."), pa.string())])
    r = rng.random(n)
    suffix = _where(alt, _where(r < 0.75, suf_full, dotted), suf_abbr)
    designator = _take(pa.array([None, "Apt", "Unit"], pa.string()), addr.unit_kind)
    voter_unit = _join([designator, addr.unit_id], " ")
    r = rng.random(n)
    alt_unit = _choose(
        np.where(r < 0.55, 0, np.where(r < 0.8, 1, 2)),
        [
            _join([pa.array(np.full(n, "#"), pa.string()), addr.unit_id]),
            _join([pa.array(np.full(n, "Apartment"), pa.string()), addr.unit_id], " "),
            voter_unit,
        ],
    )
    unit = _where(alt, alt_unit, voter_unit)
    unit = _where(keep_unit & (addr.unit_kind > 0), unit, None)
    return _join([_str(addr.house), predir, _take(ref.streets, addr.street), suffix, unit], " ")


def _format_phone(rng: np.random.Generator, digits: pa.Array, weights: FloatArray) -> pa.Array:
    """Phone strings in assorted formats chosen with ``weights`` over the list below."""
    n = len(digits)
    a = pc.utf8_slice_codeunits(digits, 0, 3)
    x = pc.utf8_slice_codeunits(digits, 3, 6)
    line = pc.utf8_slice_codeunits(digits, 6, 10)

    def lit(text: str) -> pa.Array:
        return pa.array(np.full(n, text), pa.string())

    options = [
        digits,  # 6145550123
        _join([lit("("), a, lit(") "), x, lit("-"), line]),  # (614) 555-0123
        _join([a, x, line], "-"),  # 614-555-0123
        _join([a, x, line], "."),  # 614.555.0123
        _join([lit("+1"), a, x, line], " "),  # +1 614 555 0123
        _join([lit("1"), digits]),  # 16145550123
    ]
    formatted = _choose(_draw(rng, weights, n), options)
    return _where(np.asarray(pc.is_valid(digits), dtype=bool), formatted, None)


def _noisy_case(rng: np.random.Generator, values: pa.Array, p_upper: float) -> pa.Array:
    return _where(rng.random(len(values)) < p_upper, pc.utf8_upper(values), values)


def _voter_table(
    rng: np.random.Generator,
    hh: _Households,
    people: _People,
    ref: _Reference,
    part: tuple[int, int] = (0, 1),
) -> tuple[pa.Table, pa.Array]:
    """The voter file (sorted by voter_id) and the voter ids in generation order."""
    n = len(people.hh)
    ids = _unique_ints(rng, n, 10**9, part)
    order = np.argsort(ids, kind="stable")
    voter_id = _join([pa.array(np.full(n, "OH"), pa.string()), _digits(ids, 9)])

    upper_name = rng.random(n) < 0.04
    first = _where(upper_name, pc.utf8_upper(people.first_name), people.first_name)
    middle = _where(upper_name, pc.utf8_upper(people.middle_name), people.middle_name)
    last = _where(upper_name, pc.utf8_upper(people.last_name), people.last_name)
    last = _where(rng.random(n) < 0.01, _join([last, pa.array(np.full(n, " "), pa.string())]), last)

    # Household addresses, formatted once per household and then spread to members.
    all_hh = np.ones(hh.n, dtype=bool)
    line = _format_address(rng, hh.address, ref, ~all_hh, all_hh)
    line = _take(line, people.hh)
    line = _noisy_case(rng, line, 0.03)
    line = _where(
        rng.random(n) < 0.02, pc.replace_substring(line, " ", "  ", max_replacements=1), line
    )
    city = _noisy_case(rng, _take(ref.city_names, hh.address.city[people.hh]), 0.05)
    zip5 = _take(hh.address.zip5, people.hh)
    zip9 = _join([zip5, _take(hh.address.zip4, people.hh)], "-")
    zip_code = _where(rng.random(n) < 0.15, zip9, zip5)

    phone = _format_phone(rng, people.phone_digits, np.array([50.0, 25.0, 25.0, 0.0, 0.0, 0.0]))
    email = _where(rng.random(n) < 0.03, pc.utf8_upper(people.email), people.email)

    table = pa.table(
        {
            "voter_id": voter_id,
            "first_name": first,
            "middle_name": middle,
            "last_name": last,
            "suffix": people.suffix,
            "birth_date": pa.array(people.birth_days.astype(np.int32), pa.int32()).cast(
                pa.date32()
            ),
            "gender": _take(pa.array(["M", "F"], pa.string()), people.sex),
            "address": line,
            "city": city,
            "state": pa.array(np.full(n, _STATE), pa.string()),
            "zip": zip_code,
            "phone": phone,
            "email": email,
            "ethnicity": _take(pa.array(_ETHNICITIES, pa.string()), people.ethnicity),
            "party": _take(pa.array(_PARTIES, pa.string()), people.party),
            "support_score": pa.array(people.support.astype(np.int16), pa.int16()),
            "turnout_score": pa.array(people.turnout.astype(np.int16), pa.int16()),
            "gotv_score": pa.array(people.gotv.astype(np.int16), pa.int16()),
            "persuasion_score": pa.array(people.persuasion.astype(np.int16), pa.int16()),
        },
        schema=VOTERS_SCHEMA,
    )
    return table.take(pa.array(order)), voter_id


# --- subscribers ------------------------------------------------------------------------


@dataclass(frozen=True)
class _Subscribers:
    hh: IntArray  # household index of each subscriber row
    household_id: pa.Array  # per subscriber row
    table: pa.Table


def _typo(name: str, op: int, u: float, v: float) -> str:
    """One keyboard-style typo: substitution, transposition, deletion or doubling."""
    if len(name) < 3:
        return name
    i = 1 + int(u * (len(name) - 1))  # keep the first letter, as most typos do
    i = min(i, len(name) - 1)
    ch = name[i]
    if op == 0:
        near = _KEYBOARD.get(ch.lower(), "etaoin")
        rep = near[int(v * len(near))]
        return name[:i] + (rep.upper() if ch.isupper() else rep) + name[i + 1 :]
    if op == 1 and i < len(name) - 1:
        return name[:i] + name[i + 1] + name[i] + name[i + 2 :]
    if op == 2:
        return name[:i] + name[i + 1 :]
    return name[:i] + ch + name[i:]


def _apply_typos(rng: np.random.Generator, values: pa.Array, p: float) -> pa.Array:
    n = len(values)
    hit = np.flatnonzero(rng.random(n) < p)
    if len(hit) == 0:
        return values
    ops = rng.integers(0, 4, len(hit))
    us = rng.random(len(hit))
    vs = rng.random(len(hit))
    # The only per-row Python work: a few percent of the rows.
    old = values.take(pa.array(hit)).to_pylist()
    new = [
        _typo(s, int(o), float(u), float(v)) for s, o, u, v in zip(old, ops, us, vs, strict=True)
    ]
    out = np.asarray(values.to_numpy(zero_copy_only=False), dtype=object)
    out[hit] = new
    return pa.array(out, pa.string())


def _nicknames(
    rng: np.random.Generator, given_idx: IntArray, names: pa.Array, ref: _Reference, rate: float
) -> pa.Array:
    """Swap about ``rate`` of the given names for a nickname (NickNamer)."""
    n = len(given_idx)
    eligible = (given_idx >= 0) & ref.given_has_nick[np.maximum(given_idx, 0)]
    share = eligible.mean() if n else 0.0
    p = min(1.0, rate / share) if share > 0 else 0.0
    hit = eligible & (rng.random(n) < p)
    if not hit.any():
        return names
    out = np.asarray(names.to_numpy(zero_copy_only=False), dtype=object)
    picks = rng.random(n)
    for g in np.unique(given_idx[hit]):
        sel = np.flatnonzero(hit & (given_idx == g))
        options = np.asarray(ref.given_nicks[int(g)], dtype=object)
        out[sel] = options[(picks[sel] * len(options)).astype(np.int64)]
    return pa.array(out, pa.string())


def _subscribers(
    rng: np.random.Generator,
    hh: _Households,
    people: _People,
    ref: _Reference,
    part: tuple[int, int] = (0, 1),
) -> _Subscribers:
    mean_age = np.bincount(people.hh, weights=people.age, minlength=hh.n) / hh.size
    p_sub = np.clip(0.6 + 0.004 * (mean_age - 50.0), 0.3, 0.9)
    sub_hh = np.flatnonzero(rng.random(hh.n) < p_sub)
    m = len(sub_hh)

    household_id = _join(
        [
            pa.array(np.full(m, "HH"), pa.string()),
            _digits(_unique_ints(rng, m, 16**10, part), 10, 16),
        ]
    )
    account = _digits(_unique_ints(rng, m, 9 * 10**11, part) + 10**11, 12)

    anyone = np.floor(rng.random(m) * hh.size[sub_hh]).astype(np.int64)
    pick = np.where(rng.random(m) < 0.7, 0, anyone)
    holder = hh.offset[sub_hh] + pick

    first = _take(people.first_name, holder)
    first = _nicknames(rng, people.given_idx[holder], first, ref, 0.10)
    first = _apply_typos(rng, first, 0.04)
    last = _apply_typos(rng, _take(people.last_name, holder), 0.04)

    # Stale addresses: the operator still has where the household lived before.
    a = hh.address
    sub_addr = _Address(
        house=a.house[sub_hh],
        predir=a.predir[sub_hh],
        street=a.street[sub_hh],
        suffix=a.suffix[sub_hh],
        unit_kind=a.unit_kind[sub_hh],
        unit_id=_take(a.unit_id, sub_hh),
        city=a.city[sub_hh],
        zip5=_take(a.zip5, sub_hh),
        zip4=_take(a.zip4, sub_hh),
    )
    stale = rng.random(m) < 0.03
    if stale.any():
        idx = np.flatnonzero(stale)
        moved_city = np.where(
            rng.random(len(idx)) < 0.6,
            sub_addr.city[idx],
            _draw(rng, ref.city_weight.sum(axis=0), len(idx)),
        )
        old = _addresses(rng, moved_city, ref, avoid_street=sub_addr.street[idx])
        pos = np.full(m, -1)
        pos[idx] = np.arange(len(idx))
        src = np.maximum(pos, 0)

        def merge_int(cur: IntArray, new: IntArray) -> IntArray:
            return np.where(stale, new[src], cur)

        def merge_str(cur: pa.Array, new: pa.Array) -> pa.Array:
            return _where(stale, _take(new, src), cur)

        sub_addr = _Address(
            house=merge_int(sub_addr.house, old.house),
            predir=merge_int(sub_addr.predir, old.predir),
            street=merge_int(sub_addr.street, old.street),
            suffix=merge_int(sub_addr.suffix, old.suffix),
            unit_kind=merge_int(sub_addr.unit_kind, old.unit_kind),
            unit_id=merge_str(sub_addr.unit_id, old.unit_id),
            city=merge_int(sub_addr.city, old.city),
            zip5=merge_str(sub_addr.zip5, old.zip5),
            zip4=merge_str(sub_addr.zip4, old.zip4),
        )

    alt = rng.random(m) < 0.30
    keep_unit = rng.random(m) >= 0.20
    address = _format_address(rng, sub_addr, ref, alt, keep_unit)
    billing_upper = rng.random(m) < 0.25
    address = _where(billing_upper, pc.utf8_upper(address), address)
    first = _where(billing_upper, pc.utf8_upper(first), first)
    last = _where(billing_upper, pc.utf8_upper(last), last)
    city = _take(ref.city_names, sub_addr.city)
    city = _where(billing_upper | (rng.random(m) < 0.1), pc.utf8_upper(city), city)
    zip_code = _where(
        rng.random(m) < 0.30, _join([sub_addr.zip5, sub_addr.zip4], "-"), sub_addr.zip5
    )

    # Contact fields: operators hold fewer, and some are different (new) ones.
    phone_digits = _take(people.phone_digits, holder)
    has = np.asarray(pc.is_valid(phone_digits), dtype=bool)
    fresh = _join(
        [
            _str(hh.area_code[sub_hh]),
            _str(rng.integers(201, 1000, m)),
            _digits(rng.integers(0, 10_000, m), 4),
        ]
    )
    phone_digits = _where(has & (rng.random(m) < 0.72), phone_digits, None)
    phone_digits = _where(~has & (rng.random(m) < 0.15), fresh, phone_digits)
    phone = _format_phone(rng, phone_digits, np.array([15.0, 30.0, 20.0, 15.0, 12.0, 8.0]))

    email = _take(people.email, holder)
    has = np.asarray(pc.is_valid(email), dtype=bool)
    email = _where(has & (rng.random(m) < 0.65), email, None)
    r = rng.random(m)
    email = _where(r < 0.08, pc.utf8_upper(email), _where(r < 0.18, pc.utf8_title(email), email))
    other_email = _emails(
        rng, _take(people.first_name, holder), _take(people.last_name, holder),
        people.birth_days[holder],
    )  # fmt: skip
    email = _where(~has & (rng.random(m) < 0.10), other_email, email)

    table = pa.table(
        {
            "household_id": household_id,
            "account_number": account,
            "first_name": first,
            "last_name": last,
            "address": address,
            "city": city,
            "state": pa.array(np.full(m, _STATE), pa.string()),
            "zip": zip_code,
            "phone": phone,
            "email": email,
        },
        schema=SUBSCRIBERS_SCHEMA,
    )
    return _Subscribers(hh=sub_hh, household_id=household_id, table=table)


def _truth(hh: _Households, people: _People, subs: _Subscribers, voter_id: pa.Array) -> pa.Table:
    sub_pos = np.full(hh.n, -1, dtype=np.int64)
    sub_pos[subs.hh] = np.arange(len(subs.hh))
    voter_sub = sub_pos[people.hh]
    covered = np.flatnonzero(voter_sub >= 0)
    table = pa.table(
        {
            "voter_id": _take(voter_id, covered),
            "household_id": _take(subs.household_id, voter_sub[covered]),
        },
        schema=VOTER_HOUSEHOLD_SCHEMA,
    )
    return table.sort_by("voter_id")


# --- viewing ----------------------------------------------------------------------------


@dataclass(frozen=True)
class _Tuning:
    hh: IntArray  # subscriber row per event
    channel: IntArray
    start_s: IntArray  # seconds from the start of the window
    end_s: IntArray
    light: BoolArray  # per subscriber row: under 2 h/day on average
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


def _viewing(
    rng: np.random.Generator,
    hh: _Households,
    people: _People,
    subs: _Subscribers,
    ref: _Reference,
    days: int,
    start: date,
) -> _Tuning:
    m = len(subs.hh)
    k = len(_COMPONENTS)
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
    mix[:, 1] = np.where(eth == _HISPANIC, 2.2, 0.01)
    mix[:, 2] = np.where(eth == _BLACK, 1.1, 0.04)
    mix[:, 3] = older * (r_share + 0.3 * i_share) * 0.9
    mix[:, 4] = older * (d_share + 0.3 * i_share) * 0.9
    mix[:, 5] = np.clip((60.0 - age) / 30.0, 0.0, 1.3) + 0.5 * pers
    mix[:, 6] = 0.2 + 0.6 * (1.0 - female) + 0.9 * pers
    mix[:, 7] = np.where(kids, 0.8, 0.0)
    mix[:, 8] = 0.3 + 0.7 * female
    mix[:, 9] = np.clip((age - 50.0) / 25.0, 0.0, 1.2)
    mix[:, 10] = 0.9
    mix *= het
    prime = [dp.name for dp in DAYPARTS].index("prime")
    favorites = _sample_channels(
        rng,
        np.repeat(np.arange(m), _N_FAVORITES),
        np.full(m * _N_FAVORITES, prime),
        mix,
        None,
        ref,
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
    sess_start = sess_day * _DAY + sess_qh * 900 + rng.integers(0, 900, len(sess_day))

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
    window = days * _DAY
    end_s = np.minimum(end_s, window)
    keep = (end_s - start_s >= _MIN_EVENT_S) & (start_s < window)
    ev_hh, start_s, end_s = ev_hh[keep], start_s[keep], end_s[keep]

    qh_dp = _qh_daypart()
    slot = weekend_day[start_s // _DAY] * len(DAYPARTS) + qh_dp[(start_s % _DAY) // 900]
    channel = _sample_channels(rng, ev_hh, slot, mix, favorites, ref)
    # A switch to the same channel is not a switch: draw once more.
    same = np.zeros(len(channel), dtype=bool)
    if len(channel) > 1:
        same[1:] = (
            (ev_hh[1:] == ev_hh[:-1]) & (start_s[1:] == end_s[:-1]) & (channel[1:] == channel[:-1])
        )
    if same.any():
        idx = np.flatnonzero(same)
        channel[idx] = _sample_channels(rng, ev_hh[idx], slot[idx], mix, favorites, ref)

    watched = np.bincount(ev_hh, weights=end_s - start_s, minlength=m)
    light = watched / days < 2 * 3600

    epoch = (start - date(1970, 1, 1)).days * _DAY
    table = pa.table(
        {
            "household_id": subs.household_id.take(pa.array(ev_hh)),
            "channel": ref.channel_codes.take(pa.array(channel)),
            "start": pa.array(start_s + epoch, pa.int64()).cast(pa.timestamp("s")),
            "end": pa.array(end_s + epoch, pa.int64()).cast(pa.timestamp("s")),
        },
        schema=VIEWING_SCHEMA,
    )
    return _Tuning(
        hh=ev_hh, channel=channel, start_s=start_s, end_s=end_s, light=light, table=table
    )


def _sample_channels(
    rng: np.random.Generator,
    ev_hh: IntArray,
    slot: IntArray,
    mix: FloatArray,
    favorites: IntArray | None,
    ref: _Reference,
) -> IntArray:
    """Channel per event: pick a taste component, then a channel within it (inverse CDF).

    Args:
        rng: Random stream.
        ev_hh: Subscriber row of each event.
        slot: ``day_type * len(DAYPARTS) + daypart`` of each event.
        mix: Household taste weights over ``_COMPONENTS``.
        favorites: Each household's favourite channels; None leaves that component out.
        ref: Reference data (per-component channel distributions).
    """
    n = len(ev_hh)
    k = mix.shape[1] if favorites is not None else _FAVORITES
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
    channel = np.zeros(n, dtype=np.int64)
    n_channels = ref.component_cdf.shape[1]
    for c in range(k):
        sel = np.flatnonzero(comp == c)
        if c == _FAVORITES and favorites is not None:
            channel[sel] = favorites[ev_hh[sel], rng.integers(0, favorites.shape[1], len(sel))]
        else:
            pick = np.searchsorted(ref.component_cdf[c], rng.random(len(sel)), side="right")
            channel[sel] = np.minimum(pick, n_channels - 1)
    return channel


# --- rate card --------------------------------------------------------------------------


def _ratecard(
    rng: np.random.Generator, tuning: _Tuning, subs: _Subscribers, ref: _Reference, days: int
) -> pa.Table:
    """Spot prices roughly proportional to expected audience; light-viewer channels cheaper."""
    seconds, light_seconds = _ratecard_seconds(tuning, ref)
    return _ratecard_prices(rng, seconds, light_seconds, len(subs.hh), ref, days)


def _daypart_intervals() -> list[tuple[int, int, int]]:
    """(start second, end second, daypart index) within a day; midnight-wrapping parts split."""
    intervals: list[tuple[int, int, int]] = []
    for i, dp in enumerate(DAYPARTS):
        if dp.wraps_midnight:
            intervals += [(dp.start_qh * 900, _DAY, i), (0, dp.end_qh * 900, i)]
        else:
            intervals.append((dp.start_qh * 900, dp.end_qh * 900, i))
    return intervals


def _ratecard_seconds(tuning: _Tuning, ref: _Reference) -> tuple[FloatArray, FloatArray]:
    """Tuned seconds per (channel, daypart) and light-viewer seconds per channel.

    Both are sums over events, so a streamed world adds them up chunk by chunk.
    """
    n_ch = len(ref.channel_codes)
    n_dp = len(DAYPARTS)
    intervals = _daypart_intervals()
    tod = tuning.start_s % _DAY
    end = tod + (tuning.end_s - tuning.start_s)
    light_ev = tuning.light[tuning.hh]
    seconds = np.zeros(n_ch * n_dp)
    light_seconds = np.zeros(n_ch)
    for shift in (0, _DAY):
        for a, b, i in intervals:
            overlap = np.clip(np.minimum(end, b + shift) - np.maximum(tod, a + shift), 0, None)
            seconds += np.bincount(
                tuning.channel * n_dp + i, weights=overlap, minlength=n_ch * n_dp
            )
            light_seconds += np.bincount(tuning.channel, weights=overlap * light_ev, minlength=n_ch)
    return seconds, light_seconds


def _ratecard_prices(
    rng: np.random.Generator,
    seconds: FloatArray,
    light_seconds: FloatArray,
    subscribers: int,
    ref: _Reference,
    days: int,
) -> pa.Table:
    """The rate card from the tuned-seconds totals of :func:`_ratecard_seconds`."""
    n_ch = len(ref.channel_codes)
    n_dp = len(DAYPARTS)
    dp_seconds = np.zeros(n_dp)
    for a, b, i in _daypart_intervals():
        dp_seconds[i] += b - a
    per_ch = seconds.reshape(n_ch, n_dp)
    n_sub = max(subscribers, 1)
    avg_households = per_ch / (dp_seconds * days)[None, :] * (_OHIO_TV_HOUSEHOLDS / n_sub)
    ch_total = per_ch.sum(axis=1)
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
    noise = rng.lognormal(0.0, 0.15, (n_ch, n_dp))
    cost = avg_households / 1000.0 * cpm[:, None] * discount[:, None] * noise
    cost = np.round(np.maximum(cost, 5.0), 2)
    spots = np.array([_GENRE_SPOTS_PER_HOUR.get(g, 2.5) for g in genres])
    units = np.maximum(
        1,
        np.rint(
            spots[:, None]
            * (dp_seconds / 3600.0)[None, :]
            * 7
            * rng.uniform(0.6, 1.4, (n_ch, n_dp))
        ),
    ).astype(np.int64)

    return pa.table(
        {
            "channel": ref.channel_codes.take(pa.array(np.repeat(np.arange(n_ch), n_dp))),
            "daypart": pa.array([dp.name for dp in DAYPARTS] * n_ch, pa.string()),
            "cost_per_spot": pa.array(cost.ravel(), pa.float64()),
            "units_available": pa.array(units.ravel(), pa.int64()),
        },
        schema=RATECARD_SCHEMA,
    )
