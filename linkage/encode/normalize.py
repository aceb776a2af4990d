"""Normalisation of one value per field: names, places, phones, e-mails, dates and codes.

Two parties who never see each other's data must turn "Bill O'Brien, 123
North Main Street #4" and "WILLIAM OBRIEN, 123 N MAIN ST APT 4" into the same
bytes before hashing, so every rule here is deterministic, table-driven and
idempotent where it can be. The reference tables ship in :mod:`linkage.data`
(state codes, a nickname override list, common given names) and are read
once, as package resources; street addresses have their own parser in
:mod:`linkage.encode.address`, and a linkage schema's field types are mapped
onto these rules in :mod:`linkage.encode.fields`.

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

import re
import unicodedata
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date
from functools import cache, lru_cache
from importlib import resources
from typing import Final

import pyarrow as pa
import pyarrow.compute as pc
from nicknames import NickNamer

from linkage.encode.address import parse_street_address
from linkage.encode.text import NAME_WORDS, fold, read_csv, split_words
from linkage.errors import InputError

__all__ = [
    "INPUT_COLUMNS",
    "OUTPUT_COLUMNS",
    "DateParts",
    "canonical_given_name",
    "normalize_birth_date",
    "normalize_category",
    "normalize_city",
    "normalize_code",
    "normalize_date_parts",
    "normalize_email",
    "normalize_free_text",
    "normalize_name",
    "normalize_phone",
    "normalize_place",
    "normalize_postcode",
    "normalize_records",
    "normalize_row",
    "normalize_state",
    "postcode_district",
    "text_column",
    "zip5",
]

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

_CITY_JOINERS: Final = re.compile(r"['’‘`´.]")
_NON_DIGIT: Final = re.compile(r"\D")
# An extension marker after the number: "x204", " ext. 12", ", extn: 3", "#5".
_PHONE_EXTENSION: Final = re.compile(
    r"(?i)(?<=[\d)])\s*[,;]?\s*(?:e?xt(?:ension|n)?|x|#)\.?\s*:?\s*\d"
)
_PHONE_PLAIN: Final = re.compile(r"\s*\+?[\d\s().\-]*")
_PHONE_BODY: Final = re.compile(r"\+?[\s(]*\d[\d\s().\-/\u2010-\u2015\u2212]*")
_WHITESPACE: Final = re.compile(r"\s")

_CITY_DIRECTIONS: Final = {"n": "north", "s": "south", "e": "east", "w": "west"}
_NON_ALNUM: Final = re.compile(r"[^0-9a-z]")
_DATE_ISO: Final = re.compile(r"(\d{4})-(\d{1,2})-(\d{1,2})")
_DATE_COMPACT: Final = re.compile(r"(\d{4})(\d{2})(\d{2})")
_DATE_US: Final = re.compile(r"(\d{1,2})/(\d{1,2})/(\d{4})")


@dataclass(frozen=True, slots=True)
class _Tables:
    states: Mapping[str, str]
    state_codes: frozenset[str]
    overrides: Mapping[str, str]
    formal: frozenset[str]


@cache
def _tables() -> _Tables:
    states = {r["name"]: r["code"] for r in read_csv("us_states.csv")}
    overrides = {r["nickname"]: r["canonical"] for r in read_csv("given_name_overrides.csv")}
    common = resources.files("linkage.data").joinpath("common_given_names.txt").read_text("utf-8")
    lines = (line.strip() for line in common.splitlines())
    common_names = {line for line in lines if line and not line.startswith("#")} - set(overrides)
    return _Tables(
        states=states,
        state_codes=frozenset(states.values()),
        overrides=overrides,
        formal=frozenset(overrides.values()) | common_names,
    )


@cache
def _nicknamer() -> tuple[NickNamer, frozenset[str]]:
    namer = NickNamer()
    return namer, frozenset(namer.nickname_lookup)


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
    words = split_words(value)
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
    words = [NAME_WORDS.get(w, w) for w in split_words(value, _CITY_JOINERS)]
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
    words = split_words(value)
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


# ---------------------------------------------------------------- dates and codes


def normalize_code(value: str | None) -> str | None:
    """Lower-cased ASCII letters and digits only (house numbers, units, ids); None if empty."""
    if value is None:
        return None
    return _NON_ALNUM.sub("", value.lower()) or None


def normalize_birth_date(value: str | None) -> str | None:
    """ISO ``YYYY-MM-DD`` from ``YYYY-MM-DD``, ``YYYYMMDD`` or ``MM/DD/YYYY``; None if invalid."""
    if value is None:
        return None
    text = value.strip()
    parts: tuple[str, str, str] | None = None
    for pattern in (_DATE_ISO, _DATE_COMPACT):
        hit = pattern.fullmatch(text)
        if hit:
            parts = (hit.group(1), hit.group(2), hit.group(3))
            break
    hit = _DATE_US.fullmatch(text)
    if parts is None and hit:
        parts = (hit.group(3), hit.group(1), hit.group(2))
    if parts is None:
        return None
    try:
        return date(int(parts[0]), int(parts[1]), int(parts[2])).isoformat()
    except ValueError:
        return None


def normalize_postcode(value: str | None) -> str | None:
    """US ZIP / ZIP+4 -> 5 digits; other postcodes lower-case alphanumerics (3-10 chars)."""
    code = normalize_code(value)
    if code is None:
        return None
    if code.isdigit() and len(code) in (5, 9):
        return code[:5]
    if code.isdigit() and len(code) in (6, 7, 8):
        return None  # a broken US ZIP, not a foreign code
    return code if 3 <= len(code) <= 10 else None


# ---------------------------------------------------------------- contact


# Placeholders are shared by strangers: as tokens they would form huge blocks
# and false links (docs/SCHEMA.md), so they count as missing.
_PHONE_UP: Final = "01234567890123"  # 614-456-7890 and other runs of seven
_PHONE_DOWN: Final = "98765432109876"
# phonenumbers' number types a person's own line can have; toll-free, premium,
# shared-cost, pager, UAN and voicemail numbers are a business's, not a household's.
_PHONE_PERSONAL_TYPES: Final = ("fixed_line", "mobile", "voip", "personal_number")
_PHONE_SERVICE_TYPES: Final = (
    "premium_rate",
    "toll_free",
    "shared_cost",
    "pager",
    "uan",
    "voicemail",
)


@dataclass(frozen=True, slots=True)
class _NanpPatterns:
    personal: re.Pattern[str]
    service: re.Pattern[str]


@cache
def _nanp_patterns() -> _NanpPatterns:
    """phonenumbers' NANP metadata (all 25 regions of +1) as two compiled patterns."""
    # Imported here: only phone fields need the metadata (and its import time).
    import phonenumbers
    from phonenumbers import PhoneMetadata

    def union(kinds: tuple[str, ...]) -> re.Pattern[str]:
        patterns: list[str] = []
        for region in phonenumbers.COUNTRY_CODE_TO_REGION_CODE[1]:
            metadata = PhoneMetadata.metadata_for_region(region)
            for kind in kinds:
                desc = None if metadata is None else getattr(metadata, kind)
                if desc is not None and desc.national_number_pattern:
                    patterns.append(f"(?:{desc.national_number_pattern})")
        return re.compile("|".join(dict.fromkeys(patterns)))

    return _NanpPatterns(union(_PHONE_PERSONAL_TYPES), union(_PHONE_SERVICE_TYPES))


def _ascii_digits(value: str) -> str:
    """NFKC (full-width forms), then every Unicode decimal digit as its ASCII digit."""
    text = unicodedata.normalize("NFKC", value)
    return "".join(str(unicodedata.decimal(ch)) if ch.isdecimal() else ch for ch in text)


def _phone_national_digits(text: str) -> str | None:
    """Our own extractor: the first run of 10 digits (or 1 + 10) after any label."""
    if _PHONE_PLAIN.fullmatch(text):  # the common case: digits and separators only
        digits = _NON_DIGIT.sub("", text)
        if len(digits) == 11 and digits[0] == "1":
            return digits[1:]
        return digits if len(digits) == 10 and "+" not in text else None
    text = _PHONE_EXTENSION.split(text, maxsplit=1)[0]
    for body in _PHONE_BODY.finditer(text):
        # "312/226-7000" is one number; "614-362-0123 / 614-362-9999" is two.
        for part in (body.group(), *body.group().split("/")):
            digits = _NON_DIGIT.sub("", part)
            if len(digits) == 11 and digits[0] == "1":
                return digits[1:]
            if len(digits) == 10 and not part.startswith("+"):  # "+49 89 123456"
                return digits
    return None


def _is_placeholder_phone(digits: str) -> bool:
    subscriber = digits[3:]
    return (
        digits[0] in "01"  # not a NANP area code or exchange
        or digits[3] in "01"
        or digits[1:3] == "11"  # N11 service codes (911, 411)
        or digits[4:6] == "11"
        or digits[3:6] == "555"  # 555-01xx fictional, 555-1212 directory, rest unassigned
        or subscriber.count(subscriber[0]) == 7  # 614-222-2222, 999-999-9999
        or subscriber in _PHONE_UP
        or subscriber in _PHONE_DOWN
    )


def normalize_phone(value: str | None) -> str | None:
    """E.164 for a North American number (``"(614) 362-0123"`` -> ``"+16143620123"``).

    Full-width and other Unicode digits are NFKC-folded first, so the key is
    ASCII. A label (``"Text/cell: "``) is skipped and an extension (``x204``,
    ``ext. 12``, ``#5``) dropped; the first run of 10 digits, or 11 starting
    with 1, is the number. It is then rejected as missing when it is junk:
    an area code or exchange starting 0/1 or an N11 service code (911, 411),
    the 555 exchange (555-01xx is fictional, the rest directory and
    unassigned), all-same (``999-999-9999``, ``614-222-2222``) or sequential
    (``123-456-7890``) digits, and anything phonenumbers' NANP metadata does
    not list as a fixed, mobile, VoIP or personal line (reserved and
    unassigned area codes, toll-free, premium rate). The metadata covers all
    +1 regions, so Canadian and Caribbean numbers are kept; other countries'
    numbers are None. An area code newer than one party's phonenumbers is
    None on that side only: a missing value, never a false agreement.
    Privacy cost: none beyond the phone itself; dropping junk removes
    placeholder tokens that many strangers would share (see docs/SCHEMA.md).
    Tables normalise each distinct value once (:func:`normalize_records`).

    Args:
        value: The phone as written, or None.

    Returns:
        ``"+1XXXXXXXXXX"``, or None when it is not a plausible personal NANP number.
    """
    if value is None:
        return None
    text = value if value.isascii() else _ascii_digits(value)
    digits = _phone_national_digits(text)
    if digits is None or _is_placeholder_phone(digits):
        return None
    patterns = _nanp_patterns()
    if patterns.service.fullmatch(digits) or not patterns.personal.fullmatch(digits):
        return None  # reserved, unassigned, toll-free or premium: not a household's line
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


# ---------------------------------------------------------------- categories, free text, places


def normalize_category(value: str | None) -> str | None:
    """A categorical code (gender, occupation class, marital status): trimmed and case-folded.

    No name rule runs (titles are kept, words are not joined), so ``"Dr"`` and
    ``"M"`` survive; inner whitespace is collapsed. Privacy cost: a category
    has few values, so any token or filter of it alone is a low-entropy
    equality class the matcher can count; compare it ``exact`` or inside a
    record-level filter, never as a filter of its own.

    Args:
        value: The category as written, or None.

    Returns:
        The folded category, or None when blank.
    """
    if value is None:
        return None
    return " ".join(fold(value).split()) or None


_FREE_TEXT_STOPWORDS: Final = frozenset(
    {"a", "an", "and", "at", "for", "in", "of", "on", "the", "to"}
)


def normalize_free_text(value: str | None) -> str | None:
    """Free text (occupation, notes): folded words, stop words dropped, each word once, sorted.

    Sorting makes word order irrelevant (``"farm labourer"`` = ``"labourer,
    farm"``), so a Dice comparison of q-grams measures shared words and
    spelling; exact agreement is rare and not the point. Privacy cost: a
    filter of short free text is as linkable as its value; long text leaks
    its length through the filter's Hamming weight.

    Args:
        value: The text as written, or None.

    Returns:
        The sorted distinct words joined by one space, or None when empty.
    """
    if value is None:
        return None
    words = {w for w in split_words(value) if w not in _FREE_TEXT_STOPWORDS}
    return " ".join(sorted(words)) or None


_PLACE_QUALIFIERS: Final = frozenset({"county", "co", "parish", "township", "twp", "of"})


def normalize_place(value: str | None) -> str | None:
    """A place (birthplace, town, parish, country): the first comma part, city-style words.

    ``"Kilkenny, Ireland"`` and ``"Co. Kilkenny"`` both give ``"kilkenny"``:
    text after the first comma is a region or country qualifier, and the
    words county/co/parish/township are dropped unless they are the whole
    place. Hyphens split, ``Saint/Mount/Fort`` become ``st/mt/ft`` (as for
    cities), but no personal-name rule (titles, nicknames) runs. Privacy
    cost: places are low-entropy; keep them inside a record-level filter.

    Args:
        value: The place as written, or None.

    Returns:
        The normalised place, or None when empty.
    """
    if value is None:
        return None
    head = value.split(",", 1)[0]
    words = [NAME_WORDS.get(w, w) for w in split_words(head, _CITY_JOINERS)]
    kept = [w for w in words if w not in _PLACE_QUALIFIERS]
    return " ".join(kept or words) or None


# ---------------------------------------------------------------- dates in parts

_PARTIAL_DATE_YMD: Final = re.compile(r"(\d{4})(?:[-/.](\d{1,2})(?:[-/.](\d{1,2}))?)?")
_PARTIAL_DATE_DMY: Final = re.compile(r"(\d{1,2})[-/.](\d{1,2})[-/.](\d{4})")
_YEAR_ONLY: Final = re.compile(r"(?<!\d)(1[0-9]{3}|2[0-9]{3})(?!\d)")


@dataclass(frozen=True, slots=True)
class DateParts:
    """A date kept as separate parts: each is None when missing or out of range.

    Attributes:
        year: Four digits.
        month: ``"01"``-``"12"``.
        day: ``"01"``-``"31"`` (kept even if the month has fewer days).
    """

    year: str | None
    month: str | None
    day: str | None

    @property
    def value(self) -> str | None:
        """The longest known prefix: ``YYYY-MM-DD``, ``YYYY-MM``, ``YYYY`` or None."""
        if self.year is None:
            return None
        if self.month is None:
            return self.year
        return (
            f"{self.year}-{self.month}"
            if self.day is None
            else (f"{self.year}-{self.month}-{self.day}")
        )


def _part(text: str | None, high: int) -> str | None:
    if text is None or not text.isdigit() or not 1 <= int(text) <= high:
        return None
    return f"{int(text):02d}"


def normalize_date_parts(value: str | None) -> DateParts:
    """Year, month and day of a date, each kept when it parses on its own.

    Reads ``YYYY-MM-DD`` (also ``/`` or ``.``), ``YYYYMMDD``, ``MM/DD/YYYY``,
    ``YYYY-MM``, and any lone four-digit year (``"abt 1861"``). An impossible
    date keeps what parses: ``1861-03-86`` gives year 1861 and month 03, no
    day, where :func:`normalize_birth_date` returns None. Privacy cost: the
    year and month alone are low-entropy columns; use them in blocking or
    inside a record-level filter, not as a filter or token of their own.

    Args:
        value: The date as written, or None.

    Returns:
        The parts (all None when no year is found).
    """
    if value is None:
        return DateParts(None, None, None)
    text = value.strip()
    hit = _DATE_COMPACT.fullmatch(text) or _PARTIAL_DATE_YMD.fullmatch(text)
    if hit:
        year, month, day = hit.group(1), hit.group(2), hit.group(3)
    elif hit := _PARTIAL_DATE_DMY.fullmatch(text):
        year, month, day = hit.group(3), hit.group(1), hit.group(2)
    elif hit := _YEAR_ONLY.search(text):
        year, month, day = hit.group(1), None, None
    else:
        return DateParts(None, None, None)
    month_part = _part(month, 12)
    return DateParts(year, month_part, _part(day, 31))


# ---------------------------------------------------------------- international postcodes

_UK_POSTCODE: Final = re.compile(r"([a-z]{1,2}[0-9][a-z0-9]?)([0-9][a-z]{2})")
_CA_POSTCODE: Final = re.compile(r"([a-z][0-9][a-z])([0-9][a-z][0-9])")
_NL_POSTCODE: Final = re.compile(r"([0-9]{4})([a-z]{2})")


def postcode_district(value: str | None) -> tuple[str | None, str | None]:
    """An international postcode and its district (the part that names an area).

    The code is lower-case letters and digits (3-10 characters). The district
    is the UK outward code (``"SW1A 1AA"`` -> ``"sw1a"``), the Canadian FSA
    (``"K1A 0B1"`` -> ``"k1a"``), the Dutch four digits (``"1012 AB"`` ->
    ``"1012"``), the first three digits of a numeric code of five or more
    digits (US ZIP3; a ZIP+4 is cut to its ZIP first), the first two of a
    shorter one, and the whole of any other code. Privacy cost: a district is
    a coarse area with many residents, so it is a low-entropy column; use it
    in blocking passes (with a name part) rather than as a token alone.

    Args:
        value: The postcode as written, or None.

    Returns:
        ``(code, district)``, both None when the value is no postcode.
    """
    code = normalize_code(value)
    if code is None or not 3 <= len(code) <= 10:
        return None, None
    if code.isdigit():
        if len(code) == 9:
            code = code[:5]
        return code, code[:3] if len(code) >= 5 else code[:2]
    for pattern in (_UK_POSTCODE, _CA_POSTCODE, _NL_POSTCODE):
        hit = pattern.fullmatch(code)
        if hit:
            return code, hit.group(1)
    return code, code


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
