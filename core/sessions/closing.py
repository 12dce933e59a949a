"""A session ends or is set aside: an operator (or a process) closes it, the idle check closes it once its
client has been silent for the line's `auto_close_after`, an operator marks it as spam (and unmarks it)."""

from __future__ import annotations

import logging

from core.config import LineConfig
from core.courier import to_desk
from core.errors import Refusal
from core.events import SessionClosed
from core.locks import Busy
from core.model import OperatorStatus, Session, SessionStatus
from core.outbox_actions import RefreshCard
from core.sessions.assignment import Assignment
from core.sessions.common import SessionParts, SessionService
from core.sessions.locking import SessionLocks

log = logging.getLogger(__name__)

IDLE_PAGE = 1000
"""Idle sessions closed per line per check (every 30 s): a backlog is worked off over a few checks."""


class Closing(SessionService):
    def __init__(self, parts: SessionParts, locks: SessionLocks, assignment: Assignment):
        super().__init__(parts, locks)
        self._assignment = assignment

    async def close(self, number: int, by: str, *, operator_id: str | None = None) -> Session:
        """Close a session; `by` is who closed it as shown on the desk ("Anna", "process", …). Closing a closed
        session changes nothing and fires nothing: two closers at once (a click and the idle check, two
        linedesk instances) fire `session.closed` once."""
        async with self._locks.session(number):
            session = await self.require(number)
            if operator_id is not None:
                await self._operators.require_active(self._operators.get(operator_id), session, "close sessions")
            if session.status == SessionStatus.CLOSED:
                return session
            session = await self._close_locked(session, by)
        await self._publish_closed(session, by)
        return session

    async def close_idle(self) -> int:
        """Close sessions whose client has been silent for the line's `auto_close_after`. Returns how many.
        Each is checked again under its mutex: a client who just wrote, or another linedesk closing it at the
        same moment, leaves it alone."""
        closed = 0
        for line in self._config.lines:
            quiet = await self._store.quiet_sessions(
                line.id, self._clock.now() - line.auto_close_after, limit=IDLE_PAGE
            )
            if len(quiet) == IDLE_PAGE:
                log.info("line %s: over %s idle sessions; the rest are closed by the next checks", line.id, IDLE_PAGE)
            for session in quiet:
                try:
                    if await self._close_if_idle(session.number, line):
                        closed += 1
                except Busy:
                    log.warning(
                        "session #%s is locked: closing it for inactivity waits for the next check", session.number
                    )
        return closed

    async def _close_if_idle(self, number: int, line: LineConfig) -> bool:
        async with self._locks.session(number):
            session = await self.require(number)
            if not session.is_open or not _idle(session, line, self._clock.now()):
                return False
            by = f"inactivity (no message from the client for {_duration(line.auto_close_after)})"
            session = await self._close_locked(session, by)
        await self._publish_closed(session, by)
        return True

    async def _close_locked(self, session: Session, by: str) -> Session:
        now = self._clock.now()
        session.status = SessionStatus.CLOSED
        session.closed_at = now
        session.updated_at = now
        await self._store.save_session(session)
        await self._courier.send(
            self._courier.desk_entries(session, RefreshCard(**to_desk(session)))
            + self._courier.notice(session, f"■ Session closed by {by}.", aside=True)
        )
        return session

    async def _publish_closed(self, session: Session, by: str) -> None:
        client = await self._store.get_client(session.client_id)
        if client is not None:
            await self._bus.publish(SessionClosed(session=session, client=client, by=by))

    async def mark_spam(self, number: int, operator_id: str) -> Session:
        """Hidden from lists, nothing mirrored or started any more; unmarking restores the previous state."""
        async with self._locks.session(number):
            session = await self.require(number)
            operator = self._operators.get(operator_id)
            await self._operators.require_active(operator, session, "mark spam")
            assert operator is not None
            session.previous_status = session.status
            session.status = SessionStatus.SPAM
            session.updated_at = self._clock.now()
            await self._store.save_session(session)
            await self._courier.send(
                self._courier.desk_entries(session, RefreshCard(**to_desk(session)))
                + self._courier.notice(session, f"🚫 {operator.name} marked the session as spam.", aside=True)
            )
            return session

    async def unmark_spam(self, number: int, operator_id: str) -> Session:
        """The session gets its previous state back — active with the same operator, unless they went offline
        (or left the line) meanwhile: then it is back in the queue (and auto-assigned on such lines)."""
        async with self._locks.session(number):
            session = await self.require(number)
            operator = self._operators.get(operator_id)
            if operator is None or not operator.serves(session.line_id):
                raise Refusal("You are not an operator of this session's line.", "wrong_line")
            if (await self._operators.state(operator.id)).status == OperatorStatus.OFFLINE:
                raise Refusal("You are offline: you cannot unmark spam. Type /status online first.", "offline")
            if session.status != SessionStatus.SPAM:
                return session
            restored = session.previous_status or SessionStatus.QUEUED
            notice = f"✅ {operator.name} unmarked spam."
            requeued = restored == SessionStatus.ACTIVE and not await self._assignment.may_hold(
                session.assignee, session.line_id
            )
            if requeued:
                restored = SessionStatus.QUEUED
                session.assignee = None
                notice += " Its operator is not available any more: the session is back in the queue."
            session.status = restored
            session.previous_status = None
            session.updated_at = self._clock.now()
            await self._store.save_session(session)
            await self._courier.send(
                self._courier.desk_entries(session, RefreshCard(**to_desk(session)))
                + self._courier.notice(session, notice, aside=True)
            )
        line = self._config.line(session.line_id)
        if requeued and line is not None and line.auto_assign:
            session = await self._assignment.auto_assign(session)
        return session


def _idle(session: Session, line: LineConfig, now: float) -> bool:
    """The client has been silent for the line's `auto_close_after`."""
    return now - session.quiet_since >= line.auto_close_after


def _duration(seconds: float) -> str:
    if seconds >= 3600 and seconds % 3600 == 0:
        return f"{int(seconds // 3600)} h"
    if seconds >= 60 and seconds % 60 == 0:
        return f"{int(seconds // 60)} min"
    return f"{seconds:g} s"
