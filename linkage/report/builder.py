"""The campaign report, assembled: coded releases in, every table, chart and the page out.

:func:`build_report` does what ``narwhal campaign report`` computes -- decode
the releases, rank the best buys per target segment by cost per target point
(given the rate card), draw one heatmap per segment and day type on one
colour scale, render the page -- and returns it all as one immutable :class:`CampaignReport`,
each output under the file name it is written to. Nothing here touches a file
or the terminal: the caller reads the inputs (the plan tables too), decides
when the inputs count as consumed, and writes :attr:`CampaignReport.tables`,
:attr:`CampaignReport.images` and :attr:`CampaignReport.html` with
``linkage.io``'s atomic writers. Drawing is the slow part, so it reports
progress through an optional callback instead of printing.

The PNG bytes written beside the page are the very bytes embedded in it, so
the two can never disagree.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import pyarrow as pa
import pyarrow.compute as pc

from linkage.measure import split_tier, tier_codes
from linkage.plan import RateCell, statewide_rows
from linkage.release import ReleaseHead
from linkage.report.decode import (
    decode_viewership,
    linkage_quality_note,
    match_rate_table,
    projected_match_rates,
    viewership_csv_table,
)
from linkage.report.delivery import (
    DELIVERY_CSV,
    PLAN_DELIVERY_CSV,
    decode_delivery,
    delivery_sorted,
    plan_vs_delivery,
)
from linkage.report.disclosure import noise_table, release_facts, suppression_table
from linkage.report.figures import (
    IndexCell,
    figure_png,
    heatmap_figure,
    index_scale,
    index_table,
    top_by_index,
    top_channels,
)
from linkage.report.headline import (
    BestBuy,
    best_buys,
    plan_figures,
    plan_targets,
    viewing_coverage,
)
from linkage.report.html import HEATMAP_CHANNELS, Heatmap, ReportContent, render_html
from linkage.report.markets import market_summary
from linkage.report.trend import WeeklyTrend
from linkage.tables import ALL_MARKETS, ALL_MATCHED

__all__ = [
    "INDEX_CSV",
    "MATCH_RATES_CSV",
    "REPORT_HTML",
    "VIEWERSHIP_CSV",
    "CampaignReport",
    "Progress",
    "build_report",
    "heatmap_file_name",
]

VIEWERSHIP_CSV = "viewership.csv"
MARKETS_CSV = "markets.csv"
_MARKET_CSV_COLUMNS = (
    "market", "segment", "grain", "channel", "day_type", "daypart", "universe",
    "aqh_households", "rating", "rating_ci", "share", "share_ci", "reach", "reach_ci",
    "suppressed",
)  # fmt: skip
"""File name of :attr:`CampaignReport.viewership`."""
MATCH_RATES_CSV = "match_rates.csv"
"""File name of :attr:`CampaignReport.match_rates`."""
INDEX_CSV = "index.csv"
"""File name of :attr:`CampaignReport.index`."""
REPORT_HTML = "report.html"
"""File name of :attr:`CampaignReport.html`."""

TOP_PER_SEGMENT = 3
"""Top buys listed per segment."""

DAY_TYPE_ORDER = ("weekday", "weekend")
"""Day types drawn, in this order, when the release has them (else whatever it has)."""

Progress = Callable[[int, int], None]
"""Called with (heatmaps drawn, heatmaps to draw): once with 0 before the first, then after each."""


def heatmap_file_name(segment: str, day_type: str) -> str:
    """The file a segment's heatmap for one day type is written to (and captioned with)."""
    return f"heatmap_{segment}_{day_type}.png"


def _note(match_report: pa.Table) -> tuple[str, tuple[str, ...]]:
    note, warnings = linkage_quality_note(match_report)
    return note, tuple(warnings)


@dataclass(frozen=True, slots=True)
class CampaignReport:
    """Everything the report writes and prints, computed and not yet written.

    Attributes:
        viewership: ``viewership.csv`` rows (quarter-hour grain, named segments).
        match_rates: ``match_rates.csv`` rows (:func:`linkage.report.match_rate_table`).
        index: ``index.csv`` rows (:func:`linkage.report.index_table`).
        top: The top buys per segment, ranked on ``top_day_type``.
        top_day_type: The day type the top buys were ranked on.
        heatmaps: The charts, in page and write order.
        html: The self-contained page, or None when it was not asked for.
        with_plan: The page includes a plan (``plan.csv`` was given).
        targets: The target segments the headline answers for.
        best_buys: Per target, the best buys by cost per target point on the
            conservative rating (empty without a rate card).
        delivery: ``delivery.csv``: the decoded post-buy delivery, if one came.
        plan_delivery: ``plan_delivery.csv`` (:func:`linkage.report.plan_vs_delivery`).
        markets: ``markets.csv``: each market's own released rows (daypart and
            period grains, named segments, with their intervals), for a release by market.
    """

    viewership: pa.Table
    match_rates: pa.Table
    index: pa.Table
    top: tuple[IndexCell, ...]
    top_day_type: str
    heatmaps: tuple[Heatmap, ...]
    html: str | None
    with_plan: bool
    targets: tuple[str, ...]
    best_buys: tuple[BestBuy, ...]
    trend: WeeklyTrend | None = None
    delivery: pa.Table | None = None
    plan_delivery: pa.Table | None = None
    markets: pa.Table | None = None

    @property
    def tables(self) -> dict[str, pa.Table]:
        """File name -> CSV table, in write order (``trend.csv`` with earlier weeks)."""
        return {
            VIEWERSHIP_CSV: self.viewership,
            MATCH_RATES_CSV: self.match_rates,
            INDEX_CSV: self.index,
            **({} if self.markets is None else {MARKETS_CSV: self.markets}),
            **({} if self.trend is None else self.trend.tables),
            **(
                {}
                if self.delivery is None or self.plan_delivery is None
                else {DELIVERY_CSV: self.delivery, PLAN_DELIVERY_CSV: self.plan_delivery}
            ),
        }

    @property
    def images(self) -> dict[str, bytes]:
        """File name -> PNG bytes, in write order (the bytes the page embeds)."""
        return {chart.file_name: chart.png for chart in self.heatmaps}


def build_report(
    exchange_id: str,
    codes: Mapping[str, str],
    match_report: pa.Table,
    viewership: pa.Table,
    *,
    voters: Mapping[str, int],
    plan: pa.Table | None = None,
    plan_comparison: pa.Table | None = None,
    ratecard: Sequence[RateCell] | None = None,
    receipt: ReleaseHead | None = None,
    targets: Sequence[str] | None = None,
    html: bool = True,
    progress: Progress | None = None,
    generated_at: datetime | None = None,
    trend: WeeklyTrend | None = None,
    delivery: pa.Table | None = None,
) -> CampaignReport:
    """Decode the releases and compute every table, chart and the page of the report.

    Args:
        exchange_id: The exchange the report belongs to (shown on the page).
        codes: Segment name -> code from the campaign's state for the exchange.
        match_report: The decrypted ``match-report`` payload (global, one row).
        viewership: The decrypted ``viewership`` payload.
        voters: Segment name -> the campaign's own record count (``all_matched``:
            the whole file), kept in its state at tokenize.
        plan: The schedule (``plan.csv``) to show on the page, if one was made.
        plan_comparison: The plan comparison (``plan_comparison.csv``), if any.
        ratecard: The parsed rate card (:func:`linkage.plan.parse_ratecard`);
            without it the page cannot rank buys by cost.
        receipt: The provider's ledger head from the accepted release receipt:
            the privacy note states its spend.
        targets: The segments the headline answers for (default: the plan's
            targets, else every segment of the exchange).
        html: Render the page; without it the plan tables are ignored.
        progress: Told how many heatmaps are drawn (see :data:`Progress`).
        generated_at: The page's timestamp (default: now), a parameter so
            output can be reproduced.
        trend: The weekly trend against earlier weeks of the panel
            (:func:`linkage.report.weekly_trend`), for its section and CSVs.
        delivery: The decrypted ``delivery`` payload (post-buy), if one came:
            ``delivery.csv``, ``plan_delivery.csv`` and the page's section.

    Returns:
        The report, ready to write.

    Raises:
        InputError: A payload lacks a column or holds a code this campaign did
            not issue for the exchange.
    """
    released = decode_viewership(viewership, tier_codes(codes))
    # Every statewide figure reads the statewide rows; market rows feed the
    # best buys of a rate card by market and the Markets section.
    decoded = statewide_rows(released)
    csv_table = viewership_csv_table(decoded)
    rates = match_rate_table(match_report, decoded, voters)
    index = index_table(decoded)
    present = set(index["day_type"].to_pylist())
    day_types = [d for d in DAY_TYPE_ORDER if d in present] or sorted(present)
    top_day = day_types[0] if day_types else "all"
    top = tuple(top_by_index(index, per_segment=TOP_PER_SEGMENT, day_type=top_day))
    chosen = list(targets) if targets else plan_targets(plan_comparison) or sorted(codes)
    best = tuple(best_buys(released, ratecard, chosen)) if ratecard else ()
    delivered = None if delivery is None else delivery_sorted(decode_delivery(delivery, codes))
    versus = (
        None
        if delivered is None
        else plan_vs_delivery(delivered, plan=plan, plan_comparison=plan_comparison)
    )

    drawn = set(zip(index["segment"].to_pylist(), index["day_type"].to_pylist(), strict=True))
    charts = [(n, d) for n in sorted(codes) for d in day_types if (n, d) in drawn]
    channels = top_channels(decoded, chosen, limit=HEATMAP_CHANNELS)
    scale = index_scale(index.filter(pc.is_in(index["segment"], pa.array(sorted(codes)))), channels)
    heatmaps: list[Heatmap] = []
    if progress is not None:
        progress(0, len(charts))
    for name, day_type in charts:
        figure = heatmap_figure(index, name, day_type=day_type, channels=channels, scale=scale)
        heatmaps.append(
            Heatmap(name, day_type, figure_png(figure), heatmap_file_name(name, day_type))
        )
        if progress is not None:
            progress(len(heatmaps), len(charts))

    page = None
    if html:
        names = {str(s) for s in decoded["segment"].to_pylist()}
        segments = sorted(
            (s for s in names if split_tier(s)[0] != ALL_MATCHED),
            key=lambda s: (split_tier(s)[0], split_tier(s)[1] or ""),
        )
        everything = tuple(best_buys(released, ratecard, segments)) if ratecard else ()
        content = ReportContent(
            exchange_id=exchange_id,
            match_rates=projected_match_rates(rates),
            heatmaps=heatmaps,
            top=top,
            top_day_type=top_day,
            suppression=suppression_table(decoded),
            facts=release_facts(decoded, receipt),
            noise=noise_table(decoded),
            plan=plan,
            plan_comparison=plan_comparison,
            generated_at=datetime.now(UTC) if generated_at is None else generated_at,
            targets=chosen,
            best_buys=best,
            all_buys=everything,
            plan_figures=plan_figures(plan_comparison),
            coverage=viewing_coverage(decoded),
            ratecard=ratecard is not None,
            index=index,
            linkage_note=_note(match_report),
            markets=market_summary(released, chosen, plan_comparison),
            trend=trend,
            delivery=versus,
        )
        page = render_html(content)
    return CampaignReport(
        viewership=csv_table,
        match_rates=rates,
        index=index,
        top=top,
        top_day_type=top_day,
        heatmaps=tuple(heatmaps),
        html=page,
        with_plan=html and plan is not None,
        targets=tuple(chosen),
        best_buys=best,
        trend=trend,
        delivery=delivered,
        plan_delivery=versus,
        markets=_market_csv(released),
    )


def _market_csv(released: pa.Table) -> pa.Table | None:
    """The market rows of a decoded release, sorted (None for a statewide-only release)."""
    if "market" not in released.column_names:
        return None
    rows = released.filter(pc.not_equal(released["market"], ALL_MARKETS))
    if rows.num_rows == 0:
        return None
    columns = [c for c in _MARKET_CSV_COLUMNS if c in rows.column_names]
    return rows.select(columns).sort_by(
        [(c, "ascending") for c in ("market", "segment", "grain", "channel", "day_type")]
    )
