"""Tests for linkage.segments: rule compilation, problem collection, evaluation, codes."""

from __future__ import annotations

import dataclasses
import random
import re
from typing import Any

import numpy as np
import pyarrow as pa
import pytest

from linkage.encode import (
    Always,
    ColumnRef,
    Comparison,
    Condition,
    Const,
    ConstSet,
    Logical,
    Negation,
    SegmentSet,
    assign_codes,
    column_kinds,
    evaluate,
    load_segments,
    membership_lists,
)
from linkage.errors import InputError, SchemaError, StateError

COLUMNS = {
    "persuasion_score": "number",
    "support_score": "number",
    "turnout_score": "number",
    "party": "string",
    "ethnicity": "string",
    "last_name": "string",
}

GOOD = """
# the campaign's targets
[segments.persuadable]
description = "Movable voters"
rule = "persuasion_score >= 70 and 35 <= support_score <= 65"

[segments.base_dems]
rule = "party in ['D', 'I'] and not (turnout_score < 50)"

[segments.everyone]
rule = "True"
"""


def load(text: str) -> SegmentSet:
    return load_segments(text, columns=COLUMNS, file="segments.toml")


def problems_of(text: str) -> SchemaError:
    with pytest.raises(SchemaError) as caught:
        load(text)
    return caught.value


# --- parsing ---------------------------------------------------------------


def test_happy_path_compiles_in_file_order() -> None:
    segments = load(GOOD)
    assert segments.names == ("persuadable", "base_dems", "everyone")
    persuadable = segments["persuadable"]
    assert persuadable.description == "Movable voters"
    assert persuadable.columns == ("persuasion_score", "support_score")
    # The chained comparison becomes an `and` of pairs, the column always on the left.
    assert persuadable.condition == Logical(
        "and",
        (
            Comparison("persuasion_score", ">=", Const(70)),
            Logical(
                "and",
                (
                    Comparison("support_score", ">=", Const(35)),
                    Comparison("support_score", "<=", Const(65)),
                ),
            ),
        ),
    )
    assert segments["base_dems"].condition == Logical(
        "and",
        (
            Comparison("party", "in", ConstSet(("D", "I"))),
            Negation(Comparison("turnout_score", "<", Const(50))),
        ),
    )
    assert segments["base_dems"].description == ""
    assert segments["everyone"].condition == Always(True)
    assert segments.columns == ("party", "persuasion_score", "support_score", "turnout_score")
    assert len(segments) == 3


def test_compiled_objects_are_immutable() -> None:
    segments = load(GOOD)
    with pytest.raises(dataclasses.FrozenInstanceError):
        segments.segments[0].rule = "True"  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        segments.segments = ()  # type: ignore[misc]
    assert isinstance(segments.segments, tuple)


def test_negative_numbers_tuples_and_column_comparisons_are_allowed() -> None:
    text = """
[segments.a]
rule = "support_score > -5 and party not in ('R',) or turnout_score != support_score"
"""
    rule = load(text)["a"].condition
    assert rule == Logical(
        "or",
        (
            Logical(
                "and",
                (
                    Comparison("support_score", ">", Const(-5)),
                    Comparison("party", "not in", ConstSet(("R",))),
                ),
            ),
            Comparison("turnout_score", "!=", ColumnRef("support_score")),
        ),
    )


def test_column_kinds_from_schema() -> None:
    schema = pa.schema(
        [
            ("voter_id", pa.string()),
            ("birth_date", pa.date32()),
            ("support_score", pa.int16()),
            ("weight", pa.float64()),
            ("party", pa.dictionary(pa.int32(), pa.string())),
            ("blob", pa.binary()),
        ]
    )
    assert column_kinds(schema) == {
        "voter_id": "string",
        "support_score": "number",
        "weight": "number",
        "party": "string",
    }


def test_bad_column_kind_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="kind"):
        load_segments(GOOD, columns={"party": "date"}, file="x.toml")


# --- problems ---------------------------------------------------------------

# Every literal below stands in for a value that must never reach an error message.
SECRETS = ("Smith", "Jones", "Zelda", "4242", "7777", "Oak St", "secret_col_xyz")

BAD = """
stray = "Jones"

[segments.Bad-Name]
rule = "persuasion_score >= 4242"

[segments.persuadable]
rule = "last_name == Smith"

[segments.persuadable]
rule = "True"

[segments.calls]
rule = "len(last_name) > 7777 or support_score.real > 1 or party[0] == 'D'"

[segments.types]
rule = "support_score == 'Zelda' and party < 3 and party in [1, 'D'] and party == support_score"

[segments.shapes]
rule = "1 < 2 or party in 'D' or 'D' in party or ['D'] == party or support_score + 1 > 2"

[segments.unknown]
rule = "secret_col_xyz == 'Oak St'"

[segments.no_rule]
description = "forgot it"
colour = "blue"

[segments.not_bool]
rule = "support_score"

[segments.all_matched]
rule = "party is None"

[segments.broken]
rule = "party == ('D'"

[segments.empty]
rule = "  "
"""

EXPECTED_BAD = [
    "unknown top-level key 'stray'",
    "segment 'Bad-Name': name must match",
    "segment 'persuadable': unknown column at character 14; quote string values",
    "segment 'persuadable' is defined more than once (line 10, first at line 7)",
    "segment 'calls': a function call is not allowed",
    "segment 'calls': attribute access is not allowed",
    "segment 'calls': subscripting is not allowed",
    "compares number column 'support_score' with a string value",
    "compares string column 'party' with a number value",
    "the list after 'in' at character 44 holds a value that is not a string",
    "compares string column 'party' with number column 'support_score'",
    "segment 'shapes': the comparison at character 1 compares two values",
    "the right of 'in' at character 10 must be a list of values",
    "the left of 'in' at character 26 must be a column",
    "a list at character 42 is only allowed on the right",
    "segment 'shapes': arithmetic is not allowed",
    "segment 'unknown': unknown column at character 1",
    "segment 'no_rule': unknown key 'colour'",
    "segment 'no_rule': missing 'rule'",
    "segment 'not_bool': column 'support_score' is used as a condition",
    "segment 'all_matched': the name is reserved",
    "segment 'all_matched': only string, number and boolean values are allowed",
    "segment 'all_matched': 'is' / 'is not'",
    "segment 'broken': rule is not a valid expression",
    "segment 'empty': 'rule' is empty",
]


def test_every_problem_is_reported_at_once() -> None:
    error = problems_of(BAD)
    assert error.file == "segments.toml"
    assert len(error.problems) == len(EXPECTED_BAD)
    for problem, expected in zip(error.problems, EXPECTED_BAD, strict=True):
        assert expected in problem
    text = str(error)
    assert text.startswith(f"segments.toml: {len(EXPECTED_BAD)} problem(s): ")
    for secret in SECRETS:
        assert secret not in text
        assert all(secret not in problem for problem in error.problems)


def test_unknown_column_suggests_the_nearest_known_one() -> None:
    error = problems_of('[segments.a]\nrule = "persuasion_scor >= 70"\n')
    assert error.problems == [
        "segment 'a': unknown column at character 1; did you mean 'persuasion_score'?"
    ]


def test_unsafe_labels_are_not_echoed() -> None:
    error = problems_of('[segments."Jones Smith"]\nrule = "True"\n')
    assert error.problems == ["segment #1: name must match [a-z][a-z0-9_]{0,47}"]


@pytest.mark.parametrize(
    ("text", "position"),
    [
        ("[segments.a]\nrule = \"last_name == 'Smith'\n", "line 2, column 29"),
        ("[segments.a]\nrule = Smith\n", "line 2, column 8"),
        ('\n\n[segments.a]\nrule = "x" Smith\n', "line 4, column 12"),
        ('[segments.a]\nrule = """Smith', "end of file (line 2)"),
    ],
)
def test_toml_syntax_errors_give_the_line_not_the_value(text: str, position: str) -> None:
    error = problems_of(text)
    assert len(error.problems) == 1
    assert error.problems[0].startswith(f"invalid TOML at {position}: ")
    assert "Smith" not in str(error)


@pytest.mark.parametrize("text", ["", "   \n# only a comment\n", "[segments]\n"])
def test_a_file_without_segments_is_a_problem(text: str) -> None:
    error = problems_of(text)
    assert error.problems == ["the file defines no segments (add a [segments.<name>] table)"]


def test_deep_nesting_is_refused_not_crashing() -> None:
    rule = "not " * 200 + "party == 'D'"
    error = problems_of(f'[segments.a]\nrule = "{rule}"\n')
    assert error.problems == ["segment 'a': rule is nested too deeply"]


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
