"""measure: from viewing logs to audience figures (before any release rule).

- ``calendar``: the public time grid (quarter-hours, dayparts, day types,
  intensity tiers, the reporting period).
- ``aggregation``: the SQL aggregate (segment members, AQH crediting, the
  unsuppressed cells with their contributor counts).
- ``reference``: the slow, obviously-correct twin of the aggregate, for tests.
- ``intensity``: minutes of TV per household, its tier, and tier segments.
- ``metrics``: the campaign's derived figures (spot ratings, HUT,
  reach/frequency, index, projections).
"""

from linkage.measure.aggregation import (
    compute_viewership,
    distinct_values,
    segment_members,
    segment_universes,
    viewership_of_members,
)
from linkage.measure.calendar import (
    DAY_SECONDS,
    DAY_TYPES,
    DAYPART_NAMES,
    DAYPARTS,
    INTENSITY_TIERS,
    QUARTER_HOUR_SECONDS,
    QUARTER_HOURS_PER_DAY,
    TIER_NAMES,
    WEEK_DAYS,
    Daypart,
    day_type,
    daypart_of,
    resolve_period,
)
from linkage.measure.intensity import cross_with_intensity, household_intensity
from linkage.measure.metrics import (
    PROJECTION_NOTE,
    channel_reach_frequency,
    hut,
    index_vs_all,
    project_to_voters,
    schedule_points,
    split_tier,
    spot_ratings,
    tier_codes,
)
from linkage.measure.reference import reference_viewership

__all__ = [
    "DAYPARTS",
    "DAYPART_NAMES",
    "DAY_SECONDS",
    "DAY_TYPES",
    "INTENSITY_TIERS",
    "PROJECTION_NOTE",
    "QUARTER_HOURS_PER_DAY",
    "QUARTER_HOUR_SECONDS",
    "TIER_NAMES",
    "WEEK_DAYS",
    "Daypart",
    "channel_reach_frequency",
    "compute_viewership",
    "cross_with_intensity",
    "day_type",
    "daypart_of",
    "distinct_values",
    "household_intensity",
    "hut",
    "index_vs_all",
    "project_to_voters",
    "reference_viewership",
    "resolve_period",
    "schedule_points",
    "segment_members",
    "segment_universes",
    "split_tier",
    "spot_ratings",
    "tier_codes",
    "viewership_of_members",
]
