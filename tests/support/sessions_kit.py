"""The session services as bots/app.py puts them together, on a real SQLite store and a manual clock (no
platform); the `kit` fixture of conftest.py."""

from __future__ import annotations

from pathlib import Path

from core.clock import ManualClock
from core.config import load_config_text
from core.courier import Courier
from core.events import DomainEvent, EventBus, MessageReceived, OperatorStatusChanged, SessionClosed, SessionCreated
from core.inbound import ClientText
from core.model import Channel, OperatorStatus, OutboxEntry, Session
from core.operators import Operators
from core.outbox_actions import Notice, SendText, ToDesk
from core.sessions import SessionParts, Sessions
from core.store.sqlite import SqliteStore

KIT_CONFIG = """
[slack]
bot_token = "xoxb-test"
signing_secret = "secret"
[[lines]]
id = "support"
name = "Support"
telegram_token = "123:ABC"
slack_desk_channel = "C0DESK01"
auto_close_after = "1h"
[[lines]]
id = "sales"
name = "Sales"
telegram_token = "456:DEF"
slack_desk_channel = "C0DESK02"
auto_assign = true
queued_note = "Everyone is busy: we answer as soon as someone is free."
[[operators]]
id = "anna"
name = "Anna"
slack_user = "U0ANNA01"
[[operators]]
id = "boris"
name = "Boris"
slack_user = "U0BORIS1"
[[operators]]
id = "carl"
name = "Carl"
slack_user = "U0CARL01"
lines = ["support"]
"""


class Kit:
    """`Sessions` (and each of its services) as bots/app.py puts them together, with what they publish."""

    def __init__(self, store: SqliteStore, clock: ManualClock, config_text: str, base_dir: Path):
        self.store = store
        self.clock = clock
        self.config = load_config_text(config_text, base_dir=base_dir, environ={})
        self.bus = EventBus()
        self.events: list[DomainEvent] = []
        for kind in (SessionCreated, MessageReceived, SessionClosed):
            self.bus.subscribe(kind, self._record)
        self.courier = Courier(store, self.config, clock)
        self.operators = Operators(store, self.config, clock, self.bus)
        self.sessions = Sessions(SessionParts(store, self.config, clock, self.bus, self.courier, self.operators))
        self.bus.subscribe(OperatorStatusChanged, self.sessions.on_operator_status)
        self._seen = 0

    async def _record(self, event: DomainEvent) -> None:
        self.events.append(event)

    def published(self) -> list[str]:
        return [event.name for event in self.events]

    async def outbox(self) -> list[OutboxEntry]:
        """Every entry queued so far, in order."""
        entries: list[OutboxEntry] = []
        while (entry := await self.store.outbox_get(len(entries) + 1)) is not None:
            entries.append(entry)
        return entries

    async def new_entries(self) -> list[OutboxEntry]:
        """The entries queued since the last call."""
        entries = await self.outbox()
        fresh, self._seen = entries[self._seen :], len(entries)
        return fresh

    async def online(self, *operator_ids: str, status: OperatorStatus = OperatorStatus.ONLINE) -> None:
        for operator_id in operator_ids:
            await self.operators.set_status(operator_id, status)

    async def writes(self, text: str = "Hello", *, user: str = "501", line: str = "support", **kw: object) -> Session:
        incoming = ClientText(
            line_id=line,
            channel=Channel.TELEGRAM,
            user_id=user,
            chat_id=user,
            name=f"Client {user}",
            text=text,
            **kw,  # type: ignore[arg-type]
        )
        return await self.sessions.intake.client_text(incoming)

    async def session(self, number: int) -> Session:
        return await self.sessions.require(number)


def to_client(entries: list[OutboxEntry]) -> list[str]:
    """What the client is sent, in order."""
    return [e.action.text for e in entries if isinstance(e.action, SendText)]


def desk_actions(entries: list[OutboxEntry]) -> list[str]:
    return [e.action.kind for e in entries if isinstance(e.action, ToDesk)]


def notices(entries: list[OutboxEntry]) -> list[str]:
    return [e.action.text for e in entries if isinstance(e.action, Notice)]
