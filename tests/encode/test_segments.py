"""Tests for linkage.encode.segments: rule compilation, kinds, problem collection."""

from __future__ import annotations

import dataclasses

import pyarrow as pa
import pytest

from linkage.encode import (
    Always,
    ColumnRef,
    Comparison,
    Const,
    ConstSet,
    Logical,
    Negation,
    column_kinds,
    load_segments,
)
from linkage.errors import SchemaError
from tests.encode.segment_rules import GOOD, load


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
