"""Business hours in time (SPEC §14): whether a line is open, when it opens next, and how much of a span of
time was business time — what the service-level clocks and the reports count.

Pure: the schedule (`core.config.hours.HoursConfig`) read in the line's time zone through zoneinfo, so a
daylight-saving change makes that day's hours an hour shorter or longer in real time, as people live it.
Times are POSIX seconds.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from zoneinfo import ZoneInfo

from core.config.hours import HoursConfig, Range

SEARCH_DAYS = 800
"""How far ahead `next_open` and `add_business_seconds` look (a schedule open once a year is found)."""


class BusinessHours:
    def __init__(self, config: HoursConfig):
        self.zone = ZoneInfo(config.tz)
        self._week = config.week()
        self._holidays = frozenset(config.holidays)
        self._days: dict[dt.date, list[tuple[float, float]]] = {}

    @property
    def ever_open(self) -> bool:
        return any(self._week)

    def local_date(self, at: float) -> dt.date:
        return dt.datetime.fromtimestamp(at, self.zone).date()

    def intervals(self, day: dt.date) -> list[tuple[float, float]]:
        """The day's open intervals as POSIX seconds [start, end) (a holiday or a closed weekday: none)."""
        cached = self._days.get(day)
        if cached is None:
            ranges: list[Range] = [] if day in self._holidays else self._week[day.weekday()]
            cached = [(self._at(day, start), self._at(day, end)) for start, end in ranges]
            cached = [(start, end) for start, end in cached if end > start]  # a range lost to a DST jump
            if len(self._days) > 4096:
                self._days.clear()
            self._days[day] = cached
        return cached

    def _at(self, day: dt.date, minutes: int) -> float:
        if minutes >= 24 * 60:
            return self._at(day + dt.timedelta(days=1), minutes - 24 * 60)
        local = dt.datetime(day.year, day.month, day.day, minutes // 60, minutes % 60, tzinfo=self.zone)
        return local.timestamp()

    def _from(self, at: float, days: int = SEARCH_DAYS) -> Iterator[tuple[float, float]]:
        """Open intervals that end after `at`, in order (the day before too: a range may end past midnight's
        shift in UTC terms)."""
        first = self.local_date(at) - dt.timedelta(days=1)
        for offset in range(days + 2):
            for start, end in self.intervals(first + dt.timedelta(days=offset)):
                if end > at:
                    yield start, end

    def is_open(self, at: float) -> bool:
        day = self.local_date(at)
        return any(start <= at < end for start, end in self.intervals(day))

    def next_open(self, at: float) -> float | None:
        """`at` when open then, else when the hours next begin (None: never, within `SEARCH_DAYS`)."""
        for start, _ in self._from(at):
            return max(start, at)
        return None

    def business_seconds(self, start: float, end: float) -> float:
        """Seconds of business time between `start` and `end` (0 when `end` is not after `start`)."""
        if end <= start:
            return 0.0
        total = 0.0
        days = (end - start) / 86400 + 2
        for open_at, close_at in self._from(start, int(days) + 1):
            if open_at >= end:
                break
            total += min(close_at, end) - max(open_at, start)
        return total

    def add_business_seconds(self, start: float, seconds: float) -> float | None:
        """The moment `seconds` of business time after `start` (None: the hours never give that much)."""
        left = seconds
        horizon = SEARCH_DAYS + int(seconds / 86400) * 7
        for open_at, close_at in self._from(start, horizon):
            begin = max(open_at, start)
            if close_at - begin >= left:
                return begin + left
            left -= close_at - begin
        return None
