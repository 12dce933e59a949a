"""Who holds a session: an operator takes it, transfers it, it is assigned automatically (the least busy
online operator of the line), and an operator who goes offline hands theirs back to the queue."""

from __future__ import annotations

import logging

from core.config import OperatorConfig
from core.courier import to_desk
from core.errors import Refusal
from core.events import OperatorStatusChanged, SessionAssigned
from core.model import AuthorKind, Message, OperatorStatus, Session, SessionStatus
from core.outbox_actions import RefreshCard
from core.refs import RefSpace
from core.sessions.common import SessionService

log = logging.getLogger(__name__)


class Assignment(SessionService):
    async def take(self, number: int, operator_id: str) -> Session:
        """First click wins, from whichever desk: a session someone else has is transferred, not taken."""
        async with self._locks.session(number):
            session = await self.require(number)
            operator = self._operators.get(operator_id)
            await self._operators.require_active(operator, session, "take sessions")
            assert operator is not None
            if session.status == SessionStatus.CLOSED:
                raise Refusal(f"Session #{number} is closed.", "closed")
            if session.assignee == operator.id:
                return session
            if session.assignee is not None:
                holder = self._operators.get(session.assignee)
                raise Refusal(
                    f"{holder.name if holder else session.assignee} already has session #{number}; "
                    "ask them to transfer it.",
                    "taken",
                )
            session = await self._assign(session, operator, f"✋ {operator.name} took the session.")
            if session.assignee != operator.id:  # they went offline while taking it
                raise Refusal("You are offline: you cannot take sessions. Type /status online first.", "offline")
        await self._publish_assigned(session)
        return session

    async def transfer(self, number: int, operator_id: str, to_operator_id: str | None) -> Session:
        """Hand the session to another operator of the line, or back to the queue (`to_operator_id` None)."""
        async with self._locks.session(number):
            session = await self.require(number)
            operator = self._operators.get(operator_id)
            await self._operators.require_active(operator, session, "transfer sessions")
            assert operator is not None
            if session.status == SessionStatus.CLOSED:
                raise Refusal(f"Session #{number} is closed.", "closed")
            if to_operator_id is None:
                if session.assignee is None:
                    return session
                return await self.unassign(session, f"↩ {operator.name} put the session back in the queue.")
            target = self._operators.get(to_operator_id)
            if target is None or not target.serves(session.line_id):
                raise Refusal(f"{to_operator_id!r} is not an operator of line {session.line_id!r}.", "wrong_line")
            if (await self._operators.state(target.id)).status == OperatorStatus.OFFLINE:
                raise Refusal(f"{target.name} is offline.", "target_offline")
            if session.assignee == target.id:
                return session
            session = await self._assign(
                session, target, f"➡ {operator.name} transferred the session to {target.name}."
            )
        await self._publish_assigned(session)
        return session

    async def _publish_assigned(self, session: Session) -> None:
        """`session.assigned`, once the session's turn is over (its auto-start may act on the session)."""
        client = await self._store.get_client(session.client_id)
        if session.assignee is not None and client is not None:
            await self._bus.publish(SessionAssigned(session=session, client=client, assignee=session.assignee))

    async def may_hold(self, operator_id: str | None, line_id: str) -> bool:
        """Whether `operator_id` may hold an active session of the line: they serve it and are not offline."""
        operator = self._operators.get(operator_id) if operator_id else None
        if operator is None or not operator.serves(line_id):
            return False
        return (await self._operators.state(operator.id)).status != OperatorStatus.OFFLINE

    async def _assign(self, session: Session, operator: OperatorConfig, notice: str) -> Session:
        """Give the session to `operator` (the caller holds the session's turn). Returns it queued instead if
        the operator went offline meanwhile — after `on_operator_status` looked for their sessions."""
        session.assignee = operator.id
        session.status = SessionStatus.ACTIVE
        session.updated_at = self._clock.now()
        await self._store.save_session(session)
        if (await self._operators.state(operator.id)).status == OperatorStatus.OFFLINE:
            log.info("session #%s: %s went offline while it was assigned to them", session.number, operator.id)
            return await self.unassign(session, f"↩ {operator.name} went offline: the session is back in the queue.")
        await self._operators.remember_session(operator.id, session.number)
        outbox = self._courier.desk_entries(session, RefreshCard(**to_desk(session))) + self._courier.notice(
            session, notice, aside=True
        )
        line = self._config.line(session.line_id)
        client = await self._store.get_client(session.client_id)
        if line is not None and line.operator_joined and client is not None and not client.unreachable:
            text = line.operator_joined.replace("{operator}", operator.name)
            joined = await self._store.add_message(
                Message(
                    session=session.number,
                    author_kind=AuthorKind.SYSTEM,
                    author_name=line.name,
                    text=text,
                    created_at=self._clock.now(),
                )
            )
            outbox.append(self._courier.client_text(client, session, text, joined, AuthorKind.SYSTEM))
        await self._courier.send(outbox)
        return session

    async def unassign(self, session: Session, notice: str) -> Session:
        """Back to the queue (the caller holds the session's turn); the desks are told `notice`."""
        session.assignee = None
        session.status = SessionStatus.QUEUED
        session.updated_at = self._clock.now()
        await self._store.save_session(session)
        await self._courier.send(
            self._courier.desk_entries(session, RefreshCard(**to_desk(session)))
            + self._courier.notice(session, notice, aside=True)
        )
        return session

    async def auto_assign(self, session: Session) -> Session:
        """`auto_assign` lines: the online operator of the line with the fewest active sessions (ties: the
        one whose last automatic assignment is the oldest) gets it; with nobody online it stays queued and
        the client gets the line's `queued_note`.

        One line's assignments take turns (a line mutex, in the store too), so sessions opened at the same
        moment — on one linedesk or several — do not all see the same operator as the least busy."""
        async with self._locks.session(session.number):
            fresh = await self.require(session.number)
            assigned = False
            # a chosen operator who goes offline at that moment gets it back off (`_assign`): choose again
            for _ in range(len(self._operators.of_line(fresh.line_id)) + 1):
                if fresh.assignee is not None or fresh.status != SessionStatus.QUEUED:
                    break
                async with self._locks.line(fresh.line_id):
                    chosen = await self._least_busy(fresh.line_id)
                    if chosen is None:
                        break
                    await self._store.set_ref(
                        RefSpace.LAST_ASSIGNED,
                        chosen.id,
                        {"at": self._clock.now(), "seq": await self._store.next_number("assign")},
                    )
                    fresh = await self._assign(fresh, chosen, f"🤖 Assigned to {chosen.name} (auto-assign).")
                    assigned = fresh.assignee is not None
            if fresh.assignee is None and fresh.status == SessionStatus.QUEUED:
                await self._queued_note(fresh)
        if assigned:  # by this call
            await self._publish_assigned(fresh)
        return fresh

    async def _queued_note(self, session: Session) -> None:
        """Nobody took it: the client is told the line's `queued_note`, if it has one."""
        line = self._config.line(session.line_id)
        client = await self._store.get_client(session.client_id)
        if line is not None and line.queued_note and client is not None and not client.unreachable:
            await self._courier.send(
                [self._courier.client_text(client, session, line.queued_note, None, AuthorKind.SYSTEM)]
            )

    async def _least_busy(self, line_id: str) -> OperatorConfig | None:
        """The online operator of the line with the fewest active sessions (counted in the store); ties: the
        least recent automatic assignment (a store sequence, not the clock: two assignments can share a
        timestamp), then the id."""
        online = [
            operator
            for operator in self._operators.of_line(line_id)
            if (await self._operators.state(operator.id)).status == OperatorStatus.ONLINE
        ]
        if not online:
            return None
        active = await self._store.count_active_sessions([operator.id for operator in online])
        candidates = []
        for operator in online:
            last = await self._store.get_ref(RefSpace.LAST_ASSIGNED, operator.id)
            candidates.append((active[operator.id], int(last.get("seq", 0)) if last else 0, operator.id, operator))
        return min(candidates, key=lambda c: c[:3])[3]

    async def on_operator_status(self, event: OperatorStatusChanged) -> None:
        """An operator who goes offline hands their active sessions back to the queue (and, on auto-assign
        lines, to whoever is online)."""
        if event.new != OperatorStatus.OFFLINE:
            return
        operator = self._operators.get(event.operator_id)
        name = operator.name if operator else event.operator_id
        for session in await self._store.list_sessions(
            status=[SessionStatus.ACTIVE], assignee=event.operator_id, limit=10_000
        ):
            async with self._locks.session(session.number):
                fresh = await self.require(session.number)
                if fresh.assignee != event.operator_id or fresh.status != SessionStatus.ACTIVE:
                    continue
                await self.unassign(fresh, f"↩ {name} went offline: the session is back in the queue.")
            line = self._config.line(session.line_id)
            if line is not None and line.auto_assign:
                await self.auto_assign(fresh)
