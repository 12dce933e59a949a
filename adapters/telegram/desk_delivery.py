"""The Telegram desk, outbound (route "telegram.desk"): a forum topic `#N Client name` per session,
its card, mirrored messages, notices, task and status cards."""

from __future__ import annotations

from typing import Any

from aiogram import Bot
from aiogram.exceptions import TelegramBadRequest

from adapters.telegram.delivery import delivery_error
from adapters.telegram.desk_cards import card_keyboard, card_text, task_keyboard, task_text
from adapters.telegram.line_bots import LineBots
from core.config import Config, LineConfig
from core.courier import mirror_line
from core.desk import DeskDelivery
from core.errors import DeliveryError
from core.model import OutboxEntry, Session
from core.store.base import Store

TOPIC_REF = "telegram.topic"
"""ref namespace: session number → {"chat_id", "thread_id", "card_id"}"""
DESK_STATUS_REF = "telegram.desk_status"
"""ref namespace: instance id → {"chat_id", "message_id"} of its status line in the topic"""
TOPIC_SESSION_REF = "telegram.topic_session"
"""ref namespace: "<chat id>:<thread id>" → {"session": n}"""


def _desk_text(action: str, payload: dict[str, Any]) -> str:
    return mirror_line(payload) if action == "mirror" else str(payload["text"])


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
        elif entry.action == "task_card":
            await bot.send_message(chat_id=topic["chat_id"], message_thread_id=topic["thread_id"],
                                   text=task_text(entry.payload), reply_markup=task_keyboard(entry.payload))
        elif entry.action in ("mirror", "notice"):
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


