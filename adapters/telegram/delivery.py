"""Delivering outbox entries to Telegram clients (route "telegram.client")."""

from __future__ import annotations

import logging
from typing import Any

import aiohttp
from aiogram import Bot
from aiogram.exceptions import (
    TelegramAPIError,
    TelegramBadRequest,
    TelegramForbiddenError,
    TelegramNetworkError,
    TelegramRetryAfter,
    TelegramServerError,
    TelegramUnauthorizedError,
)
from aiogram.types import BufferedInputFile

from adapters.telegram.line_bots import LineBots
from adapters.telegram.text import CAPTION_LIMIT, split_text, utf16_len
from core.courier import attachments_of
from core.errors import DeliveryError
from core.files import Files, FileUnavailable
from core.model import Attachment, OutboxEntry
from core.store.base import Store

log = logging.getLogger(__name__)

STATUS_CARD_REF = "telegram.status_card"
"""ref namespace: instance id → {"chat_id", "message_id"} of its live status card"""
SENT_REF = "telegram.sent"
"""ref namespace: "<line>:<message id in the store>" → {"chat_id", "message_id"} on Telegram"""


def delivery_error(err: Exception) -> DeliveryError:
    """Telegram's failures in the outbox's terms."""
    if isinstance(err, FileUnavailable):
        return DeliveryError(f"file not available: {err}", permanent=True, reason="file_unavailable")
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


SENDERS = {"photo": "send_photo", "voice": "send_voice", "audio": "send_audio", "video": "send_video",
           "video_note": "send_video_note", "animation": "send_animation"}


class TelegramClientDelivery:
    def __init__(self, bots: LineBots, store: Store, files: Files):
        self._bots = bots
        self._store = store
        self._files = files

    async def deliver(self, entry: OutboxEntry) -> None:
        line_id = str(entry.payload["line_id"])
        bot = self._bots.get(line_id)
        if bot is None:
            raise DeliveryError(f"line {line_id!r} has no Telegram bot", permanent=True)
        chat_id = int(entry.payload["chat_id"])
        text = str(entry.payload.get("text", ""))
        try:
            if entry.action == "send_text":
                first = await self._send(bot, line_id, chat_id, entry.payload, text)
                if entry.payload.get("message_id") and first is not None:
                    await self._store.set_ref(SENT_REF, f"{line_id}:{entry.payload['message_id']}",
                                              {"chat_id": chat_id, "message_id": first})
            elif entry.action == "status_card":
                await self._status_card(line_id, chat_id, str(entry.payload["instance_id"]), text)
            else:
                raise DeliveryError(f"unknown client action {entry.action!r}", permanent=True)
        except DeliveryError:
            raise
        except Exception as err:
            raise delivery_error(err) from err

    async def _send(self, bot: Bot, line_id: str, chat_id: int, payload: dict[str, Any], text: str) -> int | None:
        """Copy the operator's Telegram message as it is, or send its text and files. Returns the first
        message id sent."""
        copy_from = payload.get("copy_from")
        if copy_from:
            copied = await bot.copy_message(chat_id=chat_id, from_chat_id=copy_from["chat_id"],
                                            message_id=copy_from["message_id"])
            return copied.message_id
        first: int | None = None
        files = [a for a in attachments_of(payload) if a.ref and not a.too_large]
        caption = text if files and utf16_len(text) <= CAPTION_LIMIT else None
        for index, attachment in enumerate(files):
            sent = await self._send_file(bot, line_id, chat_id, attachment, caption if index == 0 else None)
            first = first if first is not None else sent
        if caption is None and text:
            for chunk in split_text(text):
                sent_message = await bot.send_message(chat_id=chat_id, text=chunk)
                first = first if first is not None else sent_message.message_id
        return first

    async def _send_file(self, bot: Bot, line_id: str, chat_id: int, attachment: Attachment,
                         caption: str | None) -> int:
        assert attachment.ref is not None
        own_prefix = f"telegram:{line_id}:"
        if attachment.ref.startswith(own_prefix):
            media: str | BufferedInputFile = attachment.ref.removeprefix(own_prefix)  # the bot's own file id
        else:
            media = BufferedInputFile(await self._files.fetch(attachment.ref), attachment.name or attachment.kind)
        method = getattr(bot, SENDERS.get(attachment.kind, "send_document"))
        sent = await method(chat_id, media, caption=caption) if attachment.kind != "video_note" \
            else await method(chat_id, media)
        return int(sent.message_id)

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
