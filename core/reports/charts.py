"""A report's charts, drawn by matplotlib (Agg: no display, no global pyplot state): sessions per day,
the first-response time distribution and the ratings — as SVG for the HTML page, as one PNG for Slack."""

from __future__ import annotations

import io
from typing import TYPE_CHECKING

from core.reports.figures import Report

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure
    from matplotlib.ticker import FuncFormatter, MaxNLocator

OPENED = "#2b6cb0"
CLOSED = "#38a169"
RESPONSE = "#dd6b20"
RESOLUTION = "#718096"
RATING = "#805ad5"
SLACK_SIZE = (1200, 500)
"""The Slack chart's size in pixels (width, height)."""
DPI = 100
SHORTEST = 0.1
"""Minutes: shorter times are drawn at 6 s (a log scale has no zero)."""
BINS = 24


def _figure(width: float, height: float, panels: int = 1) -> tuple[Figure, list[Axes]]:
    from matplotlib.figure import Figure  # imported when a chart is drawn: the server starts without it

    figure = Figure(figsize=(width, height), dpi=DPI, layout="constrained")
    axes = figure.subplots(1, panels, squeeze=False)[0]
    return figure, list(axes)


def _whole_numbers() -> MaxNLocator:
    from matplotlib.ticker import MaxNLocator

    return MaxNLocator(integer=True)


def _per_day(axes: Axes, report: Report) -> None:
    labels = [day.day.strftime("%d %b") for day in report.days]
    spots = list(range(len(labels)))
    axes.bar([x - 0.2 for x in spots], [d.opened for d in report.days], width=0.4, color=OPENED, label="opened")
    axes.bar([x + 0.2 for x in spots], [d.closed for d in report.days], width=0.4, color=CLOSED, label="closed")
    step = max(1, len(labels) // 12)
    axes.set_xticks(spots[::step], labels[::step])
    axes.set_title("Sessions per day")
    axes.legend(loc="upper left")
    axes.yaxis.set_major_locator(_whole_numbers())


def _response_times(axes: Axes, report: Report) -> None:
    """Both distributions on one log-scaled axis: first responses take minutes, resolutions hours."""
    minutes = [max(v / 60, SHORTEST) for v in report.first_response.values]
    closed = [max(v / 60, SHORTEST) for v in report.resolution.values]
    if minutes or closed:
        low, high = min([*minutes, *closed]), max([*minutes, *closed, SHORTEST * 10])
        bins = [low * (high / low) ** (n / BINS) for n in range(BINS + 1)]
        if closed:
            axes.hist(closed, bins=bins, color=RESOLUTION, alpha=0.6, label="resolution")
        if minutes:
            axes.hist(minutes, bins=bins, color=RESPONSE, label="first response")
        axes.set_xscale("log")
        axes.xaxis.set_major_formatter(_minutes_formatter())
        axes.legend(loc="upper right")
    else:
        axes.text(0.5, 0.5, "no answered sessions", ha="center", va="center", transform=axes.transAxes)
    axes.set_title("Response times")
    axes.set_xlabel("minutes (log scale)")
    axes.set_ylabel("sessions")


def _minutes_formatter() -> FuncFormatter:
    from matplotlib.ticker import FuncFormatter

    return FuncFormatter(lambda value, _position: f"{value:g}")


def _ratings(axes: Axes, report: Report) -> None:
    stars = list(report.ratings.distribution)
    axes.bar([f"{s}★" for s in stars], [report.ratings.distribution[s] for s in stars], color=RATING)
    average = report.ratings.average
    axes.set_title(f"Ratings (average {average:.2f})" if average is not None else "Ratings (none yet)")
    axes.yaxis.set_major_locator(_whole_numbers())


def html_charts(report: Report) -> dict[str, str]:
    """The page's charts as inline SVG documents (no external references): "days", "times", "ratings"."""
    charts = {}
    for name, draw, size in (
        ("days", _per_day, (10.0, 3.6)),
        ("times", _response_times, (6.0, 3.6)),
        ("ratings", _ratings, (4.5, 3.6)),
    ):
        figure, (axes,) = _figure(*size)
        draw(axes, report)
        buffer = io.StringIO()
        figure.savefig(buffer, format="svg", metadata={"Date": None})
        text = buffer.getvalue()
        charts[name] = text[text.index("<svg") :]
    return charts


def slack_png(report: Report) -> bytes:
    """One PNG of `SLACK_SIZE` pixels: sessions per day beside the response times (Slack's `/report`)."""
    figure, (days, times) = _figure(SLACK_SIZE[0] / DPI, SLACK_SIZE[1] / DPI, panels=2)
    _per_day(days, report)
    _response_times(times, report)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=DPI)
    return buffer.getvalue()
