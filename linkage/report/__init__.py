"""report: what the campaign learns, as tables, charts and one self-contained page.

* :mod:`~linkage.report.decode` -- coded releases -> named tables (viewership,
  match rates and their projection).
* :mod:`~linkage.report.headline` -- the buyer's answer: best buys per target
  segment by cost per target point (on the conservative rating), the plan's
  figures, the share of viewing the release shows, dayparts with clock hours.
* :mod:`~linkage.report.figures` -- the audience figures: index against all
  matched households, top channels, heatmaps on one colour scale, PNG bytes.
* :mod:`~linkage.report.disclosure` -- what the release says about its own
  protection: suppressed cells, noise intervals, stated k and epsilon.
* :mod:`~linkage.report.markets` -- TV markets: universes and suppression per
  market (small markets lose more cells), the plan's spend and points per market.
* :mod:`~linkage.report.delivery` -- post-buy: the plan against what the aired
  spots delivered, per market and segment, with the cost per delivered point.
* :mod:`~linkage.report.html` -- the self-contained HTML page.
* :mod:`~linkage.report.trend` -- the weekly trend: week-over-week changes of a
  panel's releases with their intervals, and the provider's retention.
* :mod:`~linkage.report.builder` -- the report assembled from the above: one
  immutable result, each output under its file name, nothing written.
"""

from linkage.report.builder import (
    INDEX_CSV,
    MARKETS_CSV,
    MATCH_RATES_CSV,
    REPORT_HTML,
    VIEWERSHIP_CSV,
    CampaignReport,
    Progress,
    build_report,
    heatmap_file_name,
)
from linkage.report.decode import (
    MATCH_REPORT_COLUMNS,
    VIEWERSHIP_CSV_COLUMNS,
    decode_viewership,
    linkage_quality_note,
    match_rate_table,
    projected_match_rates,
    viewership_csv_table,
)
from linkage.report.delivery import (
    DELIVERY_CSV,
    PLAN_DELIVERY_COLUMNS,
    PLAN_DELIVERY_CSV,
    decode_delivery,
    delivery_sorted,
    plan_vs_delivery,
)
from linkage.report.disclosure import (
    NOISE_COLUMNS,
    SUPPRESSION_COLUMNS,
    ReleaseFacts,
    noise_table,
    release_facts,
    suppression_table,
)
from linkage.report.figures import (
    INDEX_COLUMNS,
    IndexCell,
    figure_png,
    heatmap_figure,
    index_scale,
    index_table,
    top_by_index,
    top_channels,
)
from linkage.report.headline import (
    BEST_BUYS_PER_SEGMENT,
    BestBuy,
    Coverage,
    PlanFigures,
    best_buys,
    daypart_label,
    plan_figures,
    plan_targets,
    viewing_coverage,
)
from linkage.report.html import (
    CSP,
    HEATMAP_CHANNELS,
    MAX_PLAN_ROWS,
    SCRIPT,
    SECTION_IDS,
    Heatmap,
    ReportContent,
    render_html,
    slug,
)
from linkage.report.markets import (
    MARKET_PLAN_COLUMNS,
    MARKET_RELEASE_COLUMNS,
    MarketSummary,
    market_plan_table,
    market_release_table,
    market_summary,
)
from linkage.report.trend import (
    RETENTION_CSV,
    TREND_CSV,
    TREND_METRICS,
    WeeklyTrend,
    decode_retention,
    week_over_week,
    week_to_week_map,
    weekly_trend,
)

__all__ = [
    "BEST_BUYS_PER_SEGMENT",
    "CSP",
    "DELIVERY_CSV",
    "HEATMAP_CHANNELS",
    "INDEX_COLUMNS",
    "INDEX_CSV",
    "MARKETS_CSV",
    "MARKET_PLAN_COLUMNS",
    "MARKET_RELEASE_COLUMNS",
    "MATCH_RATES_CSV",
    "MATCH_REPORT_COLUMNS",
    "MAX_PLAN_ROWS",
    "NOISE_COLUMNS",
    "PLAN_DELIVERY_COLUMNS",
    "PLAN_DELIVERY_CSV",
    "REPORT_HTML",
    "RETENTION_CSV",
    "SCRIPT",
    "SECTION_IDS",
    "SUPPRESSION_COLUMNS",
    "TREND_CSV",
    "TREND_METRICS",
    "VIEWERSHIP_CSV",
    "VIEWERSHIP_CSV_COLUMNS",
    "BestBuy",
    "CampaignReport",
    "Coverage",
    "Heatmap",
    "IndexCell",
    "MarketSummary",
    "PlanFigures",
    "Progress",
    "ReleaseFacts",
    "ReportContent",
    "WeeklyTrend",
    "best_buys",
    "build_report",
    "daypart_label",
    "decode_delivery",
    "decode_retention",
    "decode_viewership",
    "delivery_sorted",
    "figure_png",
    "heatmap_figure",
    "heatmap_file_name",
    "index_scale",
    "index_table",
    "linkage_quality_note",
    "market_plan_table",
    "market_release_table",
    "market_summary",
    "match_rate_table",
    "noise_table",
    "plan_figures",
    "plan_targets",
    "plan_vs_delivery",
    "projected_match_rates",
    "release_facts",
    "render_html",
    "slug",
    "suppression_table",
    "top_by_index",
    "top_channels",
    "viewership_csv_table",
    "viewing_coverage",
    "week_over_week",
    "week_to_week_map",
    "weekly_trend",
]
