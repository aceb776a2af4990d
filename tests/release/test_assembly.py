"""Tests for linkage.release.assembly: links and segment codes joined by record reference."""

from __future__ import annotations

import pyarrow as pa
import pytest

from linkage.errors import InputError
from linkage.protocol import (
    UNSEEN_PREFIX,
    dummy_pseudonym_mask,
    dummy_pseudonyms,
    households_of,
    pseudonymize,
)
from linkage.release import assemble_assignments
from linkage.tables import ALL_HOUSEHOLDS


def segments(rows: dict[str, list[str]]) -> pa.Table:
    return pa.table(
        {
            "rid": pa.array(list(rows), pa.string()),
            "segments": pa.array(list(rows.values()), pa.list_(pa.string())),
        }
    )


def pairs(table: pa.Table) -> set[tuple[str, str]]:
    return set(zip(table["household_id"].to_pylist(), table["segment"].to_pylist(), strict=True))


def test_households_hold_the_segments_of_their_linked_records() -> None:
    links = pa.table({"rid": ["r1", "r2", "r3", "r4"], "hp": ["p1", "p1", "p2", "p3"]})
    codes = segments({"r1": ["A"], "r2": ["A", "B"], "r3": [], "r4": ["B"], "r9": ["A"]})
    assigned = assemble_assignments(links, codes, ["H1", "H1", "H2", "H3"])
    assert assigned.column_names == ["household_id", "segment", "records"]
    counted = {(r["household_id"], r["segment"]): r["records"] for r in assigned.to_pylist()}
    # H1 holds two linked records: both in A and in *, one in B.
    assert counted[("H1", "A")] == 2 and counted[("H1", "B")] == 1
    assert counted[("H1", ALL_HOUSEHOLDS)] == 2
    assert pairs(assigned) == {
        ("H1", "A"),
        ("H1", "B"),
        ("H3", "B"),
        # A record in no segment still puts its household in `*`.
        *((h, ALL_HOUSEHOLDS) for h in ("H1", "H2", "H3")),
    }
    assert assigned.num_rows == len(pairs(assigned))  # distinct


def test_unknown_records_and_unseen_households_are_dropped() -> None:
    links = pa.table({"rid": ["r1", "dummy", "r2", "r3"], "hp": ["p1", "p2", "p3", "p4"]})
    codes = segments({"r1": ["A"], "r2": ["A"], "r3": ["A"]})
    households = ["H1", "H2", UNSEEN_PREFIX + "p3", "H4"]
    assigned = assemble_assignments(links, codes, households)
    # The dummy has no segments row; p3 maps to no household the provider measures.
    assert pairs(assigned) == {("H1", "A"), ("H4", "A"), ("H1", "*"), ("H4", "*")}


def test_nothing_linked_is_an_empty_table() -> None:
    empty = pa.table({"rid": pa.array([], pa.string()), "hp": pa.array([], pa.string())})
    assigned = assemble_assignments(empty, segments({"r1": ["A"]}), [])
    assert assigned.num_rows == 0
    assert assigned.column_names == ["household_id", "segment", "records"]


def test_inconsistent_inputs_are_refused() -> None:
    links = pa.table({"rid": ["r1"], "hp": ["p1"]})
    with pytest.raises(InputError, match="one household per link"):
        assemble_assignments(links, segments({"r1": ["A"]}), [])
    twice = pa.concat_tables([segments({"r1": ["A"]}), segments({"r1": ["B"]})])
    with pytest.raises(InputError, match="repeats a record reference"):
        assemble_assignments(links, twice, ["H1"])


def test_provider_dummies_drop_but_subscribers_without_viewing_count() -> None:
    secret = b"s" * 32
    dummy = dummy_pseudonyms(secret, "x1", 1)[0]
    real = pseudonymize(secret, "x1", ["H1", "H2"])
    links = pa.table({"rid": ["r1", "r2", "r3"], "hp": [real[0], real[1], dummy]})
    codes = segments({"r1": ["A"], "r2": ["A"], "r3": ["A"]})
    hps = links["hp"].to_pylist()
    # H2 watched nothing in the period: it maps to no viewing household.
    households = households_of(secret, "x1", hps, ["H1"])
    mask = dummy_pseudonym_mask(secret, "x1", hps)
    assert mask == [False, False, True]
    assigned = assemble_assignments(links, codes, households, dummies=mask)
    members = {r["household_id"] for r in assigned.to_pylist() if r["segment"] == "A"}
    assert members == {"H1", UNSEEN_PREFIX + real[1]}  # the dummy is gone, H2 stays
    # Another secret or exchange cannot recognise the dummy.
    assert dummy_pseudonym_mask(b"t" * 32, "x1", [dummy]) == [False]
    assert dummy_pseudonym_mask(secret, "x2", [dummy]) == [False]
    assert len(dummy) == len(real[0])
