"""The shapes of the synthetic world's tables: the files ``narwhal synth`` writes.

These are the contract the campaign, matcher and provider read (see
``docs/ARCHITECTURE.md``). They sit in their own module because each builder
(population, subscribers, viewing, rate card) stamps its table with its schema
and :mod:`linkage.synth.world` imports every builder: defined there, they would
make an import cycle.
"""

from __future__ import annotations

import pyarrow as pa

__all__ = [
    "CHANNELS_SCHEMA",
    "LINEUPS_SCHEMA",
    "MARKETS_SCHEMA",
    "MARKET_LIST_SCHEMA",
    "RATECARD_SCHEMA",
    "SUBSCRIBERS_SCHEMA",
    "VIEWING_SCHEMA",
    "VOTERS_SCHEMA",
    "VOTER_HOUSEHOLD_SCHEMA",
]

VOTERS_SCHEMA = pa.schema(
    [
        ("voter_id", pa.string()),
        ("first_name", pa.string()),
        ("middle_name", pa.string()),
        ("last_name", pa.string()),
        ("suffix", pa.string()),
        ("birth_date", pa.date32()),
        ("gender", pa.string()),
        ("address", pa.string()),
        ("city", pa.string()),
        ("state", pa.string()),
        ("zip", pa.string()),
        ("phone", pa.string()),
        ("email", pa.string()),
        ("ethnicity", pa.string()),
        ("party", pa.string()),
        ("support_score", pa.int16()),
        ("turnout_score", pa.int16()),
        ("gotv_score", pa.int16()),
        ("persuasion_score", pa.int16()),
    ]
)
"""The campaign's voter file."""

SUBSCRIBERS_SCHEMA = pa.schema(
    [
        ("household_id", pa.string()),
        ("account_number", pa.string()),
        ("first_name", pa.string()),
        ("last_name", pa.string()),
        ("address", pa.string()),
        ("city", pa.string()),
        ("state", pa.string()),
        ("zip", pa.string()),
        ("phone", pa.string()),
        ("email", pa.string()),
    ]
)
"""The operator's subscriber file, one row per subscribing household."""

VIEWING_SCHEMA = pa.schema(
    [
        ("household_id", pa.string()),
        ("channel", pa.string()),
        ("start", pa.timestamp("s")),
        ("end", pa.timestamp("s")),
    ]
)
"""Set-top-box tuning events."""

CHANNELS_SCHEMA = pa.schema(
    [
        ("channel", pa.string()),
        ("name", pa.string()),
        ("genre", pa.string()),
        ("language", pa.string()),
    ]
)
"""The channel list."""

RATECARD_SCHEMA = pa.schema(
    [
        ("market", pa.string()),
        ("channel", pa.string()),
        ("daypart", pa.string()),
        ("cost_per_spot", pa.float64()),
        ("units_available", pa.int64()),
    ]
)
"""Spot prices and inventory per market, channel and daypart (the channels each market carries)."""

MARKETS_SCHEMA = pa.schema([("household_id", pa.string()), ("market", pa.string())])
"""The operator's record of each subscriber household's market (DMA)."""

LINEUPS_SCHEMA = pa.schema([("market", pa.string()), ("channel", pa.string())])
"""The channels each market carries (public)."""

MARKET_LIST_SCHEMA = pa.schema(
    [
        ("market", pa.string()),
        ("name", pa.string()),
        ("tv_households", pa.int64()),
        ("ohio_share", pa.float64()),
    ]
)
"""The markets of the reference data: code, display name, the DMA's TV households, Ohio's share."""

VOTER_HOUSEHOLD_SCHEMA = pa.schema([("voter_id", pa.string()), ("household_id", pa.string())])
"""Truth: which subscribing household each covered voter lives in."""
