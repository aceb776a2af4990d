"""encode: raw records -> normalised values -> keyed tokens, filters and blocking keys.

Modules, in the order data passes through them:

* ``text`` -- folding and word splitting every normaliser shares.
* ``normalize`` -- one value per field (names, places, phones, dates, codes);
  ``normalize_records`` for the fixed voter columns.
* ``address`` -- address line 1 -> USPS components (``parse_street_address``).
* ``schema`` -- the linkage-schema TOML, compiled into frozen dataclasses.
* ``fields`` -- a schema's field types mapped onto the normalisers (``normalize_side``).
* ``matchkeys`` -- exact keyed match-key tokens (``tokenize_records``).
* ``bloom`` -- keyed Bloom filters (CLKs) for the fuzzy stage.
* ``blocking_keys`` -- keyed blocking keys. Its ``blocking_values`` (the
  unkeyed plaintext behind each key) is sharp, so it is not re-exported here.
* ``recipe`` -- the safe recipe: one side in, only keyed columns out (``encode_side``).
* ``parallel`` -- the recipe over worker processes, chunk by chunk.
* ``reuse`` -- normalised fields cached per raw row, reused week to week.
* ``dummies`` -- dummy rows that blur every token's row count (``dummy_rows``).
* ``segments`` -- the segment-rule language (``load_segments``).
* ``membership`` -- rules applied to voters and coded per exchange.
"""

from linkage.encode.address import ParsedAddress, parse_street_address
from linkage.encode.blocking_keys import BLOCK_KEY_BYTES
from linkage.encode.bloom import (
    DEFAULT_BLOOM_SCHEMA,
    BloomSchema,
    FieldEncoding,
    Hardening,
    encode_record_reference,
    encode_records,
    from_arrow,
    qgrams,
    to_arrow,
)
from linkage.encode.dummies import DEFAULT_DUMMY_RATE, MAX_DUMMY_RATE, DummyRows, dummy_rows
from linkage.encode.fields import normalize_side
from linkage.encode.matchkeys import (
    DEFAULT_RECIPES,
    MatchKeyRecipe,
    encode_message,
    tokenize_records,
)
from linkage.encode.membership import assign_codes, evaluate, membership_lists
from linkage.encode.normalize import (
    INPUT_COLUMNS,
    OUTPUT_COLUMNS,
    canonical_given_name,
    normalize_birth_date,
    normalize_city,
    normalize_email,
    normalize_name,
    normalize_phone,
    normalize_postcode,
    normalize_records,
    normalize_row,
    normalize_state,
    zip5,
)
from linkage.encode.parallel import (
    default_workers,
    encode_side_chunks,
    encode_side_parallel,
    iter_chunks,
    join_row_columns,
    map_chunks,
    shutdown_pools,
)
from linkage.encode.recipe import encode_side
from linkage.encode.reuse import (
    NormalizedReuse,
    encode_normalized_chunks,
    normalize_reusing,
    row_digests,
)
from linkage.encode.schema import (
    LinkageSchema,
    ResolutionMode,
    Side,
    drop_fields,
    load_schema,
    shipped_schema,
)
from linkage.encode.schema_lint import Finding, lint_schema
from linkage.encode.segments import (
    Always,
    ColumnRef,
    Comparison,
    Condition,
    Const,
    ConstSet,
    Logical,
    Negation,
    RuleValueKind,
    SegmentOverlap,
    SegmentSet,
    check_segment_sizes,
    column_kinds,
    load_segments,
    near_duplicate_segments,
)

__all__ = [
    "BLOCK_KEY_BYTES",
    "DEFAULT_BLOOM_SCHEMA",
    "DEFAULT_DUMMY_RATE",
    "DEFAULT_RECIPES",
    "INPUT_COLUMNS",
    "MAX_DUMMY_RATE",
    "OUTPUT_COLUMNS",
    "Always",
    "BloomSchema",
    "ColumnRef",
    "Comparison",
    "Condition",
    "Const",
    "ConstSet",
    "DummyRows",
    "FieldEncoding",
    "Finding",
    "Hardening",
    "LinkageSchema",
    "Logical",
    "MatchKeyRecipe",
    "Negation",
    "NormalizedReuse",
    "ParsedAddress",
    "ResolutionMode",
    "RuleValueKind",
    "SegmentOverlap",
    "SegmentSet",
    "Side",
    "assign_codes",
    "canonical_given_name",
    "check_segment_sizes",
    "column_kinds",
    "default_workers",
    "drop_fields",
    "dummy_rows",
    "encode_message",
    "encode_normalized_chunks",
    "encode_record_reference",
    "encode_records",
    "encode_side",
    "encode_side_chunks",
    "encode_side_parallel",
    "evaluate",
    "from_arrow",
    "iter_chunks",
    "join_row_columns",
    "lint_schema",
    "load_schema",
    "load_segments",
    "map_chunks",
    "membership_lists",
    "near_duplicate_segments",
    "normalize_birth_date",
    "normalize_city",
    "normalize_email",
    "normalize_name",
    "normalize_phone",
    "normalize_postcode",
    "normalize_records",
    "normalize_reusing",
    "normalize_row",
    "normalize_side",
    "normalize_state",
    "parse_street_address",
    "qgrams",
    "row_digests",
    "shipped_schema",
    "shutdown_pools",
    "to_arrow",
    "tokenize_records",
    "zip5",
]
