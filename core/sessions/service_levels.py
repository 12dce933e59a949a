"""The service-level check (SPEC §14), run in the background on the clock: a session whose first response or
resolution falls due is marked overdue — its cards say so, a notice in its thread/topic calls on the line's
online operators, `session.overdue` fires — once per session and target, even with several linedesk instances
on one store (each mark is claimed in the store first). It also assigns the sessions of `auto_assign` lines
that were opened outside business hours, once the hours begin (`Assignment.auto_assign_in_hours`)."""

from __future__ import annotations

import logging

from core.config import LineConfig
from core.courier import to_desk
from core.events import SessionOverdue
from core.locks import Busy
from core.model import OperatorStatus, Session, SessionStatus
from core.outbox_actions import Mention, Notice, RefreshCard
from core.refs import RefSpace
from core.service_levels import TARGET_WORDS, Target, clocks, hours_of, next_due, passed, shown_time
from core.sessions.assignment import Assignment
from core.sessions.common import OPEN_STATUSES, SessionParts, SessionService
from core.sessions.locking import SessionLocks

log = logging.getLogger(__name__)

CLAIM_TTL = 90 * 24 * 3600.0
"""How long an overdue mark's claim is kept (longer than any session stays open unanswered)."""
SCAN = 10_000
"""Open sessions of a line looked at per check."""


class ServiceLevels(SessionService):
    def __init__(self, parts: SessionParts, locks: SessionLocks, assignment: Assignment):
        super().__init__(parts, locks)
        self._assignment = assignment

    async def check(self) -> float | None:
        """Mark what fell due and assign what waited for the hours; returns when the next check is due (None:
        nothing is waiting on the clock)."""
        upcoming: list[float] = []
        for line in self._config.lines:
            try:
                upcoming += await self._check_line(line)
            except Exception:
                log.exception("service-level check of line %s failed", line.id)
        return min(upcoming) if upcoming else None

    async def _check_line(self, line: LineConfig) -> list[float]:
        timed = line.first_response_within is not None or line.resolve_within is not None
        waits = line.auto_assign and line.hours is not None
        if not timed and not waits:
            return []
        now = self._clock.now()
        hours = hours_of(line)
        upcoming = []
        sessions = await self._store.list_sessions(status=list(OPEN_STATUSES), line_id=line.id, limit=SCAN)
        for session in sessions if timed else []:
            for target in passed(session, line, now, hours):
                await self._mark(session.number, target, line)
            due = next_due(session, line, hours, after=now)
            if due is not None:
                upcoming.append(due)
        if waits and hours is not None:
            if hours.is_open(now):
                await self._assign_waiting(line, [s for s in sessions if s.status == SessionStatus.QUEUED])
            else:
                opens = hours.next_open(now)
                upcoming += [opens] if opens is not None else []
        return upcoming

    async def _assign_waiting(self, line: LineConfig, queued: list[Session]) -> None:
        """The hours began: the line's sessions that waited for them are assigned, oldest first."""
        for session in sorted(queued, key=lambda s: s.number):
            if await self._store.get_ref(RefSpace.HOURS_WAIT, str(session.number)) is None:
                continue
            await self._store.delete_ref(RefSpace.HOURS_WAIT, str(session.number))
            log.info("line %s is open: assigning session #%s, which waited for the hours", line.id, session.number)
            await self._assignment.auto_assign(session)

    async def _mark(self, number: int, target: Target, line: LineConfig) -> bool:
        """Mark the session overdue for `target`, once: in the session's turn, the store's claim decides which
        check (of which linedesk) does it — taken only once the mark is due, and given back if marking fails,
        so a failed or locked check leaves it to the next one."""
        key = f"overdue:{number}:{target.value}"
        try:
            async with self._locks.session(number):
                session = await self.require(number)
                if target not in passed(session, line, self._clock.now()):
                    return False  # answered, closed or marked meanwhile
                if not await self._store.claim(key, CLAIM_TTL, self._clock.now()):
                    return False  # another linedesk marked it
                try:
                    session.overdue = [*session.overdue, target.value]
                    session.updated_at = self._clock.now()
                    await self._store.save_session(session)
                except Exception:
                    await self._store.release(key)
                    raise
                await self._courier.send(
                    self._courier.desk_entries(session, RefreshCard(**to_desk(session)))
                    + self._courier.desk_entries(session, await self._notice(session, target, line))
                )
        except Busy:
            log.warning("session #%s is locked: its %s overdue mark waits for the next check", number, target.value)
            return False
        log.info("session #%s: %s overdue", number, target.value)
        client = await self._store.get_client(session.client_id)
        if client is not None:
            await self._bus.publish(SessionOverdue(session=session, client=client, overdue=target.value))
        return True

    async def _notice(self, session: Session, target: Target, line: LineConfig) -> Notice:
        """The overdue notice, calling on the line's online operators (the assignee too, if online)."""
        mentions = [
            Mention(name=operator.name, slack_user=operator.slack_user, telegram_user=operator.telegram_user)
            for operator in self._operators.of_line(line.id)
            if (await self._operators.state(operator.id)).status == OperatorStatus.ONLINE
        ]
        due = next((c.at for c in clocks(session, line) if c.target == target), None)
        text = f"⚠ {TARGET_WORDS[target]} overdue on session #{session.number}"
        text += f": it was due {shown_time(line, due)}." if due is not None else "."
        if not mentions:
            text += " No operator of the line is online."
        return Notice(**to_desk(session), text=text, mentions=mentions)
