"""Operators: who may act on which session, and their status."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from core.clock import Clock
from core.config import Config, OperatorConfig
from core.errors import Refusal
from core.events import EventBus, OperatorStatusChanged
from core.locks import KeyedLocks, store_mutex
from core.model import OperatorState, OperatorStatus, Session, SessionStatus
from core.store.base import Store


class Operators:
    def __init__(self, store: Store, config: Config, clock: Clock, bus: EventBus | None = None):
        self._store = store
        self._config = config
        self._clock = clock
        self._bus = bus
        self._locks = KeyedLocks()

    def by_slack(self, user_id: str) -> OperatorConfig | None:
        return self._config.operator_by_slack(user_id)

    def require_slack(self, user_id: str) -> OperatorConfig:
        """The operator behind a Slack user, or a refusal saying they are not one."""
        operator = self._config.operator_by_slack(user_id)
        if operator is None:
            raise Refusal("You are not a linedesk operator.", "not_operator")
        return operator

    def by_telegram(self, user_id: int) -> OperatorConfig | None:
        return self._config.operator_by_telegram(user_id)

    def get(self, operator_id: str) -> OperatorConfig | None:
        return self._config.operator(operator_id)

    async def state(self, operator_id: str) -> OperatorState:
        return await self._store.get_operator(operator_id)

    async def set_status(self, operator_id: str, status: OperatorStatus) -> OperatorState:
        async with self._state_mutex(operator_id):
            state = await self._store.get_operator(operator_id)
            old = state.status
            state.status = status
            state.updated_at = self._clock.now()
            await self._store.save_operator(state)
        if old != status and self._bus is not None:
            await self._bus.publish(OperatorStatusChanged(operator_id=operator_id, old=old, new=status))
        return state

    @asynccontextmanager
    async def _state_mutex(self, operator_id: str) -> AsyncIterator[None]:
        """An operator's state is read, changed and saved whole: writers take turns, or one of two changes
        at the same moment (a status and the last session) would be lost."""
        async with self._locks.hold(operator_id), store_mutex(self._store, self._clock, f"lock:operator:{operator_id}"):
            yield

    def of_line(self, line_id: str) -> list[OperatorConfig]:
        return [operator for operator in self._config.operators if operator.serves(line_id)]

    async def remember_session(self, operator_id: str, session_number: int) -> None:
        if (await self._store.get_operator(operator_id)).last_session == session_number:
            return
        async with self._state_mutex(operator_id):
            state = await self._store.get_operator(operator_id)
            if state.last_session != session_number:
                state.last_session = session_number
                await self._store.save_operator(state)

    async def require_active(self, operator: OperatorConfig | None, session: Session, action: str) -> OperatorState:
        """The checks every operator action on a session passes first (SPEC §5, §8)."""
        if operator is None:
            raise Refusal("You are not a linedesk operator.", "not_operator")
        if not operator.serves(session.line_id):
            raise Refusal(f"You are not an operator of line {session.line_id!r}.", "wrong_line")
        state = await self._store.get_operator(operator.id)
        if state.status == OperatorStatus.OFFLINE:
            raise Refusal(f"You are offline: you cannot {action}. Type /status online first.", "offline")
        if session.status == SessionStatus.SPAM:
            raise Refusal(f"Session #{session.number} is marked as spam: you cannot {action}.", "spam")
        return state
