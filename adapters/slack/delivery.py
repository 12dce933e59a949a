"""Delivering outbox entries to Slack: the desk's thread per session (route "slack.desk")."""

from __future__ import annotations

import logging
import time
from collections import OrderedDict
from collections.abc import Awaitable, Sequence
from typing import Any

import aiohttp
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from adapters.slack import mrkdwn, views
from adapters.slack.pacing import channel_draw, workspace_draw
from adapters.slack.posted import Part, Poster
from adapters.slack.views import SLACK_CARD
from core.config import Config, LineConfig
from core.courier import mirror_line, mirror_of
from core.desk import DeskDelivery
from core.desk_card import Cards, card_facts
from core.errors import DeliveryError
from core.files import Files, FileUnavailable
from core.health import Health
from core.links import Link, LinkKind, session_message, session_thread, slack_desk_copy, slack_desk_status
from core.model import OutboxEntry, Session
from core.outbox_actions import (
    Edit,
    Mention,
    Mirror,
    Notice,
    OpenSession,
    RefreshCard,
    StatusCard,
    TaskCard,
    ToDesk,
    unknown_action,
)
from core.pacing import SLACK_UPDATE, Draw
from core.store.base import Store, steadily

log = logging.getLogger(__name__)


CONFIG_ERRORS = {
    "not_in_channel": "invite the app to the desk channel (/invite @linedesk)",
    "channel_not_found": "check slack_desk_channel(s) in the config: the channel id is wrong or private",
    "invalid_auth": "check slack.bot_token: Slack rejects it",
    "not_authed": "set slack.bot_token",
    "missing_scope": "reinstall the app from slack-manifest.yml to grant the missing scope",
    "account_inactive": "the app's token was revoked: reinstall the app",
    "token_revoked": "the app's token was revoked: reinstall the app",
    "is_archived": "the desk channel is archived: unarchive it or change slack_desk_channel(s)",
}
CONFIG_RETRY_AFTER = 60.0
KNOWN_THREADS = 100_000
"""Sessions whose Slack thread a deliverer remembers (`SlackDeskDelivery._roots`), the least recently used
forgotten first."""


def delivery_error(err: Exception) -> DeliveryError:
    """Slack's failures in the outbox's terms: when to retry and what is final."""
    if isinstance(err, SlackApiError):
        response = err.response
        status = getattr(response, "status_code", 200)
        code = str(response.get("error", "")) if hasattr(response, "get") else ""
        if status == 429 or code == "ratelimited":
            headers = getattr(response, "headers", {}) or {}
            retry_after = headers.get("Retry-After") or headers.get("retry-after") or 1
            return DeliveryError(f"Slack rate limit: {code or status}", retry_after=float(retry_after))
        if status >= 500:
            return DeliveryError(f"Slack answered HTTP {status}")
        if code in CONFIG_ERRORS:
            log.error("Slack refuses: %s — fix: %s", code, CONFIG_ERRORS[code])
            return DeliveryError(f"Slack: {code} ({CONFIG_ERRORS[code]})", retry_after=CONFIG_RETRY_AFTER, reason=code)
        return DeliveryError(f"Slack: {code or status}", permanent=True, reason=code or None)
    if isinstance(err, (aiohttp.ClientError, TimeoutError)):
        return DeliveryError(f"Slack unreachable: {type(err).__name__}: {err}")
    return DeliveryError(f"{type(err).__name__}: {err}")


class SlackDeskDelivery(DeskDelivery):
    """Posts session cards, mirrored messages and notices into the session's thread, in the line's desk channel
    (with several: the channel chosen for the session when its thread was opened).

    A session's thread (its root post, `LinkKind.SESSION_THREAD`) is posted once and never moves, so the
    deliverer remembers the roots it has posted or read (`_roots`): a message mirrored into a known thread needs
    neither the session nor its link from the store (`without_session`). The session's card and everything else
    read the session as it is now. The copy link of a mirrored message is returned to the outbox, which writes
    it with the entry's completion (one store call)."""

    def __init__(
        self,
        client: AsyncWebClient,
        store: Store,
        config: Config,
        files: Files,
        health: Health | None = None,
        *,
        cards: Cards | None = None,
    ):
        super().__init__(store, config)
        self._client = client
        self._cards = cards if cards is not None else Cards(store, config)
        self._files = files
        self._health = health
        self._roots: OrderedDict[int, dict[str, Any]] = OrderedDict()
        """session number → its thread's root {"channel", "ts"}, as posted (never changes once posted)"""

    def _remember(self, number: int, root: dict[str, Any]) -> None:
        self._roots[number] = root
        self._roots.move_to_end(number)
        if len(self._roots) > KNOWN_THREADS:
            self._roots.popitem(last=False)

    async def _root(self, number: int) -> dict[str, Any] | None:
        """The root of session `number`'s thread (None: not posted yet)."""
        root = self._roots.get(number)
        if root is not None:
            self._roots.move_to_end(number)
            return root
        link = await self._store.link_of(LinkKind.SESSION_THREAD, str(number))
        if link is None:
            return None
        self._remember(number, link.data)
        return link.data

    def translate(self, err: Exception) -> DeliveryError:
        return delivery_error(err)

    async def pace_keys(self, entry: OutboxEntry) -> list[Draw]:
        """The pacing bucket of a desk entry's first call: a card refresh or an edit is a `chat.update`
        (the workspace's tier, ahead of posts), anything else a post into the channel the session's thread is
        in (each channel has its own ~1 post/s; a new session's thread goes ahead of the mirror backlog).
        The outbox's pace function gets only the entry, and with several desk channels the entry
        cannot carry the channel (it is chosen when the thread is posted, after the entry was stored), so
        this looks it up in the store: the thread's link, or for a session without a thread yet the channel
        chosen for it (`Store.choose_desk_channel` records the choice, and `perform` then posts the thread
        in that same channel). A line with one desk channel needs no store read."""
        if not isinstance(entry.action, ToDesk):
            return []
        if isinstance(entry.action, RefreshCard | Edit):
            return [workspace_draw(SLACK_UPDATE, urgent=True)]
        line = self._config.line(entry.action.line_id)
        channel = await self.channel_of(entry.action.session, line) if line is not None else None
        action = entry.action
        patient = isinstance(action, Notice) and action.aside
        return [channel_draw(channel, urgent=isinstance(action, OpenSession), patient=patient)] if channel else []

    async def channel_of(self, number: int, line: LineConfig) -> str | None:
        """The channel of session `number`'s thread: where it is linked, or where it is to be opened."""
        channels = line.desk_channels
        if len(channels) == 1:
            return channels[0]
        root = await self._root(number)
        if root is not None:
            return str(root["channel"])
        return await self._chosen(number, line)

    async def _chosen(self, number: int, line: LineConfig) -> str | None:
        """The channel for a thread not posted yet: the line's one channel, or the one chosen (once) for it."""
        channels = line.desk_channels
        if len(channels) <= 1:
            return channels[0] if channels else None
        return await self._store.choose_desk_channel(line.id, number, channels)

    async def without_session(self, entry: OutboxEntry, merged: Sequence[OutboxEntry]) -> Sequence[Link] | None:
        """A message mirrored into a thread this deliverer knows: posted without reading the session."""
        action = entry.action
        if not isinstance(action, Mirror):
            return None
        root = self._roots.get(action.session)
        line = self._config.line(action.line_id) if root is not None else None
        if root is None or line is None:
            return None
        self._roots.move_to_end(action.session)
        items = await self.mirrored(action, merged)
        return await self._watched(
            str(root["channel"]), line, self._mirror(Poster(self._client, entry), root, items, merged=bool(merged))
        )

    async def perform(
        self, entry: OutboxEntry, session: Session, line: LineConfig, merged: Sequence[OutboxEntry] = ()
    ) -> Sequence[Link] | None:
        """Do the entry."""
        root = await self._root(session.number)
        channel = str(root["channel"]) if root is not None else await self._chosen(session.number, line)
        if channel is None:
            raise DeliveryError(f"line {line.id!r} has no Slack desk", permanent=True)
        return await self._watched(channel, line, self._perform(entry, line, session, (channel, root), merged=merged))

    async def _watched(
        self, channel: str, line: LineConfig, delivery: Awaitable[Sequence[Link] | None]
    ) -> Sequence[Link] | None:
        """A refusal only a person can fix (CONFIG_ERRORS) marks linedesk degraded for that desk channel until a
        delivery there succeeds again."""
        component = f"slack:{channel}"
        try:
            links = await delivery
        except SlackApiError as err:
            code = str(err.response.get("error", ""))
            if self._health is not None and code in CONFIG_ERRORS:
                needed = err.response.get("needed")
                scope = f" (needed: {needed})" if code == "missing_scope" and needed else ""
                self._health.set(
                    component,
                    f"Slack refuses the desk of line {line.id!r} in {channel}: {code}{scope}. "
                    f"Fix: {CONFIG_ERRORS[code]}.",
                )
            raise
        if self._health is not None:
            self._health.clear(component)
        return links

    async def _perform(
        self,
        entry: OutboxEntry,
        line: LineConfig,
        session: Session,
        where: tuple[str, dict[str, Any] | None],
        *,
        merged: Sequence[OutboxEntry],
    ) -> Sequence[Link] | None:
        """`where`: the channel of the session's thread and its root message (None: no thread yet); `merged`:
        the entries delivered with this one (`core.courier.desk_merge`). Returns the links to write with the
        entry's completion."""
        channel, root = where
        number = session.number
        poster = Poster(self._client, entry)
        if isinstance(entry.action, OpenSession | RefreshCard):
            if root is None and isinstance(entry.action, RefreshCard):
                return None  # no card yet: its OpenSession, in the session's own lane, draws it as the session is then
            if root is None:
                await self._open_thread(poster, channel, session, line.name)
            else:
                async with self._cards.drawing(SLACK_CARD, number):
                    text, blocks = await self._card(session)
                    if self._cards.shows(SLACK_CARD, number, (text, blocks)):
                        return None  # drawn so from the click already: no chat.update of the workspace's budget
                    self._cards.forget(SLACK_CARD, number)
                    await self._client.chat_update(channel=root["channel"], ts=root["ts"], text=text, blocks=blocks)
                    self._cards.drawn(SLACK_CARD, number, (text, blocks))
            return None
        if root is None:
            # the session's card was never queued (a crash between storing the session and its card, which
            # come before anything else of the session in its conversation): post it now
            log.warning("session #%s has no Slack thread: posting its card first", number)
            root = await self._open_thread(poster, channel, session, line.name)
        match entry.action:
            case Mirror() as mirror:
                return await self._mirror(poster, root, await self.mirrored(mirror, merged), merged=bool(merged))
            case Edit() as edit:
                await self._edit(poster, root, session, edit)
            case TaskCard() as card:
                text, blocks = views.task_card(card)
                await poster.post(channel=root["channel"], thread_ts=root["ts"], text=text, blocks=blocks)
            case StatusCard() as status:
                await self._status_card(poster, root, status)
            case Notice() as notice if merged:
                return await self._mirror(poster, root, await self.mirrored(notice, merged), merged=True)
            case Notice(text=notice, mentions=mentions):
                text = " ".join([mrkdwn.escape(notice), *(_mention(m) for m in mentions)])
                await poster.post(
                    channel=root["channel"],
                    thread_ts=root["ts"],
                    text=text,
                    blocks=[{"type": "context", "elements": [{"type": "mrkdwn", "text": text}]}],
                )
            case other:
                raise unknown_action(other, "desk")
        return None

    async def _open_thread(self, poster: Poster, channel: str, session: Session, line_name: str) -> dict[str, Any]:
        text, blocks = await self._card(session)
        posted = await poster.post(Part.CARD, channel=channel, text=text, blocks=blocks)
        link = session_thread(session.number, channel, posted)
        await steadily(self._store.link, link)  # the session's thread and the thread's session, in one write
        self._remember(session.number, link.data)
        # a refresh that came while the card was on its way found no card and left it to this post: draw the
        # session as it is now, if it changed meanwhile
        now = await self._store.get_session(session.number)
        if now is not None and now != session:
            fresh_text, fresh_blocks = await self._card(now)
            if (fresh_text, fresh_blocks) != (text, blocks):
                await self._client.chat_update(
                    channel=channel, ts=link.data["ts"], text=fresh_text, blocks=fresh_blocks
                )
        return link.data

    async def _mirror(
        self, poster: Poster, root: dict[str, Any], items: list[Mirror | Notice], *, merged: bool
    ) -> list[Link]:
        """Post the message(s) in the thread; files up to 20 MB are fetched from where the client sent
        them and uploaded together (an album is one post; so are messages and notices `merged` after waiting
        behind the channel's limit, each message with its time). Returns the messages' copy links (many-to-one:
        an album's messages share the post), for the outbox to write with the entry's completion."""
        uploads: list[dict[str, Any]] = []
        notes: list[str] = []
        for item in items:
            for attachment in item.attachments if isinstance(item, Mirror) else ():
                if attachment.ref is None or attachment.too_large:
                    continue
                try:
                    content = await self._files.fetch(attachment.ref)
                except FileUnavailable as err:
                    notes.append(f"{attachment.describe()} — could not be fetched: {err}")
                    continue
                name = attachment.name or attachment.kind
                uploads.append({"content": content, "filename": name, "title": name})
        lines = [_line_of(item, files_shown=bool(uploads), merged=merged) for item in items]
        text = "\n".join([*lines, *notes])
        if uploads:
            await self._client.files_upload_v2(
                channel=root["channel"], thread_ts=root["ts"], file_uploads=uploads, initial_comment=text
            )
            return []
        first = ""
        for chunk in _chunks(text, SLACK_TEXT_LIMIT):  # a long message goes in several posts, nothing cut
            ts = await poster.post(channel=root["channel"], thread_ts=root["ts"], text=chunk)
            first = first or ts
        return [
            slack_desk_copy(item.session, item.message_id, root["channel"], first, merged=merged)
            for item in items
            if isinstance(item, Mirror) and item.message_id
        ]

    async def _edit(self, poster: Poster, root: dict[str, Any], session: Session, edit: Edit) -> None:
        stored = await self._store.get_message(session.number, edit.message_id)
        copy = await self._store.link_of(LinkKind.SLACK_DESK_COPY, session_message(session.number, edit.message_id))
        mirrored = copy.data if copy is not None else None
        if stored is None or mirrored is None or mirrored.get("merged"):
            await poster.post(
                channel=root["channel"],
                thread_ts=root["ts"],
                text=f"✏ *{mrkdwn.escape(edit.author_name)}* edited a message: {mrkdwn.escape(edit.text)}",
            )
            return
        text = mirror_line(mirror_of(stored, session.line_id), _bold, escape=mrkdwn.escape, edited=True)
        await self._client.chat_update(channel=mirrored["channel"], ts=mirrored["ts"], text=text)

    async def _status_card(self, poster: Poster, root: dict[str, Any], status: StatusCard) -> None:
        """One status line per instance in the thread, edited in place (chat.update) as it moves on."""
        text, blocks = views.status_card(status)
        link = await self._store.link_of(LinkKind.SLACK_DESK_STATUS, status.instance_id)
        card = link.data if link is not None else None
        if card is not None:
            await self._client.chat_update(channel=card["channel"], ts=card["ts"], text=text, blocks=blocks)
            return
        ts = await poster.post(channel=root["channel"], thread_ts=root["ts"], text=text, blocks=blocks)
        await steadily(self._store.link, slack_desk_status(status.instance_id, root["channel"], ts))

    async def _card(self, session: Session) -> tuple[str, list[dict[str, Any]]]:
        facts = await card_facts(self._store, self._config, self._transcripts, session)
        if facts.client is None:
            raise DeliveryError(f"client of session #{session.number} is gone", permanent=True)
        return views.session_card_of(facts, facts.client)


def _mention(mention: Mention) -> str:
    """An operator called on in a notice: a Slack mention that notifies them, else their name."""
    return f"<@{mention.slack_user}>" if mention.slack_user else mrkdwn.escape(mention.name)


def _bold(name: str) -> str:
    return f"*{name}*"


def _line_of(item: Mirror | Notice, *, files_shown: bool, merged: bool) -> str:
    """A post's line: a message with its author (and its time, in the reader's own time zone, when the post
    merges several), or a notice as it is."""
    if isinstance(item, Notice):
        return f"_{mrkdwn.escape(item.text)}_"
    line = mirror_line(item, _bold, files_shown=files_shown, escape=mrkdwn.escape)
    return f"{_time(item.sent_at)} {line}" if merged and item.sent_at else line


def _time(at: float) -> str:
    """Slack's date token: the reader's local time, with UTC as the fallback text."""
    fallback = time.strftime("%H:%M:%S UTC", time.gmtime(at))
    return f"<!date^{int(at)}^{{time_secs}}|{fallback}>"


SLACK_TEXT_LIMIT = 39_000
"""chat.postMessage takes 40,000 characters of text; what a mirror adds (a name, escapes) fits in the rest."""


def _chunks(text: str, size: int) -> list[str]:
    """`text` in pieces of at most `size` characters, cut at a line break or a space where there is one."""
    pieces: list[str] = []
    while len(text) > size:
        cut = max(text.rfind("\n", 0, size), text.rfind(" ", 0, size))
        cut = cut if cut > size // 2 else size
        pieces.append(text[:cut])
        text = text[cut:].lstrip("\n ")
    return [*pieces, text]
