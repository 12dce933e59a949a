"""The Telegram desk: a forum supergroup per line, one topic per session.

Outbound (route "telegram.desk"): the topic `#N Client name`, its card, mirrored
messages and notices. Inbound (an aiogram router): operators' messages in a topic go
to the client, `/status` sets their status, the card's buttons take or close the
session. Button payloads are `CallbackData` (well under Telegram's 64 bytes) and are
re-checked by core.
"""

from __future__ import annotations

from typing import Any

from aiogram import Bot, F, Router
from aiogram.dispatcher.event.bases import SkipHandler
from aiogram.exceptions import TelegramBadRequest
from aiogram.filters import Command, CommandObject
from aiogram.filters.callback_data import CallbackData
from aiogram.types import CallbackQuery, InlineKeyboardButton, InlineKeyboardMarkup, Message

from adapters.telegram.delivery import delivery_error
from adapters.telegram.line_bots import LineBots
from core.config import Config, LineConfig
from core.courier import TELEGRAM_DESK, mirror_line
from core.desk import DeskDelivery
from core.errors import DeliveryError, Refusal
from core.inbound import OperatorText
from core.model import OperatorStatus, OutboxEntry, Session
from core.operators import Operators
from core.sessions import Sessions
from core.store.base import Store

TOPIC_REF = "telegram.topic"
"""ref namespace: session number → {"chat_id", "thread_id", "card_id"}"""
DESK_STATUS_REF = "telegram.desk_status"
"""ref namespace: instance id → {"chat_id", "message_id"} of its status line in the topic"""
TOPIC_SESSION_REF = "telegram.topic_session"
"""ref namespace: "<chat id>:<thread id>" → {"session": n}"""

STATUS_WORDS = {"queued": "🟡 queued", "active": "🟢 active", "closed": "⚪ closed", "spam": "🚫 spam"}


class SessionAction(CallbackData, prefix="ses"):
    action: str
    session: int


def card_text(session: Session, client_name: str, channel: str, line_name: str, assignee: str | None) -> str:
    lines = [f"#{session.number} · {client_name}", f"{channel.capitalize()} · line {line_name}",
             f"{STATUS_WORDS.get(session.status.value, session.status.value)} · {assignee or 'unassigned'}"]
    if session.previous_session:
        lines.append(f"Previous session: #{session.previous_session}")
    return "\n".join(lines)


def card_keyboard(session: Session) -> InlineKeyboardMarkup | None:
    if not session.is_open:
        return None
    return InlineKeyboardMarkup(inline_keyboard=[[
        InlineKeyboardButton(text="Take", callback_data=SessionAction(action="take", session=session.number).pack()),
        InlineKeyboardButton(text="Close", callback_data=SessionAction(action="close", session=session.number).pack()),
    ]])


def _desk_text(action: str, payload: dict[str, Any]) -> str:
    if action == "mirror":
        return mirror_line(payload)
    if action == "task_card":
        who = payload.get("assignee_name") or "any online operator of the line"
        return f"📝 {payload.get('task')} · {payload.get('process')} — for {who}"
    return str(payload["text"])


class TelegramDeskDelivery(DeskDelivery):
    def __init__(self, bots: LineBots, store: Store, config: Config):
        super().__init__(store, config)
        self._bots = bots

    def translate(self, err: Exception) -> DeliveryError:
        return delivery_error(err)

    async def perform(self, entry: OutboxEntry, session: Session, line: LineConfig) -> None:
        bot = self._bots.get(line.id)
        if line.telegram_desk_chat is None or bot is None:
            raise DeliveryError(f"line {line.id!r} has no Telegram desk", permanent=True)
        number = session.number
        topic = await self._store.get_ref(TOPIC_REF, str(number))
        if topic is None:
            topic = await self._open_topic(bot, line.telegram_desk_chat, session)
        if entry.action in ("open_session", "refresh_card"):
            await self._card(bot, session, line.name, topic)
        elif entry.action in ("mirror", "notice", "task_card"):
            await bot.send_message(chat_id=topic["chat_id"], message_thread_id=topic["thread_id"],
                                   text=_desk_text(entry.action, entry.payload))
        elif entry.action == "status_card":
            await self._status_card(bot, topic, entry.payload)
        else:
            raise DeliveryError(f"unknown desk action {entry.action!r}", permanent=True)

    async def _status_card(self, bot: Bot, topic: dict[str, Any], payload: dict[str, Any]) -> None:
        text = f"⚙ {payload.get('process')} · status: {payload.get('text')}"
        card = await self._store.get_ref(DESK_STATUS_REF, str(payload["instance_id"]))
        if card is not None:
            try:
                await bot.edit_message_text(chat_id=card["chat_id"], message_id=card["message_id"], text=text)
                return
            except TelegramBadRequest as err:
                if "not modified" in err.message.lower():
                    return
                if "not found" not in err.message.lower():
                    raise
        sent = await bot.send_message(chat_id=topic["chat_id"], message_thread_id=topic["thread_id"], text=text)
        await self._store.set_ref(DESK_STATUS_REF, str(payload["instance_id"]),
                                  {"chat_id": topic["chat_id"], "message_id": sent.message_id})

    async def _open_topic(self, bot: Bot, chat_id: int, session: Session) -> dict[str, Any]:
        client = await self._store.get_client(session.client_id)
        name = f"#{session.number} {client.name if client else ''}".strip()[:128]
        created = await bot.create_forum_topic(chat_id=chat_id, name=name)
        topic = {"chat_id": chat_id, "thread_id": created.message_thread_id, "card_id": None}
        await self._store.set_ref(TOPIC_REF, str(session.number), topic)
        await self._store.set_ref(TOPIC_SESSION_REF, f"{chat_id}:{created.message_thread_id}",
                                  {"session": session.number})
        return topic

    async def _card(self, bot: Bot, session: Session, line_name: str, topic: dict[str, Any]) -> None:
        client = await self._store.get_client(session.client_id)
        assignee = self._config.operator(session.assignee) if session.assignee else None
        text = card_text(session, client.name if client else "?", client.channel.value if client else "?",
                         line_name, assignee.name if assignee else None)
        keyboard = card_keyboard(session)
        if topic.get("card_id"):
            try:
                await bot.edit_message_text(chat_id=topic["chat_id"], message_id=topic["card_id"], text=text,
                                            reply_markup=keyboard)
            except Exception as err:
                if "not modified" not in str(err).lower():
                    raise
            return
        sent = await bot.send_message(chat_id=topic["chat_id"], message_thread_id=topic["thread_id"], text=text,
                                      reply_markup=keyboard)
        topic["card_id"] = sent.message_id
        await self._store.set_ref(TOPIC_REF, str(session.number), topic)


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
