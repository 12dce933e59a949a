"""Questions of processes (`linedesk.ask`) in a client's private chat: the buttons and their presses.

A button's callback data is an `AskButton`: the ask's id and the choice's index (never the label, which may
not fit Telegram's 64 bytes). Core checks everything a press claims (`Processes.answer_ask`): the question
exists, is this client's and still open, the choice exists.
"""

from __future__ import annotations

from typing import Any

from aiogram import Router
from aiogram.filters.callback_data import CallbackData
from aiogram.types import CallbackQuery, InlineKeyboardButton, InlineKeyboardMarkup

from adapters.telegram.desk.replies import answer
from adapters.telegram.filters import button_in_private_chat
from core.asks import REPLIES, Outcome
from core.model import Channel, Client
from core.processes import Processes


class AskButton(CallbackData, prefix="ask"):
    ask: str
    choice: int


def keyboard(ask_id: str, choices: list[str]) -> InlineKeyboardMarkup | None:
    """One button per row, per choice (None: no choice, a typed answer only)."""
    if not choices:
        return None
    rows = [
        [InlineKeyboardButton(text=label, callback_data=AskButton(ask=ask_id, choice=index).pack())]
        for index, label in enumerate(choices)
    ]
    return InlineKeyboardMarkup(inline_keyboard=rows)


async def on_ask_button(query: CallbackQuery, callback_data: AskButton, processes: Processes) -> Any:
    client_id = Client.make_id(Channel.TELEGRAM, query.from_user.id)
    outcome = await processes.answer_ask(callback_data.ask, client_id, choice=callback_data.choice)
    return await answer(query, REPLIES[outcome], alert=outcome != Outcome.TAKEN)


def ask_router() -> Router:
    """Before the desk's routers (whose last one answers every button it does not know as tampered)."""
    router = Router(name="telegram-client-asks")
    router.callback_query.register(on_ask_button, AskButton.filter(), button_in_private_chat)
    return router
