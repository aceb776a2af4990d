"""Tests for linkage.encode.membership: evaluation (against a row-by-row reference), codes."""

from __future__ import annotations

import random
import re
from typing import Any

import numpy as np
import pyarrow as pa
import pytest

from linkage.encode import (
    Always,
    ColumnRef,
    Condition,
    ConstSet,
    Logical,
    Negation,
    SegmentSet,
    assign_codes,
    evaluate,
    membership_lists,
)
from linkage.errors import InputError, StateError
from tests.encode.segment_rules import GOOD, load

# --- evaluation ---------------------------------------------------------------


def voters() -> pa.Table:
    return pa.table(
        {
            "persuasion_score": pa.array([80, 80, None, 90, 70, 10], pa.int16()),
            "support_score": pa.array([40, 70, 50, None, 65, 35], pa.int16()),
            "turnout_score": pa.array([60, 10, 90, 55, None, 35], pa.int16()),
            "party": pa.array(["D", "R", None, "I", "D", "R"]).dictionary_encode(),
            "ethnicity": ["white", "black", "asian", None, "other", "white"],
            "last_name": ["a", "b", "c", "d", "e", "f"],
        }
    )


def test_evaluate_hand_computed_masks_with_nulls() -> None:
    text = (
        GOOD
        + """
[segments.not_r]
rule = "party not in ['R']"

[segments.score_eq]
rule = "turnout_score == support_score or ethnicity == 'white'"

[segments.not_white]
rule = "not ethnicity == 'white'"
"""
    )
    masks = evaluate(load(text), voters())
    assert list(masks) == ["persuadable", "base_dems", "everyone", "not_r", "score_eq", "not_white"]
    # Row 2 has a null persuasion score, row 3 a null support score: unknown -> out.
    assert masks["persuadable"].tolist() == [True, False, False, False, True, False]
    # Row 4: party D but turnout null -> `not (null < 50)` is unknown -> out.
    assert masks["base_dems"].tolist() == [True, False, False, True, False, False]
    assert masks["everyone"].tolist() == [True] * 6
    # A null party is neither in nor not in the list.
    assert masks["not_r"].tolist() == [True, False, False, True, True, False]
    assert masks["score_eq"].tolist() == [True, False, False, False, False, True]
    assert masks["not_white"].tolist() == [False, True, True, False, True, False]
    for mask in masks.values():
        assert mask.dtype == np.bool_


def test_evaluate_on_an_empty_table() -> None:
    masks = evaluate(load(GOOD), voters().slice(0, 0))
    assert all(mask.shape == (0,) for mask in masks.values())


def test_float_literals_and_numeric_in_lists() -> None:
    text = """
[segments.a]
rule = "support_score > 64.5 and turnout_score in [10, 55.0, 60]"
[segments.b]
rule = "turnout_score in [10, 35]"
"""
    masks = evaluate(load(text), voters())
    assert masks["a"].tolist() == [False, True, False, False, False, False]
    assert masks["b"].tolist() == [False, True, False, False, False, True]


def test_evaluate_rejects_missing_or_mistyped_columns() -> None:
    segments = load(GOOD)
    with pytest.raises(InputError) as missing:
        evaluate(segments, voters().drop_columns(["turnout_score"]))
    assert missing.value.column == "turnout_score"
    table = voters()
    mistyped = table.set_column(
        table.column_names.index("support_score"),
        "support_score",
        pa.array(["40", "70", "50", None, "65", "35"]),
    )
    with pytest.raises(InputError) as wrong:
        evaluate(segments, mistyped)
    assert wrong.value.column == "support_score"
    assert "40" not in str(wrong.value)


def _reference(condition: Condition, row: dict[str, Any]) -> bool | None:
    """Slow, obviously-correct three-valued evaluation of one row."""
    if isinstance(condition, Always):
        return condition.value
    if isinstance(condition, Negation):
        inner = _reference(condition.operand, row)
        return None if inner is None else not inner
    if isinstance(condition, Logical):
        values = [_reference(operand, row) for operand in condition.operands]
        if condition.op == "and":
            if any(value is False for value in values):
                return False
            return None if any(value is None for value in values) else True
        if any(value is True for value in values):
            return True
        return None if any(value is None for value in values) else False
    left = row[condition.column]
    other = condition.other
    if left is None:
        return None
    if isinstance(other, ConstSet):
        found = left in other.values
        return found if condition.op == "in" else not found
    right = row[other.name] if isinstance(other, ColumnRef) else other.value
    if right is None:
        return None
    ops: dict[str, bool] = {
        "==": left == right,
        "!=": left != right,
        "<": left < right,
        "<=": left <= right,
        ">": left > right,
        ">=": left >= right,
    }
    return ops[condition.op]


def test_evaluate_matches_the_row_by_row_reference() -> None:
    rng = random.Random(20240611)
    rows = 300

    def maybe(value: Any) -> Any:
        return None if rng.random() < 0.15 else value

    table = pa.table(
        {
            "persuasion_score": pa.array(
                [maybe(rng.randint(1, 100)) for _ in range(rows)], pa.int16()
            ),
            "support_score": pa.array(
                [maybe(rng.randint(1, 100)) for _ in range(rows)], pa.int16()
            ),
            "turnout_score": pa.array(
                [maybe(rng.randint(1, 100)) for _ in range(rows)], pa.int16()
            ),
            "party": [maybe(rng.choice("DRI")) for _ in range(rows)],
            "ethnicity": [maybe(rng.choice(["white", "black", "asian"])) for _ in range(rows)],
            "last_name": [maybe(rng.choice(["a", "b"])) for _ in range(rows)],
        }
    )
    text = """
[segments.r1]
rule = "persuasion_score >= 70 and 35 <= support_score <= 65"
[segments.r2]
rule = "not (party in ['D', 'I'] or turnout_score < 30) or ethnicity != 'asian'"
[segments.r3]
rule = "party not in ['R'] and support_score < turnout_score <= persuasion_score"
[segments.r4]
rule = "not not (last_name == 'a') or 50 > support_score"
"""
    segments = load(text)
    masks = evaluate(segments, table)
    records = table.to_pylist()
    for segment in segments:
        expected = [_reference(segment.condition, row) is True for row in records]
        assert masks[segment.name].tolist() == expected, segment.name
        assert 0 < sum(expected) < rows  # the data exercises both outcomes


# --- codes -----------------------------------------------------------------

CODE_RE = re.compile(r"s[0-9a-f]{16}")


def many_segments(count: int) -> SegmentSet:
    text = "".join(f'[segments.seg_{i:02d}]\nrule = "True"\n' for i in range(count))
    return load(text)


def test_codes_are_unique_random_and_reveal_nothing() -> None:
    segments = many_segments(30)
    codes = assign_codes(segments)
    assert set(codes) == set(segments.names)
    assert len(set(codes.values())) == 30
    for name, code in codes.items():
        assert CODE_RE.fullmatch(code)
        assert name not in code
    # The default source is the OS CSPRNG: two draws share nothing.
    assert not set(codes.values()) & set(assign_codes(segments).values())
    # Neither the mapping's order nor the codes' sort order follows the file.
    assert list(codes) != list(segments.names)
    by_code = sorted(codes, key=codes.__getitem__)
    assert by_code != list(segments.names)


def test_injected_rng_is_deterministic() -> None:
    segments = many_segments(5)
    first = assign_codes(segments, random.Random(7))
    again = assign_codes(segments, random.Random(7))
    other = assign_codes(segments, random.Random(8))
    assert first == again
    assert list(first) == list(again)
    assert first != other


class CollidingRandom(random.Random):
    """Draws the same 64-bit code twice before moving on, to force a collision."""

    def __init__(self) -> None:
        super().__init__(1)
        self.draws = 0

    def getrandbits(self, k: int, /) -> int:
        if k != 64:  # the shuffle's draws
            return super().getrandbits(k)
        self.draws += 1
        return 5 if self.draws <= 2 else self.draws


def test_code_collisions_are_redrawn() -> None:
    rng = CollidingRandom()
    codes = assign_codes(many_segments(2), rng)
    assert sorted(codes.values()) == ["s0000000000000003", "s0000000000000005"]
    assert rng.draws == 3


def test_membership_lists_sorted_by_code() -> None:
    masks = {
        "a": np.array([True, False, True, False]),
        "b": np.array([True, True, False, False]),
        "c": np.array([True, False, False, False]),
    }
    codes = {"a": "s0000000000000003", "b": "s0000000000000001", "c": "s0000000000000002"}
    lists = membership_lists(masks, codes)
    assert lists.type == pa.list_(pa.string())
    assert lists.to_pylist() == [
        ["s0000000000000001", "s0000000000000002", "s0000000000000003"],
        ["s0000000000000001"],
        ["s0000000000000003"],
        [],
    ]


def test_membership_lists_end_to_end() -> None:
    segments = load(GOOD)
    masks = evaluate(segments, voters())
    codes = assign_codes(segments, random.Random(3))
    decode = {code: name for name, code in codes.items()}
    lists = membership_lists(masks, codes).to_pylist()
    for row, voter_codes in enumerate(lists):
        assert voter_codes == sorted(voter_codes)
        assert {decode[c] for c in voter_codes} == {n for n in masks if masks[n][row]}


def test_membership_lists_rejects_mismatched_inputs() -> None:
    with pytest.raises(StateError):
        membership_lists({"a": np.array([True])}, {"b": "s0000000000000001"})
    with pytest.raises(ValueError, match="length"):
        membership_lists(
            {"a": np.array([True]), "b": np.array([True, False])},
            {"a": "s0000000000000001", "b": "s0000000000000002"},
        )
