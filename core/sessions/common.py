"""What the session services share: the parts they work with, the store's ref namespaces and texts
more than one of them uses, and finding a session."""

from __future__ import annotations

from dataclasses import dataclass

from core.clock import Clock
from core.config import Config
from core.courier import Courier
from core.errors import Refusal
from core.events import EventBus
from core.log_context import note_session
from core.model import Message, Session, SessionStatus
from core.operators import Operators
from core.sessions.locking import SessionLocks
from core.store.base import Store, steadily
from core.telemetry import NO_TELEMETRY, Telemetry

MESSAGE_REF = "message"
"""ref namespace: a message's platform_ref → {"session", "id"} (edits and replies find it); clients' and
operators' messages alike (their platform refs differ: a client chat vs a desk thread/topic)"""
LAST_ASSIGNED_REF = "operator.last_assigned"
"""ref namespace: operator id → {"at", "seq"} of their last automatic assignment (round-robin ties)"""
OPEN_STATUSES = (SessionStatus.QUEUED, SessionStatus.ACTIVE)
BLOCKED_NOTICE = "⚠ The client blocked the bot: nothing more reaches them until they write again."


@dataclass(frozen=True)
class SessionParts:
    """What the session services work with (built once, in the composition root)."""

    store: Store
    config: Config
    clock: Clock
    bus: EventBus
    courier: Courier
    operators: Operators
    telemetry: Telemetry = NO_TELEMETRY


class SessionService:
    """A session service's parts, under the names its methods use, and the turns it shares with the others."""

    def __init__(self, parts: SessionParts, locks: SessionLocks):
        self._store = parts.store
        self._config = parts.config
        self._clock = parts.clock
        self._bus = parts.bus
        self._courier = parts.courier
        self._operators = parts.operators
        self._telemetry = parts.telemetry
        self._locks = locks

    async def require(self, number: int) -> Session:
        return await require(self._store, number)

    async def _remember(self, platform_ref: str | None, message: Message) -> None:
        if platform_ref:  # its deliveries are stored: a store blip now must not make a retry send them again
            await steadily(
                self._store.set_ref, MESSAGE_REF, platform_ref, {"session": message.session, "id": message.id}
            )


async def require(store: Store, number: int) -> Session:
    """The session, or a refusal saying it does not exist; the log lines that follow name it."""
    session = await store.get_session(number)
    if session is None:
        raise Refusal(f"Session #{number} does not exist.", "no_session")
    note_session(session.number)
    return session
