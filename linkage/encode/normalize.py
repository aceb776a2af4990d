"""Normalisation of names, addresses, phones, e-mails and ZIP codes.

Two parties who never see each other's data must turn "Bill O'Brien, 123
North Main Street #4" and "WILLIAM OBRIEN, 123 N MAIN ST APT 4" into the same
bytes before hashing, so every rule here is deterministic, table-driven and
idempotent where it can be. The reference tables ship in :mod:`linkage.data`
(USPS Publication 28 suffixes, directionals, unit designators, state codes and
a nickname override list) and are read once, as package resources.

Fast path: :func:`normalize_records` normalises each *distinct* value of a
column once (Arrow ``dictionary_encode``) and maps the results back by index,
so a million rows with fifty thousand distinct values cost fifty thousand
calls. :func:`normalize_row` is the slow, obviously-correct reference used by
the tests to check that path.

Canonical given names (:func:`canonical_given_name`), first match wins:

1. the override table ``given_name_overrides.csv`` (``bill -> william``);
2. a formal name is kept: an override target (``william``, ``katherine``) or
   one of ``common_given_names.txt`` (common US first names, which the
   package often lists as nicknames of rarer ones: amy -> amelia);
3. otherwise, a name the ``nicknames`` package lists with exactly one
   canonical, which is longer than the name, and which the package never
   treats as a canonical itself, maps to that canonical (``zeke -> ezekiel``);
4. everything else is kept as written.

Trade-off: ambiguous nicknames (``pat``: Patricia or Patrick; ``al``) are not
collapsed, which costs recall on exact keys (the fuzzy Bloom stage still sees
them) but never merges two different names into one key. The package alone is
not used for the common names because its table is symmetric-ish and noisy
(``canonicals_of("bill")`` holds robert and willis; ``canonicals_of("richard")``
holds dick), so "most common canonical" would need frequencies it lacks.
"""

from __future__ import annotations

import csv
import io
import re
import unicodedata
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import cache, lru_cache
from importlib import resources
from typing import Final

import pyarrow as pa
import pyarrow.compute as pc
from nicknames import NickNamer

from linkage.errors import InputError

INPUT_COLUMNS: Final[tuple[str, ...]] = (
    "first_name",
    "last_name",
    "address",
    "city",
    "state",
    "zip",
    "phone",
    "email",
)
"""Columns :func:`normalize_records` reads; any of them may be absent."""

OUTPUT_COLUMNS: Final[tuple[str, ...]] = (
    "given",
    "given_raw",
    "surname",
    "house_number",
    "street",
    "unit",
    "city",
    "state",
    "zip5",
    "phone",
    "email",
)
"""Columns of :func:`normalize_records` output, in order (all ``string``)."""

_NAME_TITLES: Final = frozenset({"mr", "mrs", "ms", "miss", "mx", "dr", "prof", "rev", "hon"})
_NAME_SUFFIXES: Final = frozenset(
    {"jr", "jnr", "sr", "snr", "ii", "iii", "iv", "2nd", "3rd", "esq", "phd"}
)
_NAME_DROP: Final = _NAME_TITLES | _NAME_SUFFIXES

# Letters NFKD does not decompose into ASCII + combining marks.
_SPECIAL_LETTERS: Final = str.maketrans(
    {"ø": "o", "æ": "ae", "œ": "oe", "ł": "l", "đ": "d", "ð": "d", "þ": "th", "ı": "i"}
)
# Apostrophes, hyphens and periods join their neighbours ("O'Brien" -> "obrien").
_JOINERS: Final = re.compile(r"['’‘`´.\-‐‑‒–—]")
_NON_WORD: Final = re.compile(r"[^\w\s]|_")
_CITY_JOINERS: Final = re.compile(r"['’‘`´.]")
_NON_DIGIT: Final = re.compile(r"\D")
_PHONE_EXTENSION: Final = re.compile(r"(?i)(?:ext|x|#)")
_WHITESPACE: Final = re.compile(r"\s")

# Name words USPS abbreviates inside street and city names too.
_NAME_WORDS: Final = {"saint": "st", "mount": "mt", "fort": "ft"}
_CITY_DIRECTIONS: Final = {"n": "north", "s": "south", "e": "east", "w": "west"}
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
class _Tables:
    suffixes: Mapping[str, str]
    directions: Mapping[str, str]
    units: Mapping[str, UnitDesignator]
    states: Mapping[str, str]
    state_codes: frozenset[str]
    overrides: Mapping[str, str]
    formal: frozenset[str]


def _read_csv(name: str) -> list[dict[str, str]]:
    text = resources.files("linkage.data").joinpath(name).read_text(encoding="utf-8")
    lines = [line for line in text.splitlines() if line and not line.startswith("# ")]
    return list(csv.DictReader(io.StringIO("\n".join(lines))))


@cache
def _tables() -> _Tables:
    suffix_rows = _read_csv("usps_suffixes.csv")
    # Standard forms map to themselves so normalised output re-parses unchanged.
    suffixes = {r["standard"].lower(): r["standard"].lower() for r in suffix_rows}
    suffixes |= {r["common"].lower(): r["standard"].lower() for r in suffix_rows}
    directions = {r["spelling"]: r["standard"] for r in _read_csv("usps_directions.csv")}
    units = {
        r["spelling"]: UnitDesignator(
            standard=r["standard"],
            requires_range=r["requires_range"] == "1",
            strong=r["strength"] == "strong",
        )
        for r in _read_csv("usps_unit_designators.csv")
    }
    states = {r["name"]: r["code"] for r in _read_csv("us_states.csv")}
    overrides = {r["nickname"]: r["canonical"] for r in _read_csv("given_name_overrides.csv")}
    common = resources.files("linkage.data").joinpath("common_given_names.txt").read_text("utf-8")
    lines = (line.strip() for line in common.splitlines())
    common_names = {line for line in lines if line and not line.startswith("#")} - set(overrides)
    return _Tables(
        suffixes=suffixes,
        directions=directions,
        units=units,
        states=states,
        state_codes=frozenset(states.values()),
        overrides=overrides,
        formal=frozenset(overrides.values()) | common_names,
    )


@cache
def _nicknamer() -> tuple[NickNamer, frozenset[str]]:
    namer = NickNamer()
    return namer, frozenset(namer.nickname_lookup)


# ---------------------------------------------------------------- text basics


def _fold(text: str) -> str:
    """NFKD, accents stripped, case-folded (``"Zoë"`` -> ``"zoe"``)."""
    if text.isascii():
        return text.lower()  # NFKD and casefold are the identity/lower() on ASCII
    decomposed = unicodedata.normalize("NFKD", text)
    stripped = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return stripped.casefold().translate(_SPECIAL_LETTERS)


def _words(text: str, joiners: re.Pattern[str] = _JOINERS) -> list[str]:
    folded = joiners.sub("", _fold(text))
    return _NON_WORD.sub(" ", folded).split()


# ---------------------------------------------------------------- names


def normalize_name(value: str | None) -> str | None:
    """Normalise a personal name field (given or surname).

    Accents stripped, lower-case, apostrophes/hyphens/periods joined
    (``"O'Brien"`` -> ``"obrien"``, ``"Smith-Jones"`` -> ``"smithjones"``), other
    punctuation dropped, whitespace collapsed, titles (mr, mrs, dr...) and
    generational suffixes (jr, sr, ii, iii, iv...) removed unless they are the
    whole name.

    Args:
        value: The name as written, or None.

    Returns:
        The normalised name, or None when nothing is left.
    """
    if value is None:
        return None
    words = _words(value)
    kept = [w for w in words if w not in _NAME_DROP]
    return " ".join(kept or words) or None


@lru_cache(maxsize=65536)
def _canonical_token(token: str) -> str:
    tables = _tables()
    hit = tables.overrides.get(token)
    if hit is not None:
        return hit
    if token in tables.formal:
        return token
    namer, package_canonicals = _nicknamer()
    candidates = namer.canonicals_of(token)
    if len(candidates) == 1 and token not in package_canonicals:
        (candidate,) = candidates
        if len(candidate) > len(token):
            # The candidate may itself be a variant we fold (e.g. a spelling).
            return tables.overrides.get(candidate, candidate)
    return token


def canonical_given_name(value: str | None) -> str | None:
    """Canonical given name: the first word of the normalised name, nickname-folded.

    ``Bill``, ``Billy``, ``Will`` and ``William`` all give ``"william"``; see the
    module docstring for the rule and its trade-off. Idempotent.

    Args:
        value: A given name as written (or already normalised), or None.

    Returns:
        The canonical given name, or None.
    """
    normalized = normalize_name(value)
    if normalized is None:
        return None
    return _canonical_token(normalized.split(" ", 1)[0])


# ---------------------------------------------------------------- addresses


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
    folded = _fold(text).replace("#", " # ")
    folded = _JOINERS.sub("", folded)
    folded = _SLASH_NOT_FRACTION.sub(" ", folded)
    return re.sub(r"[^\w\s#/]|_", " ", folded).split()


def _is_unit_value(token: str, directions: Mapping[str, str]) -> bool:
    has_digit = any(ch.isdigit() for ch in token)
    return has_digit or (len(token) == 1 and token not in directions)


def _split_unit(tokens: list[str], tables: _Tables) -> tuple[list[str], str | None]:
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


def _split_bare_unit(tokens: list[str], tables: _Tables) -> tuple[list[str], str | None]:
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


def _standardize_name_words(words: list[str], tables: _Tables, *, has_suffix: bool) -> list[str]:
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
    tables = _tables()
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
    tokens = [_NAME_WORDS.get(t, t) for t in tokens[:-1]] + tokens[-1:]
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


# ---------------------------------------------------------------- places


def normalize_city(value: str | None) -> str | None:
    """Normalise a city name like a personal name, with USPS name words.

    Hyphens become spaces (``"Winston-Salem"`` = ``"Winston Salem"``);
    ``Saint/Mount/Fort`` become ``st/mt/ft``; a leading ``N/S/E/W`` is spelled out.

    Args:
        value: The city as written, or None.

    Returns:
        The normalised city, or None.
    """
    if value is None:
        return None
    words = [_NAME_WORDS.get(w, w) for w in _words(value, _CITY_JOINERS)]
    if len(words) >= 2 and words[0] in _CITY_DIRECTIONS:
        words[0] = _CITY_DIRECTIONS[words[0]]
    return " ".join(words) or None


def normalize_state(value: str | None) -> str | None:
    """Two-letter USPS state code; full names map to codes, anything else is None.

    Args:
        value: ``"oh"``, ``"Ohio"``, ``"O.H."`` ..., or None.

    Returns:
        The upper-case code (``"OH"``), or None if unrecognised.
    """
    if value is None:
        return None
    tables = _tables()
    words = _words(value)
    joined = "".join(words).upper()
    if joined in tables.state_codes:
        return joined
    return tables.states.get(" ".join(words))


def zip5(value: str | None) -> str | None:
    """First five digits of a ZIP or ZIP+4 (``"43215-1234"`` -> ``"43215"``).

    Args:
        value: The ZIP as written, or None.

    Returns:
        Five digits, or None when the value does not hold 5 or 9 digits.
    """
    if value is None:
        return None
    digits = _NON_DIGIT.sub("", value)
    if len(digits) not in (5, 9):
        return None
    return digits[:5]


# ---------------------------------------------------------------- contact


def normalize_phone(value: str | None) -> str | None:
    """E.164 for a North American number (``"(614) 555-0123"`` -> ``"+16145550123"``).

    Formatting is stripped and an extension (``x12``, ``ext 12``) dropped; 11
    digits starting with 1 lose the 1; the 10 remaining digits need an area code
    and exchange starting 2-9 that are not N11 service codes (911, 411).

    Args:
        value: The phone as written, or None.

    Returns:
        ``"+1XXXXXXXXXX"``, or None when it is not a valid NANP number.
    """
    if value is None:
        return None
    digits = _NON_DIGIT.sub("", _PHONE_EXTENSION.split(value, maxsplit=1)[0])
    if len(digits) == 11 and digits[0] == "1":
        digits = digits[1:]
    if len(digits) != 10:
        return None
    area, exchange = digits[:3], digits[3:6]
    for code in (area, exchange):
        if code[0] in "01" or code[1:] == "11":
            return None
    return f"+1{digits}"


def normalize_email(value: str | None) -> str | None:
    """Stripped, lower-cased e-mail; None unless it has one ``@`` and a dotted domain.

    Args:
        value: The address as written, or None.

    Returns:
        The normalised address, or None when it is not plausibly an address.
    """
    if value is None:
        return None
    email = value.strip().lower()
    if email.count("@") != 1 or _WHITESPACE.search(email):
        return None
    local, domain = email.split("@")
    labels = domain.split(".")
    if not local or len(labels) < 2 or not all(labels):
        return None
    return email


# ---------------------------------------------------------------- tables


def normalize_row(row: Mapping[str, str | None]) -> dict[str, str | None]:
    """Normalise one record: the slow reference for :func:`normalize_records`.

    Args:
        row: Raw values keyed by input column (missing keys are None).

    Returns:
        The normalised record keyed by :data:`OUTPUT_COLUMNS`.
    """
    address = parse_street_address(row.get("address"))
    return {
        "given": canonical_given_name(row.get("first_name")),
        "given_raw": normalize_name(row.get("first_name")),
        "surname": normalize_name(row.get("last_name")),
        "house_number": address.house_number,
        "street": address.street,
        "unit": address.unit,
        "city": normalize_city(row.get("city")),
        "state": normalize_state(row.get("state")),
        "zip5": zip5(row.get("zip")),
        "phone": normalize_phone(row.get("phone")),
        "email": normalize_email(row.get("email")),
    }


def text_column(table: pa.Table, name: str | None) -> pa.Array:
    """Column ``name`` as one string array; an absent column is all-null.

    Raises:
        InputError: The column cannot be cast to text (named; the value never is).
    """
    if name is None or name not in table.column_names:
        return pa.nulls(table.num_rows, type=pa.string())
    column = table.column(name)
    try:
        return column.cast(pa.string()).combine_chunks()
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError):
        raise InputError(
            "cannot be read as text", column=name, hint="pass names, addresses and codes as strings"
        ) from None  # Arrow's message can quote the offending value


def _map_distinct(values: pa.Array, function: Callable[[str | None], str | None]) -> pa.Array:
    """Apply ``function`` once per distinct value and map the results back by index."""
    encoded = pc.dictionary_encode(values)
    mapped = pa.array([function(v) for v in encoded.dictionary.to_pylist()], type=pa.string())
    return mapped.take(encoded.indices)


def _street_parts(value: str | None) -> tuple[str | None, str | None, str | None]:
    parsed = parse_street_address(value)
    return parsed.house_number, parsed.street, parsed.unit


def normalize_records(table: pa.Table) -> pa.Table:
    """Normalise a table of person records into the ``Normalised records`` shape.

    Args:
        table: Any of :data:`INPUT_COLUMNS` (others ignored; missing ones are
            treated as all-null). Non-string columns (e.g. an integer ZIP) are
            cast to text.

    Returns:
        A table with :data:`OUTPUT_COLUMNS` (all ``string``), same row order.

    Raises:
        InputError: A column cannot be cast to text.
    """
    first = text_column(table, "first_name")
    given_raw = _map_distinct(first, normalize_name)
    given = _map_distinct(given_raw, canonical_given_name)
    surname = _map_distinct(text_column(table, "last_name"), normalize_name)

    address = text_column(table, "address")
    encoded = pc.dictionary_encode(address)
    parts = [_street_parts(v) for v in encoded.dictionary.to_pylist()]
    house, street, unit = (
        pa.array([p[i] for p in parts], type=pa.string()).take(encoded.indices) for i in range(3)
    )
    singles = {
        "city": normalize_city,
        "state": normalize_state,
        "zip": zip5,
        "phone": normalize_phone,
        "email": normalize_email,
    }
    mapped = {
        column: _map_distinct(text_column(table, column), function)
        for column, function in singles.items()
    }
    arrays = [
        given,
        given_raw,
        surname,
        house,
        street,
        unit,
        mapped["city"],
        mapped["state"],
        mapped["zip"],
        mapped["phone"],
        mapped["email"],
    ]
    return pa.Table.from_arrays(arrays, names=list(OUTPUT_COLUMNS))
