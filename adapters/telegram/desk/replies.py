"""Answers in the desk: button presses, menus edited in place or dropped once they have served."""

from __future__ import annotations

import contextlib
import logging

from aiogram import Bot
from aiogram.exceptions import TelegramBadRequest
from aiogram.types import CallbackQuery, InlineKeyboardMarkup, Message

log = logging.getLogger(__name__)

ANSWER_LIMIT = 200


async def answer(query: CallbackQuery, text: str = "", *, alert: bool = False) -> None:
    """Answer a button press. A press Telegram no longer accepts answers for (older than about 15 s, or
    replayed after a restart) is still handled: the answer is dropped, the update does not fail."""
    try:
        await query.answer(text if len(text) <= ANSWER_LIMIT else text[: ANSWER_LIMIT - 1] + "…", show_alert=alert)
    except TelegramBadRequest as err:
        words = err.message.lower()
        if "query is too old" not in words and "query id is invalid" not in words:
            raise
        log.info("callback query %s could not be answered any more: %s", query.id, err.message)


async def drop_picker(bot: Bot, chat_id: int, message_id: int, text: str) -> None:
    """The picker has served: core announces the start in the topic, so the menu goes away
    (where it cannot be deleted, it loses its buttons)."""
    try:
        await bot.delete_message(chat_id=chat_id, message_id=message_id)
    except TelegramBadRequest:
        with contextlib.suppress(TelegramBadRequest):
            await bot.edit_message_text(chat_id=chat_id, message_id=message_id, text=text, reply_markup=None)


async def drop_menu(bot: Bot, query: CallbackQuery, text: str) -> None:
    """`drop_picker` for the menu a button is under."""
    if isinstance(query.message, Message):
        await drop_picker(bot, query.message.chat.id, query.message.message_id, text)


async def edit_in_place(bot: Bot, query: CallbackQuery, text: str, keyboard: InlineKeyboardMarkup) -> None:
    message = query.message
    if not isinstance(message, Message):
        return
    try:
        await bot.edit_message_text(
            chat_id=message.chat.id, message_id=message.message_id, text=text, reply_markup=keyboard
        )
    except TelegramBadRequest as err:  # unchanged, or the menu was deleted meanwhile: nothing to redo
        if "not modified" not in err.message.lower():
            log.info("menu %s not edited: %s", message.message_id, err.message)
