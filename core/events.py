"""The event bus and the domain events it carries.

Handlers are awaited in subscription order; one handler's error is logged and
does not stop the others or the publisher.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from core.model import Client, Message, OperatorStatus, Session

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DomainEvent:
    name = "event"


@dataclass(frozen=True)
class SessionCreated(DomainEvent):
    session: Session
    client: Client
    rules_version: int | None = None
    """The auto-start rules' version when the client's message was read in (`Store.client_context`): rules
    cached at that version are current; None: not known (read them)."""
    name = "session.created"


@dataclass(frozen=True)
class MessageReceived(DomainEvent):
    session: Session
    client: Client
    message: Message
    rules_version: int | None = None
    """As `SessionCreated.rules_version`."""
    instances_waiting: bool | None = None
    """Whether an instance of the session was waiting when the message was stored (`StoredMessage`); None: not
    known (look)."""
    name = "message.received"


@dataclass(frozen=True)
class SessionClosed(DomainEvent):
    session: Session
    client: Client
    by: str
    name = "session.closed"


@dataclass(frozen=True)
class SessionRated(DomainEvent):
    """The client rated the session (SPEC §14): once per session."""

    session: Session
    client: Client
    rating: int
    name = "session.rated"


@dataclass(frozen=True)
class SessionAssigned(DomainEvent):
    """The session got an assignee: taken, transferred, or assigned automatically."""

    session: Session
    client: Client
    assignee: str
    name = "session.assigned"


@dataclass(frozen=True)
class OperatorStatusChanged(DomainEvent):
    operator_id: str
    old: OperatorStatus
    new: OperatorStatus
    name = "operator.status"


E = TypeVar("E", bound=DomainEvent)
Handler = Callable[[Any], Awaitable[None]]


class EventBus:
    def __init__(self) -> None:
        self._handlers: dict[type[DomainEvent], list[Handler]] = {}

    def subscribe(self, event_type: type[E], handler: Callable[[E], Awaitable[None]]) -> None:
        self._handlers.setdefault(event_type, []).append(handler)

    async def publish(self, event: DomainEvent) -> None:
        for handler in self._handlers.get(type(event), []):
            try:
                await handler(event)
            except Exception:
                log.exception("handler %s failed on %s", getattr(handler, "__qualname__", handler), event.name)
