"""Segment rules: a restricted rule language over voter columns, compiled once from TOML.

A campaign describes its target groups in ``segments.toml``::

    [segments.persuadable]
    description = "Movable voters"
    rule = "persuasion_score >= 70 and 35 <= support_score <= 65"

A rule is a *restricted* Python expression: comparisons (chained allowed, ``==
!= < <= > >= in`` and ``not in``), ``and`` / ``or`` / ``not``, column names and
string / number / boolean literals, and lists or tuples of literals on the
right of ``in`` / ``not in``. It is parsed with :mod:`ast` and checked against
a whitelist; nothing is ever ``eval``-ed. :func:`load_segments` compiles the
file into an immutable :class:`SegmentSet` or raises one
:class:`~linkage.errors.SchemaError` listing every problem in the file.

Problems name the segment, the construct and its position, never a literal
or a value: a rule is typed by a person who may have pasted a voter's name
into it, and error text travels to logs and tickets.

Null semantics are SQL's: a comparison with a missing value is unknown,
``and`` / ``or`` / ``not`` follow three-valued logic, and a voter whose rule
ends up unknown is *not* in the segment.

This module is the rule language (syntax, types, compiled form); applying
compiled rules to a voter table and coding the result for the
``segments`` payload is :mod:`linkage.encode.membership`.
"""

from __future__ import annotations

import ast
import difflib
import re
import tomllib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Final, Literal, TypeAlias

import numpy as np
import numpy.typing as npt
import pyarrow as pa

from linkage.errors import InputError, SchemaError
from linkage.tables import ALL_MATCHED

__all__ = [
    "MAX_RULE_LENGTH",
    "NEAR_DUPLICATE_SHARE",
    "SEGMENT_NAME_PATTERN",
    "Always",
    "ColumnRef",
    "Comparison",
    "Condition",
    "Const",
    "ConstSet",
    "Logical",
    "Negation",
    "RuleValueKind",
    "Scalar",
    "SegmentOverlap",
    "SegmentRule",
    "SegmentSet",
    "check_segment_sizes",
    "column_kinds",
    "load_segments",
    "near_duplicate_segments",
    "value_kind",
]


SEGMENT_NAME_PATTERN = r"[a-z][a-z0-9_]{0,47}"
MAX_RULE_LENGTH = 4000
_MAX_DEPTH = 64  # far above any real rule; keeps the recursive walker off Python's stack limit
_NAME_RE = re.compile(SEGMENT_NAME_PATTERN)
# Labels that look like identifiers are safe to repeat in a message; anything else
# is referred to by its position so a stray value is never echoed.
_SAFE_LABEL_RE = re.compile(r"[A-Za-z0-9_-]{1,64}")

RuleValueKind: TypeAlias = Literal["number", "string"]
Scalar: TypeAlias = str | int | float | bool
CompareOp: TypeAlias = Literal["==", "!=", "<", "<=", ">", ">=", "in", "not in"]

_AST_OPS: dict[type[ast.cmpop], CompareOp] = {
    ast.Eq: "==",
    ast.NotEq: "!=",
    ast.Lt: "<",
    ast.LtE: "<=",
    ast.Gt: ">",
    ast.GtE: ">=",
    ast.In: "in",
    ast.NotIn: "not in",
}
# Used to put the column on the left: ``35 <= x`` becomes ``x >= 35``.
_FLIPPED: dict[CompareOp, CompareOp] = {
    "==": "==",
    "!=": "!=",
    "<": ">",
    "<=": ">=",
    ">": "<",
    ">=": "<=",
    "in": "in",
    "not in": "not in",
}
_CONSTRUCT_NAMES: dict[type[ast.AST], str] = {
    ast.Call: "a function call",
    ast.Attribute: "attribute access",
    ast.Subscript: "subscripting",
    ast.Lambda: "a lambda",
    ast.BinOp: "arithmetic",
    ast.IfExp: "a conditional expression",
    ast.NamedExpr: "an assignment expression",
    ast.ListComp: "a comprehension",
    ast.SetComp: "a comprehension",
    ast.DictComp: "a comprehension",
    ast.GeneratorExp: "a generator expression",
    ast.Dict: "a dict literal",
    ast.Set: "a set literal",
    ast.JoinedStr: "an f-string",
    ast.Starred: "star unpacking",
    ast.Slice: "a slice",
    ast.Compare: "a comparison used as a value",
    ast.BoolOp: "'and' / 'or' used as a value",
    ast.Await: "await",
    ast.Yield: "yield",
    ast.YieldFrom: "yield",
}


# --- compiled rules -------------------------------------------------------


@dataclass(frozen=True)
class ColumnRef:
    """A voter column named in a rule."""

    name: str


@dataclass(frozen=True)
class Const:
    """A literal from a rule."""

    value: Scalar


@dataclass(frozen=True)
class ConstSet:
    """The literal list on the right of ``in`` / ``not in``."""

    values: tuple[Scalar, ...]


@dataclass(frozen=True)
class Comparison:
    """``column <op> other``; the compiler always puts a column on the left."""

    column: str
    op: CompareOp
    other: ColumnRef | Const | ConstSet


@dataclass(frozen=True)
class Logical:
    """``and`` / ``or`` over two or more conditions (a chained comparison is an ``and``)."""

    op: Literal["and", "or"]
    operands: tuple[Condition, ...]


@dataclass(frozen=True)
class Negation:
    """``not`` a condition."""

    operand: Condition


@dataclass(frozen=True)
class Always:
    """A bare ``True`` / ``False`` rule."""

    value: bool


Condition: TypeAlias = Comparison | Logical | Negation | Always


@dataclass(frozen=True)
class SegmentRule:
    """One compiled segment.

    Attributes:
        name: Segment name (matches ``SEGMENT_NAME_PATTERN``).
        rule: The rule's source text, as written in the file.
        condition: The compiled, validated condition.
        columns: Voter columns the rule reads, sorted.
        description: Free text from the file (empty when absent).
    """

    name: str
    rule: str
    condition: Condition
    columns: tuple[str, ...]
    description: str = ""


@dataclass(frozen=True)
class SegmentSet:
    """All segments of one ``segments.toml``, in file order.

    Attributes:
        segments: The compiled segments, in file order.
        column_kinds: ``(column, kind)`` for every column the rules were checked
            against, sorted by column name.
    """

    segments: tuple[SegmentRule, ...]
    column_kinds: tuple[tuple[str, RuleValueKind], ...]

    @property
    def names(self) -> tuple[str, ...]:
        """Segment names in file order."""
        return tuple(segment.name for segment in self.segments)

    @property
    def columns(self) -> tuple[str, ...]:
        """Every voter column some rule reads, sorted."""
        return tuple(sorted({c for segment in self.segments for c in segment.columns}))

    def __len__(self) -> int:
        return len(self.segments)

    def __iter__(self) -> Iterator[SegmentRule]:
        return iter(self.segments)

    def __getitem__(self, name: str) -> SegmentRule:
        for segment in self.segments:
            if segment.name == name:
                return segment
        raise KeyError(name)


# --- sanity of evaluated segments -------------------------------------------

NEAR_DUPLICATE_SHARE: Final = 0.99
"""Two segments sharing at least this share of their union are near-duplicates."""


def check_segment_sizes(sizes: Mapping[str, int], *, min_universe: int) -> None:
    """Refuse empty segments and segments that can never reach the minimum universe.

    Runs on the campaign's side before anything is sent: a rule with a typo
    in a value (``ethnicity == 'hispnic'``) matches nobody, and a segment
    with fewer voters than the provider's minimum universe of households
    (every household holds at least one voter) would come back suppressed
    whole. The message names the segments and their voter counts: it is
    shown on the campaign's own terminal, and neither is personal data.

    Args:
        sizes: Segment name -> voters in it.
        min_universe: The minimum universe the provider releases on (households).

    Raises:
        InputError: Naming every empty or too-small segment at once.
    """
    empty = [name for name, size in sizes.items() if size == 0]
    small = [f"{name} ({size:,})" for name, size in sizes.items() if 0 < size < min_universe]
    problems = []
    if empty:
        problems.append(f"no voter matches segment(s) {', '.join(empty)}")
    if small:
        problems.append(
            f"segment(s) {', '.join(small)} hold fewer voters than the minimum universe "
            f"of {min_universe:,} households"
        )
    if problems:
        raise InputError(
            "; ".join(problems),
            hint="check each rule for a typo in a value, widen or drop these segments; "
            "nothing was sent",
        )


@dataclass(frozen=True)
class SegmentOverlap:
    """Two segments that hold nearly the same voters.

    Attributes:
        first: One segment's name (file order).
        second: The other's.
        share: Voters in both over voters in either (Jaccard), in [0, 1].
    """

    first: str
    second: str
    share: float


def near_duplicate_segments(
    masks: Mapping[str, npt.NDArray[np.bool_]], *, threshold: float = NEAR_DUPLICATE_SHARE
) -> list[SegmentOverlap]:
    """Pairs of segments whose members overlap by ``threshold`` or more.

    Two near-identical segments are a mistake more often than a plan, and the
    few voters that differ are exactly what differencing their figures would
    single out, so the campaign is warned before it sends them.

    Args:
        masks: Segment name -> boolean mask over the voter rows.
        threshold: Smallest share (intersection over union) reported.

    Returns:
        The overlapping pairs, in file order of their first segment.
    """
    names = list(masks)
    found: list[SegmentOverlap] = []
    for i, first in enumerate(names):
        for second in names[i + 1 :]:
            union = int(np.count_nonzero(masks[first] | masks[second]))
            if union == 0:
                continue
            share = int(np.count_nonzero(masks[first] & masks[second])) / union
            if share >= threshold:
                found.append(SegmentOverlap(first, second, share))
    return found


# --- loading --------------------------------------------------------------


def column_kinds(schema: pa.Schema) -> dict[str, RuleValueKind]:
    """Kinds of the columns of a voter table that segment rules may use.

    Integer, floating and decimal columns are ``"number"``; string columns
    (plain, large or dictionary-encoded) are ``"string"``; other types (dates,
    binaries...) are left out, so a rule naming them is reported as unknown.

    Args:
        schema: Schema of the voter table.

    Returns:
        Column name -> kind, in schema order.
    """
    kinds: dict[str, RuleValueKind] = {}
    for field in schema:
        kind = value_kind(field.type)
        if kind is not None:
            kinds[field.name] = kind
    return kinds


def load_segments(text: str, *, columns: Mapping[str, str], file: str) -> SegmentSet:
    """Parse and validate ``segments.toml`` text.

    Args:
        text: The file's content.
        columns: Column name -> kind (``"number"`` or ``"string"``) of the voter
            table the rules will run on (see :func:`column_kinds`).
        file: File name used in the error (not read).

    Returns:
        The compiled segments in file order.

    Raises:
        SchemaError: With every problem found in the file (TOML syntax, names,
            missing or malformed rules, disallowed syntax, unknown columns,
            type mismatches).
        InputError: The TOML is nested too deeply (or too large) to parse.
        ValueError: When ``columns`` holds a kind other than number/string.
    """
    kinds = _checked_kinds(columns)
    problems: list[str] = []
    text, duplicates = _rename_duplicate_tables(text)
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        # tomllib stops at the first syntax error, so this is all we can report.
        raise SchemaError([_toml_problem(str(exc), text)], file=file) from None
    except (RecursionError, MemoryError):
        # tomllib recurses per nesting level: a hostile file must not become a traceback.
        raise InputError(
            "TOML is nested too deeply to parse",
            file=file,
            hint="a segments file holds flat [segments.<name>] tables of strings",
        ) from None

    for key in data:
        if key != "segments":
            problems.append(
                f"unknown top-level key {_label(key)} (only [segments.<name>] tables belong here)"
            )
    raw = data.get("segments")
    if raw is None or raw == {}:
        problems.append("the file defines no segments (add a [segments.<name>] table)")
        raw = {}
    elif not isinstance(raw, dict):
        problems.append("'segments' must be a table of [segments.<name>] tables")
        raw = {}

    compiled: list[SegmentRule] = []
    for position, (name, body) in enumerate(raw.items(), start=1):
        if name in duplicates:
            original, line, first_line = duplicates[name]
            problems.append(
                f"segment {_segment_label(original, position)} is defined more than once "
                f"(line {line}, first at line {first_line})"
            )
            continue
        segment = _compile_segment(name, body, position, kinds, problems)
        if segment is not None:
            compiled.append(segment)

    if problems:
        raise SchemaError(problems, file=file)
    return SegmentSet(
        segments=tuple(compiled),
        column_kinds=tuple(sorted(kinds.items())),
    )


def _checked_kinds(columns: Mapping[str, str]) -> dict[str, RuleValueKind]:
    kinds: dict[str, RuleValueKind] = {}
    for name, kind in columns.items():
        if kind == "number":
            kinds[name] = "number"
        elif kind == "string":
            kinds[name] = "string"
        else:
            raise ValueError(f"column kind must be 'number' or 'string' (column {name!r})")
    return kinds


_TABLE_HEADER_RE = re.compile(
    r"""^[ \t]*\[[ \t]*segments[ \t]*\.[ \t]*
        (?:"(?P<dq>[^"\\]*)"|'(?P<sq>[^']*)'|(?P<bare>[A-Za-z0-9_-]+))
        [ \t]*\][ \t]*(?:\#.*)?$""",
    re.VERBOSE,
)


def _rename_duplicate_tables(text: str) -> tuple[str, dict[str, tuple[str, int, int]]]:
    """Rename repeated ``[segments.<name>]`` headers so tomllib parses the rest.

    tomllib rejects a repeated table outright, which would hide every other
    problem in the file; a renamed copy is reported as a duplicate instead.

    Returns:
        The rewritten text and placeholder -> (name, line, first line).
    """
    first_seen: dict[str, int] = {}
    duplicates: dict[str, tuple[str, int, int]] = {}
    lines = text.split("\n")
    for index, line in enumerate(lines):
        match = _TABLE_HEADER_RE.match(line)
        if match is None:
            continue
        name = match.group("dq") or match.group("sq") or match.group("bare") or ""
        if name not in first_seen:
            first_seen[name] = index + 1
            continue
        # Spaces make the placeholder an invalid segment name, so it never collides.
        placeholder = f"duplicate segment at line {index + 1}"
        duplicates[placeholder] = (name, index + 1, first_seen[name])
        lines[index] = f'[segments."{placeholder}"]'
    return "\n".join(lines), duplicates


def _toml_problem(message: str, text: str) -> str:
    where = re.search(r"\(at line (\d+), column (\d+)\)", message)
    if where is not None:
        position = f"line {where.group(1)}, column {where.group(2)}"
    elif "(at end of document)" in message:
        position = f"end of file (line {text.count(chr(10)) + 1})"
    else:
        position = "unknown position"
    detail = _safe_parser_message(message.split(" (at ")[0])
    return f"invalid TOML at {position}: {detail}"


def _safe_parser_message(message: str) -> str:
    """A parser's message, or a generic one when it quotes part of the input.

    Quoted single punctuation (``')'``) is kept; anything else quoted could be
    a value from the file.
    """
    unquoted = re.sub(r"'[^\w\s'\"\\]'", "", message)
    if any(char in unquoted for char in "'\"\\") or len(message) > 120:
        return "syntax error"
    return message


def _label(key: str) -> str:
    return f"'{key}'" if _SAFE_LABEL_RE.fullmatch(key) else "(name not shown)"


def _segment_label(name: str, position: int) -> str:
    return f"'{name}'" if _SAFE_LABEL_RE.fullmatch(name) else f"#{position}"


def _compile_segment(
    name: str,
    body: Any,
    position: int,
    kinds: Mapping[str, RuleValueKind],
    problems: list[str],
) -> SegmentRule | None:
    label = f"segment {_segment_label(name, position)}"
    before = len(problems)
    if not _NAME_RE.fullmatch(name):
        problems.append(f"{label}: name must match {SEGMENT_NAME_PATTERN}")
    elif name == ALL_MATCHED:
        problems.append(f"{label}: the name is reserved for all matched households")
    if not isinstance(body, dict):
        problems.append(f"{label}: must be a table with a 'rule' key")
        return None
    for key in body:
        if key not in ("rule", "description"):
            problems.append(f"{label}: unknown key {_label(key)} (allowed: rule, description)")
    description = body.get("description", "")
    if not isinstance(description, str):
        problems.append(f"{label}: 'description' must be a string")
        description = ""
    rule = body.get("rule")
    if rule is None:
        problems.append(f"{label}: missing 'rule'")
        return None
    if not isinstance(rule, str):
        problems.append(f"{label}: 'rule' must be a string")
        return None
    condition = _RuleCompiler(label, kinds, problems).compile(rule)
    if condition is None or len(problems) > before:
        return None
    return SegmentRule(
        name=name,
        rule=rule,
        condition=condition,
        columns=tuple(sorted(_columns_of(condition))),
        description=description,
    )


def _columns_of(condition: Condition) -> set[str]:
    if isinstance(condition, Comparison):
        found = {condition.column}
        if isinstance(condition.other, ColumnRef):
            found.add(condition.other.name)
        return found
    if isinstance(condition, Logical):
        return set().union(*(_columns_of(operand) for operand in condition.operands))
    if isinstance(condition, Negation):
        return _columns_of(condition.operand)
    return set()


Operand: TypeAlias = ColumnRef | Const | ConstSet


class _RuleCompiler:
    """Walks one rule's AST against the whitelist, appending every problem found."""

    def __init__(self, label: str, kinds: Mapping[str, RuleValueKind], problems: list[str]) -> None:
        self._label = label
        self._kinds = kinds
        self._problems = problems

    def compile(self, rule: str) -> Condition | None:
        if not rule.strip():
            self._problem("'rule' is empty")
            return None
        if len(rule) > MAX_RULE_LENGTH:
            self._problem(f"'rule' is longer than {MAX_RULE_LENGTH} characters")
            return None
        try:
            tree = ast.parse(rule.strip(), mode="eval")
        except SyntaxError as exc:
            where = f"line {exc.lineno}, character {exc.offset}" if exc.lineno else "rule"
            hint = " (wrap a multi-line rule in parentheses)" if "\n" in rule.strip() else ""
            self._problem(
                f"rule is not a valid expression at {where}: {_safe_parser_message(exc.msg)}{hint}"
            )
            return None
        except RecursionError:
            self._problem("rule is nested too deeply")
            return None
        return self._condition(tree.body, 0)

    def _problem(self, text: str) -> None:
        self._problems.append(f"{self._label}: {text}")

    def _at(self, node: ast.AST) -> str:
        line = getattr(node, "lineno", 1)
        column = getattr(node, "col_offset", 0) + 1
        return f"line {line}, character {column}" if line > 1 else f"character {column}"

    def _condition(self, node: ast.expr, depth: int) -> Condition | None:
        if depth > _MAX_DEPTH:
            self._problem("rule is nested too deeply")
            return None
        if isinstance(node, ast.BoolOp):
            op: Literal["and", "or"] = "and" if isinstance(node.op, ast.And) else "or"
            parts = [self._condition(value, depth + 1) for value in node.values]
            if any(part is None for part in parts):
                return None
            return Logical(op, tuple(part for part in parts if part is not None))
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
            inner = self._condition(node.operand, depth + 1)
            return None if inner is None else Negation(inner)
        if isinstance(node, ast.Compare):
            return self._compare(node)
        if isinstance(node, ast.Constant) and isinstance(node.value, bool):
            return Always(node.value)
        if isinstance(node, ast.Name):
            if self._column(node) is not None:
                self._problem(
                    f"column '{node.id}' is used as a condition at {self._at(node)}; "
                    "compare it with a value"
                )
            return None
        if isinstance(node, ast.Constant | ast.List | ast.Tuple):
            self._problem(f"a value is used as a condition at {self._at(node)}")
            return None
        self._disallowed(node)
        return None

    def _compare(self, node: ast.Compare) -> Condition | None:
        operands = [node.left, *node.comparators]
        compiled = [self._operand(operand) for operand in operands]
        pairs: list[Condition] = []
        ok = all(operand is not None for operand in compiled)
        for index, ast_op in enumerate(node.ops):
            op = _AST_OPS.get(type(ast_op))
            if op is None:
                self._problem(f"'is' / 'is not' at {self._at(node)} is not allowed; use == or !=")
                ok = False
                continue
            left, right = compiled[index], compiled[index + 1]
            if left is None or right is None:
                continue
            pair = self._pair(left, op, right, operands[index])
            if pair is None:
                ok = False
            else:
                pairs.append(pair)
        if not ok:
            return None
        return pairs[0] if len(pairs) == 1 else Logical("and", tuple(pairs))

    def _pair(
        self, left: Operand, op: CompareOp, right: Operand, node: ast.expr
    ) -> Comparison | None:
        at = self._at(node)
        if op in ("in", "not in"):
            if not isinstance(left, ColumnRef):
                self._problem(f"the left of '{op}' at {at} must be a column")
                return None
            if not isinstance(right, ConstSet):
                self._problem(f"the right of '{op}' at {at} must be a list of values")
                return None
            if not right.values:
                self._problem(f"the list after '{op}' at {at} is empty")
                return None
            kind = self._kinds[left.name]
            if any(_const_kind(value) != kind for value in right.values):
                self._problem(
                    f"the list after '{op}' at {at} holds a value that is not a {kind} "
                    f"(column '{left.name}' is a {kind} column)"
                )
                return None
            return Comparison(left.name, op, right)
        if isinstance(left, ConstSet) or isinstance(right, ConstSet):
            self._problem(f"a list at {at} is only allowed on the right of 'in' / 'not in'")
            return None
        if isinstance(left, Const) and isinstance(right, Const):
            self._problem(f"the comparison at {at} compares two values; name a column")
            return None
        if isinstance(left, Const):
            assert isinstance(right, ColumnRef)  # narrowed: two Consts were rejected above
            left, right, op = right, left, _FLIPPED[op]
        assert isinstance(left, ColumnRef)
        kind = self._kinds[left.name]
        if isinstance(right, ColumnRef):
            other_kind = self._kinds[right.name]
            if other_kind != kind:
                self._problem(
                    f"the comparison at {at} compares {kind} column '{left.name}' "
                    f"with {other_kind} column '{right.name}'"
                )
                return None
        elif _const_kind(right.value) != kind:
            self._problem(
                f"the comparison at {at} compares {kind} column '{left.name}' "
                f"with a {_const_kind(right.value)} value"
            )
            return None
        return Comparison(left.name, op, right)

    def _operand(self, node: ast.expr) -> Operand | None:
        if isinstance(node, ast.Name):
            return self._column(node)
        if isinstance(node, ast.List | ast.Tuple):
            values = [self._literal(element) for element in node.elts]
            if any(value is None for value in values):
                return None
            return ConstSet(tuple(value.value for value in values if value is not None))
        return self._literal(node)

    def _literal(self, node: ast.expr) -> Const | None:
        if isinstance(node, ast.Constant) and isinstance(node.value, str | int | float):
            return Const(node.value)
        # A leading minus is a unary operator in the AST; fold it for numbers.
        if (
            isinstance(node, ast.UnaryOp)
            and isinstance(node.op, ast.USub | ast.UAdd)
            and isinstance(node.operand, ast.Constant)
            and isinstance(node.operand.value, int | float)
            and not isinstance(node.operand.value, bool)
        ):
            value = node.operand.value
            return Const(-value if isinstance(node.op, ast.USub) else value)
        if isinstance(node, ast.Constant):
            self._problem(f"only string, number and boolean values are allowed ({self._at(node)})")
            return None
        if isinstance(node, ast.Name | ast.List | ast.Tuple):
            self._problem(f"a list may only hold quoted strings and numbers ({self._at(node)})")
            return None
        self._disallowed(node)
        return None

    def _column(self, node: ast.Name) -> ColumnRef | None:
        if node.id in self._kinds:
            return ColumnRef(node.id)
        # The unknown identifier itself is not repeated: an unquoted value
        # (`last_name == Smith`) parses as a name.
        close = difflib.get_close_matches(node.id, list(self._kinds), n=1)
        hint = f"; did you mean '{close[0]}'?" if close else "; quote string values"
        self._problem(f"unknown column at {self._at(node)}{hint}")
        return None

    def _disallowed(self, node: ast.AST) -> None:
        if isinstance(node, ast.UnaryOp):
            construct = "arithmetic" if not isinstance(node.op, ast.Not) else "'not' here"
        else:
            construct = _CONSTRUCT_NAMES.get(type(node), f"'{type(node).__name__}'")
        self._problem(f"{construct} is not allowed in a rule ({self._at(node)})")


def _const_kind(value: Scalar) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    return "string"


def value_kind(arrow_type: pa.DataType) -> RuleValueKind | None:
    """The rule kind of an Arrow type: numbers, strings (plain, large, dictionary), else None."""
    if pa.types.is_dictionary(arrow_type):
        arrow_type = arrow_type.value_type
    if (
        pa.types.is_integer(arrow_type)
        or pa.types.is_floating(arrow_type)
        or pa.types.is_decimal(arrow_type)
    ):
        return "number"
    if pa.types.is_string(arrow_type) or pa.types.is_large_string(arrow_type):
        return "string"
    return None
