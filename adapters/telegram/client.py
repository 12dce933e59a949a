"""Customers on Telegram: private chats with a line's bot, translated into core's ClientText.

Dependencies come in by parameter name from the dispatcher's workflow data
(`sessions`) and from the feed call (`line_id`), aiogram-style.
"""

from __future__ import annotations

from aiogram import F, Router
from aiogram.enums import ChatType
from aiogram.filters import CommandStart
from aiogram.types import Message

from core.inbound import ClientText
from core.model import Channel
from core.sessions import Sessions


def display_name(message: Message) -> str:
    user = message.from_user
    if user is None:
        return "Telegram user"
    return " ".join(part for part in (user.first_name, user.last_name) if part) or (user.username or str(user.id))


def to_client_text(message: Message, line_id: str, *, is_start: bool = False) -> ClientText:
    user = message.from_user
    assert user is not None
    return ClientText(
        line_id=line_id,
        channel=Channel.TELEGRAM,
        user_id=str(user.id),
        chat_id=str(message.chat.id),
        name=display_name(message),
        username=user.username,
        text=message.text or message.caption or "",
        is_start=is_start,
        platform_ref=f"telegram:{line_id}:{message.chat.id}:{message.message_id}",
    )


def client_router() -> Router:
    router = Router(name="telegram-clients")
    router.message.filter(F.chat.type == ChatType.PRIVATE, F.from_user.is_bot.is_(False))

    @router.message(CommandStart())
    async def on_start(message: Message, sessions: Sessions, line_id: str) -> None:
        await sessions.client_text(to_client_text(message, line_id, is_start=True))

    @router.message(F.text)
    async def on_text(message: Message, sessions: Sessions, line_id: str) -> None:
        await sessions.client_text(to_client_text(message, line_id))

    return router
