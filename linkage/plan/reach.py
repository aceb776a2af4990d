"""What a spot is worth to the targets, and how many of them a schedule reaches.

**Value.** A spot's value for a target segment is its expected rating among
the segment (:func:`linkage.measure.spot_ratings`: weekday and weekend daypart
ratings weighted 5:2). :func:`cell_values` gives each rate-card cell

    v_i = sum_s w_s (r_si + lambda r_si^light U_s^light / U_s):

the target weights ``w_s`` (summing to one) times the segment's rating points,
plus, with light-viewer priority ``lambda``, the rating points the spot
delivers among the segment's light viewers (tier ``<s>:light``), converted to
the segment's base so that ``lambda = 1`` counts an impression on a light
viewer twice. Suppressed cells are worth zero: the plan never pays for an
audience it cannot see. The one exception is a suppressed tier cell,
estimated from its parent segment's cell and the tier's released
channel-level share (:func:`with_tier_estimates`): light viewers are too thin
to clear k in one channel x daypart, but not over a channel's whole period.

**Reach** (stated, since spots' audiences overlap and the provider releases
only per-channel period reach):

* Within a channel, spots draw at random from the channel's *potential
  audience*: the share ``P_c`` of the segment that watched the channel at all
  in the measured period (released ``reach``). A spot of rating ``r`` reaches
  each member of that pool with probability ``r / P_c``, so
  ``R_c = P_c (1 - prod_i (1 - r_i / P_c) ^ x_i)``: one spot reaches ``r``,
  many approach ``P_c``. (Random duplication within a ceiling; a longer
  measured period would raise the ceiling.)
* Across channels, audiences are independent (Sainsbury):
  ``R = 1 - prod_c (1 - R_c)``.
* Average frequency = TRPs / reach.
* Across markets (DMAs), households are disjoint: each market's reach is
  estimated on its own ratings and ceilings, and the statewide reach is their
  sum weighted by each market's universe of the segment, over the statewide
  universe (:func:`combine_market_reach`). A household in a market where
  nothing was bought is not reached.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import pyarrow as pa
import pyarrow.compute as pc

from linkage.measure import split_tier
from linkage.plan.ratecard import RateCell
from linkage.tables import TIER_SEPARATOR

__all__ = [
    "LIGHT",
    "cell_values",
    "combine_market_reach",
    "estimate_reach",
    "rating_lookup",
    "reach_ceilings",
    "with_tier_estimates",
]

LIGHT = "light"
"""The viewing-intensity tier the light-viewer priority applies to (``<segment>:light``)."""


def rating_lookup(ratings: pa.Table) -> tuple[dict[tuple[str, str, str], float], dict[str, int]]:
    """Index a ratings table for the value and reach sums.

    Args:
        ratings: Output of :func:`linkage.measure.spot_ratings` (or
            :func:`with_tier_estimates`).

    Returns:
        (segment, channel, daypart) -> rating, suppressed cells omitted so a
        lookup's default of zero values them at nothing; segment -> universe.
    """
    rating: dict[tuple[str, str, str], float] = {}
    universe: dict[str, int] = {}
    for s, c, d, u, r in zip(
        *(ratings[k].to_pylist() for k in ("segment", "channel", "daypart", "universe", "rating")),
        strict=True,
    ):
        universe[s] = int(u)
        if r is not None:
            rating[(s, c, d)] = float(r)
    return rating, universe


def with_tier_estimates(ratings: pa.Table, decoded: pa.Table) -> pa.Table:
    """Fill suppressed intensity-tier cells from the parent segment and the channel's tier share.

    Light viewers rarely clear the k threshold in a single channel x daypart
    cell, but their channel-level (period) figures usually do. A suppressed
    tier cell ``(s:tier, c, d)`` is estimated as the parent's cell AQH times
    the tier's share of the parent's viewing of channel ``c`` over the period
    (``aqh[s:tier, c] / aqh[s, c]``), i.e. assuming the tier's share of the
    channel's audience is the same in every daypart.

    Args:
        ratings: Output of :func:`linkage.measure.spot_ratings`.
        decoded: The decoded viewership (period rows are used).

    Returns:
        ``ratings`` with estimated tier ratings filled in and a boolean
        ``estimated`` column (true only for filled cells).
    """
    period = decoded.filter(pc.equal(decoded["grain"], "period"))
    hidden = (
        period["suppressed"].to_pylist()
        if "suppressed" in period.column_names
        else [False] * period.num_rows
    )
    channel_aqh = {
        (str(seg), str(ch)): float(aqh)
        for seg, ch, aqh, h in zip(
            period["segment"].to_pylist(),
            period["channel"].to_pylist(),
            period["aqh_households"].to_pylist(),
            hidden,
            strict=True,
        )
        if not h and aqh is not None
    }
    rating, universe = rating_lookup(ratings)
    rows = ratings.to_pylist()
    for r in rows:
        r["estimated"] = False
        base, tier = split_tier(r["segment"])
        if r["rating"] is not None or tier is None or not r["universe"]:
            continue
        parent = rating.get((base, r["channel"], r["daypart"]))
        whole = channel_aqh.get((base, r["channel"]))
        part = channel_aqh.get((r["segment"], r["channel"]))
        if parent is None or not whole or part is None or not universe.get(base):
            continue
        r["rating"] = parent * universe[base] / r["universe"] * part / whole
        r["estimated"] = True
    return pa.Table.from_pylist(
        rows, schema=ratings.schema.append(pa.field("estimated", pa.bool_()))
    )


def cell_values(
    cells: Sequence[RateCell],
    ratings: pa.Table,
    weights: Mapping[str, float],
    *,
    light_priority: float = 0.0,
) -> tuple[float, ...]:
    """Objective points per spot of each rate-card cell.

    ``v = sum_s w_s (r_s + light_priority * r_{s:light} * U_{s:light} / U_s)``
    with ratings from :func:`linkage.measure.spot_ratings`; suppressed or
    missing cells count zero, as does a missing light tier.

    Args:
        cells: Rate-card cells.
        ratings: Output of :func:`linkage.measure.spot_ratings`.
        weights: Segment -> weight.
        light_priority: Extra weight on rating points among light viewers.
    """
    rating, universe = rating_lookup(ratings)
    values: list[float] = []
    for cell in cells:
        total = 0.0
        for segment, w in weights.items():
            points = rating.get((segment, cell.channel, cell.daypart), 0.0)
            light = f"{segment}{TIER_SEPARATOR}{LIGHT}"
            if light_priority and universe.get(segment):
                scale = universe.get(light, 0) / universe[segment]
                points += (
                    light_priority * scale * rating.get((light, cell.channel, cell.daypart), 0.0)
                )
            total += w * points
        values.append(total)
    return tuple(values)


def estimate_reach(
    spots: Mapping[tuple[str, str], int],
    ratings: Mapping[tuple[str, str], float],
    ceilings: Mapping[str, float],
) -> float:
    """Estimated reach (percent of the segment) of a schedule, by the module's reach model.

    Args:
        spots: (channel, daypart) -> spots bought.
        ratings: (channel, daypart) -> expected rating of a spot (percent).
        ceilings: channel -> period reach (percent): the channel's potential
            audience. A channel without one has no ceiling (100).

    Returns:
        Reach in percent, 0-100.
    """
    miss_by_channel: dict[str, float] = {}
    for (channel, daypart), n in spots.items():
        r = ratings.get((channel, daypart), 0.0)
        if n <= 0 or r <= 0:
            continue
        pool = ceilings.get(channel) or 100.0
        p = min(1.0, r / pool)
        miss_by_channel[channel] = miss_by_channel.get(channel, 1.0) * (1.0 - p) ** n
    unreached = 1.0
    for channel, miss in miss_by_channel.items():
        pool = (ceilings.get(channel) or 100.0) / 100.0
        unreached *= 1.0 - pool * (1.0 - miss)
    return 100.0 * (1.0 - unreached)


def combine_market_reach(
    reach: Mapping[str, float], universes: Mapping[str, float], statewide_universe: float
) -> float:
    """Statewide reach (percent) of a schedule bought market by market.

    ``R = sum_m R_m U_m / U``: each market's reach among its own households of
    the segment (``R_m``, :func:`estimate_reach`), weighted by the market's
    universe of the segment, over the segment's statewide universe. Released
    universes are noisy, so the result is capped at 100.

    Args:
        reach: Market -> reach in that market (percent).
        universes: Market -> the segment's universe there (households).
        statewide_universe: The segment's statewide universe (households).

    Returns:
        Reach in percent, 0-100; 0 without a statewide universe.
    """
    if statewide_universe <= 0:
        return 0.0
    reached = sum(r / 100.0 * universes.get(m, 0.0) for m, r in reach.items())
    return min(100.0, max(0.0, 100.0 * reached / statewide_universe))


def reach_ceilings(decoded: pa.Table) -> dict[str, dict[str, float]]:
    """The reach ceilings :func:`estimate_reach` takes, for every segment.

    Args:
        decoded: The decoded viewership (period rows are used).

    Returns:
        segment -> channel -> released period reach (percent); suppressed,
        missing and zero reach are left out, so that channel has no ceiling.
    """
    rows = decoded.filter(pc.equal(decoded["grain"], "period"))
    hidden = (
        rows["suppressed"].to_pylist()
        if "suppressed" in rows.column_names
        else [False] * rows.num_rows
    )
    result: dict[str, dict[str, float]] = {}
    for s, c, r, h in zip(
        rows["segment"].to_pylist(),
        rows["channel"].to_pylist(),
        rows["reach"].to_pylist(),
        hidden,
        strict=True,
    ):
        if not h and r is not None and r > 0:
            result.setdefault(str(s), {})[str(c)] = float(r)
    return result
