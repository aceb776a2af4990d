"""The truth a synthetic world knows, and how far an exchange's figures are from it.

A world records which voters live in which subscribing household
(``voter_household``). From that map, and with nothing suppressed, the same
aggregation the provider runs gives the *true* viewership of every segment;
:func:`rating_error` compares a report's released ratings with it cell by
cell. The segment rules run on the true map here, never on linked records, so
the error measures the whole exchange: linkage, noise and suppression.

Only test harnesses, benchmarks and the demo hold both released figures and
the truth; no party role imports this module.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from linkage.encode import column_kinds, evaluate, load_segments
from linkage.engine import DuckDBEngine
from linkage.measure import compute_viewership
from linkage.report import decode_viewership, viewership_csv_table
from linkage.synth.world import World
from linkage.tables import ALL_HOUSEHOLDS

__all__ = [
    "RatingError",
    "rating_error",
    "true_assignments",
    "true_assignments_of",
    "truth_viewership",
    "truth_viewership_of",
]

_CELL_KEYS = ("segment", "channel", "day_type", "quarter_hour")


def true_assignments_of(
    voters: pa.Table, voter_household: pa.Table, segments_toml: str
) -> pa.Table:
    """(household_id, segment name) from the true voter -> household map, plus ``*`` rows."""
    rules = load_segments(segments_toml, columns=column_kinds(voters.schema), file="segments.toml")
    masks = evaluate(rules, voters)
    # The map covers every week's voters; this file's voters are the ones that count.
    vh = voter_household.filter(pc.is_in(voter_household["voter_id"], value_set=voters["voter_id"]))
    index = pc.index_in(vh["voter_id"], value_set=voters["voter_id"]).to_numpy(zero_copy_only=False)
    households = vh["household_id"]
    parts = [
        pa.table({"household_id": households, "segment": pa.array([ALL_HOUSEHOLDS] * vh.num_rows)})
    ]
    for name, mask in masks.items():
        sel = np.asarray(mask)[index]
        hh = households.filter(pa.array(sel))
        segment = pa.array([name] * len(hh), pa.string())  # typed even when empty
        parts.append(pa.table({"household_id": hh, "segment": segment}))
    table = pa.concat_tables(parts)
    return table.group_by(["household_id", "segment"]).aggregate([])


def true_assignments(world: World) -> pa.Table:
    """:func:`true_assignments_of` for an in-memory world."""
    return true_assignments_of(world.voters, world.voter_household, world.segments_toml)


def truth_viewership_of(
    assignments: pa.Table,
    viewing: pa.Table | Path,
    channels: pa.Table,
    period: Sequence[date] | None = None,
) -> pa.Table:
    """The viewership.csv table of true assignments, every cell released.

    Args:
        assignments: :func:`true_assignments_of` rows (of every chunk of a world).
        viewing: The tuning log, in memory or as a Parquet file (a streamed
            world's log need not fit in memory).
        channels: The channel list (``CHANNELS_SCHEMA``).
        period: The reporting days (default: every day of the log).
    """
    with DuckDBEngine() as engine:
        cells = compute_viewership(
            assignments,
            viewing,
            channels=channels["channel"].to_pylist(),
            engine=engine,
            period=None if period is None else list(period),
        )
    return viewership_csv_table(named_cells(cells.drop_columns(["contributors"])))


def named_cells(cells: pa.Table) -> pa.Table:
    """Truth cells decoded as a report decodes a release: ``*`` is ``all_matched``.

    Truth is keyed by segment name already, so the mapping is the identity.
    """
    names = {str(s) for s in cells["segment"].to_pylist() if s != ALL_HOUSEHOLDS}
    return decode_viewership(cells, {n: n for n in names})


def truth_viewership(world: World) -> pa.Table:
    """The viewership.csv table computed from truth, every cell released."""
    return truth_viewership_of(true_assignments(world), world.viewing, world.channels)


@dataclass(frozen=True)
class RatingError:
    """How far released ratings are from the truth, over released cells."""

    cells: int
    mean_abs_error: float
    max_abs_error: float
    suppressed_share: float


def rating_error(released: pa.Table, truth: pa.Table) -> RatingError:
    """Compare a report's viewership.csv with the truth's, cell by cell.

    Args:
        released: ``viewership.csv`` columns from a campaign report.
        truth: the same columns computed from the true voter -> household map.

    Returns:
        Error statistics over released (unsuppressed) cells present in both.
    """
    total = released.num_rows
    suppressed = released["suppressed"].combine_chunks()
    kept = released.filter(pc.invert(suppressed))
    left = kept.select([*_CELL_KEYS, "rating"]).rename_columns([*_CELL_KEYS, "rating_released"])
    right = truth.select([*_CELL_KEYS, "rating"]).rename_columns([*_CELL_KEYS, "rating_true"])
    joined = left.join(right, keys=list(_CELL_KEYS), join_type="inner")
    a = joined["rating_released"].to_numpy(zero_copy_only=False).astype(float)
    b = joined["rating_true"].to_numpy(zero_copy_only=False).astype(float)
    diff = np.abs(a - b) if len(a) else np.zeros(0)
    return RatingError(
        cells=int(joined.num_rows),
        mean_abs_error=float(diff.mean()) if len(diff) else 0.0,
        max_abs_error=float(diff.max()) if len(diff) else 0.0,
        suppressed_share=float(pc.sum(suppressed).as_py() or 0) / total if total else 0.0,
    )
