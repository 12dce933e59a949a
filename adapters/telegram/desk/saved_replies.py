"""Saved replies in a session's topic (SPEC §14): `/reply` shows the line's saved replies as buttons, `/reply ID`
or a press sends one to the client as the operator (core checks it like any operator message).

A button names the session and a short hash of the reply's id (ids may be 64 characters; a payload has 64
bytes); the press is resolved against the saved replies of the session's line, and must be in that session's
topic."""

from __future__ import annotations

import hashlib
from typing import Any

from aiogram import Router
from aiogram.filters import Command, CommandObject
from aiogram.filters.callback_data import CallbackData
from aiogram.types import CallbackQuery, InlineKeyboardButton, InlineKeyboardMarkup, Message

from adapters.telegram.desk.errors import REFUSED, tampered
from adapters.telegram.desk.middleware import Services, in_desk, not_another_lines, pressed_in, required
from adapters.telegram.desk.replies import answer, drop_menu
from core.config import OperatorConfig
from core.config.replies import ReplyConfig
from core.model import Session
from core.replies import SavedReplies

KEY_LENGTH = 12
MAX_LISTED = 30


class SavedReplyPick(CallbackData, prefix="rp"):
    session: int
    reply: str


def reply_key(reply_id: str) -> str:
    return hashlib.sha256(reply_id.encode()).hexdigest()[:KEY_LENGTH]


def replies_keyboard(number: int, replies: list[ReplyConfig]) -> InlineKeyboardMarkup:
    rows = [
        [
            InlineKeyboardButton(
                text=reply.title, callback_data=SavedReplyPick(session=number, reply=reply_key(reply.id)).pack()
            )
        ]
        for reply in replies[:MAX_LISTED]
    ]
    return InlineKeyboardMarkup(inline_keyboard=rows)


async def on_reply(
    message: Message,
    command: CommandObject,
    replies: SavedReplies,
    session: Session | None,
    operator: OperatorConfig | None,
) -> Any:
    if session is None:
        return await message.reply("Type /reply or /reply ID inside a session's topic.")
    operator = required(operator)
    words = (command.args or "").split()
    if len(words) > 1:
        return await message.reply("Use /reply for the list, or /reply ID to send saved reply ID.")
    if words:
        await replies.send(session.number, words[0].lower(), operator.id)
        return None  # the text appears in the topic like any operator message
    offer = await replies.offer(session.number, operator)
    if not offer.replies:
        return await message.reply(f"Session #{session.number}'s line has no saved replies.")
    return await message.reply(
        f"Saved replies for session #{session.number}: a press sends one to the client as you.",
        reply_markup=replies_keyboard(session.number, offer.replies),
    )


async def on_pick(
    query: CallbackQuery,
    callback_data: SavedReplyPick,
    services: Services,
    replies: SavedReplies,
    session: Session | None,
    operator: OperatorConfig | None,
) -> Any:
    current = pressed_in(session, callback_data.session)
    operator = required(operator)
    reply = next((r for r in replies.on_line(current.line_id) if reply_key(r.id) == callback_data.reply), None)
    if reply is None:
        raise tampered()
    await replies.send(current.number, reply.id, operator.id)
    await drop_menu(services.bot, query, f"✉ Saved reply “{reply.title}” sent.")
    return await answer(query, f"Saved reply “{reply.title}” sent to the client.")


def build() -> Router:
    router = Router(name="telegram-desk-saved-replies")
    router.message.register(on_reply, Command("reply"), in_desk, not_another_lines, flags={REFUSED: "Not sent"})
    router.callback_query.register(on_pick, SavedReplyPick.filter(), flags={REFUSED: "Not sent"})
    return router
