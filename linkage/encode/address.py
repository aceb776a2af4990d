"""Street addresses: address line 1 split into USPS Publication 28 components.

"123 N Main St Apt 4" and "123 North Main Street #4" must give the same
house number, street and unit on both sides, so parsing is table-driven
(USPS suffixes, directionals and unit designators, shipped in
:mod:`linkage.data` and read once) and positional: a word is a suffix or a
directional by where it stands, not by what it spells ("North Ave" is a
street named North). The parser never fails; what it cannot place stays in
the street name, which the fuzzy Bloom stage still compares.
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
    ("post", "office", "box"),
    ("box",),
)
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
        if current:
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
    for prefix in _PO_BOX_PREFIXES:
        n = len(prefix)
        if tuple(tokens[:n]) == prefix and len(tokens) > n and _HOUSE_NUMBER.fullmatch(tokens[n]):
            return ParsedAddress(house_number=tokens[n], name="po box")
    return None


def parse_street_address(value: str | None) -> ParsedAddress:
    """Parse an address line 1 into USPS Publication 28 components.

    ``"123 N Main St Apt 4"`` and ``"123 North Main Street #4"`` both give
    ``house_number="123", predir="n", name="main", suffix="st", unit="4"``.
    Suffixes and directionals are recognised by position (a lone ``"North"``
    before a suffix is the street name); unit designators (Apt, #, Unit, Ste,
    Fl, Rm, Bldg...) keep only the unit value; ordinal words become ``1st``;
    PO boxes give ``house_number=<box>, name="po box"``.

    Args:
        value: The address line as written, or None.

    Returns:
        The components; every field is None for None/empty input.
    """
    if value is None:
        return _EMPTY_ADDRESS
    tables = _address_tables()
    tokens = _address_tokens(value)
    if not tokens:
        return _EMPTY_ADDRESS
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
    tokens = _combine_ordinals(tokens)
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
