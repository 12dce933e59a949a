"""Service levels (SPEC §14): when a session's first response and its resolution are due, in business time
where the line has hours, and what the desk cards say about them. Pure: no store, no platform."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from enum import StrEnum

from core.config import LineConfig
from core.hours import BusinessHours
from core.model import Session


class Target(StrEnum):
    FIRST_RESPONSE = "first_response"
    RESOLUTION = "resolution"


TARGET_WORDS = {Target.FIRST_RESPONSE: "First response", Target.RESOLUTION: "Resolution"}


@dataclass(frozen=True)
class Due:
    """One service-level clock of a session."""

    target: Target
    at: float | None
    """When it is due (None: the business hours never give that much time)."""
    running: bool
    """Still counting: not met (first response given / session closed) and not marked overdue."""
    overdue: bool
    """Marked overdue (`Session.overdue`)."""


def hours_of(line: LineConfig) -> BusinessHours | None:
    return BusinessHours(line.hours) if line.hours is not None else None


def due_after(line: LineConfig, start: float, seconds: float, hours: BusinessHours | None = None) -> float | None:
    """`seconds` after `start`, counted in the line's business time where it has hours."""
    hours = hours or hours_of(line)
    return start + seconds if hours is None else hours.add_business_seconds(start, seconds)


def clocks(session: Session, line: LineConfig, hours: BusinessHours | None = None) -> list[Due]:
    """The session's service-level clocks: the line's targets, from when the session opened."""
    hours = hours or hours_of(line)
    result = []
    targets = (
        (Target.FIRST_RESPONSE, line.first_response_within, session.first_response_at is None),
        (Target.RESOLUTION, line.resolve_within, session.is_open),
    )
    for target, within, unmet in targets:
        if within is None:
            continue
        overdue = target.value in session.overdue
        at = due_after(line, session.created_at, within, hours)
        result.append(Due(target, at, running=unmet and session.is_open and not overdue, overdue=overdue))
    return result


def passed(session: Session, line: LineConfig, now: float, hours: BusinessHours | None = None) -> list[Target]:
    """Targets whose clock is running and due at or before `now`: to be marked overdue."""
    return [due.target for due in clocks(session, line, hours) if due.running and due.at is not None and due.at <= now]


def next_due(
    session: Session, line: LineConfig, hours: BusinessHours | None = None, *, after: float | None = None
) -> float | None:
    """When the session's next running clock is due (after `after`, if given; None: none is)."""
    times = [
        due.at
        for due in clocks(session, line, hours)
        if due.running and due.at is not None and (after is None or due.at > after)
    ]
    return min(times) if times else None


def shown_time(line: LineConfig, at: float) -> str:
    """A moment as the line's team reads it: in the line's time zone (UTC without hours)."""
    hours = hours_of(line)
    zone = hours.zone if hours is not None else dt.UTC
    return dt.datetime.fromtimestamp(at, zone).strftime("%a %d %b %H:%M %Z")


def card_lines(session: Session, line: LineConfig) -> list[str]:
    """What the desk cards say of the service levels: when each is due, overdue, or met."""
    lines = []
    for due in clocks(session, line):
        word = TARGET_WORDS[due.target]
        if due.overdue:
            lines.append(f"⚠ {word} overdue" + (f" (was due {shown_time(line, due.at)})" if due.at else ""))
        elif due.running:
            lines.append(f"⏱ {word} due {shown_time(line, due.at)}" if due.at is not None else f"⏱ {word}: no due time")
        elif session.first_response_at is not None if due.target == Target.FIRST_RESPONSE else not session.is_open:
            lines.append(f"✓ {word} in time")
    return lines
