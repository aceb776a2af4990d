"""Person files of awkward shapes, and a heavier corruption of the world's subscriber file.

The voter file and FEBRL are tidy: every name in its column, every date
whole. Files met in the field are not. :func:`hard_shapes` draws two
census-style person files (given name, surname, birth date, birthplace, a
UK-style postcode, a free-text occupation, gender) of the same people, the
second written by a worse clerk:

* surnames missing, or shifted into the given-name column (``"Mary Ellis"``
  in ``given_name``, ``surname`` empty);
* given name and surname swapped;
* nicknames (NickNamer) and keyboard typos;
* dates known only to the year (``"1861"``) and impossible dates
  (``"1861-03-86"``: the day mistyped, year and month still right);
* non-US postcodes written with and without the space, in lower case, or
  only their outward code (``"LS6"``);
* occupations in free text (``"ag lab"`` for ``"agricultural labourer"``,
  ``"retired coal miner"``), birthplaces abbreviated.

Side ``b`` also holds people who are not in ``a``, a share of them relatives
of someone in ``a`` (same surname, postcode and birthplace), so agreement on
the household fields alone does not make a match. The linkage schema for the
pair is shipped as ``hard_shapes`` (:func:`linkage.encode.shipped_schema`).

:func:`corrupt_heavily` makes the synthetic world's subscriber file harder
after the fact (more typos and nicknames, swapped names, fewer phones and
e-mails, mistyped ZIPs), leaving :func:`~linkage.synth.generate_world`'s
default draw untouched.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from linkage.synth._arrays import (
    IntArray,
    constant,
    digit_strings,
    draw,
    int_strings,
    join,
    take,
    where,
)
from linkage.synth.corruption import apply_typos, noisy_case, swap_nicknames
from linkage.synth.reference import Reference, load_reference

__all__ = ["HARD_SHAPES_SCHEMA", "HardShapes", "corrupt_heavily", "hard_shapes"]

HARD_SHAPES_SCHEMA: Final = "hard_shapes"
"""Name of the shipped linkage schema for :func:`hard_shapes` files."""

# Birthplace as written in side a, and a clerk's shorter spelling of it.
_PLACES: Final[tuple[tuple[str, str], ...]] = (
    ("Lancashire, England", "Lancs"), ("Yorkshire, England", "Yorks"),
    ("Cork, Ireland", "Co Cork"), ("Glasgow, Scotland", "Glasgow"),
    ("Durham, England", "Co Durham"), ("Cornwall, England", "Cornwall"),
    ("Devon, England", "Devonshire"), ("Kent, England", "Kent"),
    ("London, England", "London"), ("Norfolk, England", "Norf"),
    ("Staffordshire, England", "Staffs"), ("Lincolnshire, England", "Lincs"),
    ("Cardiff, Wales", "Cardiff"), ("Glamorgan, Wales", "Glam"),
    ("Dublin, Ireland", "Dublin"), ("Edinburgh, Scotland", "Edinburgh"),
    ("Northumberland, England", "Northd"), ("Somerset, England", "Som"),
    ("Cheshire, England", "Ches"), ("Warwickshire, England", "Warks"),
    ("Hampshire, England", "Hants"), ("Gloucestershire, England", "Glos"),
    ("Antrim, Ireland", "Co Antrim"), ("Aberdeen, Scotland", "Aberdeen"),
    ("Prussia", "Germany"), ("Bavaria", "Germany"), ("New York, USA", "America"),
    ("Quebec, Canada", "Canada"),
)  # fmt: skip

# Occupation as written in side a, and free-text variants of it.
_OCCUPATIONS: Final[tuple[tuple[str, tuple[str, ...]], ...]] = (
    ("agricultural labourer", ("ag lab", "farm labourer", "labourer on farm")),
    ("coal miner", ("miner", "coal hewer", "collier")),
    ("domestic servant", ("servant", "general servant", "house maid")),
    ("cotton weaver", ("weaver", "cotton mill weaver", "power loom weaver")),
    ("farmer", ("farmer of 40 acres", "farmer and grazier", "yeoman")),
    ("blacksmith", ("smith", "black smith", "farrier and blacksmith")),
    ("scholar", ("school", "at school", "pupil")),
    ("carpenter", ("joiner", "carpenter and joiner", "house carpenter")),
    ("dressmaker", ("dress maker", "seamstress", "needlewoman")),
    ("railway porter", ("porter", "porter at railway", "rly porter")),
    ("shoemaker", ("boot maker", "cordwainer", "shoe maker")),
    ("general labourer", ("labourer", "gen lab", "lab")),
    ("laundress", ("washerwoman", "laundry", "washer woman")),
    ("grocer", ("grocer and draper", "shopkeeper", "grocers assistant")),
    ("mason", ("stone mason", "stonemason", "bricklayer and mason")),
    ("housekeeper", ("house keeper", "keeps house", "housewife")),
    ("tailor", ("journeyman tailor", "tailoress", "tailor and draper")),
    ("engine fitter", ("fitter", "iron fitter", "engine smith")),
    ("clerk", ("commercial clerk", "clerk in office", "book keeper")),
    ("sailor", ("seaman", "mariner", "able seaman")),
)  # fmt: skip

_POST_AREAS: Final = (
    "LS", "M", "B", "SW", "NE", "G", "EH", "CF", "BS", "L", "S", "BD", "HU", "OL", "PR",
    "DH", "TR", "EX", "CT", "NR", "ST", "LN", "BT", "AB", "YO", "CH", "CV", "SO", "GL",
)  # fmt: skip
_INWARD_LETTERS: Final = "ABDEFGHJLNPQRSTUWXYZ"  # the letters UK inward codes use


@dataclass(frozen=True)
class HardShapes:
    """Two person files of the same people and which rows match.

    Attributes:
        a: Side a: ``person_id``, ``given_name``, ``surname``, ``birth_date``,
            ``birthplace``, ``postcode``, ``occupation``, ``gender`` (strings,
            null = missing).
        b: Side b, the same columns, written worse; its own ``person_id``s.
        truth: ``id_a``, ``id_b``: one row per true pair (one-to-one).
    """

    a: pa.Table
    b: pa.Table
    truth: pa.Table


def hard_shapes(
    people: int = 5000, seed: int = 0, overlap: float = 0.8, relatives: float = 0.3
) -> HardShapes:
    """Draw a pair of hard-shaped person files.

    Args:
        people: Rows of side a (>= 1).
        seed: Seed; the same arguments always give the same files.
        overlap: Share of side a that is also in side b.
        relatives: Share of side b's other people who are relatives of someone
            in side a (same surname, postcode and birthplace).

    Returns:
        Both files and the true pairs.
    """
    ref = load_reference()
    rng = np.random.default_rng(np.random.SeedSequence([seed, 13]))
    n = max(1, int(people))
    person = _draw_people(rng, n, ref)

    in_b = np.flatnonzero(rng.random(n) < overlap)
    strangers = max(1, round(n * (1.0 - overlap)))
    fresh = _draw_people(rng, strangers, ref)
    kin = rng.random(strangers) < relatives
    parent = rng.integers(0, n, strangers)
    for column in ("surname", "postcode", "place"):
        fresh[column] = np.where(kin, person[column][parent], fresh[column])

    matched = {k: v[in_b] for k, v in person.items()}
    rows_b = {k: np.concatenate([matched[k], fresh[k]]) for k in person}
    order = rng.permutation(len(rows_b["given"]))
    rows_b = {k: v[order] for k, v in rows_b.items()}
    ids_a = digit_strings(np.arange(n, dtype=np.int64), 7)
    ids_b = digit_strings(np.arange(len(order), dtype=np.int64) + 5_000_000, 7)
    position_b = np.empty(len(order), dtype=np.int64)
    position_b[order] = np.arange(len(order))
    truth = pa.table(
        {
            "id_a": join([constant("A", len(in_b)), take(ids_a, in_b)]),
            "id_b": join(
                [
                    constant("B", len(in_b)),
                    take(ids_b, position_b[: len(in_b)]),
                ]
            ),
        }
    )
    a = _write_clean(rng, person, join([constant("A", n), ids_a]), ref)
    b = _write_messy(rng, rows_b, join([constant("B", len(order)), ids_b]), ref)
    return HardShapes(a=a, b=b, truth=truth)


def _draw_people(rng: np.random.Generator, n: int, ref: Reference) -> dict[str, IntArray]:
    """Each person as indices and numbers (written out per side later)."""
    sex = (rng.random(n) < 0.5).astype(np.int64)
    given = np.where(
        sex == 0,
        draw(rng, ref.given_weight[0].sum(axis=0), n),
        draw(rng, ref.given_weight[1].sum(axis=0), n),
    )
    return {
        "sex": sex,
        "given": given,
        "surname": draw(rng, ref.surname_weight.sum(axis=0), n),
        "year": rng.integers(1800, 1895, n),
        "month": rng.integers(1, 13, n),
        "day": rng.integers(1, 29, n),
        "place": draw(rng, 1.0 / np.arange(1, len(_PLACES) + 1), n),
        "occupation": draw(rng, 1.0 / np.arange(1, len(_OCCUPATIONS) + 1), n),
        "postcode": _postcodes(rng, n),
    }


def _postcodes(rng: np.random.Generator, n: int) -> IntArray:
    # A postcode as one integer: area, district, sector digit and two inward letters.
    area = rng.integers(0, len(_POST_AREAS), n)
    district = rng.integers(1, 30, n)
    sector = rng.integers(0, 10, n)
    letters = rng.integers(0, len(_INWARD_LETTERS) ** 2, n)
    return (((area * 100 + district) * 10 + sector) * 1000 + letters).astype(np.int64)


def _postcode_text(code: IntArray) -> tuple[pa.Array, pa.Array]:
    """Outward and inward halves of each postcode (``"LS6"``, ``"2AB"``)."""
    letters = code % 1000
    rest = code // 1000
    sector, rest = rest % 10, rest // 10
    district, area = rest % 100, rest // 100
    k = len(_INWARD_LETTERS)
    outward = join([pa.array(np.asarray(_POST_AREAS)[area], pa.string()), int_strings(district)])
    inward = join(
        [
            int_strings(sector),
            pa.array(np.asarray(list(_INWARD_LETTERS))[letters // k], pa.string()),
            pa.array(np.asarray(list(_INWARD_LETTERS))[letters % k], pa.string()),
        ]
    )
    return outward, inward


def _dates(person: dict[str, IntArray]) -> pa.Array:
    return join(
        [
            int_strings(person["year"]),
            digit_strings(person["month"], 2),
            digit_strings(person["day"], 2),
        ],
        "-",
    )


def _write_clean(
    rng: np.random.Generator, person: dict[str, IntArray], ids: pa.Array, ref: Reference
) -> pa.Table:
    """Side a: tidy, with a little missingness."""
    n = len(ids)
    outward, inward = _postcode_text(person["postcode"])
    surname = take(ref.surnames, person["surname"])
    return pa.table(
        {
            "person_id": ids,
            "given_name": take(ref.given_names, person["given"]),
            "surname": where(rng.random(n) >= 0.02, surname, None),
            "birth_date": where(rng.random(n) >= 0.03, _dates(person), None),
            "birthplace": pa.array([_PLACES[i][0] for i in person["place"]], pa.string()),
            "postcode": join([outward, inward], " "),
            "occupation": where(
                rng.random(n) >= 0.05,
                pa.array([_OCCUPATIONS[i][0] for i in person["occupation"]], pa.string()),
                None,
            ),
            "gender": pa.array(np.where(person["sex"] == 0, "M", "F"), pa.string()),
        }
    )


def _write_messy(
    rng: np.random.Generator, person: dict[str, IntArray], ids: pa.Array, ref: Reference
) -> pa.Table:
    """Side b: every hard shape of the module docstring, each at its own rate."""
    n = len(ids)
    given = take(ref.given_names, person["given"])
    given = swap_nicknames(rng, person["given"], given, ref, 0.10)
    given = apply_typos(rng, given, 0.05)
    surname = apply_typos(rng, take(ref.surnames, person["surname"]), 0.05)
    draw_ = rng.random(n)
    shifted = draw_ < 0.06
    swapped = (draw_ >= 0.06) & (draw_ < 0.12)
    missing = (draw_ >= 0.12) & (draw_ < 0.20)
    given, surname = (
        where(shifted, join([given, surname], " "), where(swapped, surname, given)),
        where(shifted | missing, None, where(swapped, given, surname)),
    )
    given, surname = noisy_case(rng, given, 0.2), noisy_case(rng, surname, 0.2)

    r = rng.random(n)
    year_only = r < 0.10
    impossible = (r >= 0.10) & (r < 0.15)
    no_date = (r >= 0.15) & (r < 0.20)
    bad_day = int_strings(rng.integers(32, 100, n))
    dates = where(year_only, int_strings(person["year"]), _dates(person))
    dates = where(
        impossible,
        join([int_strings(person["year"]), digit_strings(person["month"], 2), bad_day], "-"),
        dates,
    )
    dates = where(no_date, None, dates)

    outward, inward = _postcode_text(person["postcode"])
    r = rng.random(n)
    postcode = where(
        r < 0.10,
        outward,
        where(
            r < 0.40,
            pc.utf8_lower(join([outward, inward])),
            join([outward, inward], " "),
        ),
    )
    postcode = where(rng.random(n) < 0.08, None, postcode)

    short = rng.random(n) < 0.30
    place = pa.array(
        [
            _PLACES[i][1] if s else _PLACES[i][0]
            for i, s in zip(person["place"], short, strict=True)
        ],
        pa.string(),
    )
    place = where(rng.random(n) < 0.08, None, apply_typos(rng, place, 0.05))

    variant = rng.integers(0, 4, n)
    occupation = pa.array(
        [
            _OCCUPATIONS[i][0] if v == 3 else _OCCUPATIONS[i][1][v]
            for i, v in zip(person["occupation"], variant, strict=True)
        ],
        pa.string(),
    )
    retired = rng.random(n) < 0.05
    occupation = where(retired, join([constant("retired", n), occupation], " "), occupation)
    occupation = where(rng.random(n) < 0.15, None, occupation)
    gender = pa.array(np.where(person["sex"] == 0, "M", "F"), pa.string())
    return pa.table(
        {
            "person_id": ids,
            "given_name": given,
            "surname": surname,
            "birth_date": dates,
            "birthplace": place,
            "postcode": postcode,
            "occupation": occupation,
            "gender": where(rng.random(n) < 0.05, None, gender),
        }
    )


def corrupt_heavily(subscribers: pa.Table, seed: int = 0, level: float = 1.0) -> pa.Table:
    """The world's subscriber file, made harder to link (on top of its default corruption).

    Args:
        subscribers: ``WORLD/provider/subscribers.parquet`` as generated.
        seed: Seed of the extra corruption.
        level: Scales every extra rate (1.0: about three times the default
            name typos and nicknames; 0: the file unchanged).

    Returns:
        The same columns and rows: names typed worse (typos, nicknames,
        given and surname swapped, surnames dropped), addresses mistyped, a
        digit of the ZIP mistyped, and fewer phones and e-mails.
    """
    if level <= 0:
        return subscribers
    ref = load_reference()
    rng = np.random.default_rng(np.random.SeedSequence([seed, 17]))
    n = subscribers.num_rows
    index = {str(v).lower(): i for i, v in enumerate(ref.given_names.to_pylist())}
    first = subscribers["first_name"].combine_chunks()
    last = subscribers["last_name"].combine_chunks()
    given_idx = np.asarray(
        [-1 if v is None else index.get(v.lower(), -1) for v in first.to_pylist()], dtype=np.int64
    )
    first = swap_nicknames(rng, given_idx, first, ref, min(1.0, 0.15 * level))
    first = apply_typos(rng, first, min(1.0, 0.08 * level))
    last = apply_typos(rng, last, min(1.0, 0.08 * level))
    r = rng.random(n)
    swapped = r < 0.03 * level
    dropped = (r >= 0.03 * level) & (r < 0.06 * level)
    first, last = where(swapped, last, first), where(swapped, first, where(dropped, None, last))
    address = apply_typos(rng, subscribers["address"].combine_chunks(), min(1.0, 0.08 * level))
    zip_code = subscribers["zip"].combine_chunks()
    bad_zip = np.flatnonzero(rng.random(n) < 0.03 * level)
    if len(bad_zip):
        values = np.asarray(zip_code.to_numpy(zero_copy_only=False), dtype=object)
        digits = rng.integers(0, 10, len(bad_zip))
        places = rng.integers(1, 5, len(bad_zip))
        for row, d, p in zip(bad_zip, digits, places, strict=True):
            text = values[row]
            if text is not None and len(text) > p:
                values[row] = text[:p] + str(d) + text[p + 1 :]
        zip_code = pa.array(values, pa.string())
    phone = where(rng.random(n) < 0.3 * level, None, subscribers["phone"].combine_chunks())
    email = where(rng.random(n) < 0.3 * level, None, subscribers["email"].combine_chunks())
    replaced = {
        "first_name": first,
        "last_name": last,
        "address": address,
        "zip": zip_code,
        "phone": phone,
        "email": email,
    }
    columns = [replaced.get(name, subscribers[name]) for name in subscribers.column_names]
    return pa.Table.from_arrays(columns, schema=subscribers.schema)
