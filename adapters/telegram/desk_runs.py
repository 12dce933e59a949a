"""How the Telegram desk posts several messages at once (a run that waited behind the group's limit, or an
album): in as few group sends as the Bot API allows, never reordered.

- text lines (notices, messages without files) go as one post, each with its time;
- the client's own Telegram messages with files (the line bot's, from the client's chat) are named by a line of
  that post and copied right after it, all with one ``copyMessages``;
- files sent on another platform (Slack) are uploaded with ``sendMediaGroup``: photos and videos together,
  documents together, at most 10 a group, each message's line the caption of its first file.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from itertools import pairwise
from typing import Any

from aiogram import Bot
from aiogram.types import (
    BufferedInputFile,
    InputMediaDocument,
    InputMediaPhoto,
    InputMediaVideo,
)

from adapters.telegram.text import CAPTION_LIMIT, fit
from core.courier import mirror_line
from core.files import Files, FileUnavailable
from core.model import Attachment
from core.outbox_actions import Mirror, Notice

ALBUM_LIMIT = 10
"""Files in one `sendMediaGroup`, at most."""

InputMedia = InputMediaPhoto | InputMediaVideo | InputMediaDocument

OwnMessage = Callable[[Mirror], tuple[int, int] | None]
"""(chat id, message id) of a message the line's bot can copy, or None."""


def files_of(item: Mirror) -> list[Attachment]:
    """The files a desk can show as themselves (fetchable, not too large)."""
    return [a for a in item.attachments if a.ref and not a.too_large]


@dataclass
class Run:
    """One step of a post: a text post of `lines` followed by the copies of `copies` (whose lines are among
    `lines`), or — `uploads` not empty — another platform's messages with files, uploaded as albums."""

    lines: list[Mirror | Notice] = field(default_factory=list)
    copies: list[Mirror] = field(default_factory=list)
    uploads: list[Mirror] = field(default_factory=list)


def plan(items: list[Mirror | Notice], own: OwnMessage, can_upload: bool) -> list[Run]:
    """`items` cut into runs, in order."""
    runs: list[Run] = []
    for item in items:
        files = files_of(item) if isinstance(item, Mirror) else []
        if isinstance(item, Mirror) and files and own(item) is None and can_upload:
            if not runs or not runs[-1].uploads:
                runs.append(Run())
            runs[-1].uploads.append(item)
            continue
        copied = isinstance(item, Mirror) and bool(files) and own(item) is not None
        if not runs or runs[-1].uploads or (runs[-1].copies and not copied):
            runs.append(Run())  # a text line after copies opens a new post: the copies stay where they were
        runs[-1].lines.append(item)
        if copied and isinstance(item, Mirror):
            runs[-1].copies.append(item)
    return runs


def copyable_together(copies: list[tuple[int, int]]) -> bool:
    """Whether one `copyMessages` can copy them: one chat, strictly increasing ids."""
    return len({chat for chat, _ in copies}) == 1 and all(a[1] < b[1] for a, b in pairwise(copies))


@dataclass(frozen=True)
class Piece:
    """One fetched file of a message, with the caption it carries (its message's line, on its first file)."""

    item: Mirror
    attachment: Attachment
    content: bytes
    caption: str | None


def _visual(attachment: Attachment) -> bool:
    return attachment.kind in ("photo", "video")


def _media(piece: Piece) -> InputMedia:
    upload = BufferedInputFile(piece.content, piece.attachment.name or piece.attachment.kind)
    if piece.attachment.kind == "photo":
        return InputMediaPhoto(media=upload, caption=piece.caption)
    if piece.attachment.kind == "video":
        return InputMediaVideo(media=upload, caption=piece.caption)
    return InputMediaDocument(media=upload, caption=piece.caption)


def albums(pieces: list[Piece]) -> list[list[Piece]]:
    """Consecutive pieces Telegram takes in one album: photos and videos, or documents; ≤ 10 each."""
    groups: list[list[Piece]] = []
    for piece in pieces:
        last = groups[-1] if groups else None
        if last and len(last) < ALBUM_LIMIT and _visual(last[0].attachment) == _visual(piece.attachment):
            last.append(piece)
        else:
            groups.append([piece])
    return groups


class Uploader:
    """Uploads another platform's messages with files into a topic as albums (`sendMediaGroup`)."""

    def __init__(self, bot: Bot, files: Files, topic: dict[str, Any], line: Callable[[Mirror], str]):
        self._bot = bot
        self._files = files
        self._topic = topic
        self._line = line
        """A message's line (its caption), with its time when it is merged."""

    async def pieces(self, item: Mirror) -> list[Piece]:
        """The message's files fetched, its line (and what could not be fetched) the first one's caption."""
        fetched: list[tuple[Attachment, bytes]] = []
        notes: list[str] = []
        for attachment in files_of(item):
            assert attachment.ref is not None
            try:
                fetched.append((attachment, await self._files.fetch(attachment.ref)))
            except FileUnavailable as err:
                notes.append(f"{attachment.describe()} — could not be fetched: {err}")
        caption = fit("\n".join([self._line(item), *notes]), CAPTION_LIMIT)
        return [Piece(item, a, content, caption if n == 0 else None) for n, (a, content) in enumerate(fetched)]

    async def send(self, group: list[Piece]) -> list[int]:
        """One album (one file: a message of its own); the message ids, in order."""
        chat, thread = self._topic["chat_id"], self._topic["thread_id"]
        if len(group) == 1:
            [piece] = group
            upload = BufferedInputFile(piece.content, piece.attachment.name or piece.attachment.kind)
            method = self._bot.send_photo if piece.attachment.kind == "photo" else self._bot.send_document
            sent = await method(chat, upload, message_thread_id=thread, caption=piece.caption)
            return [sent.message_id]
        messages = await self._bot.send_media_group(chat, [_media(p) for p in group], message_thread_id=thread)
        return [m.message_id for m in messages]


def merged_line(item: Mirror, at: Callable[[float], str]) -> str:
    """A message's line in a merged post, with the files it shows as themselves."""
    line = mirror_line(item, files_shown=True)
    return f"[{at(item.sent_at)}] {line}" if item.sent_at else line
