"""Tests for linkage.encode.address: USPS components, variants that must agree, idempotence."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from linkage.encode import ParsedAddress, parse_street_address


@pytest.mark.parametrize(
    ("left", "right"),
    [
        ("123 N Main St Apt 4", "123 North Main Street #4"),
        ("123 N. Main St., Apt. #4", "123 NORTH MAIN STREET UNIT 4"),
        ("7 Main St Apt 4B", "7 Main Street #4B"),
        ("7 Main St Apt 4B", "7 main st unit 4-b"),
        ("456 First Ave", "456 1st Avenue"),
        ("12 Twenty-First St NW", "12 twenty first street northwest"),
        ("1 Saint Clair Ave", "1 St. Clair Avenue"),
        ("10 Avenue B", "10 Ave B"),
        ("5 Route 66", "5 Rte 66"),
        ("55 Lake Shore Dr Ste 100", "55 Lake Shore Drive Suite 100"),
        ("9 Elm Blvd SE", "9 Elm Boulevard Southeast"),
        ("PO Box 123", "P.O. Box 123"),
        ("8 Oak Ln Fl 2", "8 Oak Lane Floor 2"),
        ("3 2d St", "3 Second Street"),
    ],
)
def test_address_variants_parse_identically(left: str, right: str) -> None:
    a, b = parse_street_address(left), parse_street_address(right)
    assert (a.house_number, a.street, a.unit) == (b.house_number, b.street, b.unit)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (
            "123 N Main St Apt 4",
            ParsedAddress("123", "n", "main", "st", None, "4"),
        ),
        ("9 Elm Blvd SE", ParsedAddress("9", None, "elm", "blvd", "se", None)),
        ("123 North St", ParsedAddress("123", None, "north", "st", None, None)),
        ("99 Front St", ParsedAddress("99", None, "front", "st", None, None)),
        ("99 Main St Rear", ParsedAddress("99", None, "main", "st", None, "rear")),
        ("7 Main St 4B", ParsedAddress("7", None, "main", "st", None, "4b")),
        ("5 County Road 12", ParsedAddress("5", None, "county rd 12", None, None, None)),
        ("0123 Main St Bldg 2 Apt 4", ParsedAddress("123", None, "main", "st", None, "2 4")),
        ("12 1/2 Oak Ln", ParsedAddress("12 1/2", None, "oak", "ln", None, None)),
        ("PO Box 77", ParsedAddress("77", None, "po box", None, None, None)),
        ("123 Lake St", ParsedAddress("123", None, "lake", "st", None, None)),
        ("1st Ave", ParsedAddress(None, None, "1st", "ave", None, None)),
        ("4 Mount Vernon Ave", ParsedAddress("4", None, "mt vernon", "ave", None, None)),
        ("123 Main St Apt", ParsedAddress("123", None, "main", "st", None, None)),
        ("123 Main St 5 Apt", ParsedAddress("123", None, "main", "st", None, "5")),
        ("Main St", ParsedAddress(None, None, "main", "st", None, None)),
        ("42", ParsedAddress("42", None, None, None, None, None)),
        ("", ParsedAddress()),
        (None, ParsedAddress()),
    ],
)
def test_parse_street_address_components(raw: str | None, expected: ParsedAddress) -> None:
    assert parse_street_address(raw) == expected


def test_street_joins_components() -> None:
    parsed = parse_street_address("12 south maple avenue west apt 3")
    assert parsed.street == "s maple ave w"
    assert parsed.unit == "3"
    assert ParsedAddress(house_number="1").street is None


def test_parsed_address_is_frozen() -> None:
    parsed = parse_street_address("1 Main St")
    with pytest.raises(AttributeError):
        parsed.unit = "9"  # type: ignore[misc]


_STREET_WORDS = st.sampled_from(
    ["main", "oak", "first", "lake", "park", "saint", "clair", "north", "elm", "12th", "avenue"]
)


@settings(max_examples=100, deadline=None)
@given(
    house=st.integers(min_value=1, max_value=99999),
    predir=st.sampled_from(["", "N", "North", "sw", "Southwest"]),
    words=st.lists(_STREET_WORDS, min_size=1, max_size=3),
    suffix=st.sampled_from(["", "St", "Street", "Ave", "Boulevard", "Ln", "Court"]),
    postdir=st.sampled_from(["", "E", "East", "NW"]),
    unit=st.sampled_from(["", "Apt 4", "#12B", "Suite 100", "Unit 3-C"]),
)
def test_address_parse_is_idempotent(
    house: int, predir: str, words: list[str], suffix: str, postdir: str, unit: str
) -> None:
    raw = " ".join(p for p in [str(house), predir, *words, suffix, postdir, unit] if p)
    parsed = parse_street_address(raw)
    assert parsed.house_number == str(house)
    assert parsed.street is not None
    rebuilt = f"{parsed.house_number} {parsed.street}"
    if parsed.unit is not None:
        rebuilt += f" # {parsed.unit}"
    again = parse_street_address(rebuilt)
    assert (again.house_number, again.street, again.unit) == (
        parsed.house_number,
        parsed.street,
        parsed.unit,
    )
