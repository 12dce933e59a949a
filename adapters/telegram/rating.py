"""The client's rating after close, on Telegram (SPEC §14): "How did we do?" with a 1–5 inline keyboard in the
client's private chat, and the click. Only the session's own client may rate it (core checks the clicker against
the session the button names); the first click is kept and the question is edited to show it."""

from __future__ import annotations

import logging
from typing import Any

from aiogram import Router
from aiogram.exceptions import TelegramBadRequest
from aiogram.filters.callback_data import CallbackData
from aiogram.types import CallbackQuery, InlineKeyboardButton, InlineKeyboardMarkup, Message

from adapters.telegram.desk.replies import answer
from adapters.telegram.filters import button_in_private_chat
from core.errors import Refusal
from core.model import Channel, Client
from core.sessions import Sessions
from core.sessions.rating import SCORES

log = logging.getLogger(__name__)


class RateSession(CallbackData, prefix="rate"):
    session: int
    score: int


def rating_keyboard(session: int) -> InlineKeyboardMarkup:
    row = [
        InlineKeyboardButton(text=f"{score} ⭐", callback_data=RateSession(session=session, score=score).pack())
        for score in SCORES
    ]
    return InlineKeyboardMarkup(inline_keyboard=[row])


async def on_rate(query: CallbackQuery, callback_data: RateSession, sessions: Sessions) -> Any:
    client_id = Client.make_id(Channel.TELEGRAM, query.from_user.id)
    try:
        rated = await sessions.rate(callback_data.session, client_id, callback_data.score)
    except Refusal as refusal:
        return await answer(query, refusal.reason, alert=True)
    message = query.message
    if rated.first and isinstance(message, Message):
        try:
            await message.edit_text(f"{message.text or ''}\n\n{rated.answer}", reply_markup=None)
        except TelegramBadRequest as err:  # deleted by the client meanwhile: the answer below still tells them
            log.info("rating question %s not edited: %s", message.message_id, err.message)
    return await answer(query, rated.answer)


def rating_router() -> Router:
    """Before the desk's routers: their last one answers every button it does not know."""
    router = Router(name="telegram-client-rating")
    router.callback_query.register(on_rate, RateSession.filter(), button_in_private_chat)
    return router
