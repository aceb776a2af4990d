"""Tests for linkage.release.rules: k-suppression, minimum universe, differencing, tiers."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import pyarrow as pa
import pytest

from linkage.engine import DuckDBEngine
from linkage.errors import PrivacyError
from linkage.measure import segment_members
from linkage.release import (
    SUPPRESSIBLE_COLUMNS,
    apply_k_suppression,
    check_min_universe,
    prune_derived_segments,
    refuse_differencing,
    suppress_tier_complements,
    validate_k,
)
from linkage.tables import CELLS_SCHEMA, VIEWERSHIP_SCHEMA
from tests.measure.inputs import assign, households


def members(pairs: Mapping[str, Sequence[str]], engine: DuckDBEngine) -> pa.Table:
    return segment_members(assign(pairs), engine)


def cells_with_contributors(counts: Sequence[int]) -> pa.Table:
    n = len(counts)
    return pa.table(
        {
            "grain": ["quarter_hour"] * n,
            "segment": ["A"] * n,
            "channel": ["c1"] * n,
            "day_type": ["weekday"] * n,
            "daypart": ["prime"] * n,
            "quarter_hour": list(range(80, 80 + n)),
            "universe": [500] * n,
            "aqh_households": [float(c) for c in counts],
            "rating": [c / 5.0 for c in counts],
            "share": [10.0] * n,
            "reach_households": [None] * n,
            "reach": [None] * n,
            "suppressed": [False] * n,
            "contributors": list(counts),
        },
        schema=CELLS_SCHEMA,
    )


# --------------------------------------------------------------------------- k


def test_k_suppression_boundary() -> None:
    k = 50
    out = apply_k_suppression(cells_with_contributors([k - 1, k, 0]), k)
    assert out.schema == VIEWERSHIP_SCHEMA
    assert "contributors" not in out.column_names
    below, at, empty = out.to_pylist()
    assert below["suppressed"] and empty["suppressed"]
    assert not at["suppressed"]
    for column in SUPPRESSIBLE_COLUMNS:
        assert below[column] is None and empty[column] is None
    assert (at["aqh_households"], at["rating"], at["share"]) == (50.0, 10.0, 10.0)
    assert below["universe"] == at["universe"] == 500
    assert below["quarter_hour"] == 80


def test_k_must_be_positive() -> None:
    validate_k(1)
    with pytest.raises(PrivacyError, match="at least 1"):
        validate_k(0)
    with pytest.raises(PrivacyError):
        apply_k_suppression(cells_with_contributors([0]), 0)


def test_suppression_needs_contributors() -> None:
    with pytest.raises(ValueError, match="contributors"):
        apply_k_suppression(cells_with_contributors([5]).drop_columns(["contributors"]), 5)


# --------------------------------------------------------------------------- universe


def test_min_universe_refusal_names_the_code() -> None:
    check_min_universe({"s1": 100, "s2": 250}, 100)
    with pytest.raises(PrivacyError) as info:
        check_min_universe({"s1": 99, "s2": 250, "s3": 3}, 100)
    assert info.value.message.startswith("segment(s) s1, s3 have fewer than 100")
    assert info.value.hint is not None and "merge" in info.value.hint
    assert info.value.exit_code == 2


# --------------------------------------------------------------------------- differencing


def test_differencing_refuses_one_household_difference(engine: DuckDBEngine) -> None:
    base = households("h", 100)
    groups = {"A": base, "B": base[:-1], "C": households("z", 60)}
    with pytest.raises(PrivacyError) as info:
        refuse_differencing(members(groups, engine), 50, engine)
    assert info.value.message.startswith("segment pair(s) A/B differ by fewer than 50")


def test_differencing_allows_identical_and_distant_sets(engine: DuckDBEngine) -> None:
    base = households("h", 100)
    # A and B identical; C disjoint; * is A ∪ C, 60 more than A and 100 more than C.
    groups = {"A": base, "B": list(reversed(base)), "C": households("z", 60)}
    refuse_differencing(members(groups, engine), 50, engine)


def test_differencing_checks_the_all_segment(engine: DuckDBEngine) -> None:
    # A is everyone but one household: * minus A would expose that one household.
    groups = {"A": households("h", 99), "B": ["h98", "lonely"]}
    with pytest.raises(PrivacyError, match=r"\*/A"):
        refuse_differencing(members(groups, engine), 2, engine)


def test_differencing_boundary_at_k(engine: DuckDBEngine) -> None:
    base = households("h", 100)
    refuse_differencing(members({"A": base, "B": base[:-5]}, engine), 5, engine)
    with pytest.raises(PrivacyError):
        refuse_differencing(members({"A": base, "B": base[:-5]}, engine), 6, engine)


# --------------------------------------------------------------------------- tiers


def _tier_payload() -> pa.Table:
    rows = []
    for seg, aqh, sup in (
        ("s1", 100.0, False),
        ("s1:light", None, True),
        ("s1:medium", 40.0, False),
        ("s1:heavy", 50.0, False),
        ("s2:light", 60.0, False),
    ):
        rows.append(
            {
                "grain": "quarter_hour",
                "segment": seg,
                "channel": "CNN",
                "day_type": "weekday",
                "daypart": "prime",
                "quarter_hour": 80,
                "universe": 500,
                "aqh_households": aqh,
                "rating": None if aqh is None else aqh / 5,
                "suppressed": sup,
            }
        )
    return pa.Table.from_pylist(rows)


def test_a_suppressed_tier_hides_its_siblings_not_its_parent() -> None:
    out = {r["segment"]: r for r in suppress_tier_complements(_tier_payload()).to_pylist()}
    # Without this, s1 - medium - heavy = 10 households would rebuild the light cell.
    assert out["s1:medium"]["suppressed"] and out["s1:medium"]["aqh_households"] is None
    assert out["s1:heavy"]["suppressed"] and out["s1:heavy"]["rating"] is None
    assert not out["s1"]["suppressed"] and out["s1"]["aqh_households"] == 100.0
    assert not out["s2:light"]["suppressed"]  # another parent: untouched
    assert out["s1:medium"]["universe"] == 500


def test_a_thin_tier_drops_all_tiers_of_its_parent() -> None:
    rows = [(f"h{i}", "s1") for i in range(300)]
    rows += [(f"h{i}", "s1:light") for i in range(200)]
    rows += [(f"h{i}", "s1:medium") for i in range(200, 280)]
    rows += [(f"h{i}", "s1:heavy") for i in range(280, 300)]  # 20 < min_universe
    table = pa.table({"household_id": [r[0] for r in rows], "segment": [r[1] for r in rows]})
    kept, dropped = prune_derived_segments(table, k=5, min_universe=50)
    assert dropped == ["s1:heavy", "s1:light", "s1:medium"]
    assert set(kept["segment"].to_pylist()) == {"s1"}
