"""parse_street_address on a hand-made stress set of messy US address lines.

Rural routes, highway contracts and PO boxes, county/state/US road synonyms,
floors, spelled-out "hundred" ordinals, fractional house numbers, and lines
our positional parser cannot split, which the usaddress rescue re-reads.
"""

from __future__ import annotations

import random

import pyarrow as pa
import pytest

from linkage.encode import normalize_records, normalize_row, parse_street_address

Key = tuple[str | None, str | None, str | None]

# (as written, expected (house_number, street, unit))
MESSY: list[tuple[str, Key]] = [
    ("RR 2 Box 45", ("45", "rr 2", None)),
    ("Rural Route 2 Box 45", ("45", "rr 2", None)),
    ("R.R. 2, Box 45", ("45", "rr 2", None)),
    ("RR2 Box 45", ("45", "rr 2", None)),
    ("Rt 2 Box 45", ("45", "rr 2", None)),
    ("RFD 2 Box 45", ("45", "rr 2", None)),
    ("Box 45 RR 2", ("45", "rr 2", None)),
    ("RR 02 PO Box 45", ("45", "rr 2", None)),
    ("HC 1 Box 12", ("12", "hc 1", None)),
    ("HCR 1 Box 12", ("12", "hc 1", None)),
    ("Highway Contract 1 Box 12", ("12", "hc 1", None)),
    ("HC1 Box 12", ("12", "hc 1", None)),
    ("PO Box 77", ("77", "po box", None)),
    ("P.O. Box 77", ("77", "po box", None)),
    ("POB 77", ("77", "po box", None)),
    ("Post Office Box 77", ("77", "po box", None)),
    ("P O Box 77", ("77", "po box", None)),
    ("123 CR 12", ("123", "county rd 12", None)),
    ("123 CR-12", ("123", "county rd 12", None)),
    ("123 Co Rd 12", ("123", "county rd 12", None)),
    ("123 County Road 12", ("123", "county rd 12", None)),
    ("123 Cnty Rd 12", ("123", "county rd 12", None)),
    ("123 Co. Hwy 12", ("123", "county rd 12", None)),
    ("123 County Rd 12 Apt 3", ("123", "county rd 12", "3")),
    ("45 SR 4", ("45", "state rte 4", None)),
    ("45 State Route 4", ("45", "state rte 4", None)),
    ("45 State Rd 4", ("45", "state rte 4", None)),
    ("45 St Rt 4", ("45", "state rte 4", None)),
    ("45 State Hwy 4 N", ("45", "state rte 4 n", None)),
    ("9 US Hwy 40", ("9", "us hwy 40", None)),
    ("9 US Route 40", ("9", "us hwy 40", None)),
    ("9 U.S. 40", ("9", "us hwy 40", None)),
    ("9 US-40", ("9", "us hwy 40", None)),
    ("9 Highway 40", ("9", "hwy 40", None)),
    ("45 State St", ("45", "state st", None)),
    ("7 Mill Cr", ("7", "mill cr", None)),
    ("100 Main St 3rd Fl", ("100", "main st", "fl 3")),
    ("100 Main St Fl 3", ("100", "main st", "fl 3")),
    ("100 Main St Floor 3", ("100", "main st", "fl 3")),
    ("100 Main St, 3rd Floor", ("100", "main st", "fl 3")),
    ("100 Main Street Third Floor", ("100", "main st", "fl 3")),
    ("100 Main St Flr 3rd", ("100", "main st", "fl 3")),
    ("12 One Hundred Twelfth St", ("12", "112th st", None)),
    ("12 One Hundred and Twelfth Street", ("12", "112th st", None)),
    ("12 One Hundred Twenty-Fifth St", ("12", "125th st", None)),
    ("12 Two Hundredth St", ("12", "200th st", None)),
    ("12 One Hundred Oaks Dr", ("12", "one hundred oaks dr", None)),
    ("12 1/2 Main St", ("12 1/2", "main st", None)),
    ("12-1/2 Main St", ("12 1/2", "main st", None)),
    ("12½ Main St", ("12 1/2", "main st", None)),
    ("12 ½ Main St", ("12 1/2", "main st", None)),
    ("Apt 4 123 Main St", ("123", "main st", "4")),  # usaddress rescue
    ("N4567 County Rd K", ("n4567", "county rd k", None)),  # rescue: Wisconsin grid number
]


def _key(raw: str) -> Key:
    parsed = parse_street_address(raw)
    return parsed.house_number, parsed.street, parsed.unit


def test_stress_set_size() -> None:
    assert len(MESSY) >= 40


def test_messy_addresses_are_at_least_95_percent_right() -> None:
    wrong = [(raw, _key(raw)) for raw, want in MESSY if _key(raw) != want]
    assert (len(MESSY) - len(wrong)) / len(MESSY) >= 0.95, wrong


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("RR 2 Box 45", ("45", "rr 2", None)),
        ("HC 1 Box 12", ("12", "hc 1", None)),
        ("P.O. Box 77", ("77", "po box", None)),
        ("Co Rd 12", (None, "county rd 12", None)),
        ("5 State Route 4", ("5", "state rte 4", None)),
        ("8 Oak Ln 3rd Fl", ("8", "oak ln", "fl 3")),
        ("12 1/2 Main St", ("12 1/2", "main st", None)),
        ("12 One Hundred Twelfth St", ("12", "112th st", None)),
    ],
)
def test_specific_forms(raw: str, expected: Key) -> None:
    assert _key(raw) == expected


@pytest.mark.parametrize(
    "group",
    [
        ["RR 2 Box 45", "Rural Route 2, Box 45", "R.R. 2 Box 45", "RR2 Box 45", "Box 45 RR 2"],
        ["123 CR 12", "123 Co Rd 12", "123 County Road 12", "123 Cnty Rd 12"],
        ["45 SR 4", "45 State Route 4", "45 State Rd 4", "45 St Rt 4"],
        ["9 US Hwy 40", "9 US Route 40", "9 U.S. Highway 40"],
        ["1 Elm St 3rd Fl", "1 Elm St Fl 3", "1 Elm Street Floor 3", "1 Elm St Third Floor"],
    ],
)
def test_synonyms_give_one_key(group: list[str]) -> None:
    assert len({_key(raw) for raw in group}) == 1


def test_floor_and_apartment_stay_apart() -> None:
    assert _key("100 Main St Fl 3") != _key("100 Main St Apt 3")


def test_rescue_only_when_our_parse_lacks_a_part() -> None:
    # Our own parse of these is complete, so usaddress never overrides it.
    assert _key("5 Route 66") == ("5", "rte 66", None)
    assert _key("123 Main St Apt 4") == ("123", "main st", "4")
    # No number anywhere: nothing to rescue, our street is kept.
    assert _key("stanley street") == (None, "stanley st", None)
    assert _key("Main St") == (None, "main st", None)


def test_keys_reparse_to_themselves() -> None:
    for raw, _ in MESSY:
        house, street, unit = _key(raw)
        if house is None or street is None:
            continue
        rebuilt = f"{house} {street}" if unit is None else f"{house} {street} # {unit}"
        if street == "po box":
            rebuilt = f"po box {house}"
        elif street[:3] in ("rr ", "hc "):
            rebuilt = f"{street} box {house}"
        assert _key(rebuilt) == (house, street, unit), raw


def test_distinct_value_path_equals_row_by_row() -> None:
    rng = random.Random(11)
    pool: list[str | None] = [raw for raw, _ in MESSY]
    pool += [None, ""]
    lines = [rng.choice(pool) for _ in range(200)]
    out = normalize_records(pa.table({"address": pa.array(lines, pa.string())})).to_pylist()
    for line, row in zip(lines, out, strict=True):
        slow = normalize_row({"address": line})
        assert (row["house_number"], row["street"], row["unit"]) == (
            slow["house_number"],
            slow["street"],
            slow["unit"],
        )
