"""Default comparisons: the comparison vector a schema without ``[compare]`` gets.

As with :mod:`linkage.encode.blocking_defaults`, a new user should not have
to know Bloom-filter settings to link two person files. The comparisons
follow ``docs/SCHEMA.md``'s advice, from the field types (the first field of
each type counts):

==================  ===========================================================
comparison          filter (``q``, ``bits``; ``p`` = positional)
==================  ===========================================================
``name``            given (2, 12) + surname (2, 12), or full name (2, 15);
                    plus the birth year (1, 2, p) when there is a date
``born``            the date as known (1, 10, p)
``place``           city or place (2, 10) + birth year (1, 2, p)
``postcode``        postcode (1, 8, p) + surname or full name (2, 2)
``address``         street (2, 8) + house number (1, 8, p)
``phone``           phone digits (1, 10, p)
``email``           e-mail (2, 10)
``<free_text>``     the words (2, 10) + birth year (1, 2, p)
``<category>``      exact token (sex, marital status)
``<identifier>``    exact token
==================  ===========================================================

A low-entropy column never sits alone in a filter when a second column can
salt it (the lightly weighted year or surname): a filter of one surname is
the same bits for every "smith", and frequency alignment decodes it
(``docs/THREAT_MODEL.md`` §2.2). Comparisons that read the same field are
modelled jointly by the matcher, so overlap here costs no double counting.
"""

from __future__ import annotations

from collections.abc import Sequence

from linkage.encode.blocking_defaults import first_of_each_type

__all__ = ["default_compare"]

Member = tuple[str, int, int, bool]
"""A filter member: ``(column, q, bits, positional)``."""
Compare = tuple[str, str, tuple[Member, ...]]
"""``(name, method, members)``: method ``dice`` (members set) or ``exact`` (no members)."""


def default_compare(fields: Sequence[tuple[str, tuple[str, ...]]]) -> list[Compare]:
    """The default comparisons for fields given as ``(type, output columns)``.

    Args:
        fields: One ``(field type, normalised outputs)`` per schema field, in order.

    Returns:
        ``(name, method, members)`` per comparison; empty when no rule fits.
    """
    first, column = first_of_each_type(fields)
    given, surname, full = column("given_name"), column("surname"), column("full_name")
    year: Member | None = None
    date: str | None = None
    if "date" in first:
        date, year = first["date"][0], (first["date"][1], 1, 2, True)
    elif "birth_date" in first:
        date = first["birth_date"][0]
    salt = (year,) if year else ()
    out: list[Compare] = []
    names: list[Member] = []
    if given:
        names.append((given, 2, 12, False))
    if surname:
        names.append((surname, 2, 12, False))
    if not names and full:
        names.append((full, 2, 15, False))
    if names:
        out.append(("name", "dice", (*names, *salt)))
    if date:
        out.append(("born", "dice", ((date, 1, 10, True),)))
    place = column("place", "city")
    if place:
        out.append(("place", "dice", ((place, 2, 10, False), *salt)))
    postcode = column("postcode", "intl_postcode")
    if postcode:
        light = surname or full
        lightly: tuple[Member, ...] = ((light, 2, 2, False),) if light else ()
        out.append(("postcode", "dice", ((postcode, 1, 8, True), *lightly)))
    if "street_address" in first:
        street, house_number, _ = first["street_address"]
        out.append(("address", "dice", ((street, 2, 8, False), (house_number, 1, 8, True))))
    phone, email = column("phone"), column("email")
    if phone:
        out.append(("phone", "dice", ((phone, 1, 10, True),)))
    if email:
        out.append(("email", "dice", ((email, 2, 10, False),)))
    for kind, outputs in fields:
        if kind == "free_text":
            out.append((outputs[0], "dice", ((outputs[0], 2, 10, False), *salt)))
        elif kind in ("category", "identifier", "state"):
            out.append((outputs[0], "exact", ()))
    return out
