"""The time zone a line's times are shown in (transcripts, the client's history): the line's business hours'
`tz` when it has one, else UTC — and the reader is told which."""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError


@dataclass(frozen=True)
class LineZone:
    zone: datetime.tzinfo
    name: str
    assumed: bool
    """True: the line names no time zone, times are in UTC."""

    def local(self, at: float) -> datetime.datetime:
        return datetime.datetime.fromtimestamp(at, self.zone)

    def describe(self) -> str:
        return f"{self.name} (the line sets no time zone)" if self.assumed else self.name


UTC_ZONE = LineZone(datetime.UTC, "UTC", assumed=True)


def line_zone(line: object | None) -> LineZone:
    """The zone of `line`'s business hours (`hours = {tz = …}`, SPEC §14). Read defensively: a line without
    hours, or with a zone this machine does not know, shows UTC and says so."""
    hours = getattr(line, "hours", None)
    tz = hours.get("tz") if isinstance(hours, dict) else getattr(hours, "tz", None)
    if isinstance(tz, datetime.tzinfo):
        return LineZone(tz, str(tz), assumed=False)
    if isinstance(tz, str) and tz:
        try:
            return LineZone(ZoneInfo(tz), tz, assumed=False)
        except (ZoneInfoNotFoundError, ValueError):
            return UTC_ZONE
    return UTC_ZONE
