"""Reports (SPEC §15): figures of a period from the store, as text, JSON, an HTML page and PNG charts."""

from core.reports.build import (
    Elapsed,
    Measure,
    Targets,
    build_report,
    check_line,
    compute,
    line_targets,
    measure_for,
    no_targets,
    percentile,
    wall_clock,
)
from core.reports.figures import DayFigures, OperatorFigures, ProcessFigures, Ratings, Report, Times
from core.reports.period import Period, ReportError, parse_period

__all__ = [
    "DayFigures",
    "Elapsed",
    "Measure",
    "OperatorFigures",
    "Period",
    "ProcessFigures",
    "Ratings",
    "Report",
    "ReportError",
    "Targets",
    "Times",
    "build_report",
    "check_line",
    "compute",
    "line_targets",
    "measure_for",
    "no_targets",
    "parse_period",
    "percentile",
    "wall_clock",
]
