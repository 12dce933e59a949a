"""What the session services share: the parts they work with, a message's platform link, texts more than
one of them uses, and finding a session."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from core.clock import Clock
from core.config import Config
from core.courier import Courier
from core.errors import Refusal
from core.events import EventBus
from core.links import Link, LinkKind, message_source
from core.log_context import note_session
from core.model import Message, Session, SessionStatus
from core.operators import Operators
from core.sessions.locking import SessionLocks
from core.store.base import Store
from core.telemetry import NO_TELEMETRY, Telemetry

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

    @staticmethod
    def _source_links(platform_ref: str | None, message: Message | None) -> list[Link]:
        """The message's link to the platform message it came from (`LinkKind.MESSAGE_SOURCE`): edits and
        replies find it, and a replay after a crash finds the message handled. Stored with the message's
        deliveries, in one step (`Courier.send`): never one without the other."""
        return [message_source(message.session, message.id, platform_ref)] if platform_ref and message else []

    async def _source(self, platform_ref: str) -> dict[str, Any] | None:
        """{"session", "id"} of the message a platform message became, or None."""
        link = await self._store.link_to(LinkKind.MESSAGE_SOURCE, platform_ref)
        return link.data if link is not None else None


async def require(store: Store, number: int) -> Session:
    """The session, or a refusal saying it does not exist; the log lines that follow name it."""
    session = await store.get_session(number)
    if session is None:
        raise Refusal(f"Session #{number} does not exist.", "no_session")
    note_session(session.number)
    return session
