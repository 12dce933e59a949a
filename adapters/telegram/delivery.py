"""Delivering outbox entries to Telegram clients (route "telegram.client")."""

from __future__ import annotations

import logging
from collections.abc import Sequence
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
from aiogram.types import BufferedInputFile, MessageEntity

from adapters.telegram.asks import keyboard
from adapters.telegram.line_bots import LineBots
from adapters.telegram.rating import rating_keyboard
from adapters.telegram.text import CAPTION_LIMIT, TEXT_LIMIT, fit, split_text, utf16_len
from core.errors import DeliveryError
from core.files import Files, FileUnavailable
from core.links import LinkKind, TelegramSent, line_message, telegram_client_copy, telegram_client_status
from core.model import Attachment, AuthorKind, OutboxEntry
from core.outbox_actions import (
    AskAnswered,
    AskQuestion,
    AskRating,
    ClientStatusCard,
    DeleteText,
    EditText,
    SendText,
    ToClient,
    unknown_action,
)
from core.store.base import Store, steadily

log = logging.getLogger(__name__)


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


SENDERS = {
    "photo": "send_photo",
    "voice": "send_voice",
    "audio": "send_audio",
    "video": "send_video",
    "video_note": "send_video_note",
    "animation": "send_animation",
}
CAPTIONED = frozenset({"photo", "document", "voice", "audio", "video", "animation"})
"""Kinds whose message carries a caption (a sticker, a round video, a location or a contact has none)."""


def signature(action: SendText | EditText) -> str | None:
    """The operator's display name an operator's message is signed with; process and system messages are not."""
    name = action.author_name
    return name if action.author_kind == AuthorKind.OPERATOR and name else None


def signed(name: str | None, text: str) -> tuple[str, list[MessageEntity] | None]:
    """The text as the client reads it: the operator's name in bold on the first line, then the text."""
    if not name:
        return text, None
    return (f"{name}\n{text}" if text else name), [MessageEntity(type="bold", offset=0, length=utf16_len(name))]


class TelegramClientDelivery:
    def __init__(self, bots: LineBots, store: Store, files: Files):
        self._bots = bots
        self._store = store
        self._files = files

    async def deliver(self, entry: OutboxEntry, merged: Sequence[OutboxEntry] = ()) -> None:
        if not isinstance(entry.action, ToClient):
            raise unknown_action(entry.action, "client")
        line_id = entry.action.line_id
        bot = self._bots.get(line_id)
        if bot is None:
            raise DeliveryError(f"line {line_id!r} has no Telegram bot", permanent=True)
        chat_id = int(entry.action.chat_id)
        try:
            match entry.action:
                case SendText() as send:
                    sent = await self._send(bot, line_id, chat_id, send)
                    if send.message_id and sent is not None:
                        await steadily(self._store.link, telegram_client_copy(line_id, send.message_id, chat_id, sent))
                case ClientStatusCard(instance_id=instance_id, text=text):
                    await self._status_card(line_id, chat_id, instance_id, text)
                case EditText() as edit:
                    await self._edit(bot, line_id, edit)
                case DeleteText(message_id=message_id):
                    await self._delete(bot, line_id, message_id)
                case AskQuestion() as ask:
                    await self._ask(bot, line_id, chat_id, ask)
                case AskAnswered() as answered:
                    await self._answered(bot, line_id, answered)
                case AskRating(session=session, text=text):
                    await bot.send_message(chat_id=chat_id, text=text, reply_markup=rating_keyboard(session))
                case other:
                    raise unknown_action(other, "client")
        except DeliveryError:
            raise
        except Exception as err:
            raise delivery_error(err) from err

    async def _send(self, bot: Bot, line_id: str, chat_id: int, send: SendText) -> TelegramSent | None:
        """Copy the operator's Telegram message as it is, or send its text and files, signed with the operator's
        name. Returns what an edit or a delete needs later: the first message id ("message_id"), whether the text
        is that message's caption ("caption"), the message holding the text ("text_id") and every id ("ids")."""
        name = signature(send)
        text = send.text
        attachments = send.attachments
        copy_from = send.copy_from
        ids: list[int] = []
        if copy_from:
            captioned = bool(attachments) and attachments[0].kind in CAPTIONED
            name_id: int | None = None
            if name and not captioned:  # a sticker, a location …: the signature goes just before it
                name_id = (await bot.send_message(chat_id=chat_id, text=name, entities=signed(name, "")[1])).message_id
                ids.append(name_id)
            if captioned and name:
                caption, entities = signed(name, text)
                copied = await bot.copy_message(
                    chat_id=chat_id,
                    from_chat_id=copy_from.chat_id,
                    message_id=copy_from.message_id,
                    caption=fit(caption, CAPTION_LIMIT),
                    caption_entities=entities,
                )
            else:
                copied = await bot.copy_message(
                    chat_id=chat_id, from_chat_id=copy_from.chat_id, message_id=copy_from.message_id
                )
            ids.append(copied.message_id)
            return {"message_id": copied.message_id, "caption": captioned, "text_id": name_id, "ids": ids}
        files = [a for a in attachments if a.ref and not a.too_large]
        if not files and not text:
            return None  # nothing the client can get (a file too large): the sender was told
        full, entities = signed(name, text)
        caption_fits = bool(files) and files[0].kind in CAPTIONED and utf16_len(full) <= CAPTION_LIMIT
        separate = not caption_fits and bool(text or name)
        text_id: int | None = None
        if separate and not text:  # only the signature, before the files it signs
            text_id = (await bot.send_message(chat_id=chat_id, text=full, entities=entities)).message_id
            ids.append(text_id)
        for index, attachment in enumerate(files):
            first = index == 0 and caption_fits
            ids.append(
                await self._send_file(
                    bot, line_id, chat_id, attachment, full if first else None, entities if first else None
                )
            )
        if separate and text:
            for number, chunk in enumerate(split_text(full)):
                sent_message = await bot.send_message(
                    chat_id=chat_id, text=chunk, entities=entities if number == 0 else None
                )
                text_id = text_id if text_id is not None else sent_message.message_id
                ids.append(sent_message.message_id)
        return {"message_id": ids[0], "caption": caption_fits, "text_id": text_id, "ids": ids}

    async def _send_file(
        self,
        bot: Bot,
        line_id: str,
        chat_id: int,
        attachment: Attachment,
        caption: str | None,
        entities: list[MessageEntity] | None = None,
    ) -> int:
        assert attachment.ref is not None
        own_prefix = f"telegram:{line_id}:"
        if attachment.ref.startswith(own_prefix):
            media: str | BufferedInputFile = attachment.ref.removeprefix(own_prefix)  # the bot's own file id
        else:
            media = BufferedInputFile(await self._files.fetch(attachment.ref), attachment.name or attachment.kind)
        method = getattr(bot, SENDERS.get(attachment.kind, "send_document"))
        sent = (
            await method(chat_id, media, caption=caption, caption_entities=entities)
            if attachment.kind in CAPTIONED
            else await method(chat_id, media)
        )
        return int(sent.message_id)

    async def _edit(self, bot: Bot, line_id: str, edit: EditText) -> None:
        """An operator edited a message: edit the client's copy (its caption, or the message holding the text)."""
        sent = await self._client_copy(line_id, edit.message_id)
        if sent is None:
            raise DeliveryError(
                "the edit cannot reach the client: they never got the message", permanent=True, reason="not_sent"
            )
        full, entities = signed(signature(edit), edit.text)
        try:
            if sent.get("caption"):
                await bot.edit_message_caption(
                    chat_id=sent["chat_id"],
                    message_id=sent["message_id"],
                    caption=fit(full, CAPTION_LIMIT),
                    caption_entities=entities,
                )
            elif sent.get("text_id"):
                await bot.edit_message_text(
                    chat_id=sent["chat_id"], message_id=sent["text_id"], text=fit(full, TEXT_LIMIT), entities=entities
                )
            else:
                raise DeliveryError(
                    "Telegram cannot add a text to this message: the edit was not sent",
                    permanent=True,
                    reason="not_editable",
                )
        except TelegramBadRequest as err:
            if "not modified" not in err.message.lower():
                raise

    async def _delete(self, bot: Bot, line_id: str, message_id: int) -> None:
        """An operator deleted a message: delete every message the client got for it."""
        sent = await self._client_copy(line_id, message_id)
        if sent is None:
            return  # the client never got it: nothing to take back
        for sent_id in sent.get("ids") or [sent["message_id"]]:
            try:
                await bot.delete_message(chat_id=sent["chat_id"], message_id=sent_id)
            except TelegramBadRequest as err:
                if "not found" not in err.message.lower():
                    raise
        await steadily(self._store.unlink, LinkKind.TELEGRAM_CLIENT_COPY, line_message(line_id, message_id))

    async def _client_copy(self, line_id: str, message_id: int) -> dict[str, Any] | None:
        """`TelegramSent` and "chat_id" of what the client got for a message, or None."""
        link = await self._store.link_of(LinkKind.TELEGRAM_CLIENT_COPY, line_message(line_id, message_id))
        return link.data if link is not None else None

    async def _ask(self, bot: Bot, line_id: str, chat_id: int, ask: AskQuestion) -> None:
        """A process's question with its buttons; linked as the question's client copy (for the answer's edit)."""
        sent = await bot.send_message(
            chat_id=chat_id, text=fit(ask.text, TEXT_LIMIT), reply_markup=keyboard(ask.ask_id, ask.choices)
        )
        ids = [sent.message_id]
        copy: TelegramSent = {"message_id": sent.message_id, "caption": False, "text_id": sent.message_id, "ids": ids}
        await steadily(self._store.link, telegram_client_copy(line_id, ask.message_id, chat_id, copy))

    async def _answered(self, bot: Bot, line_id: str, answered: AskAnswered) -> None:
        """The question shows the answer; the edit drops its buttons (no reply_markup)."""
        sent = await self._client_copy(line_id, answered.message_id)
        if sent is None:
            return  # the question never reached the client: nothing to edit
        try:
            await bot.edit_message_text(
                chat_id=sent["chat_id"], message_id=sent["message_id"], text=fit(answered.text, TEXT_LIMIT)
            )
        except TelegramBadRequest as err:
            if "not modified" not in err.message.lower() and "not found" not in err.message.lower():
                raise

    async def _status_card(self, line_id: str, chat_id: int, instance_id: str, text: str) -> None:
        """One message per instance, edited in place as the process moves on."""
        bot = self._bots.get(line_id)
        assert bot is not None
        link = await self._store.link_of(LinkKind.TELEGRAM_CLIENT_STATUS, instance_id)
        card = link.data if link is not None else None
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
        await steadily(self._store.link, telegram_client_status(instance_id, chat_id, sent.message_id))
