"""Disclosure control as the campaign sees it: what the release says about its own protection.

The provider suppresses thin cells (the k rule) and may add differential-
privacy noise; the campaign never learns the rules directly, only what the
release carries. This module reads that back -- how many cells were
suppressed per segment and grain, how wide the noise intervals are, and any
``k``/``min_universe``/``epsilon`` the provider chose to state, and the privacy
spend its signed ledger receipt carries -- so the report can say how much was
hidden and how uncertain the rest is, instead of guessing. It is kept apart
from :mod:`linkage.report.figures` because it is about the release's
protection, not about the audience.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from linkage.release import DEFAULT_DELTA, ReleaseHead, epsilon_of
from linkage.report.decode import require_columns
from linkage.tables import ALL_MATCHED

__all__ = [
    "NOISE_COLUMNS",
    "SUPPRESSION_COLUMNS",
    "ReleaseFacts",
    "noise_table",
    "release_facts",
    "suppression_table",
]

SUPPRESSION_COLUMNS = ("segment", "grain", "cells", "suppressed", "suppressed_share")
"""Columns of :func:`suppression_table`."""
NOISE_COLUMNS = ("grain", "figure", "cells", "median_half_width", "max_half_width")
"""Columns of :func:`noise_table`."""
# Bound-pair spellings a release may use for a noise interval, low then high.
_INTERVAL_PAIRS = (("_low", "_high"), ("_lo", "_hi"), ("_lower", "_upper"))


def _grain_sort_key(grain: str | None) -> tuple[int, str]:
    order = ("quarter_hour", "daypart", "period")
    return (order.index(grain), "") if grain in order else (len(order), str(grain))


def suppression_table(decoded: pa.Table) -> pa.Table:
    """Share of suppressed cells per segment and grain.

    Args:
        decoded: Output of :func:`decode_viewership`.

    Returns:
        Columns ``SUPPRESSION_COLUMNS``, one row per (segment, grain) plus a
        ``(all segments)`` row per grain; ``all_matched`` first, then segments by
        name, grains in ``quarter_hour``, ``daypart``, ``period`` order.
    """
    require_columns(decoded, ("grain", "segment", "suppressed"), "viewership")
    grains = sorted(set(decoded["grain"].to_pylist()), key=_grain_sort_key)
    flags = pc.fill_null(decoded.column("suppressed"), True).to_pylist()
    counts: dict[tuple[str, str], list[int]] = {}
    for segment, grain, hidden in zip(
        decoded.column("segment").to_pylist(),
        decoded.column("grain").to_pylist(),
        flags,
        strict=True,
    ):
        for key in ((segment, grain), ("(all segments)", grain)):
            tally = counts.setdefault(key, [0, 0])
            tally[0] += 1
            tally[1] += int(hidden)
    segments = sorted(
        {segment for segment, _ in counts},
        key=lambda name: (name != ALL_MATCHED, name == "(all segments)", name),
    )
    rows = [
        {
            "segment": segment,
            "grain": grain,
            "cells": counts[segment, grain][0],
            "suppressed": counts[segment, grain][1],
            "suppressed_share": counts[segment, grain][1] / counts[segment, grain][0],
        }
        for segment in segments
        for grain in grains
        if (segment, grain) in counts
    ]
    schema = pa.schema(
        [
            ("segment", pa.string()),
            ("grain", pa.string()),
            ("cells", pa.int64()),
            ("suppressed", pa.int64()),
            ("suppressed_share", pa.float64()),
        ]
    )
    return pa.Table.from_pylist(rows, schema=schema)


@dataclass(frozen=True, slots=True)
class ReleaseFacts:
    """What the release and its ledger receipt say about the privacy rules applied.

    ``k`` and ``min_universe`` come from the release when the provider put them
    in it (as constant columns), else None. The privacy spend comes from the
    provider's signed ledger head (the release receipt): ``rho`` this release
    spent and ``rho_spent`` by the organisation in total, each also stated as
    epsilon at ``delta``; ``epsilon`` is the release's own column when it has
    one, else this release's rho so stated.
    """

    k: int | None
    min_universe: int | None
    epsilon: float | None
    smallest_released_universe: int | None
    noisy_figures: tuple[str, ...]
    rho: float | None = None
    rho_spent: float | None = None
    epsilon_spent: float | None = None
    delta: float | None = None
    ledger_seq: int | None = None


def _constant(table: pa.Table, column: str) -> float | None:
    if column not in table.column_names:
        return None
    values = {v for v in table.column(column).to_pylist() if v is not None}
    if len(values) != 1:
        return None
    value = values.pop()
    return float(value) if isinstance(value, int | float) else None


def _intervals(table: pa.Table) -> dict[str, tuple[pa.ChunkedArray, pa.ChunkedArray]]:
    """figure -> (half-width, mask of usable rows) for every interval column found.

    ``<figure>_ci`` is a half-width (what ``linkage.release.dp`` releases);
    ``<figure>_low``/``<figure>_high`` (or ``_lo``/``_hi``, ``_lower``/``_upper``)
    is a pair of bounds. Columns without a single value are left out.
    """
    found: dict[str, tuple[pa.ChunkedArray, pa.ChunkedArray]] = {}
    names = table.column_names
    for name in names:
        column = table.column(name)
        numeric = pa.types.is_integer(column.type) or pa.types.is_floating(column.type)
        if name.endswith("_ci") and numeric:
            half = pc.abs(column.cast(pa.float64()))
            found[name.removesuffix("_ci")] = (half, pc.is_valid(half))
        for low_suffix, high_suffix in _INTERVAL_PAIRS:
            high_name = name.removesuffix(low_suffix) + high_suffix
            if name.endswith(low_suffix) and high_name in names and numeric:
                width = pc.subtract(
                    table.column(high_name).cast(pa.float64()), column.cast(pa.float64())
                )
                half = pc.divide(pc.abs(width), 2.0)
                found[name.removesuffix(low_suffix)] = (half, pc.is_valid(half))
    # An exact release may still carry the columns, all null: that is no noise.
    return {name: pair for name, pair in found.items() if pc.any(pair[1]).as_py()}


def release_facts(decoded: pa.Table, head: ReleaseHead | None = None) -> ReleaseFacts:
    """Privacy facts readable from a decoded ``viewership`` release and its receipt.

    Args:
        decoded: Output of :func:`decode_viewership`; optional constant columns
            ``k``, ``min_universe``, ``epsilon`` and interval columns (see
            :func:`noise_table`) are picked up when present.
        head: The provider's ledger head from the release receipt (already
            accepted by :func:`linkage.release.accept_receipt`), or None.

    Returns:
        The facts; ``smallest_released_universe`` is the smallest ``universe`` of
        a segment with at least one unsuppressed cell.
    """
    require_columns(decoded, ("segment", "universe", "suppressed"), "viewership")
    released = decoded.filter(pc.invert(pc.fill_null(decoded.column("suppressed"), True)))
    smallest = pc.min(released.column("universe")).as_py() if released.num_rows else None
    k = _constant(decoded, "k")
    floor = _constant(decoded, "min_universe")
    epsilon = _constant(decoded, "epsilon")
    if epsilon is None and head is not None:
        epsilon = epsilon_of(head.rho, DEFAULT_DELTA)
    return ReleaseFacts(
        k=None if k is None else int(k),
        min_universe=None if floor is None else int(floor),
        epsilon=epsilon,
        smallest_released_universe=None if smallest is None else int(smallest),
        noisy_figures=tuple(sorted(_intervals(decoded))),
        rho=None if head is None else head.rho,
        rho_spent=None if head is None else head.rho_spent,
        epsilon_spent=None if head is None else epsilon_of(head.rho_spent, DEFAULT_DELTA),
        delta=None if head is None else DEFAULT_DELTA,
        ledger_seq=None if head is None else head.seq,
    )


def noise_table(decoded: pa.Table) -> pa.Table:
    """Median and largest noise-interval half-width per grain and figure.

    Differential-privacy releases carry an interval per noisy figure, either a
    half-width column ``<figure>_ci`` or bounds ``<figure>_low``/``<figure>_high``
    (also ``_lo``/``_hi``, ``_lower``/``_upper``). A release without such
    columns gives an empty table.

    Args:
        decoded: Output of :func:`decode_viewership`.

    Returns:
        Columns ``NOISE_COLUMNS`` over unsuppressed cells, sorted by figure, then
        grain (quarter-hour, daypart, period).
    """
    require_columns(decoded, ("grain", "suppressed"), "viewership")
    released = pc.invert(pc.fill_null(decoded.column("suppressed"), True))
    grains = decoded.column("grain")
    rows: list[dict[str, object]] = []
    for figure, (half, valid) in sorted(_intervals(decoded).items()):
        for grain in sorted(set(grains.to_pylist()), key=_grain_sort_key):
            keep = pc.and_(pc.and_(released, valid), pc.fill_null(pc.equal(grains, grain), False))
            widths = half.filter(keep)
            if len(widths) == 0:
                continue
            rows.append(
                {
                    "grain": grain,
                    "figure": figure,
                    "cells": len(widths),
                    "median_half_width": float(np.median(widths.to_numpy())),
                    "max_half_width": pc.max(widths).as_py(),
                }
            )
    schema = pa.schema(
        [
            ("grain", pa.string()),
            ("figure", pa.string()),
            ("cells", pa.int64()),
            ("median_half_width", pa.float64()),
            ("max_half_width", pa.float64()),
        ]
    )
    return pa.Table.from_pylist(rows, schema=schema)
