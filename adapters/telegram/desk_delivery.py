"""The Telegram desk, outbound (route "telegram.desk"): a forum topic `#N Client name` per session,
its card, mirrored messages, notices, task and status cards."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from aiogram import Bot
from aiogram.exceptions import TelegramBadRequest
from aiogram.types import BufferedInputFile, User
from aiogram.utils.formatting import Text, TextMention

from adapters.telegram.delivery import delivery_error
from adapters.telegram.desk_cards import TELEGRAM_CARD, card_view, task_keyboard, task_text
from adapters.telegram.desk_runs import Piece, Run, Uploader, albums, copyable_together, merged_line, plan
from adapters.telegram.line_bots import LineBots
from adapters.telegram.text import CAPTION_LIMIT, TEXT_LIMIT, TOPIC_NAME_LIMIT, fit, split_text
from core.config import Config, LineConfig
from core.courier import mirror_line, mirror_of
from core.desk import DeskDelivery
from core.desk_card import Cards
from core.errors import DeliveryError
from core.files import Files, FileUnavailable
from core.links import LinkKind, session_message, session_topic, telegram_desk_copy, telegram_desk_status
from core.model import Attachment, OutboxEntry, Session
from core.outbox_actions import (
    Edit,
    Mention,
    Mirror,
    Notice,
    OpenSession,
    RefreshCard,
    StatusCard,
    TaskCard,
    unknown_action,
)
from core.store.base import Store, steadily


@dataclass(frozen=True)
class _Job:
    """One delivery: the entry, its session and line, and — for a mirror — every message it shows (its
    album's, and those of the mirrors merged into it: `core.courier.desk_merge`)."""

    entry: OutboxEntry
    session: Session
    line: LineConfig
    mirrors: list[Mirror | Notice]


def _line(item: Mirror | Notice, *, merged: bool) -> str:
    """A post's line: a notice as it is, a message with its author (and its time, UTC, in a merged post)."""
    if isinstance(item, Notice):
        return item.text
    return f"[{_time(item.sent_at)}] {mirror_line(item)}" if merged and item.sent_at else mirror_line(item)


def mentioning(text: str, mentions: Sequence[Mention]) -> dict[str, Any]:
    """A notice's text and the operators it calls on, as sendMessage's text and entities: a text mention
    notifies each operator with a Telegram account (the others are named)."""
    parts: list[str | TextMention] = [text]
    for mention in mentions:
        parts.append(" ")
        if mention.telegram_user is None:
            parts.append(mention.name)
        else:
            user = User(id=mention.telegram_user, is_bot=False, first_name=mention.name)
            parts.append(TextMention(mention.name, user=user))
    return Text(*parts).as_kwargs()


def _time(at: float) -> str:
    return time.strftime("%H:%M:%S", time.gmtime(at))


def _own_message(source_ref: Any, line_id: str) -> tuple[int, int] | None:
    """(chat id, message id) of a message the line's own bot can copy: "telegram:<line>:<chat>:<id>"."""
    parts = str(source_ref or "").split(":")
    if len(parts) != 4 or parts[0] != "telegram" or parts[1] != line_id:
        return None
    try:
        return int(parts[2]), int(parts[3])
    except ValueError:
        return None


class TelegramDeskDelivery(DeskDelivery):
    def __init__(
        self,
        bots: LineBots,
        store: Store,
        config: Config,
        files: Files | None = None,
        *,
        cards: Cards | None = None,
    ):
        super().__init__(store, config)
        self._bots = bots
        self._cards = cards if cards is not None else Cards(store, config)
        self._files = files
        """Where files sent on other platforms (Slack) are fetched from, to be uploaded into the topic."""

    def translate(self, err: Exception) -> DeliveryError:
        return delivery_error(err)

    async def perform(
        self, entry: OutboxEntry, session: Session, line: LineConfig, merged: Sequence[OutboxEntry] = ()
    ) -> None:
        bot = self._bots.get(line.id)
        if line.telegram_desk_chat is None or bot is None:
            raise DeliveryError(f"line {line.id!r} has no Telegram desk", permanent=True)
        link = await self._store.link_of(LinkKind.SESSION_TOPIC, str(session.number))
        topic = link.data if link is not None else None
        if isinstance(entry.action, RefreshCard) and (topic is None or not topic.get("card_id")):
            return  # no card yet: its OpenSession, in the session's own lane, draws it as the session is then
        action = entry.action
        # a mirror's messages; a notice's only when others waited behind it (a notice alone is plain text)
        post = isinstance(action, Mirror) or (isinstance(action, Notice) and bool(merged))
        mirrors = await self.mirrored(action, merged) if post and isinstance(action, Mirror | Notice) else []
        job = _Job(entry, session, line, mirrors)
        if topic is None:
            topic = await self._open_topic(bot, line.telegram_desk_chat, session)
            if not isinstance(entry.action, OpenSession | RefreshCard):  # its card was never queued (a crash)
                await self._card(bot, session, topic)
        try:
            await self._act(bot, job, topic)
        except TelegramBadRequest as err:
            if "thread not found" not in err.message.lower():
                raise
            # someone deleted the session's topic: open it again, with its card, and go on there
            topic = await self._open_topic(bot, line.telegram_desk_chat, session)
            await self._card(bot, session, topic)
            if not isinstance(entry.action, OpenSession | RefreshCard):
                await self._act(bot, job, topic)

    async def _act(self, bot: Bot, job: _Job, topic: dict[str, Any]) -> None:
        session = job.session
        match job.entry.action:
            case OpenSession() | RefreshCard():
                await self._card(bot, session, topic)
            case TaskCard() as card:
                await bot.send_message(
                    chat_id=topic["chat_id"],
                    message_thread_id=topic["thread_id"],
                    text=task_text(card),
                    reply_markup=task_keyboard(card),
                )
            case Mirror():
                await self._mirror_all(bot, job, topic)
            case Notice() if job.mirrors:  # with what waited behind it
                await self._mirror_all(bot, job, topic)
            case Edit() as edit:
                await self._edit(bot, topic, session, edit)
            case Notice(text=text, mentions=mentions) if mentions:
                await bot.send_message(
                    chat_id=topic["chat_id"], message_thread_id=topic["thread_id"], **mentioning(text, mentions)
                )
            case Notice(text=text):
                await self._send_text(bot, topic, text)
            case StatusCard() as card:
                await self._status_card(bot, topic, card)
            case other:
                raise unknown_action(other, "desk")

    async def _send_text(self, bot: Bot, topic: dict[str, Any], text: str) -> int:
        first = 0
        for chunk in split_text(text):
            sent = await bot.send_message(chat_id=topic["chat_id"], message_thread_id=topic["thread_id"], text=chunk)
            first = first or sent.message_id
        return first

    async def _mirror_all(self, bot: Bot, job: _Job, topic: dict[str, Any]) -> None:
        """A message alone goes as itself; several (a run that waited behind the group's limit, an album) go in
        as few sends as the Bot API allows, in order (`desk_runs`): text lines as one post, each with its time
        (UTC), the client's own media copied after the post that names them, other platforms' files as albums."""
        line, session = job.line, job.session
        if len(job.mirrors) == 1 and isinstance(job.mirrors[0], Mirror):
            await self._mirror(bot, line, session, topic, job.mirrors[0])
            return
        for run in plan(job.mirrors, lambda m: _own_message(m.source_ref, line.id), self._files is not None):
            if run.uploads:
                await self._upload_run(bot, topic, run.uploads)
            elif len(run.lines) == 1 and run.copies:  # one copy alone: its line is its caption
                await self._mirror(bot, line, session, topic, run.copies[0])
            else:
                await self._post_run(bot, topic, run, line.id)

    async def _post_run(self, bot: Bot, topic: dict[str, Any], run: Run, line_id: str) -> None:
        """One text post of the run's lines, then the client's own media it names, copied at once."""
        merged = len(run.lines) > 1
        posted = await self._send_text(bot, topic, "\n".join(_line(t, merged=merged) for t in run.lines))
        copied = await self._copy_all(bot, topic, run.copies, line_id)
        copies = {id(item): copy for item, copy in zip(run.copies, copied, strict=True)}
        for item in run.lines:
            if not isinstance(item, Mirror):
                continue
            copy = copies.get(id(item))
            if copy is not None:
                await self._remember(item, topic, copy, caption=True)
            else:
                await self._remember(item, topic, posted, caption=False, merged=merged)

    async def _copy_all(self, bot: Bot, topic: dict[str, Any], items: list[Mirror], line_id: str) -> list[int | None]:
        """Copy the client's own messages into the topic, with one `copyMessages` when they allow it; each copy's
        id (None for all when Telegram skipped some: which ones it does not say)."""
        sources = [source for item in items if (source := _own_message(item.source_ref, line_id)) is not None]
        if not sources:
            return []
        chat, thread = topic["chat_id"], topic["thread_id"]
        if not copyable_together(sources):
            return [
                (await bot.copy_message(chat, from_chat_id=c, message_id=m, message_thread_id=thread)).message_id
                for c, m in sources
            ]
        done = await bot.copy_messages(
            chat, from_chat_id=sources[0][0], message_ids=[m for _, m in sources], message_thread_id=thread
        )
        if len(done) != len(sources):
            return [None] * len(sources)
        return [d.message_id for d in done]

    async def _upload_run(self, bot: Bot, topic: dict[str, Any], items: list[Mirror]) -> None:
        """Another platform's messages with files, uploaded as albums; a message none of whose files could be
        fetched is posted as its line, where it stands."""
        assert self._files is not None
        uploader = Uploader(bot, self._files, topic, lambda m: merged_line(m, _time))
        pieces = []
        for item in items:
            got = await uploader.pieces(item)
            if got:
                pieces.extend(got)
                continue
            await self._send_albums(uploader, topic, pieces)
            pieces = []
            posted = await self._send_text(bot, topic, _line(item, merged=True))
            await self._remember(item, topic, posted, caption=False)
        await self._send_albums(uploader, topic, pieces)

    async def _send_albums(self, uploader: Uploader, topic: dict[str, Any], pieces: list[Piece]) -> None:
        for group in albums(pieces):
            for piece, sent in zip(group, await uploader.send(group), strict=True):
                if piece.caption is not None:  # a message's first file: its copy (edits edit its caption)
                    await self._remember(piece.item, topic, sent, caption=True)

    async def _mirror(self, bot: Bot, line: LineConfig, session: Session, topic: dict[str, Any], item: Mirror) -> None:
        """A client's Telegram message with a file is copied into the topic as it is (same bot, no
        download); files sent on another platform are fetched and uploaded; everything else is posted as a
        line of text."""
        source = _own_message(item.source_ref, line.id)
        files = [a for a in item.attachments if a.ref and not a.too_large]
        posted: int | None = None
        copied_media = False
        if source is not None and files:
            caption = fit(mirror_line(item.model_copy(update={"attachments": []})), CAPTION_LIMIT)
            copied = await bot.copy_message(
                chat_id=topic["chat_id"],
                message_thread_id=topic["thread_id"],
                from_chat_id=source[0],
                message_id=source[1],
                caption=caption,
            )
            posted, copied_media = copied.message_id, True
        elif files and self._files is not None:
            posted = await self._upload(bot, topic, item, files)
            copied_media = posted is not None
        if posted is None:
            posted = await self._send_text(bot, topic, mirror_line(item))
        await self._remember(item, topic, posted, caption=copied_media)

    async def _remember(
        self, item: Mirror, topic: dict[str, Any], posted: int, *, caption: bool, merged: bool = False
    ) -> None:
        """Where the message's copy is (its edits edit it; a merged post is not rewritten by one edit)."""
        if item.message_id:
            copy = telegram_desk_copy(item.session, item.message_id, topic["chat_id"], posted, caption, merged=merged)
            await steadily(self._store.link, copy)

    async def _upload(self, bot: Bot, topic: dict[str, Any], item: Mirror, files: list[Attachment]) -> int | None:
        """Upload another platform's files (≤ 20 MB) into the topic, the message's line as the first caption.
        None when none could be fetched (the caller posts the text instead)."""
        assert self._files is not None
        contents: list[tuple[Attachment, bytes]] = []
        notes: list[str] = []
        for attachment in files:
            assert attachment.ref is not None
            try:
                contents.append((attachment, await self._files.fetch(attachment.ref)))
            except FileUnavailable as err:
                notes.append(f"{attachment.describe()} — could not be fetched: {err}")
        if not contents:
            return None
        caption = fit("\n".join([mirror_line(item, files_shown=True), *notes]), CAPTION_LIMIT)
        first: int | None = None
        for attachment, content in contents:
            media = BufferedInputFile(content, attachment.name or attachment.kind)
            method = bot.send_photo if attachment.kind == "photo" else bot.send_document
            sent = await method(
                topic["chat_id"],
                media,
                message_thread_id=topic["thread_id"],
                caption=caption if first is None else None,
            )
            first = first if first is not None else sent.message_id
        return first

    async def _edit(self, bot: Bot, topic: dict[str, Any], session: Session, edit: Edit) -> None:
        """The client edited a message: edit its copy in the topic (or say so, when there is none)."""
        stored = await self._store.get_message(session.number, edit.message_id)
        copy = await self._store.link_of(LinkKind.TELEGRAM_DESK_COPY, session_message(session.number, edit.message_id))
        mirrored = copy.data if copy is not None else None
        if stored is None or mirrored is None or mirrored.get("merged"):
            await self._send_text(bot, topic, f"✏ {edit.author_name} edited a message: {edit.text}")
            return
        text = mirror_line(mirror_of(stored, session.line_id), files_shown=bool(mirrored["caption"]), edited=True)
        try:
            if mirrored["caption"]:
                await bot.edit_message_caption(
                    chat_id=mirrored["chat_id"], message_id=mirrored["message_id"], caption=fit(text, CAPTION_LIMIT)
                )
            else:
                await bot.edit_message_text(
                    chat_id=mirrored["chat_id"], message_id=mirrored["message_id"], text=fit(text, TEXT_LIMIT)
                )
        except TelegramBadRequest as err:
            if "not modified" not in err.message.lower():
                raise

    async def _status_card(self, bot: Bot, topic: dict[str, Any], status: StatusCard) -> None:
        text = f"⚙ {status.process} · status: {status.text}"
        link = await self._store.link_of(LinkKind.TELEGRAM_DESK_STATUS, status.instance_id)
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
        sent = await bot.send_message(chat_id=topic["chat_id"], message_thread_id=topic["thread_id"], text=text)
        await steadily(self._store.link, telegram_desk_status(status.instance_id, topic["chat_id"], sent.message_id))

    async def _open_topic(self, bot: Bot, chat_id: int, session: Session) -> dict[str, Any]:
        client = await self._store.get_client(session.client_id)
        name = fit(f"#{session.number} {client.name if client else ''}".strip(), TOPIC_NAME_LIMIT)
        created = await bot.create_forum_topic(chat_id=chat_id, name=name)
        link = session_topic(session.number, chat_id, created.message_thread_id)
        await steadily(self._store.link, link)  # the session's topic and the topic's session, in one write
        return link.data

    async def _card(self, bot: Bot, session: Session, topic: dict[str, Any]) -> None:
        if topic.get("card_id"):
            async with self._cards.drawing(TELEGRAM_CARD, session.number):
                text, keyboard = card_view(await self._cards.facts(session))
                if self._cards.shows(TELEGRAM_CARD, session.number, (text, keyboard)):
                    return  # drawn so from the click already
                self._cards.forget(TELEGRAM_CARD, session.number)
                try:
                    await bot.edit_message_text(
                        chat_id=topic["chat_id"], message_id=topic["card_id"], text=text, reply_markup=keyboard
                    )
                except Exception as err:
                    if "not modified" not in str(err).lower():
                        raise
                self._cards.drawn(TELEGRAM_CARD, session.number, (text, keyboard))
            return
        text, keyboard = card_view(await self._cards.facts(session))
        sent = await bot.send_message(
            chat_id=topic["chat_id"], message_thread_id=topic["thread_id"], text=text, reply_markup=keyboard
        )
        topic["card_id"] = sent.message_id
        self._cards.drawn(TELEGRAM_CARD, session.number, (text, keyboard))
        link = session_topic(session.number, int(topic["chat_id"]), int(topic["thread_id"]), sent.message_id)
        await steadily(self._store.link, link)
        # a refresh that came while the card was on its way found no card and left it to this post: draw the
        # session as it is now, if it changed meanwhile
        now = await self._store.get_session(session.number)
        if now is not None and now != session:
            await self._card(bot, now, topic)
