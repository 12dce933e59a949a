"""Handing a session over: `/transfer NAME` (an operator of the line, by name or id), `/transfer queue`,
or the menu of the line's operators (`/transfer` alone, or the card's Transfer button)."""

from __future__ import annotations

from typing import Any

from aiogram import Router
from aiogram.filters import Command, CommandObject
from aiogram.types import CallbackQuery, Message, ReplyParameters

from adapters.telegram.desk.errors import REFUSED, tampered
from adapters.telegram.desk.middleware import Services, Topic, in_desk, not_another_lines, pressed_in, required
from adapters.telegram.desk.replies import answer, drop_menu
from adapters.telegram.desk_cards import (
    CANCEL_KEY,
    QUEUE_KEY,
    TransferTo,
    operator_key,
    transfer_keyboard,
    transfer_text,
)
from core.config import OperatorConfig
from core.errors import Refusal
from core.model import Session
from core.operators import Operators

QUEUE_WORDS = ("queue", "-")


async def show_transfer_menu(
    services: Services, topic: Topic, number: int, operator: OperatorConfig | None, reply_to: int | None = None
) -> None:
    """The line's other operators (with their status) and "Back to the queue", as a menu in the topic."""
    operators = services.operators
    session = await services.sessions.require(number)
    await operators.require_active(operator, session, "transfer sessions")
    assert operator is not None
    client = await services.store.get_client(session.client_id)
    choices = [
        (other.id, other.name, (await operators.state(other.id)).status.value)
        for other in operators.of_line(session.line_id)
        if other.id not in (operator.id, session.assignee)
    ]
    await services.bot.send_message(
        chat_id=topic.chat_id,
        message_thread_id=topic.thread_id,
        text=transfer_text(number, client.name if client else "?"),
        reply_markup=transfer_keyboard(number, choices, session.assignee is not None),
        reply_parameters=ReplyParameters(message_id=reply_to) if reply_to else None,
    )


async def on_transfer(
    message: Message,
    command: CommandObject,
    services: Services,
    session: Session | None,
    topic: Topic | None,
    operator: OperatorConfig | None,
) -> Any:
    if session is None or topic is None:
        return await message.reply("Type /transfer NAME or /transfer queue inside a session's topic.")
    number = session.number
    word = (command.args or "").strip().lstrip("@")
    operator = required(operator)
    if not word:
        await show_transfer_menu(services, topic, number, operator, reply_to=message.message_id)
        return None
    before = await services.sessions.require(number)
    target = None if word.lower() in QUEUE_WORDS else named_operator(services.operators, before.line_id, word)
    after = await services.sessions.transfer(number, operator.id, target.id if target else None)
    if after.assignee == before.assignee:
        holder = f"already {target.name}'s" if target else "already in the queue"
        return await message.reply(f"Session #{number} is {holder}.")
    return None  # the topic gets "➡ Anna transferred the session to Carl." from core


async def on_transfer_button(
    query: CallbackQuery,
    callback_data: TransferTo,
    services: Services,
    session: Session | None,
    operator: OperatorConfig | None,
) -> Any:
    """A choice in the transfer menu; the target is resolved against the line's operators and core
    re-checks everything (the clicker, the session, the target's line and status)."""
    number = pressed_in(session, callback_data.session).number
    operator = required(operator)
    if callback_data.to == CANCEL_KEY:
        await drop_menu(services.bot, query, "Transfer cancelled.")
        return await answer(query, "Transfer cancelled.")
    current = await services.sessions.require(number)
    target = None
    if callback_data.to != QUEUE_KEY:
        staff = services.operators.of_line(current.line_id)
        target = next((other for other in staff if operator_key(other.id) == callback_data.to), None)
        if target is None:
            raise tampered()
    await services.sessions.transfer(number, operator.id, target.id if target else None)
    await drop_menu(services.bot, query, "Transferred.")
    return await answer(
        query,
        f"Session #{number} is now {target.name}'s." if target else f"Session #{number} is back in the queue.",
    )


def named_operator(operators: Operators, line_id: str, word: str) -> OperatorConfig:
    """The operator of the line that `word` names (id or name, any case); a refusal lists who there is."""
    wanted = word.casefold()
    staff = operators.of_line(line_id)
    found = [o for o in staff if o.id == wanted] or [o for o in staff if o.name.casefold() == wanted]
    if len(found) == 1:
        return found[0]
    names = ", ".join(o.name for o in staff) or "nobody"
    if found:
        raise Refusal(
            f"Several operators are called {word!r}: use their id ({', '.join(o.id for o in found)}).", "ambiguous"
        )
    raise Refusal(
        f"No operator {word!r} on line {line_id!r}. Operators of the line: {names}; or /transfer queue.", "wrong_line"
    )


def build() -> Router:
    router = Router(name="telegram-desk-transfer")
    router.message.register(
        on_transfer, Command("transfer"), in_desk, not_another_lines, flags={REFUSED: "Not transferred"}
    )
    router.callback_query.register(on_transfer_button, TransferTo.filter(), flags={REFUSED: "Not transferred"})
    return router
