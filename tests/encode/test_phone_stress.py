"""normalize_phone on a hand-made stress set of messy US phones and junk.

The messy set is what voter files and subscriber systems hold: labels,
extensions, full-width digits, country codes, stray punctuation. The junk
set is what a clerk types when there is no number: placeholders, fictional
555 numbers, N11 service codes, reserved area codes, toll-free lines. Junk
accepted would become one token shared by strangers, so the gate is zero.
"""

from __future__ import annotations

import random

import phonenumbers
import pyarrow as pa
import pytest

from linkage.encode import normalize_phone, normalize_records, normalize_row

# (as written, expected E.164)
MESSY: list[tuple[str, str]] = [
    ("(614) 362-0123", "+16143620123"),
    ("614.362.0123", "+16143620123"),
    ("614-362-0123", "+16143620123"),
    ("6143620123", "+16143620123"),
    ("16143620123", "+16143620123"),
    ("1-614-362-0123", "+16143620123"),
    ("+1 614 362 0123", "+16143620123"),
    ("+1 (614) 362-0123", "+16143620123"),
    ("+1.614.362.0123", "+16143620123"),
    ("1 (614) 362 0123", "+16143620123"),
    ("(614)362-0123", "+16143620123"),
    ("( 614 ) 362 - 0123", "+16143620123"),
    ("614 362 0123", "+16143620123"),
    ("614  362  0123", "+16143620123"),
    (" 614-362-0123 ", "+16143620123"),
    ("614-362-0123.", "+16143620123"),
    ("614-362-0123 x204", "+16143620123"),
    ("614-362-0123x204", "+16143620123"),
    ("614-362-0123 ext. 12", "+16143620123"),
    ("614-362-0123 Ext 12", "+16143620123"),
    ("614-362-0123 extension 7", "+16143620123"),
    ("614-362-0123, ext: 3", "+16143620123"),
    ("614-362-0123 #5", "+16143620123"),
    ("(614) 362-0123 xt 9", "+16143620123"),
    ("Text/cell: 305-362-0123", "+13053620123"),
    ("Cell: 305.362.0123", "+13053620123"),
    ("cell 305 362 0123 (mom)", "+13053620123"),
    ("Home - (305) 362-0123", "+13053620123"),
    ("Tel. 305-362-0123", "+13053620123"),
    ("tel:+1-305-362-0123", "+13053620123"),
    ("Phone #: 305-362-0123", "+13053620123"),
    ("Cell #1: 305-362-0123", "+13053620123"),
    ("Work 305-362-0123, home 305-362-9999", "+13053620123"),
    ("305-362-0123 or 305-362-9999", "+13053620123"),
    ("305-362-0123 (h)", "+13053620123"),
    ("H: 305-362-0123", "+13053620123"),
    ("（３０５）３６２－０１２３", "+13053620123"),  # full-width
    ("３０５３６２０１２３", "+13053620123"),
    ("+１ ３０５ ３６２ ０１２３", "+13053620123"),
    ("٣٠٥٣٦٢٠١٢٣", "+13053620123"),  # Arabic-Indic digits
    ("305\u00a0362\u00a00123", "+13053620123"),  # no-break spaces
    ("305\u2013362\u20130123", "+13053620123"),  # en dashes
    ("212-736-5000", "+12127365000"),
    ("(415) 867-2309", "+14158672309"),
    ("312/226-7000", "+13122267000"),
    ("713 222 4567", "+17132224567"),
    ("206.386.4636", "+12063864636"),
    ("617 495 1000", "+16174951000"),
    ("404-656-2800", "+14046562800"),
    ("503.823.4000", "+15038234000"),
    ("720-913-1311", "+17209131311"),
    ("702-229-6011", "+17022296011"),
    ("216-664-2000", "+12166642000"),
    ("330 375 2345", "+13303752345"),
    ("513.352.3000", "+15133523000"),
    ("937-333-4800", "+19373334800"),
    ("419-245-1001", "+14192451001"),
    ("740-452-7700", "+17404527700"),
    ("(416) 392-2489", "+14163922489"),  # Toronto: NANP, valid
    ("604-873-7000", "+16048737000"),  # Vancouver
    ("787-722-2121", "+17877222121"),  # Puerto Rico
    ("1 (808) 586-0034", "+18085860034"),
    ("907.269.7450", "+19072697450"),
    ("+16143620123", "+16143620123"),  # already normalised: idempotent
]

JUNK: list[str] = [
    "555-555-5555",
    "(555) 555-5555",
    "999-999-9999",
    "000-000-0000",
    "0000000000",
    "111-111-1111",
    "222-222-2222",
    "614-222-2222",
    "614-999-9999",
    "123-456-7890",
    "(123) 456-7890",
    "1234567890",
    "614-456-7890",
    "987-654-3210",
    "614-555-0123",  # 555-01xx: fictional
    "(614) 555-0199",
    "305-555-0100",
    "614-555-1212",  # directory assistance
    "614-555-4567",
    "212-411-1234",  # N11 exchange
    "614-911-0123",
    "911-362-0123",  # N11 area code
    "411-362-0123",
    "614-011-0123",  # exchange starting 0/1
    "614-123-0123",
    "114-362-0123",  # area code starting 0/1
    "014-362-0123",
    "370-362-0123",  # unassigned area codes
    "999-362-0123",
    "555-362-0123",
    "960-362-0123",
    "1-800-362-0123",  # toll-free and premium: a business's line
    "888-362-0123",
    "900-362-0123",
    "1-800-FLOWERS",
    "362-0123",  # too short
    "614-362-012",
    "614-362-01234",  # too long
    "2-614-362-0123",
    "+44 20 7946 0958",  # not North American
    "+49 89 123456",
    "n/a",
    "none",
    "unknown",
    "refused",
    "-",
    "",
    "   ",
]


def _share_right(pairs: list[tuple[str, str]]) -> float:
    return sum(normalize_phone(raw) == want for raw, want in pairs) / len(pairs)


def test_stress_set_sizes() -> None:
    assert len(MESSY) >= 60
    assert len(JUNK) >= 40


def test_messy_phones_are_at_least_95_percent_right() -> None:
    wrong = [raw for raw, want in MESSY if normalize_phone(raw) != want]
    assert _share_right(MESSY) >= 0.95, wrong


def test_no_junk_is_accepted() -> None:
    accepted = [raw for raw in JUNK if normalize_phone(raw) is not None]
    assert accepted == []


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("Text/cell: 305-362-0123", "+13053620123"),
        ("３０５３６２０１２３", "+13053620123"),
        ("614-362-0123 ext. 12", "+16143620123"),
        ("614-362-0123x204", "+16143620123"),
    ],
)
def test_labels_extensions_and_wide_digits(raw: str, expected: str) -> None:
    out = normalize_phone(raw)
    assert out == expected
    assert out is not None and out.isascii()


def test_output_is_idempotent_e164() -> None:
    for raw, _ in MESSY:
        out = normalize_phone(raw)
        if out is not None:
            assert out.startswith("+1") and len(out) == 12 and out[1:].isdigit()
            assert normalize_phone(out) == out


def test_metadata_check_agrees_with_phonenumbers_number_type() -> None:
    """The compiled NANP patterns against phonenumbers' own slow classifier.

    Every area code, with two ordinary exchanges; N11 area codes are ours to
    reject whatever the metadata says.
    """
    personal = {
        phonenumbers.PhoneNumberType.FIXED_LINE,
        phonenumbers.PhoneNumberType.MOBILE,
        phonenumbers.PhoneNumberType.FIXED_LINE_OR_MOBILE,
        phonenumbers.PhoneNumberType.VOIP,
        phonenumbers.PhoneNumberType.PERSONAL_NUMBER,
    }
    kept = 0
    for area in range(200, 1000):
        if area % 100 == 11:
            continue
        for rest in ("3620123", "8724406"):
            digits = f"{area}{rest}"
            number = phonenumbers.PhoneNumber(country_code=1, national_number=int(digits))
            reference = phonenumbers.number_type(number) in personal
            assert (normalize_phone(digits) is not None) == reference, digits
            kept += reference
    assert 300 < kept < 1600  # both outcomes occur


def test_distinct_value_path_equals_row_by_row() -> None:
    rng = random.Random(5)
    pool = [raw for raw, _ in MESSY] + JUNK + [None]
    phones = [rng.choice(pool) for _ in range(300)]
    table = pa.table({"phone": pa.array(phones, pa.string())})
    fast = normalize_records(table).column("phone").to_pylist()
    assert fast == [normalize_row({"phone": p})["phone"] for p in phones]
