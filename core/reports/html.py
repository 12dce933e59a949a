"""A report as one self-contained HTML page (SPEC §15): the figures as tables and the charts as inline SVG —
no scripts, no style sheets or images from elsewhere, readable offline."""

from __future__ import annotations

from collections.abc import Mapping
from html import escape

from core.reports.charts import html_charts
from core.reports.figures import Report
from core.reports.text import duration, period_line, share, summary, who

STYLE = """
body { font-family: -apple-system, 'Segoe UI', Roboto, Helvetica, Arial, sans-serif; margin: 24px; color: #1a202c;
       background: #fff; }
h1 { font-size: 22px; margin: 0 0 4px; } h2 { font-size: 17px; margin: 28px 0 8px; }
.period { color: #4a5568; margin-bottom: 16px; }
ul.summary { padding-left: 18px; line-height: 1.6; }
.charts { display: flex; flex-wrap: wrap; gap: 16px; }
.chart svg { display: block; height: auto; max-width: 100%; }
table { border-collapse: collapse; font-size: 14px; }
th, td { border-bottom: 1px solid #e2e8f0; padding: 4px 12px; text-align: right; }
th:first-child, td:first-child { text-align: left; }
"""


def render_html(report: Report, names: Mapping[str, str] | None = None) -> str:
    """The page; `names`: the operators' names by id (ids are shown where none is given)."""
    charts = html_charts(report)
    rows = "".join(
        "<tr>"
        + "".join(
            f"<td>{escape(cell)}</td>"
            for cell in (
                who(row.operator, names or {}),
                str(row.sessions),
                str(row.closed),
                duration(row.first_response.p50),
                duration(row.first_response.p90),
                share(row.first_response.within_target),
                duration(row.resolution.p50),
                duration(row.resolution.p90),
                f"{row.rating_average:.2f}" if row.rating_average is not None else "—",
            )
        )
        + "</tr>"
        for row in report.operators
    )
    days = "".join(
        f"<tr><td>{day.day.isoformat()}</td><td>{day.opened}</td><td>{day.closed}</td></tr>" for day in report.days
    )
    items = "".join(f"<li>{escape(line)}</li>" for line in summary(report))
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>linedesk report · {escape(report.line or "all lines")}</title>
<style>{STYLE}</style></head>
<body>
<h1>linedesk report</h1>
<div class="period">{escape(period_line(report))}</div>
<ul class="summary">{items}</ul>
<div class="charts">
<div class="chart" id="chart-days">{charts["days"]}</div>
<div class="chart" id="chart-times">{charts["times"]}</div>
<div class="chart" id="chart-ratings">{charts["ratings"]}</div>
</div>
<h2>Operators</h2>
<table><tr><th>operator</th><th>sessions</th><th>closed</th><th>1st response p50</th><th>p90</th><th>within</th>
<th>resolution p50</th><th>p90</th><th>rating</th></tr>{rows}</table>
<h2>Days</h2>
<table><tr><th>day (UTC)</th><th>opened</th><th>closed</th></tr>{days}</table>
</body></html>
"""
