"""report: what the campaign learns, as tables, charts and one self-contained page.

* :mod:`~linkage.report.decode` -- coded releases -> named tables (viewership,
  match rates and their projection).
* :mod:`~linkage.report.figures` -- the audience figures: index against all
  matched households, top buys, heatmaps, PNG bytes.
* :mod:`~linkage.report.disclosure` -- what the release says about its own
  protection: suppressed cells, noise intervals, stated k and epsilon.
* :mod:`~linkage.report.html` -- the self-contained HTML page.
* :mod:`~linkage.report.builder` -- the report assembled from the above: one
  immutable result, each output under its file name, nothing written.
"""

from linkage.report.builder import (
    INDEX_CSV,
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
    match_rate_table,
    projected_match_rates,
    viewership_csv_table,
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
    index_table,
    top_by_index,
)
from linkage.report.html import (
    CSP,
    MAX_PLAN_ROWS,
    SECTION_IDS,
    Heatmap,
    ReportContent,
    render_html,
    slug,
)

__all__ = [
    "CSP",
    "INDEX_COLUMNS",
    "INDEX_CSV",
    "MATCH_RATES_CSV",
    "MATCH_REPORT_COLUMNS",
    "MAX_PLAN_ROWS",
    "NOISE_COLUMNS",
    "REPORT_HTML",
    "SECTION_IDS",
    "SUPPRESSION_COLUMNS",
    "VIEWERSHIP_CSV",
    "VIEWERSHIP_CSV_COLUMNS",
    "CampaignReport",
    "Heatmap",
    "IndexCell",
    "Progress",
    "ReleaseFacts",
    "ReportContent",
    "build_report",
    "decode_viewership",
    "figure_png",
    "heatmap_figure",
    "heatmap_file_name",
    "index_table",
    "match_rate_table",
    "noise_table",
    "projected_match_rates",
    "release_facts",
    "render_html",
    "slug",
    "suppression_table",
    "top_by_index",
    "viewership_csv_table",
]
