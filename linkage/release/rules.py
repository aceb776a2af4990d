"""Release rules for aggregate viewership: what the provider may send back.

The release rules (docs/THREAT_MODEL.md), each a separate function so the audit script can
re-run them on a release:

* **k-suppression** — a cell backed by fewer than ``k`` distinct households
  is blanked (every figure but the segment universe).
* **minimum universe** — a segment with fewer than ``minimum`` households is
  refused outright: its ratings would describe a handful of homes.
* **differencing** — two segments whose household sets differ by fewer than
  ``k`` households are refused: subtracting one release from the other would
  isolate those few households' viewing, whatever the per-cell suppression.
* **derived segments** — viewing-intensity tiers the provider added are
  dropped when thin (never refused), and a suppressed tier cell hides its
  sibling tiers (complementary suppression).

A rule that stops a release raises :class:`~linkage.errors.PrivacyError`
and returns nothing. :mod:`linkage.release.pipeline` applies them in order (refuse first,
compute second, suppress last); the budget and the rules across releases to
one campaign live in :mod:`linkage.release.ledger`.
"""

from __future__ import annotations

from collections.abc import Mapping

import pyarrow as pa
import pyarrow.compute as pc

from linkage.engine import Engine
from linkage.errors import PrivacyError
from linkage.tables import DEFAULT_K, INTERVAL_COLUMNS, TIER_SEPARATOR, VIEWERSHIP_SCHEMA

__all__ = [
    "SUPPRESSIBLE_COLUMNS",
    "apply_k_suppression",
    "check_min_universe",
    "prune_derived_segments",
    "refuse_differencing",
    "suppress_tier_complements",
    "validate_k",
]


SUPPRESSIBLE_COLUMNS: tuple[str, ...] = (
    "aqh_households",
    "rating",
    "share",
    "reach_households",
    "reach",
)
"""Figures blanked in a suppressed cell; ``universe`` stays (it is per segment)."""


def validate_k(k: int) -> None:
    """Reject a threshold that would let single households through.

    Raises:
        PrivacyError: ``k`` is below 1.
    """
    if k < 1:
        raise PrivacyError(
            "the minimum cell size k must be at least 1",
            hint=f"use the default k={DEFAULT_K} unless the data owner agreed otherwise",
        )


def apply_k_suppression(cells: pa.Table, k: int) -> pa.Table:
    """Blank every cell backed by fewer than ``k`` distinct households.

    Args:
        cells: Output of :func:`linkage.measure.compute_viewership`
            (must hold ``contributors``).
        k: Minimum distinct households per released cell (>= 1).

    Returns:
        The payload: same rows, :data:`~linkage.tables.VIEWERSHIP_SCHEMA`
        columns, suppressed figures null and ``suppressed`` true. The
        ``contributors`` column is dropped: it is an exact small count and must
        never leave the provider.

    Raises:
        PrivacyError: ``k`` is below 1.
        ValueError: ``cells`` has no ``contributors`` column.
    """
    validate_k(k)
    if "contributors" not in cells.column_names:
        raise ValueError("cells need a 'contributors' column (from compute_viewership)")
    hide = pc.less(cells["contributors"], k)
    columns: dict[str, pa.ChunkedArray] = {}
    for field in VIEWERSHIP_SCHEMA:
        column = cells[field.name]
        if field.name in SUPPRESSIBLE_COLUMNS:
            column = pc.if_else(hide, pa.scalar(None, field.type), column)
        elif field.name == "suppressed":
            column = pc.or_(column, hide)
        columns[field.name] = column
    return pa.table(columns, schema=VIEWERSHIP_SCHEMA)


def check_min_universe(universes: Mapping[str, int], minimum: int) -> None:
    """Refuse segments too small to report on.

    Args:
        universes: Segment code -> distinct assigned households.
        minimum: Smallest universe allowed.

    Raises:
        PrivacyError: Naming every segment code below ``minimum`` (codes are
            random per exchange, not personal data).
    """
    small = sorted(code for code, size in universes.items() if size < minimum)
    if small:
        raise PrivacyError(
            f"segment(s) {', '.join(small)} have fewer than {minimum} matched households",
            hint="ask the campaign to merge or drop these segments, then re-run the exchange",
        )


_DIFFERENCING_SQL = """
    WITH sizes AS (SELECT segment, COUNT(*) AS n FROM members GROUP BY segment),
    overlap AS (
        SELECT a.segment AS seg_a, b.segment AS seg_b, COUNT(*) AS n
        FROM members a JOIN members b
            ON a.household_id = b.household_id AND a.segment < b.segment
        GROUP BY a.segment, b.segment
    ),
    pairs AS (
        SELECT x.segment AS seg_a, y.segment AS seg_b,
               x.n + y.n - 2 * COALESCE(o.n, 0) AS diff
        FROM sizes x JOIN sizes y ON x.segment < y.segment
        LEFT JOIN overlap o ON o.seg_a = x.segment AND o.seg_b = y.segment
    )
    SELECT seg_a, seg_b, diff FROM pairs
    WHERE diff > 0 AND diff < {k}
    ORDER BY seg_a, seg_b
"""


def refuse_differencing(members: pa.Table, k: int, engine: Engine) -> None:
    """Refuse segment pairs whose household sets differ by 1 to ``k - 1`` households.

    Every pair among the segments and ``*`` (all matched households) is
    checked: ``|A △ B|`` is computed from the household sets in SQL.
    Identical sets (difference 0) are allowed: they produce identical
    releases, so subtracting one from the other isolates nobody.

    Args:
        members: Distinct ``(segment, household_id)`` pairs with ``*``, from
            :func:`linkage.measure.segment_members`.
        k: Minimum cell size (>= 1); also the minimum set difference.
        engine: Engine running the SQL.

    Raises:
        PrivacyError: Naming every offending pair of segment codes.
    """
    validate_k(k)
    bad = engine.query(_DIFFERENCING_SQL.format(k=int(k)), {"members": members}).to_pylist()
    if bad:
        pairs = ", ".join(f"{row['seg_a']}/{row['seg_b']}" for row in bad)
        raise PrivacyError(
            f"segment pair(s) {pairs} differ by fewer than {k} households (differencing risk)",
            hint="ask the campaign to merge, widen or drop one segment of each pair",
        )


def prune_derived_segments(
    assignments: pa.Table, *, k: int, min_universe: int, separator: str = TIER_SEPARATOR
) -> tuple[pa.Table, list[str]]:
    """Drop provider-derived segments (``<parent>:<tier>``) that would be unsafe to release.

    The campaign asks for its segments; the provider adds viewing-intensity
    tiers of each. A derived segment the campaign never asked for should not
    make the whole release fail, so instead of refusing, the thin ones are
    dropped: under ``min_universe`` households, or within ``k`` households of
    its parent (releasing both would describe the few households in between).

    Returns:
        The kept assignments and the sorted list of dropped segment codes.
    """
    counts: dict[str, int] = {}
    for row in (
        assignments.group_by("segment").aggregate([("household_id", "count_distinct")]).to_pylist()
    ):
        counts[str(row["segment"])] = int(row["household_id_count_distinct"])
    thin_parents = {
        seg.split(separator, 1)[0]
        for seg, n in counts.items()
        if separator in seg
        and (n < min_universe or counts.get(seg.split(separator, 1)[0], n) - n < k)
    }
    # All tiers of a parent go together: the tiers partition the parent, so
    # parent minus the released tiers would rebuild a dropped one.
    dropped = sorted(
        seg for seg in counts if separator in seg and seg.split(separator, 1)[0] in thin_parents
    )
    if not dropped:
        return assignments, []
    keep = pc.invert(pc.is_in(assignments["segment"], value_set=pa.array(dropped, pa.string())))
    return assignments.filter(keep), dropped


_FIGURES = (*SUPPRESSIBLE_COLUMNS, *INTERVAL_COLUMNS)


def suppress_tier_complements(payload: pa.Table, *, separator: str = TIER_SEPARATOR) -> pa.Table:
    """Complementary suppression across the tiers of one segment.

    The light / medium / heavy tiers of a segment partition its households,
    so when the parent cell and all tiers but one are released, the withheld
    tier is their difference. Whenever any tier cell is suppressed, every
    sibling tier cell (same parent, grain, channel, day type, daypart and
    quarter-hour) is suppressed too; the parent's own cell is unaffected.
    """
    segment = payload["segment"]
    is_tier = pc.match_substring(segment, separator)
    parent = pc.if_else(
        is_tier, pc.list_element(pc.split_pattern(segment, separator, max_splits=1), 0), segment
    )
    parts = [
        parent,
        payload["grain"],
        payload["channel"],
        payload["day_type"],
        pc.fill_null(payload["daypart"], ""),
        pc.fill_null(pc.cast(payload["quarter_hour"], pa.string()), ""),
    ]
    key = pc.binary_join_element_wise(*parts, "|")
    suppressed = payload["suppressed"]
    bad = pc.unique(key.filter(pc.and_(is_tier, suppressed)))
    if len(bad) == 0:
        return payload
    hide = pc.and_(is_tier, pc.is_in(key, value_set=bad))
    out = payload
    for name in _FIGURES:
        if name in out.column_names:
            col = out[name]
            idx = out.column_names.index(name)
            out = out.set_column(idx, name, pc.if_else(hide, pa.scalar(None, col.type), col))
    idx = out.column_names.index("suppressed")
    return out.set_column(idx, "suppressed", pc.or_(suppressed, hide))
