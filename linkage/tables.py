"""The shared vocabulary: markers, defaults and table shapes every stage agrees on.

Each name here is defined once and imported everywhere it is used, so a marker
or a default cannot drift between the matcher, the provider and the report.
The shapes are the payloads that cross a party boundary (see
``docs/ARCHITECTURE.md``); a stage's private working tables stay in its module.
"""

from __future__ import annotations

from typing import Final

import pyarrow as pa

__all__ = [
    "AIRED_SCHEMA",
    "ALL_HOUSEHOLDS",
    "ALL_MARKETS",
    "ALL_MATCHED",
    "CELLS_SCHEMA",
    "DEFAULT_K",
    "DEFAULT_MIN_UNIVERSE",
    "DELIVERY_SCHEMA",
    "FIT_WARNING_CODES",
    "INTERVAL_COLUMNS",
    "LINKS_SCHEMA",
    "MATCH_REPORT_SCHEMA",
    "RELEASE_SCHEMA",
    "RETENTION_SCHEMA",
    "ROW",
    "SEGMENTS_SCHEMA",
    "TIER_SEPARATOR",
    "VIEWERSHIP_SCHEMA",
    "WHOLE_WEEK",
]

# --- markers ---------------------------------------------------------------------

ALL_HOUSEHOLDS: Final = "*"
"""The segment code for every matched household, whatever its segments.

The matcher and provider send it; the campaign's report decodes it to
:data:`ALL_MATCHED`. It is the denominator of every index."""

ALL_MATCHED: Final = "all_matched"
"""Reserved segment name: what the report calls :data:`ALL_HOUSEHOLDS`."""

ALL_MARKETS: Final = "*"
"""The ``market`` of a statewide release row: every market's households together."""

WHOLE_WEEK: Final = "all"
"""The ``day_type`` of a row over every day of the period: period rows, and a
market's daypart rows (measured over the whole week in one cell)."""

TIER_SEPARATOR: Final = ":"
"""Joins a segment code and a viewing-intensity tier: ``<code>:light``."""

ROW: Final = "__row"
"""Row-number column the matcher adds to each side's payload while it links."""

# --- release defaults ----------------------------------------------------------------

DEFAULT_K: Final = 50
"""Minimum distinct households behind any released figure (the k rule)."""

DEFAULT_MIN_UNIVERSE: Final = 100
"""Minimum matched households for a segment to be released at all."""

# --- payloads ------------------------------------------------------------------------

VIEWERSHIP_SCHEMA: Final = pa.schema(
    [
        ("grain", pa.string()),
        ("segment", pa.string()),
        ("channel", pa.string()),
        ("day_type", pa.string()),
        ("daypart", pa.string()),
        ("quarter_hour", pa.int16()),
        ("universe", pa.int64()),
        ("aqh_households", pa.float64()),
        ("rating", pa.float64()),
        ("share", pa.float64()),
        ("reach_households", pa.int64()),
        ("reach", pa.float64()),
        ("suppressed", pa.bool_()),
    ]
)
"""Measured viewership cells, one row per (grain, segment, channel, day type, slot)."""

CELLS_SCHEMA: Final = VIEWERSHIP_SCHEMA.append(pa.field("contributors", pa.int64()))
"""Unreleased cells: the viewership columns plus the distinct-household count behind each."""

INTERVAL_COLUMNS: Final[tuple[str, ...]] = (
    "aqh_households_ci",
    "rating_ci",
    "share_ci",
    "reach_ci",
)
"""Half-widths of approximate 95% noise intervals (figure ± half-width); null without DP."""

RELEASE_SCHEMA: Final = pa.schema(
    [
        VIEWERSHIP_SCHEMA.field("grain"),
        # ALL_MARKETS for the statewide rows (every grain); a market code for one
        # market's own rows (daypart and period grains, that market's households).
        pa.field("market", pa.string()),
        *(f for f in VIEWERSHIP_SCHEMA if f.name != "grain"),
        *(pa.field(name, pa.float64()) for name in INTERVAL_COLUMNS),
        pa.field("matched_records", pa.int64()),
        # The provider's public release rules, the same on every row.
        pa.field("k", pa.int64()),
        pa.field("min_universe", pa.int64()),
    ]
)
"""The released ``viewership`` payload: the viewership columns by market, plus noise intervals,
and per segment (on every row, like ``universe``) the campaign's linked real
records, at most a public cap per household (null for tiers)."""

MATCH_REPORT_SCHEMA: Final = pa.schema(
    [
        ("linked_households", pa.int64()),
        ("linked_records", pa.int64()),
        ("records_cap", pa.int64()),
        ("est_precision", pa.float64()),
        ("est_recall", pa.float64()),
        ("households_ci", pa.float64()),
        ("records_ci", pa.float64()),
        ("rho", pa.float64()),
        ("est_pair_completeness", pa.float64()),
        ("fit_warnings", pa.list_(pa.string())),
    ]
)
"""The ``match-report`` payload: one row of global, noisy linkage statistics (no segment)."""

FIT_WARNING_CODES: Final = ("blocking", "max-block", "no-seed", "constraints", "unstable")
"""What the match report may say is wrong with the linkage, as fixed codes:
blocking pairs too few of the exact links; max_block drops blocks that hold
true pairs; no labelled seed; the model breaks its constraints; the fit is
unstable. The matcher's terminal has the words."""

RETENTION_SCHEMA: Final = pa.schema(
    [
        ("segment", pa.string()),
        ("channel", pa.string()),
        ("earlier_first_day", pa.date32()),
        ("earlier_last_day", pa.date32()),
        ("earlier_households", pa.int64()),
        ("both_households", pa.int64()),
        ("retention", pa.float64()),
        ("retention_ci", pa.float64()),
        ("suppressed", pa.bool_()),
        ("k", pa.int64()),
        ("rho", pa.float64()),
    ]
)
"""The ``retention`` payload (provider -> campaign, :mod:`linkage.release.panel`): per
segment code of this week (plain and ``*``) and channel, the noisy households that
watched the channel in the panel's earlier week and in both weeks, retention in
percent with its 95% half-width; the figures are null where ``suppressed``."""

SEGMENTS_SCHEMA: Final = pa.schema([("rid", pa.string()), ("segments", pa.list_(pa.string()))])
"""The ``segments`` payload (campaign -> provider): each real record's segment codes."""

LINKS_SCHEMA: Final = pa.schema([("rid", pa.string()), ("hp", pa.string())])
"""The ``assignments`` payload (matcher -> provider): links only, one row per linked record."""

AIRED_SCHEMA: Final = pa.schema(
    [
        ("market", pa.string()),
        ("channel", pa.string()),
        ("date", pa.date32()),
        # Whole seconds, stored in milliseconds: Parquet has no time32[s].
        ("time", pa.time32("ms")),
        ("spot_seconds", pa.int64()),
    ]
)
"""The ``aired-schedule`` payload (campaign -> provider): one row per spot that aired, its
start in naive local time; ``market`` is :data:`ALL_MARKETS` for a spot aired statewide."""

DELIVERY_SCHEMA: Final = pa.schema(
    [
        ("market", pa.string()),
        ("segment", pa.string()),
        ("spots", pa.int64()),
        ("universe", pa.int64()),
        ("impressions", pa.float64()),
        ("trps", pa.float64()),
        ("reach_households", pa.int64()),
        ("reach", pa.float64()),
        ("frequency", pa.float64()),
        ("light_reach", pa.float64()),
        ("suppressed", pa.bool_()),
        ("impressions_ci", pa.float64()),
        ("trps_ci", pa.float64()),
        ("reach_ci", pa.float64()),
        ("frequency_ci", pa.float64()),
        ("light_reach_ci", pa.float64()),
        # The provider's public rules, the same on every row.
        ("frequency_cap", pa.int64()),
        ("k", pa.int64()),
        ("min_universe", pa.int64()),
    ]
)
"""The ``delivery`` payload (provider -> campaign): what the aired schedule delivered, one
row per (market incl. :data:`ALL_MARKETS`, segment incl. ``*`` and tiers), noisy, with
95% half-widths (``linkage.release.delivery``)."""
