"""synth: a reproducible synthetic world with ground truth.

Modules:
    world: :func:`generate_world`, :class:`WorldStream` and the order of draws.
    schemas: the shapes of the world's tables (the files ``narwhal synth`` writes).
    reference: names, streets, cities and channels from ``linkage/data``.
    population: households, people and the voter file.
    corruption: typos, nicknames and noisy case (how the two files disagree).
    subscribers: the operator's subscriber file and the voter -> household truth.
    viewing: the tuning log (sessions, channel choice, dayparts).
    ratecard: spot prices per channel and daypart.
    truth: true segment assignments and viewership, and a report's error against them.
    audience: the truth's audience counted chunk by chunk while a world is drawn.
    hard_shapes: awkward person files (shifted names, year-only dates) and heavier corruption.
    _arrays: vectorised draws and string builders the builders share.
"""

from linkage.synth.audience import AudienceCounts, count_audience
from linkage.synth.hard_shapes import (
    HARD_SHAPES_SCHEMA,
    HardShapes,
    corrupt_heavily,
    hard_shapes,
)
from linkage.synth.schemas import (
    CHANNELS_SCHEMA,
    RATECARD_SCHEMA,
    SUBSCRIBERS_SCHEMA,
    VIEWING_SCHEMA,
    VOTER_HOUSEHOLD_SCHEMA,
    VOTERS_SCHEMA,
)
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
)

__all__ = [
    "CHANNELS_SCHEMA",
    "DEFAULT_CHUNK_VOTERS",
    "HARD_SHAPES_SCHEMA",
    "RATECARD_SCHEMA",
    "SEGMENTS_TOML",
    "SUBSCRIBERS_SCHEMA",
    "VIEWING_SCHEMA",
    "VOTERS_SCHEMA",
    "VOTER_HOUSEHOLD_SCHEMA",
    "WORLD_START",
    "AudienceCounts",
    "HardShapes",
    "RatingError",
    "World",
    "WorldChunk",
    "WorldStream",
    "corrupt_heavily",
    "count_audience",
    "generate_world",
    "hard_shapes",
    "rating_error",
    "true_assignments",
    "true_assignments_of",
    "truth_viewership",
    "truth_viewership_of",
    "world_period",
]
