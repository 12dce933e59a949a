"""The period a report covers: `--since 7d|30d|DATE`, `--until DATE` (SPEC §15), read into POSIX seconds."""

from __future__ import annotations

import datetime
from dataclasses import dataclass

from core.config.durations import parse_duration

DAY = 86400.0
DEFAULT_SINCE = "7d"
MAX_DAYS = 3660
EARLIEST = 0.0
LATEST = datetime.datetime(9999, 12, 30, tzinfo=datetime.UTC).timestamp()


class ReportError(ValueError):
    """A report asked for with a bad parameter; the message names it and what to write instead."""


@dataclass(frozen=True)
class Period:
    """Sessions opened at or after `since` and before `until` (POSIX seconds, UTC days)."""

    since: float
    until: float

    @property
    def days(self) -> list[datetime.date]:
        first = _day(self.since)
        last = _day(max(self.since, self.until - 1e-6))
        return [first + datetime.timedelta(days=n) for n in range((last - first).days + 1)]


def parse_period(since: str | None, until: str | None, now: float) -> Period:
    """`since`: a length back from `until` ("7d", "30d", "12h") or a date/time ("2026-11-01",
    "2026-11-01T09:00"); `until`: a date (that day included) or a date/time; default now. Times without a
    zone are UTC."""
    end = _instant(until, "until", end_of_day=True) if until else now
    text = (since or DEFAULT_SINCE).strip()
    start = _ago(text, end) if text[-1:].lower() in ("d", "h", "m", "s") else _instant(text, "since", end_of_day=False)
    if start >= end:
        raise ReportError(f"since ({since}) must be before until ({until or 'now'})")
    if end - start > MAX_DAYS * DAY:
        raise ReportError(f"the period is too long: at most {MAX_DAYS} days")
    if not EARLIEST <= start < end <= LATEST:
        raise ReportError("the period must lie between the years 1970 and 9999")
    return Period(start, end)


def _ago(text: str, end: float) -> float:
    try:
        return end - parse_duration(text)
    except ValueError as err:
        raise ReportError(f"since: {err}; or a date like 2026-11-01") from None


def _instant(text: str, name: str, *, end_of_day: bool) -> float:
    value = text.strip()
    try:
        if len(value) == 10:
            day = datetime.date.fromisoformat(value)
            moment = datetime.datetime(day.year, day.month, day.day, tzinfo=datetime.UTC)
            return (moment + datetime.timedelta(days=1 if end_of_day else 0)).timestamp()
        parsed = datetime.datetime.fromisoformat(value)
    except (ValueError, OverflowError):  # 9999-12-31 has no next day
        raise ReportError(
            f"{name}: {text!r} is not a date: write 2026-11-01 or 2026-11-01T09:00"
            + (" (or a length back like 7d, 30d)" if name == "since" else "")
        ) from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=datetime.UTC)
    return parsed.timestamp()


def _day(moment: float) -> datetime.date:
    return datetime.datetime.fromtimestamp(moment, datetime.UTC).date()
