"""The campaign's report as one self-contained HTML page.

:func:`render_html` turns a :class:`ReportContent` into a string
(:func:`linkage.report.build_report` fills it in; the campaign writes it with
``linkage.io``). The page needs no
network: CSS is inline, charts are PNG ``data:`` URIs, there is no web font,
and a Content-Security-Policy forbids fetching anything else, so the file can
be mailed, archived or opened on an air-gapped laptop and look the same. The
one script (:data:`SCRIPT`, under 2 KB: sort a table by a header, filter its
rows) is inline and allowed by its SHA-256 hash alone, never by
``'unsafe-inline'``, so an injected script could not run.

The page answers the buyer's question first (section ``headline``): per
target segment, the best buys by cost per target point, the plan's figures
and how much of the segment's viewing the release shows. Every number
carries its unit, in the cell (``$``, ``%``) or in its column's header.

Every value that reaches the page is escaped with :func:`html.escape`: segment
names, channel codes and plan columns come from files other people wrote.
Section headings carry stable ids (``SECTION_IDS``) that tests and links rely on.
"""

from __future__ import annotations

import base64
import hashlib
import html
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

import pyarrow as pa
import pyarrow.compute as pc

from linkage.measure import DAYPART_NAMES
from linkage.report.disclosure import ReleaseFacts
from linkage.report.figures import IndexCell
from linkage.report.headline import BestBuy, Coverage, PlanFigures, daypart_label
from linkage.report.markets import MarketSummary
from linkage.report.trend import WeeklyTrend
from linkage.tables import ALL_MARKETS, DEFAULT_K, DEFAULT_MIN_UNIVERSE

__all__ = [
    "CSP",
    "HEATMAP_CHANNELS",
    "SCRIPT",
    "SECTION_IDS",
    "Heatmap",
    "ReportContent",
    "render_html",
    "slug",
]

SECTION_IDS = (
    "headline",
    "summary",
    "match-rates",
    "heatmaps",
    "top-buys",
    "plan",
    "markets",
    "delivery",
    "trend",
    "suppression",
    "privacy",
)
"""The ``id`` of every ``<h2>``, in page order."""

SCRIPT = """(function(){
function key(td){var v=td.getAttribute('data-v');
if(v!==null&&v!=='')return parseFloat(v);return td.textContent.trim().toLowerCase();}
function cmp(a,b){var na=typeof a==='number',nb=typeof b==='number';
if(na&&nb)return a-b;if(na)return -1;if(nb)return 1;return a<b?-1:a>b?1:0;}
document.querySelectorAll('table.sortable').forEach(function(t){
var hs=t.tHead.rows[0].cells;
Array.prototype.forEach.call(hs,function(th,i){var b=th.querySelector('button');if(!b)return;
b.addEventListener('click',function(){var asc=th.getAttribute('aria-sort')!=='ascending';
Array.prototype.forEach.call(hs,function(h){h.removeAttribute('aria-sort');});
th.setAttribute('aria-sort',asc?'ascending':'descending');
var body=t.tBodies[0],rows=Array.prototype.slice.call(body.rows);
rows.sort(function(r,s){var c=cmp(key(r.cells[i]),key(s.cells[i]));return asc?c:-c;});
rows.forEach(function(r){body.appendChild(r);});});});});
document.querySelectorAll('input.filter').forEach(function(f){
var t=document.getElementById(f.getAttribute('data-for'));if(!t)return;
f.addEventListener('input',function(){var q=f.value.trim().toLowerCase();
Array.prototype.forEach.call(t.tBodies[0].rows,function(r){
r.hidden=q!==''&&r.textContent.toLowerCase().indexOf(q)<0;});});});
})();"""
"""The page's one script: click a header to sort its table, type to filter rows."""

SCRIPT_HASH = "sha256-" + base64.b64encode(hashlib.sha256(SCRIPT.encode()).digest()).decode()
"""The CSP source that allows :data:`SCRIPT` and nothing else."""

CSP = f"default-src 'none'; img-src data:; style-src 'unsafe-inline'; script-src '{SCRIPT_HASH}'"
"""Content-Security-Policy of the page: nothing may be fetched; inline CSS, data: images
and the one inline script whose hash it names."""

HEATMAP_CHANNELS = 15
"""Channels drawn per heatmap (the top ones by target reach); the rest are in the table."""

FILTER_ROWS = 12
"""Tables longer than this get a filter box."""

_UNITS: tuple[tuple[str, str], ...] = (
    ("cost", "$"),
    ("budget", "$"),
    ("match_rate", "%"),
    ("suppressed_share", "%"),
    ("coverage", "%"),
    ("rating", "%"),
    ("share", "%"),
    ("reach_voters", "voters"),
    ("reach_households", "households"),
    ("reach", "%"),
    ("trps", "points"),
    ("grps", "points"),
    ("households", "households"),
    ("universe", "households"),
    ("voters", "voters"),
    ("spots", "spots"),
    ("units_available", "spots"),
    ("frequency", "times"),
)
"""Column name fragment -> unit, first match wins (``cost_per_trp`` is dollars)."""

PERCENT_COLUMNS = frozenset({"match_rate", "suppressed_share", "coverage"})
"""Fractions shown as percentages; other ratings and shares are already in percent."""

LONG_TEXT = 40
"""A text column longer than this, the same on every row, is shown once as a note."""

MAX_PLAN_ROWS = 200
"""Longer schedules are cut in the page (the full schedule is in ``plan.csv``)."""

_STYLE = """
body { font: 15px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; color: #1d2330;
       margin: 0 auto; max-width: 1180px; padding: 0 24px 48px; }
header { border-bottom: 3px solid #1f4e79; margin-bottom: 4px; padding-bottom: 4px; }
h1 { font-size: 22px; margin: 14px 0 2px; }
h2 { font-size: 20px; margin: 34px 0 8px; color: #1f4e79; border-bottom: 1px solid #d0d7e2; }
h2#headline { margin-top: 8px; }
h3 { font-size: 16px; margin: 18px 0 6px; }
p.meta { color: #5a6473; margin: 0 0 4px; font-size: 13px; }
nav a { margin-right: 14px; }
table { border-collapse: collapse; margin: 8px 0 16px; font-size: 13px; }
th, td { border: 1px solid #d0d7e2; padding: 3px 8px; }
th { background: #eef2f7; text-align: left; vertical-align: bottom; }
th button.sort { all: unset; cursor: pointer; }
th button.sort:focus-visible { outline: 2px solid #1f4e79; }
th[aria-sort=ascending] button.sort::after { content: " \\25B2"; }
th[aria-sort=descending] button.sort::after { content: " \\25BC"; }
.fit table { width: 100%; }
.fit th, .fit td { padding: 3px 5px; }
p.filter { margin: 8px 0 0; }
input.filter { font: inherit; font-size: 13px; padding: 2px 6px; width: 260px; }
details { margin: 4px 0 16px; }
summary { cursor: pointer; color: #1f4e79; }
.cards { display: grid; grid-template-columns: repeat(auto-fit, minmax(520px, 1fr));
         gap: 4px 20px; }
.card h3 { margin: 6px 0 2px; }
.card p.stats { margin: 0 0 2px; font-size: 13px; }
.card table { margin: 4px 0 6px; font-size: 12.5px; width: 100%; }
.card th, .card td { padding: 1px 6px; }
.caveat { color: #8a5a00; }
td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
.scroll { overflow-x: auto; }
td.none { color: #8a94a3; text-align: center; }
td.nw { white-space: nowrap; }
figure { margin: 12px 0 24px; }
figure img { max-width: 100%; height: auto; border: 1px solid #d0d7e2; }
figcaption { color: #5a6473; font-size: 13px; }
.projection { background: #fff4d6; }
.tag { font-size: 11px; font-weight: 600; color: #8a5a00; background: #fff4d6;
       border: 1px solid #e8c979; border-radius: 3px; padding: 0 4px; }
.note { background: #f4f6f9; border-left: 4px solid #9aa8bb; padding: 6px 12px; }
.grid { display: flex; flex-wrap: wrap; gap: 12px; }
.grid figure { flex: 1 1 520px; }
"""


@dataclass(frozen=True, slots=True)
class Heatmap:
    """One chart of the page: a segment's channel x daypart index for one day type.

    Attributes:
        segment: Segment name.
        day_type: ``weekday``, ``weekend`` or ``all``.
        png: The PNG bytes (embedded as a data URI).
        file_name: Name of the same PNG written beside the report, for the caption.
    """

    segment: str
    day_type: str
    png: bytes
    file_name: str


@dataclass(frozen=True, slots=True)
class ReportContent:
    """Everything the page shows; all tables are already decoded (segment names).

    Attributes:
        exchange_id: The exchange the report belongs to.
        match_rates: :func:`linkage.report.projected_match_rates` output.
        heatmaps: Charts in page order.
        top: :func:`linkage.report.top_by_index` rows.
        top_day_type: The day type ``top`` was ranked on.
        suppression: :func:`linkage.report.suppression_table` output.
        facts: :func:`linkage.report.release_facts` output.
        noise: :func:`linkage.report.noise_table` output (may be empty).
        plan: The schedule (``plan.csv``), or None when no plan was made yet.
        plan_comparison: The plan compared with the all-household plan
            (``plan_comparison.csv``), or None.
        generated_at: Timestamp printed in the header (a parameter so output is
            reproducible).
        targets: The target segments the headline answers for, in order.
        best_buys: :func:`linkage.report.best_buys` rows of the targets.
        all_buys: The same for every segment and tier (the top-buys section).
        plan_figures: Segment -> the optimized plan's figures.
        coverage: Segment -> share of its viewing in released cells.
        ratecard: A rate card was given (without one nothing has a cost).
        index: :func:`linkage.report.index_table` output, shown in full behind
            each segment's heatmaps.
        linkage_note: The matcher's estimates of its own linkage, in words,
            and its warnings (:func:`linkage.report.linkage_quality_note`).
        markets: The Markets section (:func:`linkage.report.market_summary`),
            None or empty for a statewide release.
        delivery: Plan against delivery (:func:`linkage.report.plan_vs_delivery`),
            None before the provider measured the aired schedule.
    """

    exchange_id: str
    match_rates: pa.Table
    heatmaps: Sequence[Heatmap]
    top: Sequence[IndexCell]
    top_day_type: str
    suppression: pa.Table
    facts: ReleaseFacts
    noise: pa.Table
    plan: pa.Table | None = None
    plan_comparison: pa.Table | None = None
    generated_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    targets: Sequence[str] = ()
    best_buys: Sequence[BestBuy] = ()
    all_buys: Sequence[BestBuy] = ()
    plan_figures: Mapping[str, PlanFigures] = field(default_factory=dict)
    coverage: Mapping[str, Coverage] = field(default_factory=dict)
    ratecard: bool = False
    index: pa.Table | None = None
    linkage_note: tuple[str, tuple[str, ...]] = ("", ())
    markets: MarketSummary | None = None
    trend: WeeklyTrend | None = None
    delivery: pa.Table | None = None


def slug(text: str) -> str:
    """A lowercase ``[a-z0-9-]`` fragment of ``text`` for element ids."""
    cleaned = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")
    return cleaned or "x"


class _UniqueIds:
    """Hands out ids, suffixing ``-2``, ``-3``... when two names slug alike."""

    def __init__(self) -> None:
        self._used: set[str] = set()

    def new(self, wanted: str) -> str:
        candidate, n = wanted, 1
        while candidate in self._used:
            n += 1
            candidate = f"{wanted}-{n}"
        self._used.add(candidate)
        return candidate


def _e(value: object) -> str:
    return html.escape(str(value), quote=True)


def _is_projection(column: str) -> bool:
    return "projected" in column or "projection" in column


def _unit(column: str) -> str | None:
    """The unit of a column's numbers (see ``_UNITS``), None for a pure number."""
    if column.endswith("_per_1000_usd"):
        return "points per $1,000"
    if "half_width" in column:
        return "unit of the figure"
    for fragment, unit in _UNITS:
        if fragment in column:
            return unit
    return None


def _number(column: str, value: float) -> str:
    unit = _unit(column)
    if column in PERCENT_COLUMNS:
        return f"{value:.1%}"
    if unit == "$":
        return f"${value:,.0f}" if abs(value) >= 1000 else f"${value:,.2f}"
    if unit == "%":
        return f"{value:.1f}%" if abs(value) >= 10 else f"{value:.2f}%"
    if _is_projection(column) or abs(value) >= 1000:
        return f"{value:,.0f}"
    if abs(value) >= 10:
        return f"{value:,.1f}"
    return f"{value:.3f}" if unit is None else f"{value:.2f}"


def _cell(column: str, value: object) -> str:
    klass = " projection" if _is_projection(column) else ""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return f'<td class="none{klass}">—</td>'
    if isinstance(value, bool):
        return f'<td class="{klass.strip()}">{"yes" if value else "no"}</td>'
    if isinstance(value, int):
        shown = f"${value:,}" if _unit(column) == "$" else f"{value:,}"
        return f'<td class="num{klass}" data-v="{value}">{shown}</td>'
    if isinstance(value, float):
        return f'<td class="num{klass}" data-v="{value!r}">{_e(_number(column, value))}</td>'
    if column == "daypart":
        return f'<td class="nw{klass}">{_e(daypart_label(str(value)))}</td>'
    return f'<td class="{klass.strip()}">{_e(value)}</td>'


def _header(column: str, label: str | None = None) -> str:
    unit = _unit(column)
    text = label if label is not None else column.replace("_", " ")
    if unit is not None and label is None:
        text = f"{text} ({unit})"
    shown = f'<button type="button" class="sort">{_e(text)}</button>'
    if _is_projection(column):
        return f'<th class="projection">{shown} <span class="tag">projection</span></th>'
    return f"<th>{shown}</th>"


def _constant_text(table: pa.Table, column: str) -> str | None:
    """The value of a column that repeats one long text on every row, else None."""
    if not pa.types.is_string(table.schema.field(column).type) or table.num_rows == 0:
        return None
    values = set(table.column(column).to_pylist())
    if len(values) != 1:
        return None
    value = values.pop()
    return value if isinstance(value, str) and len(value) > LONG_TEXT else None


def _table(
    table: pa.Table,
    *,
    table_id: str,
    max_rows: int | None = None,
    labels: Mapping[str, str] | None = None,
    scroll: bool = True,
) -> str:
    # A column repeating one long sentence (e.g. how a projection was made) is
    # a footnote, not data: shown once under the table, it keeps rows one line high.
    notes = {c: _constant_text(table, c) for c in table.column_names}
    columns = [c for c in table.column_names if notes[c] is None]
    rows = table.to_pylist()
    shown = rows if max_rows is None else rows[:max_rows]
    named = labels or {}
    parts = []
    if len(shown) > FILTER_ROWS:
        parts.append(
            f'<p class="filter"><input type="search" class="filter" data-for="{_e(table_id)}" '
            f'placeholder="Filter rows" aria-label="Filter the rows of this table"></p>'
        )
    wrap = "scroll" if scroll else "fit"
    parts += [f'<div class="{wrap}"><table id="{_e(table_id)}" class="sortable">', "<thead><tr>"]
    parts += [_header(c, named.get(c)) for c in columns]
    parts.append("</tr></thead><tbody>")
    for row in shown:
        parts.append("<tr>" + "".join(_cell(c, row[c]) for c in columns) + "</tr>")
    parts.append("</tbody></table></div>")
    if len(shown) < len(rows):
        parts.append(f'<p class="note">Showing the first {len(shown):,} of {len(rows):,} rows.</p>')
    for column, text in notes.items():
        if text is not None:
            tag = '<span class="tag">projection</span> ' if _is_projection(column) else ""
            label = column.replace("_", " ")
            said = text if text.lower().startswith(label.lower()) else f"{label}: {text}"
            parts.append(f'<p class="note">{tag}{_e(said)}</p>')
    return "\n".join(parts)


def _h2(section: str, title: str) -> str:
    return f'<h2 id="{section}">{_e(title)}</h2>'


def _dollars(value: float) -> str:
    return f"${value:,.0f}" if abs(value) >= 100 else f"${value:,.2f}"


def _buys_table(buys: Sequence[BestBuy], *, table_id: str, with_segment: bool) -> str:
    columns: dict[str, list[object]] = {}
    if with_segment:
        columns["segment"] = [b.segment for b in buys]
    else:
        columns["rank"] = list(range(1, len(buys) + 1))
    columns["channel"] = [b.channel for b in buys]
    if any(b.market is not None for b in buys):
        columns["market"] = [b.market for b in buys]
    columns["daypart"] = [b.daypart for b in buys]
    columns["cost_per_point"] = [b.cost_per_point for b in buys]
    columns["conservative_rating"] = [b.conservative_rating for b in buys]
    columns["rating"] = [b.rating for b in buys]
    columns["index"] = [b.index for b in buys]
    columns["cost_per_spot"] = [b.cost_per_spot for b in buys]
    labels = {
        "rank": "#",
        "cost_per_point": "cost per target point ($)",
        "conservative_rating": "rating, low (%)",
        "rating": "rating (%)",
        "cost_per_spot": "cost per spot ($)",
    }
    return _table(pa.table(columns), table_id=table_id, labels=labels, scroll=False)


def _headline(content: ReportContent) -> str:
    parts = [_h2("headline", "Best buys per target segment")]
    if not content.ratecard:
        parts.append(
            '<p class="note" id="no-ratecard">No rate card: run <code>narwhal campaign report '
            "--ratecard ratecard.csv</code> to rank channels and dayparts by cost per target "
            "point.</p>"
        )
    ids = _UniqueIds()
    parts.append('<div class="cards">')
    for segment in content.targets:
        card = ids.new(f"headline-{slug(segment)}")
        parts.append(f'<section class="card" id="{card}"><h3>{_e(segment)}</h3>')
        stats: list[str] = []
        plan = content.plan_figures.get(segment)
        if plan is not None and plan.trps is not None and plan.cost is not None:
            stat = f"Plan: <b>{plan.trps:,.1f} TRPs</b> (points)"
            if plan.reach is not None:
                stat += f" · reach <b>{plan.reach:.1f}%</b>"
            stat += f" · cost <b>{_e(_dollars(plan.cost))}</b>"
            if plan.cost_per_point is not None:
                stat += f" ({_e(_dollars(plan.cost_per_point))} per point)"
            stats.append(stat)
        covered = content.coverage.get(segment)
        if covered is not None:
            grains = [
                f"{share:.0%} ({grain})"
                for share, grain in (
                    (covered.quarter_hour, "quarter-hours"),
                    (covered.daypart, "dayparts"),
                )
                if share is not None
            ]
            if grains:
                stats.append(
                    f"Released cells show at least <b>{grains[0]}</b>"
                    + "".join(f", {more}" for more in grains[1:])
                    + " of its viewing"
                )
        if stats:
            parts.append(f'<p class="stats">{" · ".join(stats)}</p>')
        buys = [b for b in content.best_buys if b.segment == segment]
        if buys:
            parts.append(
                _buys_table(
                    buys, table_id=ids.new(f"best-buys-{slug(segment)}"), with_segment=False
                )
            )
        elif content.ratecard:
            parts.append('<p class="note">No rate-card cell has a released audience for it.</p>')
        parts.append("</section>")
    parts.append("</div>")
    parts.append(
        '<p class="meta">Ranked by cost per target point on the conservative rating (each '
        "rating lowered by its 95% noise half-width, never below zero), so lucky noise cannot "
        "top the list. A spot's rating weights weekdays 5 and weekend days 2. Intensity tiers "
        "are listed only where they watch at least as much as all matched households.</p>"
    )
    return "\n".join(parts)


def _summary(content: ReportContent) -> str:
    segments = sorted({h.segment for h in content.heatmaps})
    return "\n".join(
        [
            _h2("summary", "Summary"),
            "<p>Aggregate TV viewing of the campaign's voter segments, measured by the "
            "provider on households the matcher linked with keyed tokens. No household-level "
            "data reached the campaign; every figure below is an aggregate over at least the "
            "provider's minimum number of households.</p>",
            "<ul>",
            f"<li>Exchange: <code>{_e(content.exchange_id)}</code></li>",
            f"<li>Segments: {_e(', '.join(segments)) or '—'}</li>",
            f"<li>Charts: {len(content.heatmaps)}</li>",
            "<li>Media plan: "
            + ("included" if content.plan is not None else "not yet made")
            + "</li>",
            "</ul>",
        ]
    )


def _match_rates(content: ReportContent) -> str:
    return "\n".join(
        [
            _h2("match-rates", "Match rates"),
            "<p>Voters per segment (the campaign's own count), the matched households the "
            "provider's release reports for it (noisy), and the voters linked to them, projected "
            "from the matcher's global records-per-household figure (noisy). Segments the "
            "release does not carry are shown as —.</p>",
            _table(content.match_rates, table_id="match-rates-table"),
            _linkage_note(content),
            '<p class="note"><span class="tag">projection</span> Projected households scale '
            "the matched households up by the match rate (households ÷ match rate). It assumes "
            "unmatched voters live in households like matched ones; it is an estimate, not a "
            "measurement.</p>",
        ]
    )


def _linkage_note(content: ReportContent) -> str:
    note, warnings = content.linkage_note
    if not note:
        return ""
    items = "".join(f"<li>{_e(w)}</li>" for w in warnings)
    return f"<p>{_e(note)}</p>" + (
        f'<p class="note">The matcher warned:</p><ul class="warnings">{items}</ul>' if items else ""
    )


def _heatmaps(content: ReportContent) -> str:
    parts = [
        _h2("heatmaps", "Viewing index by channel and daypart"),
        "<p>Index = the segment's rating ÷ the rating of all matched households in the same "
        "channel and daypart × 100. Red cells are above 100 (the segment over-watches), blue "
        "below; hatched cells were suppressed by the provider. Every chart shares one colour "
        f"scale and shows the {HEATMAP_CHANNELS} channels reaching the most target households; "
        "each segment's full table is behind its link.</p>",
    ]
    if not content.heatmaps:
        parts.append('<p class="note">No charts: the release holds no daypart cells.</p>')
    by_segment: dict[str, list[Heatmap]] = {}
    for chart in content.heatmaps:
        by_segment.setdefault(chart.segment, []).append(chart)
    ids = _UniqueIds()
    for segment, charts in by_segment.items():
        parts.append(f'<h3 id="{ids.new("heatmap-" + slug(segment))}">{_e(segment)}</h3>')
        parts.append('<div class="grid">')
        for chart in charts:
            data = base64.b64encode(chart.png).decode("ascii")
            alt = f"Viewing index of {chart.segment}, {chart.day_type} days, channel by daypart"
            figure_id = ids.new(f"figure-{slug(chart.segment)}-{slug(chart.day_type)}")
            parts.append(
                f'<figure id="{figure_id}">'
                f'<img src="data:image/png;base64,{data}" alt="{_e(alt)}">'
                f"<figcaption>{_e(chart.segment)}, {_e(chart.day_type)} days "
                f"(also <code>{_e(chart.file_name)}</code>)</figcaption></figure>"
            )
        parts.append("</div>")
        if content.index is not None:
            parts.append(_index_details(content.index, segment, ids))
    return "\n".join(parts)


def _index_details(index: pa.Table, segment: str, ids: _UniqueIds) -> str:
    """Every channel's index for one segment, channel x daypart per day type, behind a click."""
    rows = [r for r in index.to_pylist() if r["segment"] == segment]
    if not rows:
        return ""
    known = {name: i for i, name in enumerate(DAYPART_NAMES)}
    dayparts = sorted({str(r["daypart"]) for r in rows}, key=lambda d: (known.get(d, 99), d))
    day_types = list(dict.fromkeys(str(r["day_type"]) for r in rows))
    value = {(r["channel"], r["day_type"], r["daypart"]): r["index"] for r in rows}
    channels = sorted({str(r["channel"]) for r in rows})
    columns: dict[str, list[object]] = {"channel": list(channels)}
    labels: dict[str, str] = {}
    for day in day_types:
        for part in dayparts:
            name = f"index_{day}_{part}"
            labels[name] = f"{day} {daypart_label(part)}"
            columns[name] = [value.get((c, day, part)) for c in channels]
    table = pa.table(columns)
    return (
        f"<details><summary>Full table: index of {_e(segment)} on all {len(channels)} "
        "channels</summary>"
        + _table(table, table_id=ids.new(f"index-table-{slug(segment)}"), labels=labels)
        + "</details>"
    )


def _top_buys(content: ReportContent) -> str:
    parts = [_h2("top-buys", "Best buys for every segment and tier")]
    if content.ratecard:
        parts.append(
            "<p>The headline's ranking for every segment and intensity tier: rate-card cells "
            "by cost per target point on the conservative rating. Click a header to sort, type "
            "to filter.</p>"
        )
        if not content.all_buys:
            parts.append('<p class="note">No rate-card cell has a released audience.</p>')
            return "\n".join(parts)
        parts.append(_buys_table(content.all_buys, table_id="top-buys-table", with_segment=True))
        return "\n".join(parts)
    parts.append(
        f"<p>Without a rate card, the highest-index channel × daypart cells of each segment on "
        f"{_e(content.top_day_type)} days (cells with a rating under 0.1% are left out so a "
        "tiny audience with a lucky ratio does not top the list). Index says who over-watches, "
        "not what is cheap: pass <code>--ratecard</code> for cost per target point.</p>"
    )
    if not content.top:
        parts.append('<p class="note">No unsuppressed cell qualifies.</p>')
        return "\n".join(parts)
    table = pa.table(
        {
            "segment": [c.segment for c in content.top],
            "channel": [c.channel for c in content.top],
            "daypart": [c.daypart for c in content.top],
            "index": [c.index for c in content.top],
            "rating": [c.rating for c in content.top],
        }
    )
    parts.append(_table(table, table_id="top-buys-table"))
    return "\n".join(parts)


PLAN_COMPARISON_SHOWN = (
    "plan",
    "segment",
    "spots",
    "channels",
    "cost",
    "trps",
    "cost_per_trp",
    "reach",
    "avg_frequency",
    "projected_reach_voters",
    "projection",
)
"""Comparison columns on the page (the rest are in ``plan_comparison.csv``)."""


def _plan_schedule(plan: pa.Table) -> pa.Table:
    """The schedule by cost per target point (cheapest first), with that column added."""
    names = plan.column_names
    if not {"cost", "target_trps"} <= set(names):
        return plan
    rows = plan.to_pylist()
    for row in rows:
        cost, points = row["cost"], row["target_trps"]
        usable = isinstance(cost, int | float) and isinstance(points, int | float) and points > 0
        row["cost_per_target_point"] = float(cost) / float(points) if usable else None
    rows.sort(
        key=lambda r: (
            r["cost_per_target_point"] is None,
            r["cost_per_target_point"] or 0.0,
            str(r.get("channel")),
        )
    )
    at = names.index("cost") + 1
    order = [*names[:at], "cost_per_target_point", *names[at:]]
    return pa.Table.from_pylist([{k: r[k] for k in order} for r in rows])


def _plan(content: ReportContent) -> str:
    parts = [_h2("plan", "Media plan")]
    if content.plan is None:
        parts.append(
            '<p class="note" id="no-plan">No plan yet: run <code>narwhal campaign plan '
            "--out</code> into this report's directory, then <code>narwhal campaign report"
            "</code> again to include it.</p>"
        )
        return "\n".join(parts)
    if content.plan_comparison is not None:
        parts.append(
            '<h3 id="plan-comparison">Compared with a plan bought on all-household ratings</h3>'
        )
        comparison = content.plan_comparison
        if "market" in comparison.column_names:
            # The whole plan here; each market's own rows are in the Markets section.
            whole = [m in (None, ALL_MARKETS) for m in comparison["market"].to_pylist()]
            comparison = comparison.filter(pa.array(whole, pa.bool_()))
        shown = [c for c in PLAN_COMPARISON_SHOWN if c in comparison.column_names]
        parts.append(
            _table(
                comparison.select(shown),
                table_id="plan-comparison-table",
                labels={"trps": "TRPs (points)", "cost_per_trp": "cost per TRP ($)"},
                scroll=False,
            )
        )
        parts.append(
            '<p class="meta">All columns, weights and the solver status are in '
            "<code>plan_comparison.csv</code>.</p>"
        )
    parts.append('<h3 id="plan-schedule">Schedule, cheapest target point first</h3>')
    parts.append(
        _table(
            _plan_schedule(content.plan),
            table_id="plan-table",
            max_rows=MAX_PLAN_ROWS,
            labels={"target_trps": "target TRPs (points, weighted)", "grps": "GRPs (points)"},
            scroll=False,
        )
    )
    parts.append(
        '<p class="note">Reach, frequency and rating points of a plan are estimates from the '
        "released aggregates and a duplication model, not measurements of the spots bought; "
        'columns marked <span class="tag">projection</span> are projections to the full '
        "segment.</p>"
    )
    return "\n".join(parts)


def _markets(content: ReportContent) -> str:
    parts = [_h2("markets", "Markets")]
    summary = content.markets
    if summary is None or not summary.release.num_rows:
        parts.append(
            '<p class="note" id="no-markets">The release is statewide only: ask the provider '
            "for a release by market (<code>narwhal provider aggregate --markets</code>) to "
            "plan and compare TV markets.</p>"
        )
        return "\n".join(parts)
    parts.append(
        "<p>Each market's own figures are measured on its households (<code>*</code> is the "
        "whole state). The k rule applies to every released cell, so a market's thin "
        "segments lose more cells to suppression; the plan values a suppressed cell at "
        "zero.</p>"
    )
    if summary.sentence:
        parts.append(f'<p id="market-suppression">{_e(summary.sentence)}</p>')
    parts.append(
        _table(
            summary.release,
            table_id="market-release-table",
            labels={"cells": "cells (daypart, period)"},
            scroll=False,
        )
    )
    if summary.plan.num_rows:
        parts.append('<h3 id="market-plan">The plan by market</h3>')
        parts.append(
            _table(
                summary.plan,
                table_id="market-plan-table",
                labels={"trps": "TRPs (points)", "cost_per_trp": "cost per TRP ($)"},
                scroll=False,
            )
        )
        parts.append(
            '<p class="meta">A market\'s TRPs and reach are among its own households of the '
            "segment; the <code>*</code> row counts the whole plan over the statewide "
            "universe.</p>"
        )
    return "\n".join(parts)


def _delivery(content: ReportContent) -> str:
    parts = [_h2("delivery", "Plan against delivery")]
    table = content.delivery
    if table is None:
        parts.append(
            '<p class="note" id="no-delivery">No post-buy yet: once the spots air, send the '
            "as-run log (<code>narwhal campaign schedule</code>) and the provider measures what "
            "it delivered (<code>narwhal provider deliver</code>).</p>"
        )
        return "\n".join(parts)
    parts += [
        "<p>What the spots that aired delivered to each segment, measured by the provider on "
        "the matched households, next to what the plan expected. A market's points are among "
        "its own households of the segment; the <code>*</code> rows are statewide. Every "
        "delivered figure is noisy (± its 95% interval); a row whose noisy reach is under k "
        "is suppressed. Cost per delivered point = the plan's cost over the delivered TRPs. "
        "Light reach: the share of the segment's light viewers (under 2 h a day) reached.</p>",
        _table(
            table,
            table_id="delivery-table",
            max_rows=MAX_PLAN_ROWS,
            labels={
                "planned_trps": "planned TRPs",
                "delivered_trps": "delivered TRPs",
                "delivered_trps_ci": "± TRPs",
                "planned_reach": "planned reach (%)",
                "delivered_reach": "delivered reach (%)",
                "delivered_reach_ci": "± reach",
                "delivered_frequency": "frequency",
                "light_reach": "light-viewer reach (%)",
                "cost": "cost ($)",
                "cost_per_delivered_point": "cost per delivered point ($)",
            },
        ),
    ]
    return "\n".join(parts)


_TREND_SUFFIXES = ("_previous", "", "_change", "_change_ci")


def _trend(content: ReportContent) -> str:
    trend = content.trend
    parts = [_h2("trend", "Weekly trend")]
    if trend is None:
        parts.append(
            "<p>One week only. With earlier weeks of the same panel, "
            "<code>narwhal campaign report --previous EXCHANGE</code> shows the change of every "
            "figure week over week, and the provider's retention.</p>"
        )
        return "\n".join(parts)
    weeks = " → ".join(trend.weeks)
    period = trend.changes.filter(pc.equal(trend.changes["grain"], "period"))
    shown = period.select(
        ["previous_exchange", "exchange", "segment", "channel"]
        + [f"{m}{s}" for m in ("rating", "reach") for s in _TREND_SUFFIXES]
    ).sort_by([("segment", "ascending"), ("reach_change", "descending")])
    parts += [
        f"<p>Weeks {_e(weeks)}: each week is its own exchange under fresh keys; the weeks "
        "meet only here, by segment name. Change = later week − earlier week; its 95% "
        "interval combines both releases' noise. Whole-period figures below; every daypart "
        "is in <code>trend.csv</code>. A cell suppressed in either week has no change.</p>",
        _table(shown, table_id="trend-table", max_rows=MAX_PLAN_ROWS),
    ]
    if trend.retention is not None:
        parts += [
            "<h3>Retention</h3>",
            "<p>Of each segment's households (this week's membership) that watched a channel "
            "in the earlier week, the share that watched it again this week, measured by the "
            "provider on its panel and released with noise (95% interval); cells under k "
            "households are suppressed.</p>",
            _table(trend.retention, table_id="retention-table", max_rows=MAX_PLAN_ROWS),
        ]
    return "\n".join(parts)


def _suppression(content: ReportContent) -> str:
    table = content.suppression
    total = [
        r for r in table.to_pylist() if r["segment"] == "(all segments)" and r["grain"] == "daypart"
    ]
    lead = (
        f"<p>{total[0]['suppressed_share']:.1%} of daypart cells were suppressed.</p>"
        if total
        else ""
    )
    return "\n".join(
        [
            _h2("suppression", "Suppressed cells"),
            lead,
            "<p>The provider withholds every figure of a cell with too few households; the "
            "share below is per segment and grain (quarter-hour, daypart, whole period).</p>",
            _table(table, table_id="suppression-table"),
        ]
    )


def _privacy(content: ReportContent) -> str:
    facts = content.facts
    if facts.k is not None:
        k = f"{facts.k:,} households (stated in the release)"
    else:
        k = (
            f"{DEFAULT_K:,} households, the protocol's default; this release does not carry "
            "the provider's own k"
        )
    if facts.min_universe is not None:
        floor = f"{facts.min_universe:,} households (stated in the release)"
    else:
        floor = f"{DEFAULT_MIN_UNIVERSE:,} households, the protocol's default"
    parts = [
        _h2("privacy", "Privacy notes"),
        "<ul>",
        "<li>Linkage used keyed hashes only: the matcher saw no names, addresses or "
        "identifiers, and the campaign sees only aggregates per segment.</li>",
        f"<li>Minimum households per released cell (k): {_e(k)}</li>",
        f"<li>Minimum segment universe: {_e(floor)}</li>",
    ]
    if facts.smallest_released_universe is not None:
        parts.append(
            f"<li>Smallest universe with a released cell: "
            f"{facts.smallest_released_universe:,} households</li>"
        )
    if facts.rho is not None and facts.rho > 0:
        epsilon = "" if facts.epsilon is None else f"epsilon {facts.epsilon:.2f}, "
        parts.append(
            f"<li>Differential privacy: this release spent {_e(epsilon)}rho "
            f"{facts.rho:g} (zCDP; epsilon at delta {facts.delta:g}); noisy figures: "
            f"{_e(', '.join(facts.noisy_figures)) or '—'}</li>"
        )
    elif facts.rho is not None:
        parts.append("<li>Differential privacy: none; this release is exact (rho 0).</li>")
    elif facts.epsilon is None and not facts.noisy_figures:
        parts.append(
            "<li>Differential privacy: no noise was declared and no ledger receipt came "
            "with the release.</li>"
        )
    else:
        epsilon = "" if facts.epsilon is None else f"epsilon {facts.epsilon:g}; "
        parts.append(
            f"<li>Differential privacy: {_e(epsilon)}noisy figures: "
            f"{_e(', '.join(facts.noisy_figures)) or '—'} (no ledger receipt came with "
            "the release)</li>"
        )
    if facts.rho_spent is not None:
        spent = "" if facts.epsilon_spent is None else f" (epsilon {facts.epsilon_spent:.2f})"
        parts.append(
            f"<li>Provider's ledger (signed receipt): release {facts.ledger_seq} to this "
            f"organisation; rho {facts.rho_spent:g}{_e(spent)} spent in total, this release "
            "included</li>"
        )
    parts.append("</ul>")
    if content.noise.num_rows:
        parts.append(
            "<p>Noise intervals: half-width of the published interval around each noisy "
            "figure, over released cells.</p>"
        )
        parts.append(_table(content.noise, table_id="noise-table"))
    return "\n".join(parts)


def render_html(content: ReportContent) -> str:
    """The report page as one self-contained HTML document.

    Args:
        content: What to show.

    Returns:
        An HTML5 document (UTF-8 text) with no external reference: inline CSS,
        images as ``data:`` URIs, the one inline :data:`SCRIPT`, and a CSP meta
        tag that forbids any fetch and any other script. Sections appear in
        ``SECTION_IDS`` order.
    """
    title = f"Narwhal viewership report — {content.exchange_id}"
    nav = " ".join(
        f'<a href="#{section}">{_e(section.replace("-", " "))}</a>' for section in SECTION_IDS
    )
    generated = content.generated_at.strftime("%Y-%m-%d %H:%M %Z").strip()
    body = [
        _headline(content),
        _summary(content),
        _match_rates(content),
        _heatmaps(content),
        _top_buys(content),
        _plan(content),
        _markets(content),
        _delivery(content),
        _trend(content),
        _suppression(content),
        _privacy(content),
    ]
    return "\n".join(
        [
            "<!DOCTYPE html>",
            '<html lang="en">',
            "<head>",
            '<meta charset="utf-8">',
            f'<meta http-equiv="Content-Security-Policy" content="{_e(CSP)}">',
            '<meta name="viewport" content="width=device-width, initial-scale=1">',
            f"<title>{_e(title)}</title>",
            f"<style>{_STYLE}</style>",
            "</head>",
            "<body>",
            "<header>",
            f'<h1 id="title">{_e(title)}</h1>',
            f'<p class="meta">Exchange <code id="exchange-id">{_e(content.exchange_id)}</code>'
            f" · generated {_e(generated)} · narwhal campaign report</p>",
            f"<nav>{nav}</nav>",
            "</header>",
            "<main>",
            *body,
            "</main>",
            f"<script>{SCRIPT}</script>",
            "</body>",
            "</html>",
            "",
        ]
    )
