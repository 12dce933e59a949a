"""A report as plain text (`linedesk report`, the Slack summary)."""

from __future__ import annotations

from collections.abc import Mapping

from core.reports.figures import Report, Times


def duration(seconds: float | None) -> str:
    """ "—", "45 s", "12 min", "3.5 h", "2.1 d"."""
    if seconds is None:
        return "—"
    if seconds < 60:
        return f"{seconds:.0f} s"
    if seconds < 3600:
        return f"{seconds / 60:.0f} min"
    if seconds < 86400:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} d"


def share(value: float | None) -> str:
    return "—" if value is None else f"{value * 100:.0f}%"


def times_line(times: Times) -> str:
    line = f"p50 {duration(times.p50)}, p90 {duration(times.p90)} ({_count(times.count, 'session')})"
    return line if times.within_target is None else f"{line}, {share(times.within_target)} within target"


def period_line(report: Report) -> str:
    return f"{report.line or 'all lines'} · {report.since:%Y-%m-%d %H:%M} – {report.until:%Y-%m-%d %H:%M} UTC"


def summary(report: Report) -> list[str]:
    """The few lines a team lead reads first (also the Slack summary and the App Home)."""
    rating = (
        f"{report.ratings.average:.2f} from {_count(report.ratings.count, 'rating')}"
        if report.ratings.average is not None
        else "no ratings"
    )
    processes = report.processes
    return [
        f"Sessions: {report.opened} opened, {report.closed} closed, {report.open_now} still open"
        + (f", {report.spam} spam" if report.spam else ""),
        f"First response: {times_line(report.first_response)}",
        f"Resolution: {times_line(report.resolution)}",
        f"Rating: {rating}",
        f"Processes: {processes.started} started ({processes.manual} manual, {processes.automatic} automatic), "
        f"{processes.failed} failed",
    ]


def who(operator: str, names: Mapping[str, str]) -> str:
    """An operator as the report shows them: their name from the config, else their id."""
    return names.get(operator, operator) if operator else "(not taken)"


def render_text(report: Report, names: Mapping[str, str] | None = None) -> str:
    lines = [f"Report: {period_line(report)}", "", *summary(report), ""]
    lines.append("Ratings: " + "  ".join(f"{r}★ {n}" for r, n in report.ratings.distribution.items()))
    lines += [
        "",
        f"{'Operator':<20} {'sessions':>8} {'closed':>7} {'1st resp p50':>13} {'resolve p50':>12} {'rating':>6}",
    ]
    for row in report.operators:
        rating = f"{row.rating_average:.2f}" if row.rating_average is not None else "—"
        lines.append(
            f"{who(row.operator, names or {}):<20} {row.sessions:>8} {row.closed:>7} "
            f"{duration(row.first_response.p50):>13} {duration(row.resolution.p50):>12} {rating:>6}"
        )
    lines += ["", f"{'Day':<10} {'opened':>7} {'closed':>7}"]
    lines += [f"{day.day.isoformat():<10} {day.opened:>7} {day.closed:>7}" for day in report.days]
    return "\n".join(lines) + "\n"


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"
