"""The audience figures: index against all matched households, top buys, heatmaps.

The *index* of a cell is the segment's rating divided by the rating of all
matched households in the same cell, times 100: 100 means the segment watches
like everyone else, 150 means half again as much. It is what an ad buyer
ranks channels and dayparts by, so the report's tables and charts are built
on it.

Everything here is pure: functions take the decoded ``viewership``
(:func:`linkage.report.decode_viewership`) and return Arrow tables, plain rows,
a matplotlib :class:`~matplotlib.figure.Figure` or PNG bytes; writing them is
the caller's business.
"""

from __future__ import annotations

import io
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from linkage.measure import DAYPART_NAMES

if TYPE_CHECKING:
    from matplotlib.figure import Figure

from linkage.errors import InputError
from linkage.report.decode import require_columns
from linkage.report.headline import daypart_label
from linkage.tables import ALL_MATCHED

__all__ = [
    "INDEX_COLUMNS",
    "IndexCell",
    "figure_png",
    "heatmap_figure",
    "index_scale",
    "index_table",
    "top_by_index",
    "top_channels",
]

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
"""Columns of :func:`index_table`."""


@dataclass(frozen=True, slots=True)
class IndexCell:
    """One row of :func:`top_by_index`: a high-index (channel, daypart) cell of a segment."""

    segment: str
    channel: str
    daypart: str
    index: float
    rating: float


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
    require_columns(decoded, ("grain", "segment", *keys, "rating", "suppressed"), "viewership")
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
    require_columns(index, INDEX_COLUMNS, "index table")
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
    # Broadcast order (the calendar's); a daypart the calendar lacks follows alphabetically.
    if daypart in DAYPART_NAMES:
        return (DAYPART_NAMES.index(daypart), "")
    return (len(DAYPART_NAMES), daypart)


def top_channels(decoded: pa.Table, segments: Sequence[str], *, limit: int) -> list[str]:
    """The ``limit`` channels that reach the most households of ``segments``.

    Reach is the period-grain ``reach_households`` summed over the segments
    (suppressed cells count zero); a release without period reach ranks on
    daypart AQH households instead. Ties: channel code.
    """
    require_columns(decoded, ("grain", "segment", "channel"), "viewership")
    wanted = set(segments)
    score: dict[str, float] = {}
    for grain, column in (("period", "reach_households"), ("daypart", "aqh_households")):
        if column not in decoded.column_names:
            continue
        rows = decoded.filter(pc.equal(decoded.column("grain"), grain))
        for segment, channel, value in zip(
            *(rows[k].to_pylist() for k in ("segment", "channel", column)), strict=True
        ):
            score.setdefault(str(channel), 0.0)
            if segment in wanted and value is not None:
                score[str(channel)] += float(value)
        if any(score.values()):
            break
    return sorted(score, key=lambda c: (-score[c], c))[:limit]


def index_scale(index: pa.Table, channels: Sequence[str] | None = None) -> tuple[float, float]:
    """One colour range for every heatmap of a page, so segments can be compared.

    The range spans the 5th to the 95th percentile of every finite index of
    ``channels`` (all channels when None), widened to at least 90-110 so it
    stays centred on 100 with both sides drawn; a few noisy cells far out
    (an index of 1,200 on a thin cell) would otherwise wash out every chart.
    Cells beyond the range take the end colours.
    """
    require_columns(index, INDEX_COLUMNS, "index table")
    values = index.column("index")
    if channels is not None:
        values = values.filter(pc.is_in(index.column("channel"), pa.array(list(channels))))
    finite = [float(v) for v in values.to_pylist() if v is not None and math.isfinite(v)]
    if not finite:
        return 90.0, 110.0
    low, high = np.percentile(np.asarray(finite), [5.0, 95.0])
    return min(float(low), 90.0), max(float(high), 110.0)


def heatmap_figure(
    index: pa.Table,
    segment: str,
    *,
    day_type: str = "all",
    channels: Sequence[str] | None = None,
    scale: tuple[float, float] | None = None,
) -> Figure:
    """Channel x daypart heatmap of one segment's index.

    A diverging colormap is centred at 100 (red above, blue below); suppressed
    cells are grey and hatched, cells without a usable baseline are plain grey.

    Args:
        index: Output of :func:`index_table`.
        segment: Segment name to draw.
        day_type: Which day type's cells to draw.
        channels: The rows to draw, in this order (default: every channel the
            segment has, alphabetically); a channel without cells is a grey row.
        scale: The colour range (:func:`index_scale`); default: this chart's own.

    Returns:
        A figure bound to the Agg canvas (``fig.savefig(buffer, format="png")``
        works without pyplot).

    Raises:
        InputError: The index table holds no cells for that segment and day type.
    """
    # matplotlib costs a third of a second to import: only the report draws.
    import matplotlib as mpl
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.colors import TwoSlopeNorm
    from matplotlib.figure import Figure
    from matplotlib.patches import Rectangle

    require_columns(index, INDEX_COLUMNS, "index table")
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
    dayparts = sorted(set(selected.column("daypart").to_pylist()), key=_daypart_sort_key)
    if channels is None:
        channels = sorted(set(selected.column("channel").to_pylist()))
    else:
        selected = selected.filter(pc.is_in(selected.column("channel"), pa.array(list(channels))))
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
    if scale is None:
        low = min(float(finite.min()), 90.0) if finite.size else 90.0
        high = max(float(finite.max()), 110.0) if finite.size else 110.0
    else:
        low, high = min(scale[0], 90.0), max(scale[1], 110.0)
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
    # "Early morning 06:00-09:00" -> name over hours, so eight labels fit unrotated.
    labels = [daypart_label(d).rsplit(" ", 1) for d in dayparts]
    ax.set_xticks(range(len(dayparts)), labels=["\n".join(parts) for parts in labels])
    ax.set_yticks(range(len(channels)), labels=channels)
    ax.tick_params(axis="x", labelsize=7)
    ax.tick_params(axis="y", labelsize=8)
    ax.set_xlabel("daypart")
    ax.set_ylabel("channel")
    ax.set_title(f"Viewing index: {segment} ({day_type} days)\nhatched = suppressed", fontsize=10)
    colorbar = fig.colorbar(image, ax=ax, extend="both" if scale is not None else "neither")
    colorbar.set_label("index (100 = all matched households)")
    fig.tight_layout()
    return fig


def figure_png(figure: Figure) -> bytes:
    """Render a figure to PNG bytes in memory (110 dpi, tight box, as ``linkage.io`` does).

    The report embeds these bytes in the HTML and writes the very same bytes
    beside it, so the two can never disagree.
    """
    sink = io.BytesIO()
    # No "Software" text chunk: the same figure gives the same bytes, and the
    # page carries no URL, even base64-encoded.
    figure.savefig(sink, format="png", dpi=110, bbox_inches="tight", metadata={"Software": None})
    return sink.getvalue()
