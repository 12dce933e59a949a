"""Every Bot API call draws from the pacing buckets it counts against (`core.pacing`), as aiogram request
middleware on the line bots' session: sends into a chat count against that chat (a group's topics together)
and the bot; other calls only against the bot. A 429 (`TelegramRetryAfter`) pauses the chat's bucket — or
the bot's, for a call into no chat — for the time Telegram asked."""

from __future__ import annotations

from typing import Any

from aiogram import Bot
from aiogram.client.session.middlewares.base import BaseRequestMiddleware, NextRequestMiddlewareType
from aiogram.exceptions import TelegramRetryAfter
from aiogram.methods import CopyMessages, ForwardMessages, SendMediaGroup
from aiogram.methods.base import Response, TelegramMethod, TelegramType

from core.pacing import TELEGRAM_BOT, TELEGRAM_CHAT, TELEGRAM_GROUP, Draw, Pacer

UNCOUNTED_SENDS = frozenset({"sendChatAction"})
"""Methods named send* that post no message."""
OTHER_SENDS = frozenset({"copyMessage", "copyMessages", "forwardMessage", "forwardMessages", "createForumTopic"})
"""Methods not named send* that post into the chat (a new topic posts its service message)."""


def chat_draw(
    bot_id: int | str, chat_id: int | str, cost: int = 1, *, urgent: bool = False, patient: bool = False
) -> Draw:
    """The bucket of sends into `chat_id` (a group's or channel's id is negative)."""
    group = str(chat_id).startswith("-")
    return Draw(TELEGRAM_GROUP if group else TELEGRAM_CHAT, f"{bot_id}:{chat_id}", cost, urgent, patient)


def bot_draw(bot_id: int | str, cost: int = 1, *, urgent: bool = False) -> Draw:
    return Draw(TELEGRAM_BOT, str(bot_id), cost, urgent)


def sends_of(method: TelegramMethod[Any]) -> int:
    """How many messages the call posts into its chat (0: not a send)."""
    name = method.__api_method__
    if name in UNCOUNTED_SENDS or not (name.startswith("send") or name in OTHER_SENDS):
        return 0
    if isinstance(method, CopyMessages | ForwardMessages):
        return len(method.message_ids)
    if isinstance(method, SendMediaGroup):
        return len(method.media)
    return 1


def draws_of(bot: Bot, method: TelegramMethod[Any]) -> list[Draw]:
    """The buckets a call counts against, the most specific first."""
    sends = sends_of(method)
    chat = getattr(method, "chat_id", None)
    if sends and chat is not None:
        return [chat_draw(bot.id, chat, sends), bot_draw(bot.id, sends)]
    return [bot_draw(bot.id)]


class PacedRequests(BaseRequestMiddleware):
    def __init__(self, pacer: Pacer):
        self._pacer = pacer

    async def __call__(
        self, make_request: NextRequestMiddlewareType[TelegramType], bot: Bot, method: TelegramMethod[TelegramType]
    ) -> Response[TelegramType]:
        draws = draws_of(bot, method)
        await self._pacer.spend(draws)
        try:
            return await make_request(bot, method)
        except TelegramRetryAfter as err:
            await self._pacer.pause(draws[0], float(err.retry_after))
            raise
        finally:
            await self._pacer.landed(draws)
