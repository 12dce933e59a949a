"""Outbound sessions: the line writes first (initiative messages) — in the client's open session, or in a
new one opened for it."""

from __future__ import annotations

from core.courier import to_desk
from core.errors import Refusal
from core.events import SessionCreated
from core.model import Client, Session, SessionStatus
from core.outbox_actions import OpenSession
from core.sessions.common import SessionService


class OutboundSessions(SessionService):
    async def open_outbound(self, line_id: str, client: Client) -> Session:
        """The client's open session on the line, or a new outbound one (initiative messages)."""
        line = self._config.line(line_id)
        if line is None:
            raise Refusal(f"unknown line {line_id!r}", "no_line")
        async with self._locks.client(line_id, client.id):
            latest = await self._store.latest_session(line_id, client.id)
            if latest is not None and latest.is_open:
                return latest
            if latest is not None and latest.status == SessionStatus.SPAM:
                raise Refusal(f"the client's session #{latest.number} is marked as spam", "spam")
            now = self._clock.now()
            session = await self._store.create_session(
                Session(
                    number=0,
                    line_id=line_id,
                    client_id=client.id,
                    status=SessionStatus.QUEUED,
                    created_at=now,
                    updated_at=now,
                    outbound=True,
                    previous_session=latest.number if latest else None,
                )
            )
            await self._courier.send(self._courier.desk_entries(session, OpenSession(**to_desk(session))))
        await self._bus.publish(SessionCreated(session=session, client=client))
        return session
