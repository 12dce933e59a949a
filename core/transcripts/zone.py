"""The time zone a line's times are shown in (transcripts, the client's history): the line's business hours'
`tz` when it has one, else UTC — and the reader is told which."""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from core.config import LineConfig


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


def line_zone(line: LineConfig | None) -> LineZone:
    """The zone of `line`'s business hours (`hours = {tz = …}`, SPEC §14; the config checked the name). A line
    without hours or without a `tz` in them, or a zone this machine's time-zone data does not have, shows UTC
    and says so."""
    if line is None or line.hours is None or "tz" not in line.hours.model_fields_set:
        return UTC_ZONE
    try:
        return LineZone(ZoneInfo(line.hours.tz), line.hours.tz, assumed=False)
    except (ZoneInfoNotFoundError, ValueError):
        return UTC_ZONE
