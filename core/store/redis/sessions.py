"""Counters, clients, sessions, their messages and the operators' state."""

from __future__ import annotations

from collections.abc import Sequence
from typing import cast

from core.model import (
    Client,
    Message,
    OperatorState,
    Session,
    SessionStatus,
)
from core.record import STORED
from core.store.redis.connection import (
    RedisBase,
    _num,
    _translated,
)


class SessionsMixin(RedisBase):
    # --- counters -------------------------------------------------------------
    @_translated
    async def next_number(self, counter: str) -> int:
        return int(await self._r.incr(self._k("counter", counter)))

    # --- clients -------------------------------------------------------------
    @_translated
    async def get_client(self, client_id: str) -> Client | None:
        return (await self._load(Client, [self._k("client", client_id)]))[0]

    @_translated
    async def save_client(self, client: Client) -> None:
        await self._r.set(self._k("client", client.id), client.model_dump_json())

    # --- sessions -------------------------------------------------------------
    def _session_indexes(self, s: Session) -> list[str]:
        keys = [
            self._k("sessions"),
            self._k("sessions", "status", s.status.value),
            self._k("sessions", "line", s.line_id, "status", s.status.value),
            self._k("sessions", "line", s.line_id, "client", s.client_id),
            self._k("sessions", "client", s.client_id),
        ]
        if s.assignee is not None:
            keys.append(self._k("sessions", "assignee", s.assignee, "status", s.status.value))
        return keys

    async def _put_session(self, session: Session) -> None:
        """One round trip (a script), where a WATCH/GET/MULTI transaction took three. A session's line and
        client never change, so only the status and assignee indexes can go stale."""
        await self._put_session_script(
            keys=[self._k("session", session.number), self._k("sessions", "line", session.line_id, "quiet")],
            args=[
                self.prefix,
                session.number,
                session.model_dump_json(),
                _num(session.quiet_since) if session.is_open else "",
                *self._session_indexes(session),
            ],
        )

    @_translated
    async def count_active_sessions(self, operator_ids: Sequence[str]) -> dict[str, int]:
        """The size of each operator's `sessions:assignee:<a>:status:active` index, in one round trip."""
        wanted = list(dict.fromkeys(operator_ids))
        if not wanted:
            return {}
        async with self._r.pipeline(transaction=False) as pipe:
            for operator_id in wanted:
                pipe.zcard(self._k("sessions", "assignee", operator_id, "status", SessionStatus.ACTIVE.value))
            sizes = await pipe.execute()
        return {operator_id: int(size) for operator_id, size in zip(wanted, sizes, strict=True)}

    @_translated
    async def quiet_sessions(self, line_id: str, quiet_before: float, limit: int = 1000) -> list[Session]:
        if limit <= 0:
            return []
        numbers = await self._r.zrangebyscore(
            self._k("sessions", "line", line_id, "quiet"), "-inf", _num(quiet_before), start=0, num=limit
        )
        found = await self._load(Session, [self._k("session", n) for n in numbers])
        return [s for s in found if s is not None and s.is_open]

    @_translated
    async def create_session(self, session: Session) -> Session:
        numbered = session.model_copy(update={"number": await self.next_number("session")})
        await self._put_session(numbered)
        return numbered

    @_translated
    async def get_session(self, number: int) -> Session | None:
        return (await self._load(Session, [self._k("session", number)]))[0]

    @_translated
    async def save_session(self, session: Session) -> None:
        await self._put_session(session)

    @_translated
    async def latest_session(self, line_id: str, client_id: str) -> Session | None:
        doc = await self._latest_session(
            keys=[self._k("sessions", "line", line_id, "client", client_id)], args=[self._k("session", "")]
        )
        return Session.model_validate_json(doc, context=STORED) if doc else None

    @_translated
    async def list_sessions(
        self,
        *,
        status: Sequence[SessionStatus] | None = None,
        line_id: str | None = None,
        assignee: str | None = None,
        client_id: str | None = None,
        limit: int = 100,
    ) -> list[Session]:
        if limit <= 0 or (status is not None and not status):
            return []
        wanted = {SessionStatus(s) for s in status} if status is not None else set(SessionStatus)
        statuses = sorted(wanted)
        # drive by the narrowest index(es) whose union holds every match; the rest is filtered here
        if client_id is not None:
            indexes = [
                self._k("sessions", "line", line_id, "client", client_id)
                if line_id is not None
                else self._k("sessions", "client", client_id)
            ]
        elif assignee is not None:
            indexes = [self._k("sessions", "assignee", assignee, "status", s.value) for s in statuses]
        elif line_id is not None:
            indexes = [self._k("sessions", "line", line_id, "status", s.value) for s in statuses]
        elif status is not None:
            indexes = [self._k("sessions", "status", s.value) for s in statuses]
        else:
            indexes = [self._k("sessions")]

        def keep(s: Session) -> bool:
            return (
                s.status in wanted
                and (line_id is None or s.line_id == line_id)
                and (assignee is None or s.assignee == assignee)
                and (client_id is None or s.client_id == client_id)
            )

        async def load(members: list[str]) -> list[Session | None]:
            return await self._load(Session, [self._k("session", m) for m in members])

        return await self._newest(indexes, load, keep, limit)

    # --- messages -------------------------------------------------------------
    @_translated
    async def add_message(self, message: Message) -> Message:
        stored = message.model_copy(update={"id": int(await self._r.incr(self._k("seq", "message")))})
        await self._r.zadd(self._k("messages", stored.session), {stored.model_dump_json(): stored.id})
        return stored

    @_translated
    async def list_messages(self, session: int, limit: int = 1000) -> list[Message]:
        if limit <= 0:
            return []
        docs = cast(list[str], await self._r.zrange(self._k("messages", session), 0, limit - 1))
        return [Message.model_validate_json(d, context=STORED) for d in docs]

    @_translated
    async def get_message(self, session: int, message_id: int) -> Message | None:
        docs = cast(list[str], await self._r.zrangebyscore(self._k("messages", session), message_id, message_id))
        return Message.model_validate_json(docs[0], context=STORED) if docs else None

    @_translated
    async def update_message(self, message: Message) -> None:
        key = self._k("messages", message.session)
        async with self._r.pipeline(transaction=True) as pipe:
            pipe.zremrangebyscore(key, message.id, message.id)
            pipe.zadd(key, {message.model_dump_json(): message.id})
            await pipe.execute()

    # --- operators -------------------------------------------------------------
    @_translated
    async def get_operator(self, operator_id: str) -> OperatorState:
        state = (await self._load(OperatorState, [self._k("operator", operator_id)]))[0]
        return state if state is not None else OperatorState(operator_id=operator_id)

    @_translated
    async def save_operator(self, state: OperatorState) -> None:
        await self._r.set(self._k("operator", state.operator_id), state.model_dump_json())
