"""measure: from viewing logs to audience figures (before any release rule).

- ``calendar``: the public time grid (quarter-hours, dayparts, day types,
  intensity tiers, the reporting period).
- ``sense``: input sense for viewing logs (the public ``--period``, impossible
  events dropped and counted, same-channel overlaps merged).
- ``aggregation``: the SQL aggregate (segment members, AQH crediting, the
  unsuppressed cells with their contributor counts).
- ``reference``: the slow, obviously-correct twin of the aggregate, for tests.
- ``intensity``: minutes of TV per household, its tier, and tier segments.
- ``metrics``: the campaign's derived figures (spot ratings, HUT,
  reach/frequency, index, projections).
"""

from linkage.measure.aggregation import (
    CELL_ORDER,
    compute_viewership,
    distinct_values,
    segment_members,
    segment_universes,
    viewership_by_market,
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
from linkage.measure.intensity import cross_with_intensity, household_intensity, tier_code
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
from linkage.measure.sense import (
    MAX_EVENT_HOURS,
    MAX_PERIOD_DAYS,
    SANITIZE_PARTITION_ROWS,
    VIEWING_COLUMNS,
    ViewingCheck,
    parse_period,
    sanitize_viewing,
    sanitize_viewing_file,
)

__all__ = [
    "CELL_ORDER",
    "DAYPARTS",
    "DAYPART_NAMES",
    "DAY_SECONDS",
    "DAY_TYPES",
    "INTENSITY_TIERS",
    "MAX_EVENT_HOURS",
    "MAX_PERIOD_DAYS",
    "PROJECTION_NOTE",
    "QUARTER_HOURS_PER_DAY",
    "QUARTER_HOUR_SECONDS",
    "SANITIZE_PARTITION_ROWS",
    "TIER_NAMES",
    "VIEWING_COLUMNS",
    "WEEK_DAYS",
    "Daypart",
    "ViewingCheck",
    "channel_reach_frequency",
    "compute_viewership",
    "cross_with_intensity",
    "day_type",
    "daypart_of",
    "distinct_values",
    "household_intensity",
    "hut",
    "index_vs_all",
    "parse_period",
    "project_to_voters",
    "reference_viewership",
    "resolve_period",
    "sanitize_viewing",
    "sanitize_viewing_file",
    "schedule_points",
    "segment_members",
    "segment_universes",
    "split_tier",
    "spot_ratings",
    "tier_code",
    "tier_codes",
    "viewership_by_market",
    "viewership_of_members",
]
