"""The per-kind column allow-lists: what a message of each kind may carry.

Every message kind has a :class:`KindSpec`: which role sends it, which role
receives it, and the columns its payload may hold, each with an Arrow type.
The sender checks a payload before sealing and the recipient checks it again
after opening (see :mod:`linkage.protocol.envelope.container`), so a column
that could carry a readable value cannot cross the wire by accident, in
either direction. Token columns are binary only for the same reason.

Errors name the offending column and its type, never a value: a payload that
breaks its allow-list may be exactly the PII it must not leak.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Final

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from linkage.errors import MessageError
from linkage.protocol.keys import Role
from linkage.tables import FIT_WARNING_CODES

TOKEN_BYTES: Final = 32
"""Width of a keyed match-key token (HMAC-SHA256)."""

ColumnCheck = Callable[[pa.ChunkedArray], bool]
"""True when a column's type (and, for tokens, value widths) is acceptable."""


def _is_string(col: pa.ChunkedArray) -> bool:
    return bool(pa.types.is_string(col.type) or pa.types.is_large_string(col.type))


def _is_string_list(col: pa.ChunkedArray) -> bool:
    t = col.type
    if not (pa.types.is_list(t) or pa.types.is_large_list(t)):
        return False
    value = t.value_type
    return bool(pa.types.is_string(value) or pa.types.is_large_string(value))


def _is_fit_warnings(col: pa.ChunkedArray) -> bool:
    """A list of strings, each one of the fixed codes: no free text crosses."""
    if not _is_string_list(col):
        return False
    values = pc.list_flatten(col.combine_chunks()).drop_null().to_pylist()
    return all(v in FIT_WARNING_CODES for v in values)


def _is_token(col: pa.ChunkedArray) -> bool:
    """binary(32); variable binary is accepted only if every value is 32 bytes."""
    t = col.type
    if pa.types.is_fixed_size_binary(t):
        return bool(t.byte_width == TOKEN_BYTES)
    if pa.types.is_binary(t) or pa.types.is_large_binary(t):
        extremes = pc.min_max(pc.binary_length(col)).as_py()
        # All-null columns have no extremes and carry nothing.
        return extremes["min"] is None or extremes["min"] == extremes["max"] == TOKEN_BYTES
    return False


def _is_any_binary(col: pa.ChunkedArray) -> bool:
    t = col.type
    return bool(
        pa.types.is_binary(t) or pa.types.is_large_binary(t) or pa.types.is_fixed_size_binary(t)
    )


def _exact(arrow_type: pa.DataType) -> ColumnCheck:
    def check(col: pa.ChunkedArray) -> bool:
        return bool(col.type == arrow_type)

    return check


@dataclass(frozen=True)
class ColumnRule:
    """One allowed column (or family of columns) of a message kind.

    Attributes:
        name: Exact column name, or a prefix when ``prefix`` is true.
        type_name: Human-readable type, used in error messages.
        check: Accepts or rejects the column's type (and token widths).
        required: The column must be present (never true for prefixes).
        prefix: ``name`` is a prefix (``mk_`` matches ``mk_addr``).
    """

    name: str
    type_name: str
    check: ColumnCheck
    required: bool = True
    prefix: bool = False

    def matches(self, column: str) -> bool:
        """True if this rule governs ``column``."""
        if self.prefix:
            return column.startswith(self.name) and len(column) > len(self.name)
        return column == self.name


@dataclass(frozen=True)
class KindSpec:
    """Who sends a kind to whom, and which columns its payload may hold."""

    sender_role: Role
    recipient_role: Role
    columns: tuple[ColumnRule, ...]

    def rule_for(self, column: str) -> ColumnRule | None:
        """The rule governing ``column``, or None if the column is not allowed."""
        return next((rule for rule in self.columns if rule.matches(column)), None)


def _string(name: str) -> ColumnRule:
    return ColumnRule(name, "string", _is_string)


def _typed(name: str, arrow_type: pa.DataType, type_name: str) -> ColumnRule:
    return ColumnRule(name, type_name, _exact(arrow_type))


# Forward-compatible token families for the fuzzy stage (keyed blocking keys
# and Bloom-filter CLKs): binary only, so no readable value can ride along.
_TOKEN_FAMILIES: Final = (
    ColumnRule("mk_", "binary(32)", _is_token, required=False, prefix=True),
    ColumnRule("bk_", "binary", _is_any_binary, required=False, prefix=True),
    ColumnRule("clk", "binary", _is_any_binary, required=False),
    ColumnRule("clk_", "binary", _is_any_binary, required=False, prefix=True),
)

KIND_SPECS: Final[Mapping[str, KindSpec]] = {
    # Tokens only: segment codes never pass through the matcher.
    "campaign-tokens": KindSpec("campaign", "matcher", (_string("rid"), *_TOKEN_FAMILIES)),
    # Each real record's segment codes, straight to the provider under the random rid.
    "segments": KindSpec(
        "campaign",
        "provider",
        (_string("rid"), ColumnRule("segments", "list<string>", _is_string_list)),
    ),
    "provider-tokens": KindSpec("provider", "matcher", (_string("hp"), *_TOKEN_FAMILIES)),
    # Links only: which record went to which household pseudonym.
    "assignments": KindSpec("matcher", "provider", (_string("rid"), _string("hp"))),
    # One row of global, noisy statistics (linkage.release.match_report); no segment.
    "match-report": KindSpec(
        "matcher",
        "campaign",
        (
            _typed("linked_households", pa.int64(), "int64"),
            _typed("linked_records", pa.int64(), "int64"),
            _typed("records_cap", pa.int64(), "int64"),
            _typed("est_precision", pa.float64(), "float64"),
            _typed("est_recall", pa.float64(), "float64"),
            _typed("households_ci", pa.float64(), "float64"),
            _typed("records_ci", pa.float64(), "float64"),
            _typed("rho", pa.float64(), "float64"),
            # Blocking's estimated pair completeness (noisy, null without a seed).
            ColumnRule("est_pair_completeness", "float64", _exact(pa.float64()), required=False),
            # What is wrong with the model fit, as fixed codes (see FIT_WARNING_CODES).
            ColumnRule("fit_warnings", "list<string>", _is_fit_warnings, required=False),
        ),
    ),
    "viewership": KindSpec(
        "provider",
        "campaign",
        (
            _string("grain"),
            # "*" for the statewide rows, else the market (DMA) the row measures.
            ColumnRule("market", "string", _exact(pa.string()), required=False),
            _string("segment"),
            _string("channel"),
            _string("day_type"),
            _string("daypart"),
            _typed("quarter_hour", pa.int16(), "int16"),
            _typed("universe", pa.int64(), "int64"),
            _typed("aqh_households", pa.float64(), "float64"),
            _typed("rating", pa.float64(), "float64"),
            _typed("share", pa.float64(), "float64"),
            _typed("reach_households", pa.int64(), "int64"),
            _typed("reach", pa.float64(), "float64"),
            _typed("suppressed", pa.bool_(), "bool"),
            # Noise-interval half-widths of a DP release (linkage.release.dp); null when exact.
            *(
                ColumnRule(name, "float64", _exact(pa.float64()), required=False)
                for name in ("aqh_households_ci", "rating_ci", "share_ci", "reach_ci")
            ),
            # The provider's public release rules, constant over the rows.
            *(
                ColumnRule(name, "int64", _exact(pa.int64()), required=False)
                for name in ("k", "min_universe")
            ),
            # Per segment: linked real records, capped per household (null for tiers).
            ColumnRule("matched_records", "int64", _exact(pa.int64()), required=False),
        ),
    ),
    # The spots that aired (AIRED_SCHEMA): public schedule facts, no voter or household.
    "aired-schedule": KindSpec(
        "campaign",
        "provider",
        (
            _string("market"),
            _string("channel"),
            _typed("date", pa.date32(), "date32"),
            _typed("time", pa.time32("ms"), "time32[ms]"),
            _typed("spot_seconds", pa.int64(), "int64"),
        ),
    ),
    # What the schedule delivered per (market, segment), noisy (DELIVERY_SCHEMA).
    "delivery": KindSpec(
        "provider",
        "campaign",
        (
            _string("market"),
            _string("segment"),
            *(
                _typed(name, pa.int64(), "int64")
                for name in ("spots", "universe", "reach_households")
            ),
            *(
                _typed(name, pa.float64(), "float64")
                for name in ("impressions", "trps", "reach", "frequency", "light_reach")
            ),
            _typed("suppressed", pa.bool_(), "bool"),
            *(
                _typed(f"{name}_ci", pa.float64(), "float64")
                for name in ("impressions", "trps", "reach", "frequency", "light_reach")
            ),
            *(_typed(name, pa.int64(), "int64") for name in ("frequency_cap", "k", "min_universe")),
        ),
    ),
    # Per segment code and channel, noisy counts of the panel's two weeks (linkage.release.panel).
    "retention": KindSpec(
        "provider",
        "campaign",
        (
            _string("segment"),
            _string("channel"),
            _typed("earlier_first_day", pa.date32(), "date32"),
            _typed("earlier_last_day", pa.date32(), "date32"),
            _typed("earlier_households", pa.int64(), "int64"),
            _typed("both_households", pa.int64(), "int64"),
            _typed("retention", pa.float64(), "float64"),
            _typed("retention_ci", pa.float64(), "float64"),
            _typed("suppressed", pa.bool_(), "bool"),
            _typed("k", pa.int64(), "int64"),
            _typed("rho", pa.float64(), "float64"),
        ),
    ),
}
KINDS: Final = tuple(KIND_SPECS)


def validate_payload(kind: str, table: pa.Table, *, file: str | None = None) -> None:
    """Check a payload against its kind's allow-list (names, types, required columns).

    Raises:
        MessageError: Unknown kind, duplicate/unknown column, wrong type or a
            required column missing. Names the column, never a value.
    """
    spec = KIND_SPECS.get(kind)
    if spec is None:
        raise MessageError("unknown message kind", file=file, hint=f"kinds: {', '.join(KINDS)}")
    names = table.column_names
    if len(set(names)) != len(names):
        raise MessageError(f"{kind} payload has duplicate column names", file=file)
    for name in names:
        rule = spec.rule_for(name)
        if rule is None:
            raise MessageError(f"column is not allowed in a {kind} payload", file=file, column=name)
        column = table.column(name)
        if not rule.check(column):
            raise MessageError(
                f"column must be {rule.type_name} in a {kind} payload (got {column.type})",
                file=file,
                column=name,
            )
    for rule in spec.columns:
        if rule.required and rule.name not in names:
            raise MessageError(
                f"required column missing from a {kind} payload", file=file, column=rule.name
            )


def validate_payload_file(kind: str, payload: pq.ParquetFile, *, file: str | None = None) -> None:
    """:func:`validate_payload` for a Parquet file, one column of one row group at a time.

    Names, types and required columns are checked on the schema; a column
    whose rule also looks at values (variable-width tokens) is scanned row
    group by row group, so memory stays at one column chunk.

    Raises:
        MessageError: As :func:`validate_payload`.
    """
    schema = payload.schema_arrow
    validate_payload(kind, schema.empty_table(), file=file)
    spec = KIND_SPECS[kind]
    for name in schema.names:
        if pa.types.is_fixed_size_binary(schema.field(name).type):
            continue
        rule = spec.rule_for(name)
        for group in range(payload.metadata.num_row_groups):
            column = payload.read_row_group(group, columns=[name]).column(name)
            if rule is not None and not rule.check(column):
                raise MessageError(
                    f"column must be {rule.type_name} in a {kind} payload (got {column.type})",
                    file=file,
                    column=name,
                )
