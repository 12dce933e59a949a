"""Customers on Telegram: private chats with a line's bot, translated into core's vocabulary.

Dependencies come in by parameter name from the dispatcher's workflow data
(`sessions`) and from the feed call (`line_id`), aiogram-style. Group chats of
customers never reach these handlers (the router only takes private chats).
"""

from __future__ import annotations

import mimetypes

from aiogram import Router
from aiogram.filters import CommandStart
from aiogram.types import ChatMemberUpdated, Message

from adapters.telegram.filters import (
    a_command,
    bot_was_blocked,
    from_a_person,
    has_content,
    has_text,
    in_private_chat,
)
from core.inbound import ClientBlocked, ClientEdit, ClientText
from core.model import Attachment, Channel
from core.sessions import Sessions

FILE_KINDS = ("document", "voice", "audio", "video", "video_note", "animation")
DEFAULT_MIME = {"voice": "audio/ogg", "video_note": "video/mp4", "video": "video/mp4", "animation": "video/mp4"}


def display_name(message: Message) -> str:
    user = message.from_user
    if user is None:
        return "Telegram user"
    return " ".join(part for part in (user.first_name, user.last_name) if part) or (user.username or str(user.id))


def message_ref(line_id: str, chat_id: int, message_id: int) -> str:
    return f"telegram:{line_id}:{chat_id}:{message_id}"


def file_ref(line_id: str, file_id: str) -> str:
    return f"telegram:{line_id}:{file_id}"


def attachments_of(message: Message, line_id: str) -> tuple[Attachment, ...]:
    """The message's photo, file, sticker, location or contact, as core's attachments."""
    if message.photo:
        largest = message.photo[-1]
        return (
            Attachment(
                kind="photo",
                ref=file_ref(line_id, largest.file_id),
                name=f"photo_{message.message_id}.jpg",
                mime="image/jpeg",
                size=largest.file_size,
            ),
        )
    for kind in FILE_KINDS:
        media = getattr(message, kind, None)
        if media is not None:
            mime = getattr(media, "mime_type", None) or DEFAULT_MIME.get(kind)
            extension = mimetypes.guess_extension(mime) if mime else None
            name = getattr(media, "file_name", None) or f"{kind}_{message.message_id}{extension or ''}"
            return (
                Attachment(kind=kind, ref=file_ref(line_id, media.file_id), name=name, mime=mime, size=media.file_size),
            )
    if message.sticker:
        return (Attachment(kind="sticker", data={"emoji": message.sticker.emoji or "🖼"}),)
    if message.location:
        return (
            Attachment(
                kind="location", data={"latitude": message.location.latitude, "longitude": message.location.longitude}
            ),
        )
    if message.contact:
        contact = message.contact
        return (
            Attachment(
                kind="contact",
                data={
                    "phone_number": contact.phone_number,
                    "first_name": contact.first_name,
                    "last_name": contact.last_name,
                },
            ),
        )
    return ()


def to_client_text(message: Message, line_id: str, *, is_start: bool = False) -> ClientText:
    user = message.from_user
    assert user is not None
    reply = message.reply_to_message
    return ClientText(
        line_id=line_id,
        channel=Channel.TELEGRAM,
        user_id=str(user.id),
        chat_id=str(message.chat.id),
        name=display_name(message),
        username=user.username,
        text=message.text or message.caption or "",
        is_start=is_start,
        platform_ref=message_ref(line_id, message.chat.id, message.message_id),
        attachments=attachments_of(message, line_id),
        media_group=message.media_group_id,
        reply_to_ref=message_ref(line_id, message.chat.id, reply.message_id) if reply else None,
    )


def client_router() -> Router:
    router = Router(name="telegram-clients")
    router.message.filter(in_private_chat, from_a_person)
    router.edited_message.filter(in_private_chat, from_a_person)

    @router.message(a_command, CommandStart())  # the cheap look first: CommandStart parses every text
    async def on_start(message: Message, sessions: Sessions, line_id: str) -> None:
        await sessions.client_text(to_client_text(message, line_id, is_start=True))

    @router.message(has_content)
    async def on_message(message: Message, sessions: Sessions, line_id: str) -> None:
        await sessions.client_text(to_client_text(message, line_id))

    @router.edited_message(has_text)
    async def on_edit(message: Message, sessions: Sessions, line_id: str) -> None:
        assert message.from_user is not None
        await sessions.client_edit(
            ClientEdit(
                line_id=line_id,
                channel=Channel.TELEGRAM,
                user_id=str(message.from_user.id),
                platform_ref=message_ref(line_id, message.chat.id, message.message_id),
                text=message.text or message.caption or "",
            )
        )

    @router.my_chat_member(in_private_chat, bot_was_blocked)
    async def on_blocked(update: ChatMemberUpdated, sessions: Sessions) -> None:
        await sessions.client_blocked(ClientBlocked(channel=Channel.TELEGRAM, user_id=str(update.from_user.id)))

    return router
