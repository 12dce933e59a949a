"""Async filters for the Telegram routers.

aiogram runs a filter that is not a coroutine function (a magic `F` filter among them) in a worker
thread: one thread hop per filter per update, which cost more CPU than everything the filters check.
These do the same checks on the event loop.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Collection

from aiogram.enums import ChatType
from aiogram.types import CallbackQuery, ChatMemberUpdated, Message

Check = Callable[[Message], Awaitable[bool]]

CONTENT_KINDS = (
    "text",
    "caption",
    "photo",
    "document",
    "voice",
    "audio",
    "video",
    "video_note",
    "animation",
    "sticker",
    "location",
    "contact",
)
"""The message kinds linedesk relays (everything else, e.g. a service message, is left alone)."""


async def in_private_chat(event: Message | ChatMemberUpdated) -> bool:
    return event.chat.type == ChatType.PRIVATE


async def button_in_private_chat(query: CallbackQuery) -> bool:
    """A button under a message of the bot's private chat with a client (not a desk group's)."""
    message = query.message
    return message is not None and message.chat.type == ChatType.PRIVATE


async def from_a_person(message: Message) -> bool:
    """Sent by a person, not a bot."""
    return message.from_user is not None and not message.from_user.is_bot


async def has_content(message: Message) -> bool:
    return any(getattr(message, kind) for kind in CONTENT_KINDS)


async def a_command(message: Message) -> bool:
    return message.text is not None and message.text.startswith("/")


async def has_text(message: Message) -> bool:
    return bool(message.text or message.caption)


async def in_a_topic(message: Message) -> bool:
    return bool(message.message_thread_id)


async def bot_was_blocked(update: ChatMemberUpdated) -> bool:
    return update.new_chat_member.status == "kicked"


def in_chats(chat_ids: Collection[int]) -> Check:
    chats = frozenset(chat_ids)

    async def check(message: Message) -> bool:
        return message.chat.id in chats

    return check


def either(*checks: Check) -> Check:
    async def check(message: Message) -> bool:
        for one in checks:
            if await one(message):
                return True
        return False

    return check
