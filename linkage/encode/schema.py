"""Linkage schemas: which columns of two files mean what, and how to encode them.

A schema (TOML) is compiled once into frozen dataclasses; every problem in
the file is collected and raised together in one :class:`SchemaError`. One
file serves both sides: a field names its raw column per side (``a`` for the
campaign / left file, ``b`` for the provider / right file) or one ``column``
for both. A side without a column treats the field as all-null.

Sections::

    [schema]       name, bloom_length (bits per field CLK), hardening
    [fields.<out>] type, column | a / b          -> normalised column <out>
    [match_keys]   mk_<name> = { fields = [...], weight = W }   exact keyed tokens
    [compare.<col>] method = "dice" (q, bits, positional) | "exact" | "key" (col = mk_*)
    [blocking]     bk_<name> = ["<col>:<transform>", ...]   keyed blocking passes
                   (absent: derived from the field types, linkage.encode.blocking_defaults)
    [resolution]   mode = "many_to_one" | "one_to_one", group_by, min_score, max_block

A ``date`` field ``<out>`` writes the date as known (``YYYY-MM-DD``,
``YYYY-MM`` or ``YYYY``) and ``<out>_year``, ``<out>_month``, ``<out>_day``;
an ``intl_postcode`` field writes the code and ``<out>_district``.
A ``street_address`` field ``<out>`` writes the street (predir + name + suffix
+ postdir) to ``<out>`` and its parts to the columns named by ``house_number``
and ``unit`` (default ``house_number`` and ``unit``).

This module only describes; the compiled schema is applied elsewhere:
:mod:`linkage.encode.fields` normalises a side by field type,
:mod:`linkage.encode.blocking_keys` derives the ``bk_*`` keys and
:mod:`linkage.encode.recipe` is the safe recipe that returns only keyed
columns (and says what each per-column choice costs in privacy).
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from importlib import resources
from typing import Final, Literal, cast, get_args

from linkage.encode.blocking_defaults import default_blocking
from linkage.encode.bloom import BloomSchema, FieldEncoding, Hardening
from linkage.encode.compare_defaults import default_compare
from linkage.encode.matchkeys import MatchKeyRecipe
from linkage.errors import InputError, SchemaError
from linkage.io import INPUT_COLUMN_KINDS, InputColumnKind

__all__ = [
    "DEFAULT_MAX_BLOCK",
    "FIELD_TYPES",
    "BlockingPass",
    "CompareMethod",
    "CompareSpec",
    "FieldSpec",
    "FieldType",
    "KeySpec",
    "LinkageSchema",
    "Resolution",
    "ResolutionMode",
    "Side",
    "drop_fields",
    "load_schema",
    "shipped_schema",
    "shipped_schema_text",
]

FieldType = Literal[
    "given_name",
    "surname",
    "full_name",
    "birth_date",
    "street_address",
    "house_number",
    "unit",
    "city",
    "state",
    "postcode",
    "phone",
    "email",
    "text",
    "identifier",
    "category",
    "free_text",
    "place",
    "date",
    "intl_postcode",
]
FIELD_TYPES: Final[tuple[str, ...]] = get_args(FieldType)
Side = Literal["a", "b"]
ResolutionMode = Literal["many_to_one", "one_to_one"]
CompareMethod = Literal["dice", "exact", "key"]

DEFAULT_MAX_BLOCK: Final = 2_000
"""Default cap on pairs one blocking value may produce (``a_count * b_count``).

A block larger than this (a common surname in a big ZIP3) is dropped from that
pass: its records are still paired through the other passes, and keeping it
would make candidate pairs grow quadratically."""

_NAME: Final = re.compile(r"[a-z][a-z0-9_]{0,40}")
_KEY_NAME: Final = re.compile(r"mk_[a-z0-9_]{1,40}")
_BLOCK_NAME: Final = re.compile(r"bk_[a-z0-9_]{1,40}")
_TRANSFORM: Final = re.compile(
    r"value|soundex|nysiis|metaphone|minsoundex|maxsoundex|year|(first|last)[1-9]"
)
_SECTIONS: Final = frozenset(
    {"schema", "fields", "match_keys", "compare", "blocking", "resolution"}
)


@dataclass(frozen=True, slots=True)
class FieldSpec:
    """One raw column per side, normalised by type into one or more columns.

    Attributes:
        name: The normalised output column (the street, for ``street_address``).
        type: One of :data:`FIELD_TYPES`.
        a: Raw column on side ``a`` (campaign / left), or None (all-null).
        b: Raw column on side ``b`` (provider / right), or None.
        house_number: Output column for a street address's house number.
        unit: Output column for a street address's secondary unit.
    """

    name: str
    type: FieldType
    a: str | None
    b: str | None
    house_number: str = "house_number"
    unit: str = "unit"

    @property
    def outputs(self) -> tuple[str, ...]:
        """Normalised columns this field writes."""
        if self.type == "street_address":
            return (self.name, self.house_number, self.unit)
        if self.type == "date":
            return (self.name, *(f"{self.name}_{p}" for p in ("year", "month", "day")))
        if self.type == "intl_postcode":
            return (self.name, f"{self.name}_district")
        return (self.name,)

    def column(self, side: Side) -> str | None:
        """The raw column of ``side``."""
        return self.a if side == "a" else self.b


@dataclass(frozen=True, slots=True)
class KeySpec:
    """An exact match key and its weight in the matcher's exact stage."""

    recipe: MatchKeyRecipe
    weight: float


@dataclass(frozen=True, slots=True)
class CompareSpec:
    """How one normalised column enters the comparison vector.

    Attributes:
        column: The normalised column.
        method: ``"dice"`` (keyed Bloom filter ``clk_<column>``), ``"exact"``
            (keyed token ``mk_f_<column>``; for short codes such as units) or
            ``"key"`` (agreement of the match key named ``column``: one
            feature for a combination such as house number + street + ZIP,
            which the model could not otherwise see as a unit).
        encodings: Bloom settings (``q``, ``bits``, ``positional``) of each
            normalised column a ``dice`` comparison encodes into one filter
            (one entry: a field-level filter; several: a record-level CLK).
        term_frequency: Weight full agreement by how common the agreed
            value is (``term_frequency = true``; see
            :mod:`linkage.match.term_frequency`).
    """

    column: str
    method: CompareMethod
    encodings: tuple[FieldEncoding, ...] = ()
    term_frequency: bool = False

    @property
    def output(self) -> str:
        """The payload column this comparison is computed from."""
        if self.method == "key":
            return self.column
        return f"clk_{self.column}" if self.method == "dice" else f"mk_f_{self.column}"


@dataclass(frozen=True, slots=True)
class BlockingPass:
    """One keyed blocking pass: records agreeing on every transformed part pair up."""

    name: str
    parts: tuple[tuple[str, str], ...]

    @property
    def purpose(self) -> str:
        """Sub-key purpose of this pass."""
        return f"block:{self.name}"


@dataclass(frozen=True, slots=True)
class Resolution:
    """How the matcher turns scored pairs into links.

    Attributes:
        mode: ``many_to_one`` (many voters to one household) or ``one_to_one``.
        group_by: Side-``a`` match key that marks one household (``mk_addr``:
            same address and unit); a group's unlinked members inherit the
            household its linked members agree on. None: no grouping.
        min_score: Smallest summed exact-key weight that links in the exact stage.
        max_block: Largest block (pairs) a blocking value may produce.
    """

    mode: ResolutionMode = "many_to_one"
    group_by: str | None = None
    min_score: float = 4.0
    max_block: int = DEFAULT_MAX_BLOCK


@dataclass(frozen=True, slots=True)
class LinkageSchema:
    """A validated linkage schema (see the module docstring for the TOML)."""

    name: str
    fields: tuple[FieldSpec, ...]
    match_keys: tuple[KeySpec, ...]
    compare: tuple[CompareSpec, ...]
    blocking: tuple[BlockingPass, ...]
    resolution: Resolution
    bloom_length: int = 1024
    hardening: Hardening = "none"

    @property
    def columns(self) -> tuple[str, ...]:
        """Every normalised column, in field order."""
        return tuple(c for f in self.fields for c in f.outputs)

    def input_kinds(self, side: Side) -> dict[str, InputColumnKind]:
        """What each raw input column of ``side`` must hold, for :func:`read_input_table`.

        The columns this schema reads are typed by their fields (a birth date
        given as text is parsed, messy or not), not by the voter file's
        column names; every other known column keeps its kind.
        """
        read = set(self.side_columns(side))
        return {k: v for k, v in INPUT_COLUMN_KINDS.items() if k not in read}

    def side_columns(self, side: Side) -> tuple[str, ...]:
        """Raw columns the schema reads on ``side`` (each once, in field order)."""
        named = (f.column(side) for f in self.fields)
        return tuple(dict.fromkeys(c for c in named if c is not None))

    @property
    def weights(self) -> dict[str, float]:
        """Exact-stage weight per match key (keys with weight 0 only feed the fuzzy stage)."""
        return {k.recipe.name: k.weight for k in self.match_keys if k.weight > 0}

    def bloom_schema(self, spec: CompareSpec) -> BloomSchema:
        """The one-field Bloom layout of a ``dice`` comparison."""
        if not spec.encodings:
            raise SchemaError([f"compare '{spec.column}' is not a dice comparison"])
        return BloomSchema(
            fields=spec.encodings, length=self.bloom_length, hardening=self.hardening
        )


# ---------------------------------------------------------------- parsing


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _table(value: object, where: str, problems: list[str]) -> dict[str, object]:
    if not isinstance(value, dict):
        problems.append(f"{where} must be a table")
        return {}
    return cast("dict[str, object]", value)


def _unknown(table: Mapping[str, object], allowed: set[str], where: str, out: list[str]) -> None:
    for key in sorted(set(table) - allowed):
        out.append(f"{where}: unknown key '{key}'")


def _optional_str(table: Mapping[str, object], key: str, where: str, out: list[str]) -> str | None:
    value = table.get(key)
    if value is None:
        return None
    if not isinstance(value, str) or not value:
        out.append(f"{where}: '{key}' must be a non-empty string")
        return None
    return value


def _parse_field(name: str, raw: object, problems: list[str]) -> FieldSpec | None:
    where = f"fields.{name}"
    table = _table(raw, where, problems)
    if not _NAME.fullmatch(name):
        problems.append(f"{where}: name must be lower_snake_case")
    _unknown(table, {"type", "column", "a", "b", "house_number", "unit"}, where, problems)
    kind = table.get("type")
    if kind not in FIELD_TYPES:
        problems.append(f"{where}: type must be one of {', '.join(FIELD_TYPES)}")
    column = _optional_str(table, "column", where, problems)
    a = _optional_str(table, "a", where, problems)
    b = _optional_str(table, "b", where, problems)
    if column is not None and (a is not None or b is not None):
        problems.append(f"{where}: give either 'column' or 'a'/'b', not both")
    if column is None and a is None and b is None:
        problems.append(f"{where}: needs 'column' or at least one of 'a'/'b'")
    parts = {}
    for part in ("house_number", "unit"):
        value = _optional_str(table, part, where, problems)
        if value is not None:
            if kind != "street_address":
                problems.append(f"{where}: '{part}' applies to street_address fields only")
            elif not _NAME.fullmatch(value):
                problems.append(f"{where}: '{part}' must be lower_snake_case")
            else:
                parts[part] = value
    if kind not in FIELD_TYPES or not _NAME.fullmatch(name):
        return None
    return FieldSpec(
        name=name,
        type=cast("FieldType", kind),
        a=a if column is None else column,
        b=b if column is None else column,
        **parts,
    )


def _parse_keys(raw: object, columns: set[str], problems: list[str]) -> list[KeySpec]:
    keys: list[KeySpec] = []
    for name, entry in _table(raw, "match_keys", problems).items():
        where = f"match_keys.{name}"
        if not _KEY_NAME.fullmatch(name) or name.startswith("mk_f_"):
            problems.append(f"{where}: name must look like mk_<lower_snake_case> (not mk_f_)")
            continue
        if isinstance(entry, list):
            table: dict[str, object] = {"fields": entry}
        else:
            table = _table(entry, where, problems)
        _unknown(table, {"fields", "weight"}, where, problems)
        fields = table.get("fields")
        weight = table.get("weight", 0.0)
        if (
            not isinstance(fields, list)
            or not fields
            or not all(isinstance(f, str) for f in fields)
        ):
            problems.append(f"{where}: 'fields' must be a non-empty list of column names")
            continue
        for field in fields:
            if field not in columns:
                problems.append(f"{where}: '{field}' is not a normalised column")
        if len(set(fields)) != len(fields):
            problems.append(f"{where}: repeats a column")
        if not _is_number(weight) or cast("float", weight) < 0:
            problems.append(f"{where}: 'weight' must be a number >= 0")
            continue
        keys.append(KeySpec(MatchKeyRecipe(name, tuple(fields)), float(cast("float", weight))))
    return keys


def _encoding(
    column: str, table: Mapping[str, object], where: str, problems: list[str]
) -> FieldEncoding | None:
    q, bits, positional = table.get("q", 2), table.get("bits", 20), table.get("positional")
    if positional is not None and not isinstance(positional, bool):
        problems.append(f"{where}: 'positional' must be true or false")
        positional = False
    if not (_is_int(q) and _is_int(bits)):
        problems.append(f"{where}: 'q' and 'bits' must be integers")
        return None
    encoding = FieldEncoding(
        column, q=cast("int", q), bits=cast("int", bits), positional=bool(positional)
    )
    problems.extend(f"{where}: {p}" for p in encoding.problems())
    return encoding


def _default_compare(fields: Sequence[FieldSpec]) -> list[CompareSpec]:
    """The comparisons a schema without ``[compare]`` gets (see compare_defaults)."""
    specs = []
    for name, method, members in default_compare([(f.type, f.outputs) for f in fields]):
        if method == "exact":
            specs.append(CompareSpec(name, "exact"))
            continue
        encodings = tuple(
            FieldEncoding(column, q=q, bits=bits, positional=positional)
            for column, q, bits, positional in members
        )
        specs.append(CompareSpec(name, "dice", encodings))
    return specs


def _parse_compare(
    raw: object, columns: set[str], keys: set[str], problems: list[str]
) -> list[CompareSpec]:
    specs: list[CompareSpec] = []
    for column, entry in _table(raw, "compare", problems).items():
        where = f"compare.{column}"
        table = _table(entry, where, problems)
        _unknown(
            table,
            {"method", "q", "bits", "positional", "columns", "term_frequency"},
            where,
            problems,
        )
        method = table.get("method", "dice")
        tf = table.get("term_frequency", False)
        if not isinstance(tf, bool):
            problems.append(f"{where}: term_frequency must be true or false")
            tf = False
        if method == "key":
            if column not in keys:
                problems.append(f"{where}: method 'key' needs the name of a match key")
            if set(table) - {"method", "term_frequency"}:
                problems.append(f"{where}: q/bits/positional apply to dice comparisons only")
            specs.append(CompareSpec(column, "key", term_frequency=tf))
            continue
        if column not in columns and not (method == "dice" and "columns" in table):
            problems.append(f"{where}: '{column}' is not a normalised column")
        if method == "exact":
            if set(table) - {"method", "term_frequency"}:
                problems.append(f"{where}: q/bits/positional apply to dice comparisons only")
            specs.append(CompareSpec(column, "exact", term_frequency=tf))
            continue
        if method != "dice":
            problems.append(f"{where}: method must be 'dice', 'exact' or 'key'")
            continue
        if not _NAME.fullmatch(column):
            problems.append(f"{where}: name must be lower_snake_case")
        members = table.get("columns", {column: {}})
        if not isinstance(members, dict) or not members:
            problems.append(
                f"{where}: 'columns' must be a table of column = {{q, bits, positional}}"
            )
            continue
        encodings = []
        for member, settings in members.items():
            inner = f"{where}.columns.{member}"
            if member not in columns:
                problems.append(f"{inner}: '{member}' is not a normalised column")
            options = _table(settings, inner, problems)
            _unknown(options, {"q", "bits", "positional"}, inner, problems)
            merged = {k: table[k] for k in ("q", "bits", "positional") if k in table} | options
            encoding = _encoding(member, merged, inner, problems)
            if encoding is not None:
                encodings.append(encoding)
        specs.append(CompareSpec(column, "dice", tuple(encodings), term_frequency=tf))
    return specs


def _parse_blocking(raw: object, columns: set[str], problems: list[str]) -> list[BlockingPass]:
    passes: list[BlockingPass] = []
    for name, entry in _table(raw, "blocking", problems).items():
        where = f"blocking.{name}"
        if not _BLOCK_NAME.fullmatch(name):
            problems.append(f"{where}: name must look like bk_<lower_snake_case>")
            continue
        if not isinstance(entry, list) or not entry or not all(isinstance(p, str) for p in entry):
            problems.append(f"{where}: must be a non-empty list of '<column>:<transform>'")
            continue
        parts: list[tuple[str, str]] = []
        for part in entry:
            column, _, transform = part.partition(":")
            transform = transform or "value"
            if column not in columns:
                problems.append(f"{where}: '{column}' is not a normalised column")
            if not _TRANSFORM.fullmatch(transform):
                problems.append(
                    f"{where}: unknown transform '{transform}' (value, soundex, nysiis, "
                    "metaphone, minsoundex, maxsoundex, year, first1-9, last1-9)"
                )
            parts.append((column, transform))
        passes.append(BlockingPass(name, tuple(parts)))
    return passes


def _parse_resolution(raw: object, keys: set[str], problems: list[str]) -> Resolution:
    table = _table(raw, "resolution", problems)
    _unknown(table, {"mode", "group_by", "min_score", "max_block"}, "resolution", problems)
    mode = table.get("mode", "many_to_one")
    if mode not in get_args(ResolutionMode):
        problems.append("resolution: mode must be 'many_to_one' or 'one_to_one'")
        mode = "many_to_one"
    group_by = _optional_str(table, "group_by", "resolution", problems)
    if group_by is not None and group_by not in keys:
        problems.append("resolution: group_by must name one of the match_keys")
    min_score = table.get("min_score", 4.0)
    if not _is_number(min_score) or cast("float", min_score) <= 0:
        problems.append("resolution: min_score must be a number > 0")
        min_score = 4.0
    max_block = table.get("max_block", DEFAULT_MAX_BLOCK)
    if not _is_int(max_block) or cast("int", max_block) < 1:
        problems.append("resolution: max_block must be a positive integer")
        max_block = DEFAULT_MAX_BLOCK
    return Resolution(
        mode=cast("ResolutionMode", mode),
        group_by=group_by,
        min_score=float(cast("float", min_score)),
        max_block=cast("int", max_block),
    )


def load_schema(text: str, *, file: str | None = None) -> LinkageSchema:
    """Parse and validate a linkage schema.

    Args:
        text: The TOML text.
        file: Shown in errors.

    Returns:
        The compiled schema.

    Raises:
        SchemaError: Every problem in the file, at once.
        InputError: The TOML is nested too deeply (or too large) to parse.
    """
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise SchemaError([f"not valid TOML ({exc})"], file=file) from None
    except (RecursionError, MemoryError):
        # tomllib recurses per nesting level: a hostile file must not become a traceback.
        raise InputError(
            "TOML is nested too deeply to parse",
            file=file,
            hint="a linkage schema needs only a few levels of tables and lists",
        ) from None
    problems: list[str] = []
    _unknown(doc, set(_SECTIONS), "schema file", problems)
    head = _table(doc.get("schema", {}), "schema", problems)
    _unknown(head, {"name", "bloom_length", "hardening"}, "schema", problems)
    name = head.get("name", "unnamed")
    if not isinstance(name, str):
        problems.append("schema: 'name' must be a string")
        name = "unnamed"
    length = head.get("bloom_length", 1024)
    hardening = head.get("hardening", "none")
    if not _is_int(length):
        problems.append("schema: 'bloom_length' must be an integer")
        length = 1024
    fields = [
        f
        for f in (
            _parse_field(n, raw, problems)
            for n, raw in _table(doc.get("fields", {}), "fields", problems).items()
        )
        if f is not None
    ]
    if not fields:
        problems.append("fields: at least one field is required")
    outputs = [c for f in fields for c in f.outputs]
    for column in sorted({c for c in outputs if outputs.count(c) > 1}):
        problems.append(f"fields: normalised column '{column}' is written twice")
    columns = set(outputs)
    keys = _parse_keys(doc.get("match_keys", {}), columns, problems)
    compare = (
        _parse_compare(doc["compare"], columns, {k.recipe.name for k in keys}, problems)
        if "compare" in doc
        else _default_compare(fields)
    )
    blocking = (
        _parse_blocking(doc["blocking"], columns, problems)
        if "blocking" in doc
        else [
            BlockingPass(name, parts)
            for name, parts in default_blocking([(f.type, f.outputs) for f in fields])
        ]
    )
    resolution = _parse_resolution(
        doc.get("resolution", {}), {k.recipe.name for k in keys}, problems
    )
    if not compare:
        problems.append(
            "compare: at least one comparison is required for the fuzzy stage"
            if "compare" in doc
            else "compare: no default comparison fits these field types; add [compare] tables"
        )
    if not blocking:
        problems.append(
            "blocking: at least one blocking pass is required"
            if "blocking" in doc
            else "blocking: no default pass fits these field types; add a [blocking] table"
        )
    dice = [s.encodings for s in compare if s.encodings]
    if dice and not problems:
        try:
            BloomSchema(
                fields=dice[0],
                length=cast("int", length),
                hardening=cast("Hardening", hardening),
            )
        except SchemaError as exc:
            problems.extend(f"schema: {p}" for p in exc.problems)
    if problems:
        raise SchemaError(problems, file=file)
    return LinkageSchema(
        name=name,
        fields=tuple(fields),
        match_keys=tuple(keys),
        compare=tuple(compare),
        blocking=tuple(blocking),
        resolution=resolution,
        bloom_length=cast("int", length),
        hardening=cast("Hardening", hardening),
    )


def shipped_schema_text(name: str) -> str:
    """The TOML of a schema shipped in ``linkage/data/schemas`` (``voters_subscribers``, ``febrl``).

    Raises:
        SchemaError: No shipped schema has that name.
    """
    if not _NAME.fullmatch(name):
        raise SchemaError(["shipped schema names are lower_snake_case"])
    path = resources.files("linkage.data").joinpath("schemas", f"{name}.toml")
    if not path.is_file():
        raise SchemaError([f"no shipped schema named '{name}'"])
    return path.read_text(encoding="utf-8")


def shipped_schema(name: str = "voters_subscribers") -> LinkageSchema:
    """A shipped schema, compiled."""
    return load_schema(shipped_schema_text(name), file=f"{name}.toml")


def drop_fields(schema: LinkageSchema, names: set[str]) -> LinkageSchema:
    """The schema without the named fields and every key, comparison and pass using them.

    Useful to measure what a field is worth (``--no-ssn``) or to link files
    that lack it.
    """
    fields = tuple(f for f in schema.fields if f.name not in names)
    kept = {c for f in fields for c in f.outputs}
    keys = tuple(k for k in schema.match_keys if set(k.recipe.fields) <= kept)
    key_names = {k.recipe.name for k in keys}
    compare = tuple(
        c
        for c in schema.compare
        if (
            c.column in key_names
            if c.method == "key"
            else {e.name for e in c.encodings} <= kept
            if c.method == "dice"
            else c.column in kept
        )
    )
    blocking = tuple(b for b in schema.blocking if {c for c, _ in b.parts} <= kept)
    group_by = schema.resolution.group_by if schema.resolution.group_by in key_names else None
    return LinkageSchema(
        name=schema.name,
        fields=fields,
        match_keys=keys,
        compare=compare,
        blocking=blocking,
        resolution=replace(schema.resolution, group_by=group_by),
        bloom_length=schema.bloom_length,
        hardening=schema.hardening,
    )
