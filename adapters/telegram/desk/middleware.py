"""Who acts and where: an outer middleware on the desk router resolves, once per update, the operator
(by Telegram user id) and the session of the forum topic the message or button is in, and hands them
to the handlers by name (`operator`, `session`, `topic`; None when absent), with `desk` (the lines' forum
groups) and `services` (the core services and the line's bot, one typed object)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from aiogram import BaseMiddleware, Bot
from aiogram.types import CallbackQuery, Message, TelegramObject

from adapters.telegram.desk.errors import not_operator, tampered
from core.autostart import Autostart
from core.bpmn.catalog import Catalog
from core.config import Config, LineConfig, OperatorConfig
from core.desk_card import Cards
from core.links import LinkKind
from core.model import Session
from core.operators import Operators
from core.processes import Processes
from core.sessions import Sessions
from core.store.base import Store

Handler = Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]]


@dataclass(frozen=True)
class Desk:
    """The lines' forum groups, as the desk handlers need them."""

    config: Config
    chats: frozenset[int]

    @classmethod
    def of(cls, config: Config) -> Desk:
        chats = frozenset(line.telegram_desk_chat for line in config.lines if line.telegram_desk_chat is not None)
        return cls(config, chats)

    def line(self, chat_id: int, line_id: str) -> LineConfig | None:
        """The line this bot serves in this desk group (a group may host several lines' bots)."""
        line = self.config.line(line_id)
        return line if line is not None and line.telegram_desk_chat == chat_id else None

    def answers_in(self, chat_id: int, line_id: str) -> bool:
        """Several lines' bots may share a desk group: the first of them (in config order) answers commands
        that belong to no session (/sessions), so that the operator gets one answer."""
        first = next((line for line in self.config.lines if line.telegram_desk_chat == chat_id), None)
        return first is not None and first.id == line_id


@dataclass(frozen=True)
class Services:
    """The core services (from the dispatcher's workflow data, built by the composition root) and the
    bot of the line the update came to."""

    bot: Bot
    sessions: Sessions
    operators: Operators
    processes: Processes
    store: Store
    autostart: Autostart
    catalog: Catalog
    cards: Cards

    @classmethod
    def of(cls, data: dict[str, Any]) -> Services:
        return cls(*(data[name] for name in SERVICES))


SERVICES = ("bot", "sessions", "operators", "processes", "store", "autostart", "catalog", "cards")


@dataclass(frozen=True)
class Topic:
    """The forum topic an update happened in."""

    chat_id: int
    thread_id: int


class DeskContext(BaseMiddleware):
    """Injects `desk`, `services`, `operator`, `topic` and `session` into the desk handlers' data. The session is
    looked up for messages in a desk group's topic and for buttons in any topic (`with_session`)."""

    def __init__(self, desk: Desk, *, with_session: bool = True):
        self._desk = desk
        self._with_session = with_session

    async def __call__(self, handler: Handler, event: TelegramObject, data: dict[str, Any]) -> Any:
        services = Services.of(data)
        user = getattr(event, "from_user", None)
        topic = self._topic(event)
        session = None
        if topic is not None and self._with_session:
            session = await topic_session(services.store, topic)
        data.update(
            desk=self._desk,
            services=services,
            operator=services.operators.by_telegram(user.id) if user is not None else None,
            topic=topic,
            session=session,
        )
        return await handler(event, data)

    def _topic(self, event: TelegramObject) -> Topic | None:
        if isinstance(event, CallbackQuery):
            message = event.message
            if isinstance(message, Message) and message.message_thread_id is not None:
                return Topic(message.chat.id, message.message_thread_id)
            return None
        if isinstance(event, Message) and event.chat.id in self._desk.chats and event.message_thread_id is not None:
            return Topic(event.chat.id, event.message_thread_id)
        return None


async def topic_session(store: Store, topic: Topic) -> Session | None:
    link = await store.link_to(LinkKind.SESSION_TOPIC, f"{topic.chat_id}:{topic.thread_id}")
    return await store.get_session(int(link.ours)) if link is not None else None


# --- filters -------------------------------------------------------------------------------------------
async def in_desk(message: Message, desk: Desk) -> bool:
    return message.chat.id in desk.chats


async def in_desk_or_private(message: Message, desk: Desk) -> bool:
    return message.chat.id in desk.chats or message.chat.type == "private"


async def for_the_desk(message: Message, desk: Desk) -> bool:
    """The desk router's own filter, checked before any of its routers: a message in a desk group, or a command
    in a private chat (`/status`, `/sessions`). A client's plain message skips the desk's dozen routers and
    their filters, which cost more CPU than relaying it."""
    if message.chat.id in desk.chats:
        return True
    text = message.text
    return message.chat.type == "private" and text is not None and text.startswith("/")


async def not_another_lines(message: Message, session: Session | None, line_id: str) -> bool:
    """False in the topic of another line's session: that line's bot handles it (lines may share a
    desk group)."""
    return session is None or session.line_id == line_id


# --- what handlers require -------------------------------------------------------------------------------


def required(operator: OperatorConfig | None) -> OperatorConfig:
    if operator is None:
        raise not_operator()
    return operator


def pressed_in(session: Session | None, named: int | None = None) -> Session:
    """The session of the topic a button is in; a payload naming another session is refused."""
    if session is None or (named is not None and named != session.number):
        raise tampered()
    return session
