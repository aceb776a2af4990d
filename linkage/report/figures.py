"""Campaign-side reporting: decode segment codes, summary tables, index heatmap.

Everything here is pure: functions take the decrypted ``viewership`` and
``match-report`` payloads plus the campaign's private segment codes, and
return Arrow tables, plain rows or a matplotlib :class:`~matplotlib.figure.Figure`.
The caller (``parties.campaign``) writes them out.

The *index* of a cell is the segment's rating divided by the rating of all
matched households in the same cell, times 100: 100 means the segment watches
like everyone else, 150 means half again as much. It is what an ad buyer
ranks channels and dayparts by.
"""

from __future__ import annotations

import io
from collections.abc import Mapping
from dataclasses import dataclass

import matplotlib as mpl
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import TwoSlopeNorm
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from linkage.errors import InputError
from linkage.tables import ALL_HOUSEHOLDS, ALL_MATCHED

__all__ = [
    "DAYPART_ORDER",
    "INDEX_COLUMNS",
    "MATCH_REPORT_COLUMNS",
    "NOISE_COLUMNS",
    "SUPPRESSION_COLUMNS",
    "VIEWERSHIP_CSV_COLUMNS",
    "IndexCell",
    "ReleaseFacts",
    "decode_viewership",
    "figure_png",
    "heatmap_figure",
    "index_table",
    "match_rate_table",
    "noise_table",
    "projected_match_rates",
    "release_facts",
    "suppression_table",
    "top_by_index",
    "viewership_csv_table",
]


VIEWERSHIP_CSV_COLUMNS = (
    "segment",
    "channel",
    "day_type",
    "quarter_hour",
    "universe",
    "aqh_households",
    "rating",
    "share",
    "suppressed",
)
INDEX_COLUMNS = (
    "segment",
    "channel",
    "day_type",
    "daypart",
    "rating",
    "baseline_rating",
    "index",
    "suppressed",
)
MATCH_REPORT_COLUMNS = (
    "segment",
    "voters",
    "matched_voters",
    "households",
    "match_rate",
    "suppressed",
)
DAYPART_ORDER = (
    "early_morning",
    "morning",
    "daytime",
    "early_fringe",
    "early_news",
    "prime_access",
    "prime",
    "late_news",
    "late_fringe",
    "overnight",
)
"""Broadcast order for the heatmap's x axis; unknown dayparts follow alphabetically."""
SUPPRESSION_COLUMNS = ("segment", "grain", "cells", "suppressed", "suppressed_share")
NOISE_COLUMNS = ("grain", "figure", "cells", "median_half_width", "max_half_width")
_INTERVAL_PAIRS = (("_low", "_high"), ("_lo", "_hi"), ("_lower", "_upper"))


@dataclass(frozen=True, slots=True)
class IndexCell:
    """One row of :func:`top_by_index`: a high-index (channel, daypart) cell of a segment."""

    segment: str
    channel: str
    daypart: str
    index: float
    rating: float


def _require(table: pa.Table, columns: tuple[str, ...], what: str) -> None:
    for column in columns:
        if column not in table.column_names:
            raise InputError(f"{what} has no such column", column=column)


def _decode(segment: pa.ChunkedArray, codes: Mapping[str, str], what: str) -> pa.Array:
    """Replace segment codes by names; ``codes`` is name -> code."""
    names = [ALL_MATCHED, *codes.keys()]
    known = pa.array([ALL_HOUSEHOLDS, *codes.values()], pa.string())
    if len(set(known.to_pylist())) != len(names):
        raise InputError(
            "segment codes are not unique", hint="the campaign state for this exchange is corrupt"
        )
    positions = pc.index_in(segment.cast(pa.string()), value_set=known)
    unknown = pc.is_null(positions)
    if pc.any(unknown).as_py():
        row = int(pc.index(unknown, True).as_py())
        raise InputError(
            f"{what} holds a segment code this campaign did not issue for the exchange",
            column="segment",
            row=row,
            hint="check that the message belongs to this exchange",
        )
    return pa.array(names, pa.string()).take(positions)


def decode_viewership(viewership: pa.Table, codes: Mapping[str, str]) -> pa.Table:
    """Replace the segment codes of a ``viewership`` payload by segment names.

    Args:
        viewership: The decrypted ``viewership`` payload.
        codes: Segment name -> code, as returned by
            :func:`linkage.segments.assign_codes` and kept in the campaign's state.
            ``"*"`` decodes to ``"all_matched"``.

    Returns:
        The same table with ``segment`` holding names.

    Raises:
        InputError: No ``segment`` column, or a code (or null) not issued for
            this exchange.
    """
    _require(viewership, ("segment",), "viewership")
    names = _decode(viewership.column("segment"), codes, "viewership")
    index = viewership.column_names.index("segment")
    return viewership.set_column(index, "segment", names)


def viewership_csv_table(decoded: pa.Table) -> pa.Table:
    """The rows of the campaign's ``viewership.csv``: quarter-hour grain, named segments.

    Args:
        decoded: Output of :func:`decode_viewership`.

    Returns:
        Exactly the columns of ``VIEWERSHIP_CSV_COLUMNS``, sorted by segment,
        channel, day type and quarter-hour.
    """
    _require(decoded, ("grain", *VIEWERSHIP_CSV_COLUMNS), "viewership")
    rows = decoded.filter(pc.equal(decoded.column("grain"), "quarter_hour"))
    table = rows.select(list(VIEWERSHIP_CSV_COLUMNS))
    return table.sort_by([(name, "ascending") for name in VIEWERSHIP_CSV_COLUMNS[:4]])


def index_table(decoded: pa.Table) -> pa.Table:
    """Per (segment, channel, day type, daypart): the segment's index against all matched.

    ``index = rating / baseline_rating * 100`` over daypart-grain rows, where the
    baseline is the ``all_matched`` row of the same channel, day type and
    daypart. ``index`` is null when either row is suppressed or missing, or the
    baseline rating is zero or null.

    Args:
        decoded: Output of :func:`decode_viewership` (every day type it holds,
            e.g. ``weekday``, ``weekend`` and ``all``, is kept).

    Returns:
        Columns ``INDEX_COLUMNS``; ``suppressed`` is true when the segment or the
        baseline cell was suppressed. Sorted by segment, channel, day type, daypart.
    """
    keys = ["channel", "day_type", "daypart"]
    _require(decoded, ("grain", "segment", *keys, "rating", "suppressed"), "viewership")
    daypart = decoded.filter(pc.equal(decoded.column("grain"), "daypart")).select(
        ["segment", *keys, "rating", "suppressed"]
    )
    daypart = daypart.set_column(
        daypart.column_names.index("rating"), "rating", daypart.column("rating").cast(pa.float64())
    )
    is_all = pc.equal(daypart.column("segment"), ALL_MATCHED)
    baseline = (
        daypart.filter(is_all)
        .select([*keys, "rating", "suppressed"])
        .rename_columns([*keys, "baseline_rating", "baseline_suppressed"])
    )
    segments = daypart.filter(pc.invert(is_all))
    joined = segments.join(baseline, keys=keys, join_type="left outer")

    rating = joined.column("rating")
    base = joined.column("baseline_rating")
    suppressed = pc.or_kleene(
        pc.fill_null(joined.column("suppressed"), True),
        pc.fill_null(joined.column("baseline_suppressed"), True),
    )
    usable = pc.and_(pc.invert(suppressed), pc.fill_null(pc.greater(base, 0.0), False))
    ratio = pc.multiply(pc.divide(rating, pc.if_else(usable, base, None)), 100.0)
    index = pc.if_else(usable, ratio, pa.scalar(None, pa.float64()))
    result = pa.table(
        {
            "segment": joined.column("segment"),
            "channel": joined.column("channel"),
            "day_type": joined.column("day_type"),
            "daypart": joined.column("daypart"),
            "rating": rating,
            "baseline_rating": base,
            "index": index,
            "suppressed": suppressed,
        }
    )
    return result.sort_by([(name, "ascending") for name in ("segment", *keys)])


def top_by_index(
    index: pa.Table,
    per_segment: int = 3,
    min_rating: float = 0.1,
    *,
    day_type: str = "all",
) -> list[IndexCell]:
    """The highest-index (channel, daypart) cells of each segment.

    Args:
        index: Output of :func:`index_table`.
        per_segment: How many cells to keep per segment.
        min_rating: Minimum segment rating (percent) for a cell to count, so a
            tiny audience with a lucky ratio does not top the list.
        day_type: Which day type's cells to rank.

    Returns:
        Rows ordered by segment name, then index descending (ties: rating
        descending, then channel, daypart). Suppressed cells never appear.
    """
    _require(index, INDEX_COLUMNS, "index table")
    keep = pc.and_(
        pc.equal(index.column("day_type"), day_type),
        pc.and_(
            pc.is_valid(index.column("index")),
            pc.fill_null(pc.greater_equal(index.column("rating"), min_rating), False),
        ),
    )
    rows = index.filter(pc.fill_null(keep, False)).to_pylist()
    rows.sort(key=lambda r: (r["segment"], -r["index"], -r["rating"], r["channel"], r["daypart"]))
    top: list[IndexCell] = []
    counts: dict[str, int] = {}
    for row in rows:
        seen = counts.get(row["segment"], 0)
        if seen >= per_segment:
            continue
        counts[row["segment"]] = seen + 1
        top.append(
            IndexCell(row["segment"], row["channel"], row["daypart"], row["index"], row["rating"])
        )
    return top


def _daypart_sort_key(daypart: str) -> tuple[int, str]:
    if daypart in DAYPART_ORDER:
        return (DAYPART_ORDER.index(daypart), "")
    return (len(DAYPART_ORDER), daypart)


def heatmap_figure(index: pa.Table, segment: str, *, day_type: str = "all") -> Figure:
    """Channel x daypart heatmap of one segment's index.

    A diverging colormap is centred at 100 (red above, blue below); suppressed
    cells are grey and hatched, cells without a usable baseline are plain grey.

    Args:
        index: Output of :func:`index_table`.
        segment: Segment name to draw.
        day_type: Which day type's cells to draw.

    Returns:
        A figure bound to the Agg canvas (``fig.savefig(buffer, format="png")``
        works without pyplot).

    Raises:
        InputError: The index table holds no cells for that segment and day type.
    """
    _require(index, INDEX_COLUMNS, "index table")
    selected = index.filter(
        pc.and_(
            pc.equal(index.column("segment"), segment),
            pc.equal(index.column("day_type"), day_type),
        )
    )
    if selected.num_rows == 0:
        raise InputError(
            "no index cells for the requested segment and day type",
            hint="pick a segment present in the viewership",
        )
    channels = sorted(set(selected.column("channel").to_pylist()))
    dayparts = sorted(set(selected.column("daypart").to_pylist()), key=_daypart_sort_key)
    values = np.full((len(channels), len(dayparts)), np.nan)
    hidden = np.zeros(values.shape, dtype=np.bool_)
    row_of = {name: i for i, name in enumerate(channels)}
    col_of = {name: j for j, name in enumerate(dayparts)}
    for cell in selected.to_pylist():
        i, j = row_of[cell["channel"]], col_of[cell["daypart"]]
        hidden[i, j] = bool(cell["suppressed"])
        if cell["index"] is not None:
            values[i, j] = cell["index"]

    finite = values[np.isfinite(values)]
    low = min(float(finite.min()), 90.0) if finite.size else 90.0
    high = max(float(finite.max()), 110.0) if finite.size else 110.0
    norm = TwoSlopeNorm(vcenter=100.0, vmin=low, vmax=high)
    cmap = mpl.colormaps["RdBu_r"].with_extremes(bad="#d9d9d9")

    fig = Figure(figsize=(1.1 * len(dayparts) + 3.0, 0.32 * len(channels) + 2.0), dpi=100)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    image = ax.imshow(np.ma.masked_invalid(values), cmap=cmap, norm=norm, aspect="auto")
    for i, j in zip(*np.nonzero(hidden), strict=True):
        ax.add_patch(
            Rectangle(
                (j - 0.5, i - 0.5), 1.0, 1.0, fill=False, hatch="///", edgecolor="#7f7f7f", lw=0
            )
        )
    if values.size <= 600:
        for i, j in zip(*np.nonzero(np.isfinite(values)), strict=True):
            value = values[i, j]
            strong = abs(norm(value) - 0.5) > 0.3
            ax.text(
                j,
                i,
                f"{value:.0f}",
                ha="center",
                va="center",
                fontsize=7,
                color="white" if strong else "black",
            )
    ax.set_xticks(range(len(dayparts)), labels=[d.replace("_", " ") for d in dayparts])
    ax.set_yticks(range(len(channels)), labels=channels)
    ax.tick_params(axis="x", labelrotation=30, labelsize=8)
    ax.tick_params(axis="y", labelsize=8)
    ax.set_xlabel("daypart")
    ax.set_ylabel("channel")
    ax.set_title(f"Viewing index: {segment} ({day_type} days)\nhatched = suppressed", fontsize=10)
    colorbar = fig.colorbar(image, ax=ax)
    colorbar.set_label("index (100 = all matched households)")
    fig.tight_layout()
    return fig


def match_rate_table(match_report: pa.Table, codes: Mapping[str, str]) -> pa.Table:
    """Decode the ``match-report`` payload into named segments.

    Args:
        match_report: The decrypted ``match-report`` payload.
        codes: Segment name -> code (as for :func:`decode_viewership`).

    Returns:
        Columns ``MATCH_REPORT_COLUMNS``, ``all_matched`` first, then segments
        by name.

    Raises:
        InputError: A column is missing or a code was not issued for this exchange.
    """
    _require(match_report, MATCH_REPORT_COLUMNS, "match report")
    names = _decode(match_report.column("segment"), codes, "match report")
    table = match_report.select(list(MATCH_REPORT_COLUMNS)).set_column(0, "segment", names)
    not_all = pc.not_equal(table.column("segment"), ALL_MATCHED)
    table = table.append_column("_order", not_all)
    return table.sort_by([("_order", "ascending"), ("segment", "ascending")]).drop_columns(
        ["_order"]
    )


def figure_png(figure: Figure) -> bytes:
    """Render a figure to PNG bytes in memory (the same settings as ``files.atomic_write_figure``).

    The report embeds these bytes in the HTML and writes the very same bytes
    beside it, so the two can never disagree.
    """
    sink = io.BytesIO()
    # No "Software" text chunk: the same figure gives the same bytes, and the
    # page carries no URL, even base64-encoded.
    figure.savefig(sink, format="png", dpi=110, bbox_inches="tight", metadata={"Software": None})
    return sink.getvalue()


def projected_match_rates(rates: pa.Table) -> pa.Table:
    """Add ``projected_households``: matched households scaled up by the match rate.

    It assumes unmatched voters live in households like matched ones, which is
    why the report labels the column a projection rather than a count.

    Args:
        rates: Output of :func:`match_rate_table`.

    Returns:
        ``rates`` plus a float column ``projected_households`` (null where the
        row is suppressed or the match rate is zero or null).
    """
    _require(rates, ("households", "match_rate"), "match rates")
    rate = rates.column("match_rate").cast(pa.float64())
    usable = pc.fill_null(pc.greater(rate, 0.0), False)
    projected = pc.if_else(
        usable,
        pc.divide(rates.column("households").cast(pa.float64()), pc.if_else(usable, rate, None)),
        pa.scalar(None, pa.float64()),
    )
    return rates.append_column("projected_households", projected)


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
    _require(decoded, ("grain", "segment", "suppressed"), "viewership")
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
    """What the released viewership itself says about the privacy rules applied.

    ``k``, ``min_universe`` and ``epsilon`` are None unless the provider put
    them in the release (as constant columns); the campaign cannot otherwise
    know them, and the report says so instead of guessing.
    """

    k: int | None
    min_universe: int | None
    epsilon: float | None
    smallest_released_universe: int | None
    noisy_figures: tuple[str, ...]


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

    ``<figure>_ci`` is a half-width (what ``linkage.dp`` releases);
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


def release_facts(decoded: pa.Table) -> ReleaseFacts:
    """Privacy facts readable from a decoded ``viewership`` release.

    Args:
        decoded: Output of :func:`decode_viewership`; optional constant columns
            ``k``, ``min_universe``, ``epsilon`` and interval columns (see
            :func:`noise_table`) are picked up when present.

    Returns:
        The facts; ``smallest_released_universe`` is the smallest ``universe`` of
        a segment with at least one unsuppressed cell.
    """
    _require(decoded, ("segment", "universe", "suppressed"), "viewership")
    released = decoded.filter(pc.invert(pc.fill_null(decoded.column("suppressed"), True)))
    smallest = pc.min(released.column("universe")).as_py() if released.num_rows else None
    k = _constant(decoded, "k")
    floor = _constant(decoded, "min_universe")
    return ReleaseFacts(
        k=None if k is None else int(k),
        min_universe=None if floor is None else int(floor),
        epsilon=_constant(decoded, "epsilon"),
        smallest_released_universe=None if smallest is None else int(smallest),
        noisy_figures=tuple(sorted(_intervals(decoded))),
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
    _require(decoded, ("grain", "suppressed"), "viewership")
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
