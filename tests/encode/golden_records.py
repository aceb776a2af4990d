"""Raw voter records the golden-vector tests encode, and the table they are read into.

``test_matchkeys`` and ``test_blocking_keys`` pin the same voters: two
spellings of one person (nickname, address and phone variants), one with
accents and a bad email, and one with every field missing. Each file puts a
record of its own fourth (the stored vectors under ``tests/vectors/`` pin it),
so :func:`voter_records` takes that one.
"""

from __future__ import annotations

from collections.abc import Sequence

import pyarrow as pa

Record = dict[str, str | None]

BILL: Record = {
    "first_name": "Bill",
    "last_name": "O'Brien",
    "address": "123 N Main St Apt 4",
    "city": "Columbus",
    "state": "OH",
    "zip": "43215-1234",
    "phone": "(614) 362-0123",
    "email": "Bill.OBrien@Example.com",
}
WILLIAM: Record = {
    "first_name": "WILLIAM",
    "last_name": "OBRIEN",
    "address": "123 North Main Street #4",
    "city": "columbus",
    "state": "Ohio",
    "zip": "43215",
    "phone": "1-614-362-0123",
    "email": " bill.obrien@example.com ",
}
JOSE: Record = {
    "first_name": "José",
    "last_name": "García-Lopez",
    "address": "45 Twenty-First St NW",
    "city": "Washington",
    "state": "DC",
    "zip": "20001",
    "phone": None,
    "email": "not-an-email",
}
NOBODY: Record = {
    "first_name": None,
    "last_name": None,
    "address": None,
    "city": None,
    "state": None,
    "zip": None,
    "phone": None,
    "email": None,
}


def voter_records(fourth: Record) -> list[Record]:
    """Bill, William, José, ``fourth`` and nobody: fresh copies, in that order."""
    return [dict(BILL), dict(WILLIAM), dict(JOSE), fourth, dict(NOBODY)]


def string_table(rows: Sequence[Record]) -> pa.Table:
    """``rows`` as a table of string columns, in the first row's column order."""
    return pa.table({c: pa.array([r[c] for r in rows], pa.string()) for c in rows[0]})
