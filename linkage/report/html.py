"""The campaign's report as one self-contained HTML page.

:func:`render_html` turns a :class:`ReportContent` into a string
(:func:`linkage.report.build_report` fills it in; the campaign writes it with
``linkage.io``). The page needs no
network: CSS is inline, charts are PNG ``data:`` URIs, there is no script and
no web font, and a Content-Security-Policy forbids fetching anything else, so
the file can be mailed, archived or opened on an air-gapped laptop and look
the same.

Every value that reaches the page is escaped with :func:`html.escape`: segment
names, channel codes and plan columns come from files other people wrote.
Section headings carry stable ids (``SECTION_IDS``) that tests and links rely on.
"""

from __future__ import annotations

import base64
import html
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

import pyarrow as pa

from linkage.report.disclosure import ReleaseFacts
from linkage.report.figures import IndexCell

__all__ = [
    "CSP",
    "SECTION_IDS",
    "Heatmap",
    "ReportContent",
    "render_html",
    "slug",
]

SECTION_IDS = (
    "summary",
    "match-rates",
    "heatmaps",
    "top-buys",
    "plan",
    "suppression",
    "privacy",
)
"""The ``id`` of every ``<h2>``, in page order."""

CSP = "default-src 'none'; img-src data:; style-src 'unsafe-inline'"
"""Content-Security-Policy of the page: nothing may be fetched, only inline CSS and data: images."""

PERCENT_COLUMNS = frozenset({"match_rate", "suppressed_share"})
"""Fractions shown as percentages; other ratings and shares are already in percent."""

LONG_TEXT = 40
"""A text column longer than this, the same on every row, is shown once as a note."""

MAX_PLAN_ROWS = 200
"""Longer schedules are cut in the page (the full schedule is in ``plan.csv``)."""

_STYLE = """
body { font: 15px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; color: #1d2330;
       margin: 0 auto; max-width: 1180px; padding: 0 24px 48px; }
header { border-bottom: 3px solid #1f4e79; margin-bottom: 12px; }
h1 { font-size: 26px; margin: 24px 0 4px; }
h2 { font-size: 20px; margin: 34px 0 8px; color: #1f4e79; border-bottom: 1px solid #d0d7e2; }
h3 { font-size: 16px; margin: 18px 0 6px; }
p.meta { color: #5a6473; margin: 0 0 12px; }
nav a { margin-right: 14px; }
table { border-collapse: collapse; margin: 8px 0 16px; font-size: 13px; }
th, td { border: 1px solid #d0d7e2; padding: 3px 8px; }
th { background: #eef2f7; text-align: left; }
td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
.scroll { overflow-x: auto; }
td.none { color: #8a94a3; text-align: center; }
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


def _cell(column: str, value: object) -> str:
    klass = " projection" if _is_projection(column) else ""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return f'<td class="none{klass}">—</td>'
    if isinstance(value, bool):
        return f'<td class="{klass.strip()}">{"yes" if value else "no"}</td>'
    if isinstance(value, int):
        return f'<td class="num{klass}">{value:,}</td>'
    if isinstance(value, float):
        if column in PERCENT_COLUMNS:
            shown = f"{value:.1%}"
        elif _is_projection(column) or abs(value) >= 1000:
            shown = f"{value:,.0f}"
        elif abs(value) >= 10:
            shown = f"{value:,.1f}"
        else:
            shown = f"{value:.3f}"
        return f'<td class="num{klass}">{_e(shown)}</td>'
    return f'<td class="{klass.strip()}">{_e(value)}</td>'


def _header(column: str) -> str:
    label = _e(column.replace("_", " "))
    if _is_projection(column):
        return f'<th class="projection">{label} <span class="tag">projection</span></th>'
    return f"<th>{label}</th>"


def _constant_text(table: pa.Table, column: str) -> str | None:
    """The value of a column that repeats one long text on every row, else None."""
    if not pa.types.is_string(table.schema.field(column).type) or table.num_rows == 0:
        return None
    values = set(table.column(column).to_pylist())
    if len(values) != 1:
        return None
    value = values.pop()
    return value if isinstance(value, str) and len(value) > LONG_TEXT else None


def _table(table: pa.Table, *, table_id: str, max_rows: int | None = None) -> str:
    # A column repeating one long sentence (e.g. how a projection was made) is
    # a footnote, not data: shown once under the table, it keeps rows one line high.
    notes = {c: _constant_text(table, c) for c in table.column_names}
    columns = [c for c in table.column_names if notes[c] is None]
    rows = table.to_pylist()
    shown = rows if max_rows is None else rows[:max_rows]
    parts = [f'<div class="scroll"><table id="{_e(table_id)}">', "<thead><tr>"]
    parts += [_header(c) for c in columns]
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
            '<p class="note"><span class="tag">projection</span> Projected households scale '
            "the matched households up by the match rate (households ÷ match rate). It assumes "
            "unmatched voters live in households like matched ones; it is an estimate, not a "
            "measurement.</p>",
        ]
    )


def _heatmaps(content: ReportContent) -> str:
    parts = [
        _h2("heatmaps", "Viewing index by channel and daypart"),
        "<p>Index = the segment's rating ÷ the rating of all matched households in the same "
        "channel and daypart × 100. Red cells are above 100 (the segment over-watches), blue "
        "below; hatched cells were suppressed by the provider.</p>",
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
    return "\n".join(parts)


def _top_buys(content: ReportContent) -> str:
    parts = [
        _h2("top-buys", "Top buys per segment"),
        f"<p>The highest-index channel × daypart cells of each segment on "
        f"{_e(content.top_day_type)} days (cells with a rating under 0.1% are left out so a "
        "tiny audience with a lucky ratio does not top the list).</p>",
    ]
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
        parts.append(_table(content.plan_comparison, table_id="plan-comparison-table"))
    parts.append('<h3 id="plan-schedule">Schedule</h3>')
    parts.append(_table(content.plan, table_id="plan-table", max_rows=MAX_PLAN_ROWS))
    parts.append(
        '<p class="note">Reach, frequency and rating points of a plan are estimates from the '
        "released aggregates and a duplication model, not measurements of the spots bought; "
        'columns marked <span class="tag">projection</span> are projections to the full '
        "segment.</p>"
    )
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


def _stated(value: float | None, what: str) -> str:
    if value is None:
        return f"not stated in the release ({_e(what)})"
    return _e(f"{value:g}")


def _privacy(content: ReportContent) -> str:
    facts = content.facts
    parts = [
        _h2("privacy", "Privacy notes"),
        "<ul>",
        "<li>Linkage used keyed hashes only: the matcher saw no names, addresses or "
        "identifiers, and the campaign sees only aggregates per segment.</li>",
        f"<li>Minimum households per released cell (k): "
        f"{_stated(facts.k, 'agreed with the provider')}</li>",
        f"<li>Minimum segment universe: "
        f"{_stated(facts.min_universe, 'agreed with the provider')}</li>",
    ]
    if facts.smallest_released_universe is not None:
        parts.append(
            f"<li>Smallest universe with a released cell: "
            f"{facts.smallest_released_universe:,} households</li>"
        )
    if facts.epsilon is None and not facts.noisy_figures:
        parts.append("<li>Differential privacy: no noise was declared in this release.</li>")
    else:
        parts.append(
            f"<li>Differential privacy: epsilon "
            f"{_stated(facts.epsilon, 'see the provider ledger')}; noisy figures: "
            f"{_e(', '.join(facts.noisy_figures)) or '—'}</li>"
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
        images as ``data:`` URIs, no scripts, and a CSP meta tag that forbids
        any fetch. Sections appear in ``SECTION_IDS`` order.
    """
    title = f"Narwhal viewership report — {content.exchange_id}"
    nav = " ".join(
        f'<a href="#{section}">{_e(section.replace("-", " "))}</a>' for section in SECTION_IDS
    )
    generated = content.generated_at.strftime("%Y-%m-%d %H:%M %Z").strip()
    body = [
        _summary(content),
        _match_rates(content),
        _heatmaps(content),
        _top_buys(content),
        _plan(content),
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
            "</body>",
            "</html>",
            "",
        ]
    )
