"""`linedesk report` (SPEC §15): a period's figures as text, JSON or one self-contained HTML page."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from core.clock import Clock
from core.config import Config
from core.reports import Report, ReportError, build_report, check_line, measure_for, parse_period
from core.reports.html import render_html
from core.reports.text import render_text
from core.store import Store

FORMATS = ("text", "json", "html")


def add_report_arguments(sub: argparse.ArgumentParser) -> None:
    sub.add_argument("--line", help="only this line id (default: every line)")
    sub.add_argument(
        "--since", default="7d", help="a length back from --until (7d, 30d, 12h) or a date (2026-11-01); default 7d"
    )
    sub.add_argument("--until", help="a date, that day included (2026-11-30), or a date and time; default now")
    sub.add_argument("--format", choices=FORMATS, default="text", help="text (default), json or html (one page)")
    sub.add_argument("--out", help="write to this file instead of the terminal")


def render(report: Report, form: str, config: Config) -> str:
    if form == "json":
        return report.model_dump_json(indent=2) + "\n"
    names = {operator.id: operator.name for operator in config.operators}
    if form == "html":
        return render_html(report, names)
    return render_text(report, names)


async def run_report(args: argparse.Namespace, config: Config, store: Store, clock: Clock) -> int:
    now = clock.now()
    try:
        line_id = check_line(config, args.line)
        period = parse_period(args.since, args.until, now)
    except ReportError as err:
        print(f"linedesk report: {err}", file=sys.stderr)
        return 2
    report = await build_report(store, line_id, period, now, measure_for(config))
    return write(render(report, args.format, config), args.out)


def write(text: str, out: str | None) -> int:
    """To the terminal, or to the file `out` (its folder must exist)."""
    if not out:
        sys.stdout.write(text)
        return 0
    try:
        Path(out).expanduser().write_text(text, encoding="utf-8")
    except OSError as err:
        print(f"linedesk report: cannot write {out}: {err}", file=sys.stderr)
        return 1
    print(f"report written to {out}")
    return 0
