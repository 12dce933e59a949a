"""Delivering outbox entries to Telegram clients (route "telegram.client")."""

from __future__ import annotations

import logging

import aiohttp
from aiogram.exceptions import (
    TelegramAPIError,
    TelegramBadRequest,
    TelegramForbiddenError,
    TelegramNetworkError,
    TelegramRetryAfter,
    TelegramServerError,
    TelegramUnauthorizedError,
)

from adapters.telegram.line_bots import LineBots
from core.errors import DeliveryError
from core.model import OutboxEntry
from core.store.base import Store

log = logging.getLogger(__name__)

STATUS_CARD_REF = "telegram.status_card"
"""ref namespace: instance id → {"chat_id", "message_id"} of its live status card"""
SENT_REF = "telegram.sent"
"""ref namespace: "<line>:<message id in the store>" → {"chat_id", "message_id"} on Telegram"""


def delivery_error(err: Exception) -> DeliveryError:
    """Telegram's failures in the outbox's terms."""
    if isinstance(err, TelegramRetryAfter):
        return DeliveryError(f"Telegram flood control: retry after {err.retry_after}s", retry_after=err.retry_after)
    if isinstance(err, TelegramForbiddenError):
        return DeliveryError(f"Telegram refuses: {err.message}", permanent=True, reason="blocked")
    if isinstance(err, TelegramBadRequest):
        reason = "chat_not_found" if "chat not found" in err.message.lower() else "bad_request"
        return DeliveryError(f"Telegram: {err.message}", permanent=True, reason=reason)
    if isinstance(err, TelegramUnauthorizedError):
        log.error("Telegram rejects the bot token: check the line's telegram_token")
        return DeliveryError("Telegram: bot token rejected", retry_after=60.0, reason="unauthorized")
    if isinstance(err, (TelegramServerError, TelegramNetworkError, aiohttp.ClientError, TimeoutError)):
        return DeliveryError(f"Telegram unreachable: {err}")
    if isinstance(err, TelegramAPIError):
        return DeliveryError(f"Telegram: {err.message}")
    return DeliveryError(f"{type(err).__name__}: {err}")


class TelegramClientDelivery:
    def __init__(self, bots: LineBots, store: Store):
        self._bots = bots
        self._store = store

    async def deliver(self, entry: OutboxEntry) -> None:
        line_id = str(entry.payload["line_id"])
        bot = self._bots.get(line_id)
        if bot is None:
            raise DeliveryError(f"line {line_id!r} has no Telegram bot", permanent=True)
        chat_id = int(entry.payload["chat_id"])
        text = str(entry.payload.get("text", ""))
        try:
            if entry.action == "send_text":
                sent = await bot.send_message(chat_id=chat_id, text=text)
                if entry.payload.get("message_id"):
                    await self._store.set_ref(SENT_REF, f"{line_id}:{entry.payload['message_id']}",
                                              {"chat_id": chat_id, "message_id": sent.message_id})
            elif entry.action == "status_card":
                await self._status_card(line_id, chat_id, str(entry.payload["instance_id"]), text)
            else:
                raise DeliveryError(f"unknown client action {entry.action!r}", permanent=True)
        except DeliveryError:
            raise
        except Exception as err:
            raise delivery_error(err) from err

    async def _status_card(self, line_id: str, chat_id: int, instance_id: str, text: str) -> None:
        """One message per instance, edited in place as the process moves on."""
        bot = self._bots.get(line_id)
        assert bot is not None
        card = await self._store.get_ref(STATUS_CARD_REF, instance_id)
        if card is not None:
            try:
                await bot.edit_message_text(chat_id=card["chat_id"], message_id=card["message_id"], text=text)
                return
            except TelegramBadRequest as err:
                if "not modified" in err.message.lower():
                    return
                if "not found" not in err.message.lower():
                    raise
        sent = await bot.send_message(chat_id=chat_id, text=text)
        await self._store.set_ref(STATUS_CARD_REF, instance_id, {"chat_id": chat_id, "message_id": sent.message_id})
