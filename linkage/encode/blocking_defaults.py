"""Default blocking: the passes a schema without a ``[blocking]`` table gets.

A new user should not have to know blocking to link two person files, so
:func:`default_blocking` derives passes from the field types a schema has
(the first field of each type counts). Each pass pairs a name code with a
place or a date so that blocks stay small, and the set is chosen so that a
record missing one column (a blank surname, a year-only date, a moved
household) still shares at least one pass with its match:

========================  =====================================  ==========================
pass                      parts                                   needs
========================  =====================================  ==========================
``bk_surname_postcode``   surname soundex + postcode              surname, postcode
``bk_given_postcode``     given soundex + postcode                given, postcode
``bk_surname_place``      surname soundex + city/place first 4    surname, city/place, no postcode
``bk_given_year``         given soundex + birth year              given, date
``bk_surname_year``       surname soundex + birth year            surname, date
``bk_date``               the whole date as known                 date
``bk_names``              given soundex + surname soundex         given, surname
``bk_house_street``       house number + street first 4           street_address
``bk_phone``              the phone                               phone
``bk_email``              the e-mail                              email
``bk_<field>``            the identifier                          identifier
========================  =====================================  ==========================

A schema with one ``full_name`` and no given or surname gets name passes on
the least and greatest soundex code of its words (transforms ``minsoundex``
and ``maxsoundex``: swapped words agree), each with the postcode or the
birth year, and the two together. A block larger
than ``max_block`` pairs is still dropped per pass, so a coarse pass (a
common surname in a common year) costs nothing where the data make it huge.
No default pass holds another's parts plus more, so none is *coarse* in the
sense of :mod:`linkage.match.blocking` (kept to its smallest blocks within a
pair budget); a ``[blocking]`` table that adds such a finer pass (the same
parts and a house number, say) makes the matcher leave the big blocks of the
coarser one to it, and candidate pairs then grow with the files.
Privacy cost: every pass is an equality class the matcher can count (see
``docs/THREAT_MODEL.md``, count signatures); a schema that needs fewer should
say so in its own ``[blocking]`` table.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

__all__ = ["default_blocking", "first_of_each_type"]

Part = tuple[str, str]


def first_of_each_type(
    fields: Sequence[tuple[str, tuple[str, ...]]],
) -> tuple[dict[str, tuple[str, ...]], Callable[..., str | None]]:
    """The first field of each type (its outputs), and a lookup of its main column.

    ``column("surname", "full_name")`` is the first output column of the
    first type named that the schema has, or None.
    """
    first: dict[str, tuple[str, ...]] = {}
    for kind, outputs in fields:
        first.setdefault(kind, outputs)

    def column(*kinds: str) -> str | None:
        for kind in kinds:
            if kind in first:
                return first[kind][0]
        return None

    return first, column


def default_blocking(
    fields: Sequence[tuple[str, tuple[str, ...]]],
) -> list[tuple[str, tuple[Part, ...]]]:
    """The default blocking passes for fields given as ``(type, output columns)``.

    Args:
        fields: One ``(field type, normalised outputs)`` per schema field, in order.

    Returns:
        ``(pass name, ((column, transform), ...))`` per pass, in the table's
        order; empty when no rule fits.
    """
    first, column = first_of_each_type(fields)
    surname = column("surname")
    given = column("given_name")
    full = column("full_name") if not (surname or given) else None
    postcode = column("postcode", "intl_postcode")
    place = column("city", "place")
    year: Part | None = None
    whole_date: Part | None = None
    if "date" in first:
        whole_date = (first["date"][0], "value")
        year = (first["date"][1], "value")
    elif "birth_date" in first:
        whole_date = (first["birth_date"][0], "value")
        year = (first["birth_date"][0], "year")

    passes: list[tuple[str, tuple[Part, ...]]] = []
    if surname and postcode:
        passes.append(("bk_surname_postcode", ((surname, "soundex"), (postcode, "value"))))
    if given and postcode:
        passes.append(("bk_given_postcode", ((given, "soundex"), (postcode, "value"))))
    if surname and place and not postcode:
        passes.append(("bk_surname_place", ((surname, "soundex"), (place, "first4"))))
    if given and year:
        passes.append(("bk_given_year", ((given, "soundex"), year)))
    if surname and year:
        passes.append(("bk_surname_year", ((surname, "soundex"), year)))
    if whole_date:
        passes.append(("bk_date", (whole_date,)))
    if given and surname:
        # Both names alone: finds the pair whose postcode and date are both
        # wrong or missing (a move and a year-only date), when the names are not.
        passes.append(("bk_names", ((given, "soundex"), (surname, "soundex"))))
    if full:
        # One name column: the least and greatest of its words' codes, so
        # swapped words still block together.
        low, high = (full, "minsoundex"), (full, "maxsoundex")
        if postcode:
            passes.append(("bk_name_low_postcode", (low, (postcode, "value"))))
            passes.append(("bk_name_high_postcode", (high, (postcode, "value"))))
        if year:
            passes.append(("bk_name_low_year", (low, year)))
            passes.append(("bk_name_high_year", (high, year)))
        passes.append(("bk_name_words", (low, high)))
    if "street_address" in first:
        street, house_number, _ = first["street_address"]
        passes.append(("bk_house_street", ((house_number, "value"), (street, "first4"))))
    for kind in ("phone", "email"):
        name = column(kind)
        if name:
            passes.append((f"bk_{kind}", ((name, "value"),)))
    for kind, outputs in fields:
        if kind == "identifier":
            passes.append((f"bk_{outputs[0]}"[:43], ((outputs[0], "value"),)))
    return passes
