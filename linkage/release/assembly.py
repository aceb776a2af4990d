"""Where links and segments meet: the provider's household/segment table.

The matcher sends the provider links only (``rid``, household pseudonym);
the campaign sends it each real record's segment codes under the same random
``rid``. Only the provider joins the two, so the matcher never holds a
segment code. :func:`assemble_assignments` is that join: a household is in a
segment when any of its linked records is, and every household with a linked
real record is in ``*`` (the base of every index).

Two kinds of link are dropped, silently and by design: a link whose ``rid``
has no segments row (a campaign dummy record: the campaign sends segments for
real records only) and a link to one of the provider's own dummy households,
whose pseudonyms carry a tag only the provider's secret checks
(:func:`linkage.protocol.dummy_pseudonym_mask`). A subscriber with no viewing
in the period stays, as a household of its own
(:data:`linkage.protocol.UNSEEN_PREFIX`), so it counts in the universes.
"""

from __future__ import annotations

from collections.abc import Sequence

import pyarrow as pa
import pyarrow.compute as pc

from linkage.errors import InputError
from linkage.protocol import UNSEEN_PREFIX
from linkage.tables import ALL_HOUSEHOLDS

__all__ = ["assemble_assignments"]


def assemble_assignments(
    links: pa.Table,
    segments: pa.Table,
    households: Sequence[str],
    *,
    dummies: Sequence[bool] | None = None,
) -> pa.Table:
    """Join links and segment codes by ``rid`` into (household, segment) rows.

    Args:
        links: The ``assignments`` payload: ``rid``, ``hp``.
        segments: The ``segments`` payload: ``rid``, ``segments`` (list of codes).
        households: The household id of each link, in ``links`` order
            (:func:`linkage.protocol.households_of` of its ``hp``).
        dummies: Which links point at the provider's own dummy households
            (:func:`linkage.protocol.dummy_pseudonym_mask`). Given, those are
            dropped and every other link is kept, a subscriber with no viewing
            included (it counts in its segments' universes). None: every link
            to a household with no viewing is dropped, dummies among them.

    Returns:
        ``household_id``, ``segment`` (a code or ``*``), distinct, sorted by
        segment then household, and ``records``: the household's real linked
        records in that segment.

    Raises:
        InputError: ``households`` does not have one entry per link, or a
            ``rid`` repeats in ``segments`` (a record holds one list).
    """
    if len(households) != links.num_rows:
        raise InputError(
            "one household per link is needed",
            hint="map every pseudonym of the assignments with households_of",
        )
    rids = segments["rid"].combine_chunks()
    if pc.count_distinct(rids).as_py() != len(rids):
        raise InputError("segments payload repeats a record reference", column="rid")
    household = pa.array(households, pa.string())
    if dummies is None:
        seen = pc.invert(pc.starts_with(household, UNSEEN_PREFIX))
    else:
        if len(dummies) != links.num_rows:
            raise InputError("one dummy flag per link is needed")
        seen = pc.invert(pa.array(list(dummies), pa.bool_()))
    position = pc.index_in(links["rid"].combine_chunks(), value_set=rids)
    keep = pc.and_(seen, pc.is_valid(position))
    kept_households = household.filter(keep)
    rows = pc.drop_null(position.filter(keep))
    codes = segments["segments"].combine_chunks().take(rows)
    per_code = pc.list_parent_indices(codes)
    member = pa.table(
        {
            "household_id": pa.concat_arrays([kept_households.take(per_code), kept_households]),
            "segment": pa.concat_arrays(
                [
                    pc.list_flatten(codes).cast(pa.string()),
                    pa.array([ALL_HOUSEHOLDS] * len(kept_households), pa.string()),
                ]
            ),
        }
    )
    # One row per (household, segment), with how many of its real linked
    # records are in the segment (the release caps and noises that count).
    counted = member.group_by(["household_id", "segment"]).aggregate([([], "count_all")])
    counted = counted.rename_columns(
        ["records" if c == "count_all" else c for c in counted.column_names]
    )
    return counted.sort_by([("segment", "ascending"), ("household_id", "ascending")]).select(
        ["household_id", "segment", "records"]
    )
