"""synth: a reproducible synthetic world with ground truth.

Modules:
    world: :func:`generate_world`, :class:`WorldStream` and the order of draws.
    schemas: the shapes of the world's tables (the files ``narwhal synth`` writes).
    reference: names, streets, cities and channels from ``linkage/data``.
    population: households, people and the voter file.
    corruption: typos, nicknames and noisy case (how the two files disagree).
    subscribers: the operator's subscriber file and the voter -> household truth.
    viewing: the tuning log (sessions, channel choice, dayparts).
    markets: TV markets (DMAs): each household's, line-ups and tastes per market.
    ratecard: spot prices per market, channel and daypart.
    refresh: the weekly voter-file refresh (scores drift, registrants come and go).
    truth: true segment assignments and viewership, and a report's error against them.
    retention_truth: true week-over-week retention, and the release's interval coverage.
    delivery_truth: true post-buy delivery of an aired schedule, and interval coverage.
    audience: the truth's audience counted chunk by chunk while a world is drawn.
    hard_shapes: awkward person files (shifted names, year-only dates) and heavier corruption.
    _arrays: vectorised draws and string builders the builders share.
"""

from linkage.synth.audience import AudienceCounts, count_audience
from linkage.synth.delivery_truth import (
    COVERED_FIGURES,
    DeliveryCoverage,
    delivery_coverage,
    true_delivery_of,
)
from linkage.synth.hard_shapes import (
    HARD_SHAPES_SCHEMA,
    HardShapes,
    corrupt_heavily,
    hard_shapes,
)
from linkage.synth.market_truth import MarketError, market_rating_error, true_market_viewership
from linkage.synth.markets import market_list
from linkage.synth.retention_truth import (
    RetentionCoverage,
    TrendCoverage,
    retention_coverage,
    trend_coverage,
    true_retention_of,
    true_trend_of,
)
from linkage.synth.schemas import (
    CHANNELS_SCHEMA,
    LINEUPS_SCHEMA,
    MARKET_LIST_SCHEMA,
    MARKETS_SCHEMA,
    RATECARD_SCHEMA,
    SUBSCRIBERS_SCHEMA,
    VIEWING_SCHEMA,
    VOTER_HOUSEHOLD_SCHEMA,
    VOTERS_SCHEMA,
)
from linkage.synth.scorecard import Scorecard, TruthWeek, score_week
from linkage.synth.truth import (
    RatingError,
    rating_error,
    true_assignments,
    true_assignments_of,
    truth_viewership,
    truth_viewership_of,
)
from linkage.synth.world import (
    DEFAULT_CHUNK_VOTERS,
    SEGMENTS_TOML,
    WORLD_START,
    World,
    WorldChunk,
    WorldStream,
    generate_world,
    world_period,
    world_weeks,
)

__all__ = [
    "CHANNELS_SCHEMA",
    "COVERED_FIGURES",
    "DEFAULT_CHUNK_VOTERS",
    "HARD_SHAPES_SCHEMA",
    "LINEUPS_SCHEMA",
    "MARKETS_SCHEMA",
    "MARKET_LIST_SCHEMA",
    "RATECARD_SCHEMA",
    "SEGMENTS_TOML",
    "SUBSCRIBERS_SCHEMA",
    "VIEWING_SCHEMA",
    "VOTERS_SCHEMA",
    "VOTER_HOUSEHOLD_SCHEMA",
    "WORLD_START",
    "AudienceCounts",
    "DeliveryCoverage",
    "HardShapes",
    "MarketError",
    "RatingError",
    "RetentionCoverage",
    "Scorecard",
    "TrendCoverage",
    "TruthWeek",
    "World",
    "WorldChunk",
    "WorldStream",
    "corrupt_heavily",
    "count_audience",
    "delivery_coverage",
    "generate_world",
    "hard_shapes",
    "market_list",
    "market_rating_error",
    "rating_error",
    "retention_coverage",
    "score_week",
    "trend_coverage",
    "true_assignments",
    "true_assignments_of",
    "true_delivery_of",
    "true_market_viewership",
    "true_retention_of",
    "true_trend_of",
    "truth_viewership",
    "truth_viewership_of",
    "world_period",
    "world_weeks",
]
