"""synth."""

from linkage.synth.world import (
    DEFAULT_CHUNK_VOTERS,
    SUBSCRIBERS_SCHEMA,
    VIEWING_SCHEMA,
    VOTER_HOUSEHOLD_SCHEMA,
    VOTERS_SCHEMA,
    World,
    WorldStream,
    generate_world,
)

__all__ = [
    "DEFAULT_CHUNK_VOTERS",
    "SUBSCRIBERS_SCHEMA",
    "VIEWING_SCHEMA",
    "VOTERS_SCHEMA",
    "VOTER_HOUSEHOLD_SCHEMA",
    "World",
    "WorldStream",
    "generate_world",
]
