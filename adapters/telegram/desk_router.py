"""The Telegram desk, inbound: operators in a line's forum group (and `/status` in a private chat
with a line's bot). Messages in a session's topic go to the client; the card's buttons act on the
session."""

from __future__ import annotations

from typing import Any

from aiogram import F, Router
from aiogram.dispatcher.event.bases import SkipHandler
from aiogram.filters import Command, CommandObject
from aiogram.types import CallbackQuery, Message

from adapters.telegram.desk_cards import SessionAction
from adapters.telegram.desk_delivery import TOPIC_SESSION_REF
from core.config import Config
from core.courier import TELEGRAM_DESK
from core.errors import Refusal
from core.inbound import OperatorText
from core.model import OperatorStatus
from core.operators import Operators
from core.sessions import Sessions
from core.store.base import Store


def desk_router(config: Config) -> Router:
    """Operators in the lines' forum groups (and `/status` in a private chat with a line's bot)."""
    desk_chats = {line.telegram_desk_chat for line in config.lines if line.telegram_desk_chat is not None}
    router = Router(name="telegram-desk")

    @router.message(Command("status"), F.chat.id.in_(desk_chats) | (F.chat.type == "private"))
    async def on_status(message: Message, command: CommandObject, operators: Operators) -> Any:
        user = message.from_user
        operator = operators.by_telegram(user.id) if user else None
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

    @router.message(F.chat.id.in_(desk_chats), F.message_thread_id, F.text, ~F.from_user.is_bot)
    async def on_topic_text(message: Message, sessions: Sessions, operators: Operators, store: Store) -> Any:
        ref = await store.get_ref(TOPIC_SESSION_REF, f"{message.chat.id}:{message.message_thread_id}")
        if ref is None or message.from_user is None:
            return None
        operator = operators.by_telegram(message.from_user.id)
        text = message.text or ""
        try:
            if operator is None:
                raise Refusal("You are not a linedesk operator: the client does not get this message.")
            await sessions.operator_text(OperatorText(
                session=int(ref["session"]), operator_id=operator.id, text=text,
                platform_ref=f"telegram:{message.chat.id}:{message.message_id}", desk=TELEGRAM_DESK))
        except Refusal as refusal:
            return await message.reply(f"Not sent to the client: {refusal.reason}")
        return None

    @router.callback_query(SessionAction.filter())
    async def on_session_button(query: CallbackQuery, callback_data: SessionAction, sessions: Sessions,
                                operators: Operators) -> Any:
        operator = operators.by_telegram(query.from_user.id)
        try:
            if operator is None:
                raise Refusal("You are not a linedesk operator.")
            if callback_data.action == "take":
                await sessions.take(callback_data.session, operator.id)
                return await query.answer(f"You took session #{callback_data.session}.")
            if callback_data.action == "close":
                await sessions.close(callback_data.session, operator.name, operator_id=operator.id)
                return await query.answer(f"Session #{callback_data.session} closed.")
            raise Refusal("This button is not valid (stale or tampered with).")
        except Refusal as refusal:
            return await query.answer(refusal.reason, show_alert=True)

    return router
