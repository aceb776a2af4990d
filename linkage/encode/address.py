"""Street addresses: address line 1 split into USPS Publication 28 components.

"123 N Main St Apt 4" and "123 North Main Street #4" must give the same
house number, street and unit on both sides, so parsing is table-driven
(USPS suffixes, directionals and unit designators, shipped in
:mod:`linkage.data` and read once) and positional: a word is a suffix or a
directional by where it stands, not by what it spells ("North Ave" is a
street named North). The parser never fails; what it cannot place stays in
the street name, which the fuzzy Bloom stage still compares.

Rules of our own, for forms real files hold: rural route and highway
contract boxes, one form per numbered-road system (county, state, US),
floors, "hundred" ordinals and fractional house numbers (docs/SCHEMA.md
lists them with what they cost). Our parser beats usaddress on ordinary
lines, so usaddress (a CRF tagger, imported lazily) only rescues the lines
our parse leaves without a house number or street.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from typing import Final

from linkage.encode.text import JOINERS, NAME_WORDS, fold, read_csv

__all__ = ["ParsedAddress", "UnitDesignator", "parse_street_address"]

# Suffix words that are followed by a route number ("Hwy 66", "County Rd 12"), so
# a trailing number there is part of the street, not a unit.
_NUMBERED_ROADS: Final = frozenset({"hwy", "fwy", "expy", "tpke", "rte", "pkwy", "byp", "rd"})
_UNIT_FILLERS: Final = frozenset({"no", "num", "number"})
_PO_BOX_PREFIXES: Final = (
    ("po", "box"),
    ("p", "o", "box"),
    ("pobox",),
    ("pob",),
    ("post", "office", "box"),
    ("box",),
)
# Rural route and highway contract boxes: "RR 2 Box 45" is box 45 on route "rr 2".
_BOX_GROUPS: Final = {
    ("rr",): "rr",
    ("r", "r"): "rr",
    ("rural", "route"): "rr",
    ("rural", "rte"): "rr",
    ("rural", "rt"): "rr",
    ("rt",): "rr",
    ("rte",): "rr",
    ("route",): "rr",
    ("rfd",): "rr",
    ("hc",): "hc",
    ("hcr",): "hc",
    ("highway", "contract"): "hc",
    ("hwy", "contract"): "hc",
    ("star", "route"): "hc",
}
_GLUED_BOX_GROUP: Final = re.compile(r"(rr|rfd|hcr?)(\d+)")
# Numbered county, state and US roads, one form each: the system decides the
# road, the word for it (road, route, highway) does not. Bare "Highway 40" and
# "Route 40" are left alone: the system is unknown, so merging them with a US,
# state or county road would be a guess (the fuzzy stage still compares them).
_ROAD_SYSTEMS: Final = {
    ("county", "road"): ("county", "rd"),
    ("county", "rd"): ("county", "rd"),
    ("county", "route"): ("county", "rd"),
    ("county", "rte"): ("county", "rd"),
    ("county", "highway"): ("county", "rd"),
    ("county", "hwy"): ("county", "rd"),
    ("co", "road"): ("county", "rd"),
    ("co", "rd"): ("county", "rd"),
    ("co", "rte"): ("county", "rd"),
    ("co", "hwy"): ("county", "rd"),
    ("cnty", "road"): ("county", "rd"),
    ("cnty", "rd"): ("county", "rd"),
    ("cty", "rd"): ("county", "rd"),
    ("cty", "hwy"): ("county", "rd"),
    ("state", "route"): ("state", "rte"),
    ("state", "rte"): ("state", "rte"),
    ("state", "rt"): ("state", "rte"),
    ("state", "road"): ("state", "rte"),
    ("state", "rd"): ("state", "rte"),
    ("state", "highway"): ("state", "rte"),
    ("state", "hwy"): ("state", "rte"),
    ("st", "route"): ("state", "rte"),
    ("st", "rte"): ("state", "rte"),
    ("st", "rt"): ("state", "rte"),
    ("st", "rd"): ("state", "rte"),
    ("st", "hwy"): ("state", "rte"),
    ("us", "highway"): ("us", "hwy"),
    ("us", "hwy"): ("us", "hwy"),
    ("us", "route"): ("us", "hwy"),
    ("us", "rte"): ("us", "hwy"),
    ("us", "rt"): ("us", "hwy"),
}
# Two-letter forms ("CR 12", "SR-4", "US 40") only open a street and need a digit,
# so "Mill Cr" (creek) and "Old State St" keep their meaning.
_ROAD_ABBREVIATIONS: Final = {"cr": ("county", "rd"), "sr": ("state", "rte"), "us": ("us", "hwy")}
_GLUED_ROAD: Final = re.compile(r"(cr|sr|us)(\d+[a-z]?)")
_ROUTE_ID: Final = re.compile(r"\d+[a-z]?|[a-z]{1,2}")
_FLOOR_WORDS: Final = frozenset({"fl", "floor", "flr"})
_NUMBERED: Final = re.compile(r"(\d+)(?:st|nd|rd|th)?")
_VULGAR_FRACTIONS: Final = str.maketrans(
    {"¼": " 1/4", "½": " 1/2", "¾": " 3/4", "⅓": " 1/3", "⅔": " 2/3", "⁄": "/"}
)
# "12-1/2" and "12 - 1/2": a dash between a house number and its fraction.
_DASHED_FRACTION: Final = re.compile(r"(?<=\d)\s*[-‐‑‒–—]\s*(?=\d+/\d+)")
_FRACTION: Final = re.compile(r"\d+/\d+")
# "123", "123b"; not "1st", which starts a street name ("1st Ave").
_HOUSE_NUMBER: Final = re.compile(r"\d+[a-z]?")
_SLASH_NOT_FRACTION: Final = re.compile(r"(?<!\d)/|/(?!\d)")

_ORDINAL_UNITS: Final = {
    "first": 1,
    "second": 2,
    "third": 3,
    "fourth": 4,
    "fifth": 5,
    "sixth": 6,
    "seventh": 7,
    "eighth": 8,
    "ninth": 9,
}
_ORDINAL_TEENS: Final = {
    "tenth": 10,
    "eleventh": 11,
    "twelfth": 12,
    "thirteenth": 13,
    "fourteenth": 14,
    "fifteenth": 15,
    "sixteenth": 16,
    "seventeenth": 17,
    "eighteenth": 18,
    "nineteenth": 19,
}
_TENS: Final = {
    "twenty": 20,
    "thirty": 30,
    "forty": 40,
    "fifty": 50,
    "sixty": 60,
    "seventy": 70,
    "eighty": 80,
    "ninety": 90,
}
_TENS_ORDINALS: Final = {
    "twentieth": 20,
    "thirtieth": 30,
    "fortieth": 40,
    "fiftieth": 50,
    "sixtieth": 60,
    "seventieth": 70,
    "eightieth": 80,
    "ninetieth": 90,
}
# USPS' old "2D"/"3D" spellings.
_SHORT_ORDINALS: Final = {"2d": "2nd", "3d": "3rd"}
_CARDINAL_UNITS: Final = {
    "one": 1,
    "two": 2,
    "three": 3,
    "four": 4,
    "five": 5,
    "six": 6,
    "seven": 7,
    "eight": 8,
    "nine": 9,
}
_ORDINAL_NUMBER: Final = re.compile(r"(\d{1,2})(?:st|nd|rd|th)")


def _ordinal(n: int) -> str:
    tail = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{tail}"


def _build_ordinal_words() -> dict[str, str]:
    words: dict[str, str] = {}
    for word, n in (_ORDINAL_UNITS | _ORDINAL_TEENS | _TENS_ORDINALS).items():
        words[word] = _ordinal(n)
    for tens, t in _TENS.items():
        for unit, u in _ORDINAL_UNITS.items():
            words[tens + unit] = _ordinal(t + u)  # "twenty-first" after hyphen joining
    return words


_ORDINAL_WORDS: Final = _build_ordinal_words()


@dataclass(frozen=True, slots=True)
class UnitDesignator:
    """One USPS Publication 28 Appendix C2 secondary unit designator."""

    standard: str
    requires_range: bool
    strong: bool


@dataclass(frozen=True, slots=True)
class _AddressTables:
    suffixes: Mapping[str, str]
    directions: Mapping[str, str]
    units: Mapping[str, UnitDesignator]


@cache
def _address_tables() -> _AddressTables:
    suffix_rows = read_csv("usps_suffixes.csv")
    # Standard forms map to themselves so normalised output re-parses unchanged.
    suffixes = {r["standard"].lower(): r["standard"].lower() for r in suffix_rows}
    suffixes |= {r["common"].lower(): r["standard"].lower() for r in suffix_rows}
    directions = {r["spelling"]: r["standard"] for r in read_csv("usps_directions.csv")}
    units = {
        r["spelling"]: UnitDesignator(
            standard=r["standard"],
            requires_range=r["requires_range"] == "1",
            strong=r["strength"] == "strong",
        )
        for r in read_csv("usps_unit_designators.csv")
    }
    return _AddressTables(suffixes=suffixes, directions=directions, units=units)


@dataclass(frozen=True, slots=True)
class ParsedAddress:
    """Address line 1 split into USPS components, all lower-case, None when absent.

    Attributes:
        house_number: Primary number, e.g. ``"123"``, ``"12b"``, ``"10 1/2"``.
        predir: Pre-directional abbreviation (``"n"``, ``"sw"``...).
        name: Street name words (``"main"``, ``"1st"``, ``"st clair"``).
        suffix: USPS standard suffix abbreviation (``"st"``, ``"ave"``...).
        postdir: Post-directional abbreviation.
        unit: Secondary unit value only (``"4b"`` for ``Apt 4-B``), or the
            designator itself for rangeless ones (``"rear"``).
    """

    house_number: str | None = None
    predir: str | None = None
    name: str | None = None
    suffix: str | None = None
    postdir: str | None = None
    unit: str | None = None

    @property
    def street(self) -> str | None:
        """Predir + name + suffix + postdir joined by single spaces (None without a name)."""
        if self.name is None:
            return None
        parts = (self.predir, self.name, self.suffix, self.postdir)
        return " ".join(p for p in parts if p is not None)


_EMPTY_ADDRESS: Final = ParsedAddress()


def _address_tokens(text: str) -> list[str]:
    if not text.isascii():
        text = text.translate(_VULGAR_FRACTIONS)
    if "/" in text:
        text = _DASHED_FRACTION.sub(" ", text)
    folded = fold(text).replace("#", " # ")
    folded = JOINERS.sub("", folded)
    folded = _SLASH_NOT_FRACTION.sub(" ", folded)
    return re.sub(r"[^\w\s#/]|_", " ", folded).split()


def _is_unit_value(token: str, directions: Mapping[str, str]) -> bool:
    has_digit = any(ch.isdigit() for ch in token)
    return has_digit or (len(token) == 1 and token not in directions)


def _split_unit(tokens: list[str], tables: _AddressTables) -> tuple[list[str], str | None]:
    """Split street tokens from the secondary unit; returns (street tokens, unit)."""
    start = None
    for i in range(1, len(tokens)):
        designator = tables.units.get(tokens[i])
        if designator is None:
            continue
        prev = tokens[i - 1]
        if designator.strong or prev in tables.suffixes or prev in tables.directions:
            start = i
            break
    if start is None:
        return _split_bare_unit(tokens, tables)
    groups: list[str] = []
    current: list[str] = []
    current_designator: UnitDesignator | None = None

    def close() -> None:
        if current and current_designator is not None and current_designator.standard == "fl":
            # A floor keeps its designator: "Fl 3" is not apartment 3.
            value = "".join(current)
            floor = _NUMBERED.fullmatch(value)
            groups.append(f"fl {floor.group(1) if floor else value}")
        elif current:
            groups.append("".join(current))
        elif current_designator is not None and not current_designator.requires_range:
            groups.append(current_designator.standard)

    for token in tokens[start:]:
        designator = tables.units.get(token)
        if designator is not None:
            close()
            current = []
            current_designator = designator
        elif token not in _UNIT_FILLERS:
            current.append(token)
    close()
    if not groups:
        return _split_bare_unit(tokens[:start], tables)
    return tokens[:start], " ".join(groups)


def _split_bare_unit(tokens: list[str], tables: _AddressTables) -> tuple[list[str], str | None]:
    """Split a designator-less unit: a value right after a suffix (``Main St 4B``).

    Numbered roads (``Hwy 66``, ``County Rd 12``) keep their number.
    """
    if (
        len(tokens) >= 3
        and _is_unit_value(tokens[-1], tables.directions)
        and tokens[-2] in tables.suffixes
        and tables.suffixes[tokens[-2]] not in _NUMBERED_ROADS
    ):
        return tokens[:-1], tokens[-1]
    return tokens, None


def _combine_ordinals(tokens: list[str]) -> list[str]:
    out: list[str] = []
    i = 0
    while i < len(tokens):
        token = tokens[i]
        nxt = tokens[i + 1] if i + 1 < len(tokens) else None
        if token in _TENS and nxt in _ORDINAL_UNITS:
            out.append(_ordinal(_TENS[token] + _ORDINAL_UNITS[nxt]))
            i += 2
            continue
        out.append(_ORDINAL_WORDS.get(token, _SHORT_ORDINALS.get(token, token)))
        i += 1
    return _combine_hundreds(out)


def _combine_hundreds(tokens: list[str]) -> list[str]:
    """``one hundred [and] 12th`` -> ``112th``; ``two hundredth`` -> ``200th``."""
    if "hundred" not in tokens and "hundredth" not in tokens:
        return tokens
    out: list[str] = []
    i = 0
    while i < len(tokens):
        hundreds = _CARDINAL_UNITS.get(tokens[i])
        nxt = tokens[i + 1] if i + 1 < len(tokens) else None
        if hundreds is not None and nxt == "hundredth":
            out.append(_ordinal(100 * hundreds))
            i += 2
            continue
        if hundreds is not None and nxt == "hundred":
            j = i + 2
            if j < len(tokens) and tokens[j] == "and":
                j += 1
            tail = _ORDINAL_NUMBER.fullmatch(tokens[j]) if j < len(tokens) else None
            if tail is not None:
                out.append(_ordinal(100 * hundreds + int(tail.group(1))))
                i = j + 1
                continue
        out.append(tokens[i])
        i += 1
    return out


def _canonical_roads(tokens: list[str]) -> list[str]:
    """County, state and US road synonyms -> one form (``Co Rd 12`` -> ``county rd 12``)."""
    if not tokens:
        return tokens
    glued = _GLUED_ROAD.fullmatch(tokens[0])
    if glued is not None:  # "CR-12" was joined into "cr12"
        tokens = [glued.group(1), glued.group(2), *tokens[1:]]
    if len(tokens) >= 2 and tokens[0] in _ROAD_ABBREVIATIONS and tokens[1][0].isdigit():
        return [*_ROAD_ABBREVIATIONS[tokens[0]], *tokens[1:]]
    # Only where a street starts (after a directional): in "Old State Rd 4B" the
    # 4B is a unit of a road named Old State.
    i = 1 if tokens[0] in _address_tables().directions else 0
    system = _ROAD_SYSTEMS.get((tokens[i], tokens[i + 1])) if len(tokens) >= i + 3 else None
    if system is not None and _ROUTE_ID.fullmatch(tokens[i + 2]):
        return [*tokens[:i], *system, *tokens[i + 2 :]]
    return tokens


def _floors_first(tokens: list[str]) -> list[str]:
    """``3rd Fl`` -> ``fl 3rd``, so the floor reads as a unit, not a street word."""
    if _FLOOR_WORDS.isdisjoint(tokens):
        return tokens
    out = list(tokens)
    for i in range(2, len(out)):  # "3rd Fl" at the start is a street named 3rd
        if out[i] in _FLOOR_WORDS and _NUMBERED.fullmatch(out[i - 1]):
            out[i - 1], out[i] = out[i], out[i - 1]
    return out


def _standardize_name_words(
    words: list[str], tables: _AddressTables, *, has_suffix: bool
) -> list[str]:
    last = len(words) - 1
    return [
        # "Avenue B", "Route 66", a lone "Park": the suffix word is the name.
        tables.suffixes[word]
        if word in tables.suffixes
        and (
            (last == 0 and not has_suffix)
            or (i == last - 1 and _is_unit_value(words[last], tables.directions))
        )
        else word
        for i, word in enumerate(words)
    ]


def _po_box(tokens: list[str]) -> ParsedAddress | None:
    glued = _GLUED_BOX_GROUP.fullmatch(tokens[0])
    if glued is not None:  # "RR2 Box 45"
        tokens = [glued.group(1), glued.group(2), *tokens[1:]]
    rural = _rural_box(tokens)
    if rural is not None:
        return rural
    for prefix in _PO_BOX_PREFIXES:
        n = len(prefix)
        if tuple(tokens[:n]) == prefix and len(tokens) > n and _HOUSE_NUMBER.fullmatch(tokens[n]):
            if len(tokens) > n + 1:  # "Box 45 RR 2": the route after the box
                rural = _rural_box([*tokens[n + 1 :], "box", tokens[n]])
                if rural is not None:
                    return rural
            return ParsedAddress(house_number=tokens[n], name="po box")
    return None


def _rural_box(tokens: list[str]) -> ParsedAddress | None:
    """``RR 2 Box 45`` / ``Rural Route 2, Box 45`` / ``HC 1 Box 12`` -> box on route."""
    for prefix, group in _BOX_GROUPS.items():
        n = len(prefix)
        if tuple(tokens[:n]) != prefix or len(tokens) < n + 3:
            continue
        route, rest = tokens[n], tokens[n + 1 :]
        if not route.isdigit():
            return None
        for box in _PO_BOX_PREFIXES:
            m = len(box)
            if tuple(rest[:m]) == box and len(rest) > m and _HOUSE_NUMBER.fullmatch(rest[m]):
                return ParsedAddress(house_number=rest[m], name=f"{group} {int(route)}")
        return None
    return None


def parse_street_address(value: str | None) -> ParsedAddress:
    """Parse an address line 1 into USPS Publication 28 components.

    ``"123 N Main St Apt 4"`` and ``"123 North Main Street #4"`` both give
    ``house_number="123", predir="n", name="main", suffix="st", unit="4"``.
    Suffixes and directionals are recognised by position (a lone ``"North"``
    before a suffix is the street name); unit designators (Apt, #, Unit, Ste,
    Rm, Bldg...) keep only the unit value, except a floor (``3rd Fl``,
    ``Floor 3`` -> ``"fl 3"``); ordinal words become ``1st`` (``One Hundred
    Twelfth`` -> ``112th``); ``12-1/2`` and ``12½`` give house number
    ``"12 1/2"``. PO boxes give ``house_number=<box>, name="po box"``, rural
    routes and highway contracts ``name="rr 2"`` / ``"hc 1"``. County, state
    and US roads take one form each (``CR 12``, ``Co Rd 12`` -> ``county rd
    12``; ``SR 4``, ``State Route 4`` -> ``state rte 4``; ``US Route 40`` ->
    ``us hwy 40``); a bare ``Highway 40`` stays ``hwy 40``. A line left
    without a house number or street is re-read with usaddress.

    Args:
        value: The address line as written, or None.

    Returns:
        The components; every field is None for None/empty input.
    """
    if value is None:
        return _EMPTY_ADDRESS
    parsed = _parse_tokens(_address_tokens(value))
    if _needs_rescue(parsed, value):
        rescued = _usaddress_rescue(value)
        if rescued is not None:
            return rescued
    return parsed


def _parse_tokens(tokens: list[str]) -> ParsedAddress:
    """Our positional parser over folded tokens (see :func:`parse_street_address`)."""
    if not tokens:
        return _EMPTY_ADDRESS
    tables = _address_tables()
    box = _po_box(tokens)
    if box is not None:
        return box
    house: str | None = None
    if _HOUSE_NUMBER.fullmatch(tokens[0]):
        house = tokens[0].lstrip("0") or "0"
        tokens = tokens[1:]
        if tokens and _FRACTION.fullmatch(tokens[0]):
            house = f"{house} {tokens[0]}"
            tokens = tokens[1:]
    tokens = _floors_first(_combine_ordinals(_canonical_roads(tokens)))
    # Saint/Mount/Fort only before another word ("Saint Clair"), so a trailing
    # "st" is never both a name word and the suffix.
    tokens = [NAME_WORDS.get(t, t) for t in tokens[:-1]] + tokens[-1:]
    street, unit = _split_unit(tokens, tables)
    predir = suffix = postdir = None
    if len(street) >= 2 and street[-1] in tables.directions:
        postdir = tables.directions[street.pop()]
    if len(street) >= 2 and street[-1] in tables.suffixes:
        suffix = tables.suffixes[street.pop()]
    if len(street) >= 2 and street[0] in tables.directions:
        predir = tables.directions[street.pop(0)]
    words = _standardize_name_words(street, tables, has_suffix=suffix is not None)
    name = " ".join(words) or None
    if name is None:
        return ParsedAddress(house_number=house, unit=unit)
    return ParsedAddress(house, predir, name, suffix, postdir, unit)


# usaddress labels, in the order our parser reads a street line.
_RESCUE_STREET_LABELS: Final = (
    "StreetNamePreDirectional",
    "StreetNamePreModifier",
    "StreetNamePreType",
    "StreetName",
    "StreetNamePostType",
    "StreetNamePostDirectional",
)
_RESCUE_UNIT_LABELS: Final = (
    "SubaddressType",
    "SubaddressIdentifier",
    "BuildingName",
    "OccupancyType",
    "OccupancyIdentifier",
)
_DIGIT: Final = re.compile(r"\d")
_GRID_HOUSE_NUMBER: Final = re.compile(r"[nsew]?\d+[a-z]?")  # Wisconsin "N4567"


def _needs_rescue(parsed: ParsedAddress, value: str) -> bool:
    """Our parse lacks a house number or street, and the line could hold one."""
    if parsed.house_number is None:
        return _DIGIT.search(value) is not None
    return parsed.name is None


def _usaddress_rescue(value: str) -> ParsedAddress | None:
    """Re-read a line our parser could not split with usaddress' CRF tagger.

    Used only for the lines our parse leaves without a house number or street
    (``"Apt 4 123 Main St"``, ``"N4567 County Rd K"``), and only when usaddress
    finds both: its labels are put back in street order and read by our own
    parser, so the output uses the same USPS forms. A rescued key depends on
    the usaddress model, so both parties should pin one version.
    """
    import usaddress  # imported here: only the rare unparsed line needs the model

    try:
        tagged, _ = usaddress.tag(value)
    except usaddress.RepeatedLabelError:
        return None
    number = " ".join(
        tagged[label] for label in ("AddressNumber", "AddressNumberSuffix") if label in tagged
    )
    house_tokens = _address_tokens(number)
    if not house_tokens or not _GRID_HOUSE_NUMBER.fullmatch(house_tokens[0]):
        return None
    if not all(_FRACTION.fullmatch(t) for t in house_tokens[1:]):
        return None
    house = " ".join([house_tokens[0].lstrip("0") or "0", *house_tokens[1:]])
    street = " ".join(tagged[label] for label in _RESCUE_STREET_LABELS if label in tagged)
    units = " ".join(tagged[label] for label in _RESCUE_UNIT_LABELS if label in tagged)
    # A dummy number keeps the first street word from being read as one.
    parsed = _parse_tokens(_address_tokens(f"1 {street} # {units}" if units else f"1 {street}"))
    if parsed.name is None:
        return None
    return ParsedAddress(
        house,
        parsed.predir,
        parsed.name,
        parsed.suffix,
        parsed.postdir,
        parsed.unit,
    )
