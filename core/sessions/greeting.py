"""What a new session's client is told first (SPEC §14): the line's greeting — or, outside the line's business
hours, its `out_of_hours_message` — and, with `tell_queue_position`, their place in the line's queue."""

from __future__ import annotations

from core.config import LineConfig
from core.hours import BusinessHours
from core.model import Session, SessionStatus
from core.store.base import Store

QUEUE_SCAN = 10_000
"""Queued sessions of a line counted for a position (a queue longer than this says "over …")."""


def out_of_hours(line: LineConfig, at: float) -> bool:
    """The line has business hours and `at` is outside them."""
    return line.hours is not None and not BusinessHours(line.hours).is_open(at)


async def queue_position(store: Store, session: Session) -> int:
    """The session's place in its line's queue: 1 + the queued sessions of the line opened before it."""
    queued = await store.list_sessions(status=[SessionStatus.QUEUED], line_id=session.line_id, limit=QUEUE_SCAN)
    return 1 + sum(1 for other in queued if other.number < session.number)


async def greeting_text(store: Store, line: LineConfig, session: Session, now: float) -> str:
    """The first words a session's client gets ("" says nothing)."""
    text = line.out_of_hours_message if line.out_of_hours_message and out_of_hours(line, now) else line.greeting
    if line.tell_queue_position and session.status == SessionStatus.QUEUED and session.assignee is None:
        place = f"You are number {await queue_position(store, session)} in the queue."
        text = f"{text}\n{place}" if text else place
    return text
