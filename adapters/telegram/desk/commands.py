"""The operators' commands that need no menu: /status, /close, /spam, /unspam, /sessions; and the
command menus the bots show."""

from __future__ import annotations

import logging
from typing import Any

from aiogram import Bot, Router
from aiogram.dispatcher.event.bases import SkipHandler
from aiogram.exceptions import TelegramAPIError
from aiogram.filters import Command, CommandObject
from aiogram.types import (
    BotCommand,
    BotCommandScopeAllPrivateChats,
    BotCommandScopeChat,
    LinkPreviewOptions,
    Message,
)

from adapters.telegram.desk.errors import REFUSED
from adapters.telegram.desk.middleware import (
    Desk,
    Services,
    in_desk,
    in_desk_or_private,
    not_another_lines,
    required,
)
from adapters.telegram.desk_cards import sessions_html, topic_link
from core.config import OperatorConfig
from core.links import LinkKind
from core.model import OperatorStatus, Session, SessionStatus
from core.operators import Operators
from core.store.base import Store

log = logging.getLogger(__name__)

MAX_LISTED = 30
CLIENT_COMMANDS = [BotCommand(command="start", description="Start a conversation with us")]
DESK_COMMANDS = [
    BotCommand(command="startprocess", description="Start a process for this topic's session"),
    BotCommand(command="close", description="Close this topic's session"),
    BotCommand(command="status", description="Your status: /status online, busy or offline"),
    BotCommand(command="autostart", description="Automatic start rules of the line (admins)"),
    BotCommand(command="cancel", description="Stop filling in a form (the task stays open)"),
    BotCommand(command="sessions", description="Your active sessions and the queue, with links to their topics"),
    BotCommand(command="transfer", description="Hand this topic's session over: /transfer NAME or /transfer queue"),
    BotCommand(command="processes", description="This topic's processes: cancel, reassign or retry them"),
    BotCommand(command="transcript", description="The session as a file here; /transcript client: to the client"),
    BotCommand(command="history", description="The client's earlier sessions with their first message"),
    BotCommand(command="reply", description="Saved replies: /reply for the list, /reply ID to send one"),
    BotCommand(command="spam", description="Mark this topic's session as spam"),
    BotCommand(command="unspam", description="Unmark spam: the session gets its previous state back"),
]


async def register_commands(bot: Bot, desk_chat: int | None) -> None:
    """The command menus: customers' in private chats, operators' in the line's desk group.
    A failure is logged, not raised: the menus are a convenience, the commands work without them."""
    try:
        await bot.set_my_commands(CLIENT_COMMANDS, scope=BotCommandScopeAllPrivateChats())
        if desk_chat is not None:
            await bot.set_my_commands(DESK_COMMANDS, scope=BotCommandScopeChat(chat_id=desk_chat))
    except TelegramAPIError as err:
        log.warning("setMyCommands failed for a line bot (desk %s): %s", desk_chat, err)


async def on_status(
    message: Message, command: CommandObject, operators: Operators, operator: OperatorConfig | None
) -> Any:
    if operator is None:
        if message.chat.type == "private":
            raise SkipHandler  # a customer typing /status: the client router takes it as text
        return await message.reply("You are not a linedesk operator.")
    word = (command.args or "").strip().lower()
    if not word:
        state = await operators.state(operator.id)
        return await message.reply(f"Your status: {state.status.value}. Use /status online|busy|offline.")
    try:
        status = OperatorStatus(word)
    except ValueError:
        return await message.reply(f"Unknown status {word!r}: use /status online, busy or offline.")
    await operators.set_status(operator.id, status)
    return await message.reply(f"Your status is now {status.value}.")


async def on_close(
    message: Message, services: Services, session: Session | None, operator: OperatorConfig | None
) -> Any:
    if session is None:
        return await message.reply("Type /close inside a session's topic.")
    operator = required(operator)
    current = await services.sessions.require(session.number)
    if not current.is_open:
        return await message.reply(f"Session #{current.number} is already closed.")
    await services.sessions.close(current.number, operator.name, operator_id=operator.id)
    return None  # the topic gets "■ Session closed by …" from core


async def on_spam(
    message: Message,
    command: CommandObject,
    services: Services,
    session: Session | None,
    operator: OperatorConfig | None,
) -> Any:
    if session is None:
        return await message.reply(f"Type /{command.command} inside a session's topic.")
    operator = required(operator)
    current = await services.sessions.require(session.number)
    if command.command == "unspam":
        if current.status != SessionStatus.SPAM:
            return await message.reply(f"Session #{current.number} is not marked as spam.")
        await services.sessions.unmark_spam(current.number, operator.id)
    else:
        await services.sessions.mark_spam(current.number, operator.id)
    return None  # core tells the topic and refreshes the card


async def on_sessions(message: Message, store: Store, desk: Desk, line_id: str, operator: OperatorConfig | None) -> Any:
    """The operator's active sessions and the queue of their lines, with links to the topics; spam and
    closed sessions are not listed."""
    private = message.chat.type == "private"
    if not private and not desk.answers_in(message.chat.id, line_id):
        return None
    if operator is None:
        if private:
            raise SkipHandler  # a customer typing /sessions: the client router takes it as text
        return await message.reply("You are not a linedesk operator: /sessions lists an operator's sessions.")
    mine = await store.list_sessions(status=[SessionStatus.ACTIVE], assignee=operator.id, limit=MAX_LISTED)
    queued: list[Session] = []
    for line in desk.config.lines:
        if operator.serves(line.id):
            queued += await store.list_sessions(status=[SessionStatus.QUEUED], line_id=line.id, limit=1000)
    queued.sort(key=lambda session: session.number)
    text = sessions_html(
        await listed(store, desk, sorted(mine, key=lambda s: s.number)), await listed(store, desk, queued[:MAX_LISTED])
    )
    return await message.reply(text, parse_mode="HTML", link_preview_options=LinkPreviewOptions(is_disabled=True))


async def listed(store: Store, desk: Desk, sessions: list[Session]) -> list[tuple[str, str | None]]:
    """(title, link to its topic) per session."""
    entries = []
    for session in sessions:
        client = await store.get_client(session.client_id)
        line = desk.config.line(session.line_id)
        link = await store.link_of(LinkKind.SESSION_TOPIC, str(session.number))
        topic = link.data if link is not None else None
        title = f"#{session.number} · {client.name if client else '?'} · {line.name if line else session.line_id}"
        entries.append((title, topic_link(int(topic["chat_id"]), int(topic["thread_id"])) if topic else None))
    return entries


def build() -> Router:
    router = Router(name="telegram-desk-commands")
    router.message.register(on_status, Command("status"), in_desk_or_private)
    router.message.register(on_close, Command("close"), in_desk, not_another_lines, flags={REFUSED: "Not closed"})
    router.message.register(
        on_spam, Command("spam", "unspam"), in_desk, not_another_lines, flags={REFUSED: "Not changed"}
    )
    router.message.register(on_sessions, Command("sessions"), in_desk_or_private)
    return router
