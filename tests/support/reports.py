"""A hand-computed fixture of sessions and instances for the reports (SPEC §15), written straight into a
store, and the figures worked out by hand from it (`tests/store/test_report_store.py` and the report
surfaces check against these)."""

from __future__ import annotations

import datetime
from dataclasses import dataclass

from core.model import InstanceRecord, InstanceStatus, Session, SessionStatus
from core.store import Store

T0 = datetime.datetime(2026, 11, 2, tzinfo=datetime.UTC).timestamp()
"""Monday 2026-11-02 00:00 UTC: the fixture's period is 2026-11-02 … 2026-11-04 (three days)."""
HOUR, DAY = 3600.0, 86400.0
SINCE, UNTIL = "2026-11-02", "2026-11-04"
NOW = T0 + 3 * DAY + HOUR


@dataclass(frozen=True)
class Fixture:
    """One session: opened `at` (after T0), answered and closed that many seconds after it opened."""

    line: str
    at: float
    assignee: str | None = None
    first: float | None = None
    closed: float | None = None
    rating: int | None = None
    status: SessionStatus | None = None


SESSIONS = (
    Fixture("support", 1 * HOUR, "anna", first=60, closed=600, rating=5),
    Fixture("support", 2 * HOUR, "anna", first=120, closed=1200, rating=4),
    Fixture("support", DAY + HOUR, "bob", first=300, closed=3600, rating=2),
    Fixture("support", DAY + 2 * HOUR, "bob", first=30, status=SessionStatus.ACTIVE),
    Fixture("support", 2 * DAY + HOUR, status=SessionStatus.QUEUED),
    Fixture("support", 2 * DAY + 3 * HOUR, status=SessionStatus.SPAM),
    Fixture("sales", HOUR, "carol", first=10, closed=100, rating=3),
    Fixture("support", -HOUR, "anna", first=5, closed=2 * HOUR, rating=1),  # opened before the period
)

# (line, trigger, status, started after T0)
INSTANCES: tuple[tuple[str, str, InstanceStatus, float], ...] = (
    ("support", "manual", InstanceStatus.RUNNING, HOUR + 100),
    ("support", "manual", InstanceStatus.FAILED, 2 * HOUR + 100),
    ("support", "session.created", InstanceStatus.COMPLETED, DAY + HOUR),
    ("sales", "session.created", InstanceStatus.COMPLETED, HOUR + 1),
    ("support", "manual", InstanceStatus.COMPLETED, -HOUR),  # before the period
)


async def write_fixture(store: Store) -> None:
    for n, f in enumerate(SESSIONS):
        opened = T0 + f.at
        status = f.status or (SessionStatus.CLOSED if f.closed is not None else SessionStatus.ACTIVE)
        made = await store.create_session(
            Session(number=0, line_id=f.line, client_id=f"telegram:{700 + n}", status=status, created_at=opened)
        )
        await store.save_session(
            made.model_copy(
                update={
                    "assignee": f.assignee,
                    "first_response_at": opened + f.first if f.first is not None else None,
                    "closed_at": opened + f.closed if f.closed is not None else None,
                    "rating": f.rating,
                    "rated_at": opened + (f.closed or 0) + 30 if f.rating is not None else None,
                    "updated_at": opened,
                }
            )
        )
    for n, (line, trigger, state, at) in enumerate(INSTANCES):
        await store.commit_instance(
            InstanceRecord(
                id=f"fixture-{n}",
                process_id="handle_request",
                process_name='Handle "request"',
                line_id=line,
                trigger=trigger,
                status=state,
                state='{"status": "x", "trigger": "y", "line_id": "z"}',
                created_at=T0 + at,
            )
        )
