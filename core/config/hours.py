"""A line's business hours in the config (SPEC §14): a time zone, a weekly schedule and holidays.

`hours = { tz = "Europe/Moscow", mon = "09:00-18:00", tue = "09:00-13:00,14:00-18:00", holidays = ["2026-12-31"] }`
— a day left out (or "") is closed; "24:00" ends a range at midnight. Every problem names its key.
"""

from __future__ import annotations

import datetime as dt
import itertools
import re
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, field_validator

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
"""The schedule's keys, in `date.weekday()` order."""

_RANGE_RE = re.compile(r"^(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})$")
_HINT = "use ranges like '09:00-18:00' or '09:00-13:00,14:00-18:00' ('' or no key: closed)"

Range = tuple[int, int]
"""Minutes since local midnight: [start, end)."""


def _minutes(hour: str, minute: str, text: str) -> int:
    h, m = int(hour), int(minute)
    if m > 59 or h > 24 or (h == 24 and m != 0):
        raise ValueError(f"invalid time in {text!r}: {_HINT}")
    return h * 60 + m


def parse_day(text: str) -> list[Range]:
    """The open ranges of one day's schedule text, sorted; ValueError for anything ill-formed or overlapping."""
    ranges: list[Range] = []
    for part in text.split(","):
        part = part.strip()
        if not part:
            if text.strip():
                raise ValueError(f"empty range in {text!r}: {_HINT}")
            continue
        match = _RANGE_RE.fullmatch(part)
        if match is None:
            raise ValueError(f"invalid range {part!r}: {_HINT}")
        start = _minutes(match[1], match[2], part)
        end = _minutes(match[3], match[4], part)
        if start >= end:
            raise ValueError(f"range {part!r} ends before it starts (ranges do not cross midnight)")
        ranges.append((start, end))
    ranges.sort()
    for (_, end), (start, _) in itertools.pairwise(ranges):
        if start < end:
            raise ValueError(f"ranges overlap in {text!r}")
    return ranges


class HoursConfig(BaseModel):
    """`[lines] hours`: when the line's operators work."""

    model_config = ConfigDict(extra="forbid", hide_input_in_errors=True)

    tz: str = "UTC"
    """An IANA time zone ("Europe/Moscow"); the schedule and holidays are in it."""
    mon: str = ""
    tue: str = ""
    wed: str = ""
    thu: str = ""
    fri: str = ""
    sat: str = ""
    sun: str = ""
    holidays: list[dt.date] = Field(default_factory=list)
    """Whole days closed ("2026-12-31"), in the line's time zone."""

    @field_validator("tz")
    @classmethod
    def _tz(cls, value: str) -> str:
        value = value.strip()
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r}: use an IANA name like 'Europe/Moscow' or 'UTC'") from None
        return value

    @field_validator(*WEEKDAYS)
    @classmethod
    def _day(cls, value: str) -> str:
        parse_day(value)
        return value.strip()

    @field_validator("holidays", mode="before")
    @classmethod
    def _holidays(cls, value: object) -> object:
        if not isinstance(value, list):
            raise ValueError("must be a list of dates like ['2026-12-31']")
        for item in value:
            if isinstance(item, str) and not re.fullmatch(r"\d{4}-\d{2}-\d{2}", item.strip()):
                raise ValueError(f"invalid date {item!r}: use YYYY-MM-DD, e.g. '2026-12-31'")
        return value

    def week(self) -> list[list[Range]]:
        """The open ranges of each weekday, Monday first."""
        return [parse_day(getattr(self, day)) for day in WEEKDAYS]
