"""The synthetic population: households, their addresses, the people in them, the voter file.

Households come first (size, ethnicity, city, a unique address, an area code),
then the people in them: ages that make spouses and adult children plausible,
Census-style names by ethnicity with a synthesised rare tail, party and model
scores that follow demographics, phones and e-mails. :func:`voter_table`
formats them as the campaign's voter file, with the light noise a real one has.

The address and phone formatters are shared with the subscriber file, which
prints the same facts in the operator's style.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from linkage.synth._arrays import (
    BoolArray,
    FloatArray,
    IntArray,
    choose,
    constant,
    digit_strings,
    draw,
    draw_by_group,
    int_strings,
    join,
    take,
    unique_ints,
    where,
)
from linkage.synth.corruption import noisy_case
from linkage.synth.reference import ETHNICITIES, HISPANIC, Reference
from linkage.synth.schemas import VOTERS_SCHEMA

__all__ = [
    "STATE",
    "Address",
    "Households",
    "People",
    "draw_addresses",
    "draw_emails",
    "draw_households",
    "draw_people",
    "format_address",
    "format_phone",
    "voter_table",
]

STATE = "OH"

_ETH_MIX = np.array([0.66, 0.16, 0.11, 0.04, 0.03])

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


def _synth_names(rng: np.random.Generator, n: int, parts: tuple[tuple[str, ...], ...]) -> pa.Array:
    """Plausible rare names from syllable tables (the long tail beyond the name lists)."""
    pieces = [take(pa.array(p, pa.string()), rng.integers(0, len(p), n)) for p in parts]
    return join(pieces)


@dataclass(frozen=True)
class Address:
    """A household address as indices into the reference tables (formatted later)."""

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
class Households:
    """The households of a chunk; voters of household ``i`` are ``offset[i]`` onward."""

    n: int
    size: IntArray
    offset: IntArray  # index of the household's first voter
    ethnicity: IntArray
    address: Address
    area_code: IntArray


def draw_addresses(
    rng: np.random.Generator, city: IntArray, ref: Reference, avoid_street: IntArray | None = None
) -> Address:
    """Addresses in ``city``; ``avoid_street`` forces a different street (a move)."""
    n = len(city)
    house = np.clip(np.rint(rng.lognormal(np.log(900.0), 1.05, n)), 1, 29_999).astype(np.int64)
    predir = draw(rng, _PREDIR_P, n)
    street = draw(rng, ref.street_weight, n)
    if avoid_street is not None:
        same = street == avoid_street
        street[same] = (street[same] + 1 + rng.integers(0, 20, int(same.sum()))) % len(
            ref.street_weight
        )
    suffix = draw(rng, np.array([s[2] for s in _SUFFIXES]), n)
    p_unit = np.where(ref.city_big[city], 0.21, 0.11)
    has_unit = rng.random(n) < p_unit
    unit_kind = np.where(has_unit, np.where(rng.random(n) < 0.8, 1, 2), 0)
    style = rng.random(n)
    num = int_strings(rng.integers(1, 25, n))
    letter = take(pa.array(list("ABCDEF"), pa.string()), rng.integers(0, 6, n))
    unit_id = choose(
        np.where(style < 0.6, 0, np.where(style < 0.8, 1, 2)),
        [
            num,
            join([num, letter]),
            int_strings(rng.integers(1, 5, n) * 100 + rng.integers(1, 21, n)),
        ],
    )
    unit_id = where(has_unit, unit_id, None)
    zip5 = np.empty(n, dtype=object)
    for c in np.unique(city):
        sel = np.flatnonzero(city == c)
        zips = ref.city_zips[int(c)]
        zip5[sel] = np.asarray(zips, dtype=object)[rng.integers(0, len(zips), len(sel))]
    return Address(
        house=house,
        predir=predir,
        street=street,
        suffix=suffix,
        unit_kind=unit_kind,
        unit_id=unit_id,
        city=city,
        zip5=pa.array(zip5, pa.string()),
        zip4=digit_strings(rng.integers(1, 10_000, n), 4),
    )


def _dedupe_addresses(rng: np.random.Generator, addr: Address) -> Address:
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
    return Address(
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


def draw_households(rng: np.random.Generator, n_voters: int, ref: Reference) -> Households:
    """Households totalling ``n_voters`` people, each at a unique address."""
    sizes = _SIZE_VALUES[draw(rng, _SIZE_P, n_voters)].astype(np.int64)
    cum = np.cumsum(sizes)
    last = int(np.searchsorted(cum, n_voters))
    sizes = sizes[: last + 1].copy()
    sizes[last] -= int(cum[last]) - n_voters
    n = len(sizes)
    ethnicity = draw(rng, _ETH_MIX, n)
    city = draw_by_group(rng, ref.city_weight, ethnicity)
    addr = _dedupe_addresses(rng, draw_addresses(rng, city, ref))
    area_code = np.zeros(n, dtype=np.int64)
    for c in np.unique(city):
        sel = np.flatnonzero(city == c)
        codes = np.array(ref.city_area_codes[int(c)])
        area_code[sel] = codes[rng.integers(0, len(codes), len(sel))]
    return Households(
        n=n,
        size=sizes,
        offset=np.cumsum(sizes) - sizes,
        ethnicity=ethnicity,
        address=addr,
        area_code=area_code,
    )


@dataclass(frozen=True)
class People:
    """The voters of a chunk, in household order, with their true attributes."""

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


def draw_people(rng: np.random.Generator, hh: Households, ref: Reference, start: date) -> People:
    """The people of every household, as of ``start``."""
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
    ethnicity[mixed] = draw(rng, _ETH_MIX, int(mixed.sum()))

    # Surnames: shared within the household mostly.
    own_surname = draw_by_group(rng, ref.surname_weight, ethnicity)
    p_share = np.select([spouse, child, other], [0.8, 0.9, 0.08], 1.0)
    share = ~is_primary & (rng.random(n) < p_share)
    synth_surname = rng.random(n) < _SYNTH_SURNAME_P[ethnicity]
    surname = take(ref.surnames, own_surname)
    anglo = _synth_names(rng, n, _SURNAME_PARTS)
    hisp = _synth_names(rng, n, _HISPANIC_SURNAME_PARTS)
    surname = where(synth_surname, where(ethnicity == HISPANIC, hisp, anglo), surname)
    surname = take(surname, np.where(share, primary, np.arange(n)))

    # Given names by sex and ethnicity, plus a synthesised tail.
    given_idx = draw_by_group(
        rng, ref.given_weight.reshape(-1, len(ref.given_names)), sex * 5 + ethnicity
    )
    synth_given = rng.random(n) < _SYNTH_GIVEN_P
    given_idx[synth_given] = -1
    synth = choose(
        sex,
        [_synth_names(rng, n, _GIVEN_PARTS["M"]), _synth_names(rng, n, _GIVEN_PARTS["F"])],
    )
    first_name = where(synth_given, synth, take(ref.given_names, np.maximum(given_idx, 0)))
    middle_idx = draw_by_group(
        rng, ref.given_weight.reshape(-1, len(ref.given_names)), sex * 5 + ethnicity
    )
    middle_full = take(ref.given_names, middle_idx)
    m = rng.random(n)
    middle = where(
        m < 0.5,
        middle_full,
        where(m < 0.72, pc.utf8_slice_codeunits(middle_full, 0, 1), None),
    )
    s = rng.random(n)
    suffix = where(
        (sex == 0) & (s < 0.06),
        take(
            pa.array(["Jr", "Sr", "II", "III"], pa.string()),
            draw(rng, np.array([3.5, 1.2, 0.8, 0.5]), n),
        ),
        None,
    )

    party = draw_by_group(rng, _PARTY_P, ethnicity)
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
    digits = join(
        [
            int_strings(hh.area_code[hh_of]),
            int_strings(exchange),
            digit_strings(rng.integers(0, 10_000, n), 4),
        ]
    )
    digits = take(digits, np.where(~is_primary & (rng.random(n) < 0.12), primary, np.arange(n)))
    phone_digits = where(has_phone, digits, None)

    email = draw_emails(rng, first_name, surname, birth_days)
    email = where(rng.random(n) < 0.5, email, None)

    return People(
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


def draw_emails(
    rng: np.random.Generator, first: pa.Array, last: pa.Array, birth_days: IntArray
) -> pa.Array:
    """One plausible address per person, from their names and birth year."""
    n = len(first)
    f = pc.replace_substring_regex(pc.utf8_lower(first), "[^a-z0-9]", "")
    la = pc.replace_substring_regex(pc.utf8_lower(last), "[^a-z0-9]", "")
    initial = pc.utf8_slice_codeunits(f, 0, 1)
    yy = digit_strings((1970 + birth_days // 365) % 100, 2)
    num = int_strings(rng.integers(1, 1000, n))
    local = choose(
        draw(rng, np.array([20.0, 14.0, 12.0, 6.0, 14.0, 10.0, 16.0, 8.0]), n),
        [
            join([f, la], "."),
            join([f, la]),
            join([initial, la]),
            join([f, la], "_"),
            join([f, la, yy]),
            join([f, num]),
            join([initial, la, num]),
            join([la, f], "."),
        ],
    )
    domains = pa.array([d for d, _ in _EMAIL_DOMAINS], pa.string())
    domain = take(domains, draw(rng, np.array([w for _, w in _EMAIL_DOMAINS]), n))
    return join([local, domain], "@")


def format_address(
    rng: np.random.Generator, addr: Address, ref: Reference, alt: BoolArray, keep_unit: BoolArray
) -> pa.Array:
    """Address line 1; ``alt`` rows use expanded words and ``#`` units (operator style)."""
    n = len(addr.house)
    abbr = pa.array([None, *_PREDIR_ABBR], pa.string())
    full = pa.array([None, *_PREDIR_FULL], pa.string())
    predir = where(alt & (rng.random(n) < 0.8), take(full, addr.predir), take(abbr, addr.predir))
    suf_abbr = take(pa.array([s[0] for s in _SUFFIXES], pa.string()), addr.suffix)
    suf_full = take(pa.array([s[1] for s in _SUFFIXES], pa.string()), addr.suffix)
    dotted = join([suf_abbr, constant(".", n)])
    r = rng.random(n)
    suffix = where(alt, where(r < 0.75, suf_full, dotted), suf_abbr)
    designator = take(pa.array([None, "Apt", "Unit"], pa.string()), addr.unit_kind)
    voter_unit = join([designator, addr.unit_id], " ")
    r = rng.random(n)
    alt_unit = choose(
        np.where(r < 0.55, 0, np.where(r < 0.8, 1, 2)),
        [
            join([constant("#", n), addr.unit_id]),
            join([constant("Apartment", n), addr.unit_id], " "),
            voter_unit,
        ],
    )
    unit = where(alt, alt_unit, voter_unit)
    unit = where(keep_unit & (addr.unit_kind > 0), unit, None)
    return join(
        [int_strings(addr.house), predir, take(ref.streets, addr.street), suffix, unit], " "
    )


def format_phone(rng: np.random.Generator, digits: pa.Array, weights: FloatArray) -> pa.Array:
    """Phone strings in assorted formats chosen with ``weights`` over the list below."""
    n = len(digits)
    a = pc.utf8_slice_codeunits(digits, 0, 3)
    x = pc.utf8_slice_codeunits(digits, 3, 6)
    line = pc.utf8_slice_codeunits(digits, 6, 10)

    def lit(text: str) -> pa.Array:
        return constant(text, n)

    options = [
        digits,  # 6145550123
        join([lit("("), a, lit(") "), x, lit("-"), line]),  # (614) 555-0123
        join([a, x, line], "-"),  # 614-555-0123
        join([a, x, line], "."),  # 614.555.0123
        join([lit("+1"), a, x, line], " "),  # +1 614 555 0123
        join([lit("1"), digits]),  # 16145550123
    ]
    formatted = choose(draw(rng, weights, n), options)
    return where(np.asarray(pc.is_valid(digits), dtype=bool), formatted, None)


def voter_table(
    rng: np.random.Generator,
    hh: Households,
    people: People,
    ref: Reference,
    part: tuple[int, int] = (0, 1),
) -> tuple[pa.Table, pa.Array]:
    """The voter file (sorted by voter_id) and the voter ids in generation order."""
    n = len(people.hh)
    ids = unique_ints(rng, n, 10**9, part)
    order = np.argsort(ids, kind="stable")
    voter_id = join([constant("OH", n), digit_strings(ids, 9)])

    upper_name = rng.random(n) < 0.04
    first = where(upper_name, pc.utf8_upper(people.first_name), people.first_name)
    middle = where(upper_name, pc.utf8_upper(people.middle_name), people.middle_name)
    last = where(upper_name, pc.utf8_upper(people.last_name), people.last_name)
    last = where(rng.random(n) < 0.01, join([last, constant(" ", n)]), last)

    # Household addresses, formatted once per household and then spread to members.
    all_hh = np.ones(hh.n, dtype=bool)
    line = format_address(rng, hh.address, ref, ~all_hh, all_hh)
    line = take(line, people.hh)
    line = noisy_case(rng, line, 0.03)
    line = where(
        rng.random(n) < 0.02, pc.replace_substring(line, " ", "  ", max_replacements=1), line
    )
    city = noisy_case(rng, take(ref.city_names, hh.address.city[people.hh]), 0.05)
    zip5 = take(hh.address.zip5, people.hh)
    zip9 = join([zip5, take(hh.address.zip4, people.hh)], "-")
    zip_code = where(rng.random(n) < 0.15, zip9, zip5)

    phone = format_phone(rng, people.phone_digits, np.array([50.0, 25.0, 25.0, 0.0, 0.0, 0.0]))
    email = where(rng.random(n) < 0.03, pc.utf8_upper(people.email), people.email)

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
            "gender": take(pa.array(["M", "F"], pa.string()), people.sex),
            "address": line,
            "city": city,
            "state": constant(STATE, n),
            "zip": zip_code,
            "phone": phone,
            "email": email,
            "ethnicity": take(pa.array(ETHNICITIES, pa.string()), people.ethnicity),
            "party": take(pa.array(_PARTIES, pa.string()), people.party),
            "support_score": pa.array(people.support.astype(np.int16), pa.int16()),
            "turnout_score": pa.array(people.turnout.astype(np.int16), pa.int16()),
            "gotv_score": pa.array(people.gotv.astype(np.int16), pa.int16()),
            "persuasion_score": pa.array(people.persuasion.astype(np.int16), pa.int16()),
        },
        schema=VOTERS_SCHEMA,
    )
    return table.take(pa.array(order)), voter_id
