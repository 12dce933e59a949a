"""Slack customers: people who write to the app in a DM open sessions on the line with `slack_dm = true`.

Inbound, a DM `message` event (routed here by `adapters.slack.messages`) becomes core's `ClientText`.
Outbound (route "slack.client"), operators' and processes' messages go back into the DM: operators'
messages start with the operator's name in bold on its own line (a name line rather than chat.postMessage's
`username`, which would need the extra `chat:write.customize` scope and reads as another app), files are
uploaded with `files_upload_v2`, a process's status card is one message edited in place with chat.update.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from typing import Any

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from adapters.slack import mrkdwn
from adapters.slack.asks import answered_blocks, question_blocks
from adapters.slack.delivery import delivery_error
from adapters.slack.files import attachments_of as slack_attachments
from adapters.slack.rating import rating_blocks
from core.errors import DeliveryError
from core.files import Files, FileUnavailable
from core.inbound import ClientEdit, ClientText
from core.links import LinkKind, line_message, slack_client_copy, slack_client_status
from core.model import AuthorKind, Channel, Client, OutboxEntry
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
from core.sessions import Sessions
from core.store.base import Store, steadily

log = logging.getLogger(__name__)

SLACK_CLIENT = "slack.client"
TEXT_LIMIT = 40_000
"""Slack truncates longer texts; we cut them ourselves, with an ellipsis."""
NAME_TTL = 3600.0
"""Seconds a customer's name from users.info is used before it is asked again (a rename shows within it)."""
NAMES_KEPT = 10_000
"""At most this many names are kept in memory (then they are all asked again)."""
DM_GONE = frozenset({"channel_not_found", "is_archived", "user_disabled", "cannot_dm_bot", "messages_tab_disabled"})
"""Errors of a DM that no retry mends: the client's conversation is gone (or closed to the app)."""


def platform_ref(channel: str, ts: str) -> str:
    return f"slack:{channel}:{ts}"


def signed(action: SendText | EditText, text: str) -> str:
    """The text as the client reads it: an operator's name in bold on the first line; processes' and the
    system's messages are not signed."""
    name = action.author_name
    if action.author_kind != AuthorKind.OPERATOR or not name:
        return text
    head = f"*{mrkdwn.escape(name)}*"
    return f"{head}\n{text}" if text else head


def fit(text: str) -> str:
    return mrkdwn.cut(text, TEXT_LIMIT)


def client_delivery_error(err: Exception) -> DeliveryError:
    if isinstance(err, FileUnavailable):
        return DeliveryError(f"file not available: {err}", permanent=True, reason="file_unavailable")
    if isinstance(err, SlackApiError):
        code = str(err.response.get("error", ""))
        if code in DM_GONE:
            return DeliveryError(
                f"Slack: {code} (the client's DM with the app)", permanent=True, reason="chat_not_found"
            )
    return delivery_error(err)


class SlackCustomers:
    """DM `message` events in, as core's client vocabulary."""

    def __init__(self, store: Store, sessions: Sessions):
        self._store = store
        self._sessions = sessions
        self._names: dict[str, tuple[float, str, str | None]] = {}
        """user id → (when users.info answered, shown name, handle)"""

    async def on_message(self, event: dict[str, Any], client: AsyncWebClient) -> None:
        line = self._sessions.slack_dm_line()
        if line is None:
            return  # no line takes Slack DMs
        user, channel = str(event["user"]), str(event["channel"])
        name, username = await self._who(client, user)
        await self._sessions.client_text(
            ClientText(
                line_id=line.id,
                channel=Channel.SLACK,
                user_id=user,
                chat_id=channel,
                name=name,
                username=username,
                text=mrkdwn.unescape(str(event.get("text") or "")),
                platform_ref=platform_ref(channel, str(event["ts"])),
                attachments=slack_attachments(event.get("files")),
            )
        )

    async def on_edit(self, message: dict[str, Any], channel: str) -> None:
        line = self._sessions.slack_dm_line()
        if line is None or not message.get("user") or not message.get("ts"):
            return
        await self._sessions.client_edit(
            ClientEdit(
                line_id=line.id,
                channel=Channel.SLACK,
                user_id=str(message["user"]),
                platform_ref=platform_ref(channel, str(message["ts"])),
                text=mrkdwn.unescape(str(message.get("text") or "")),
            )
        )

    async def _who(self, client: AsyncWebClient, user: str) -> tuple[str, str | None]:
        """The customer's name as people know them — `profile.display_name`, else their real name, never
        their handle — and the handle, from users.info, asked again after `NAME_TTL` (so a rename reaches
        the client record, which the intake keeps up to date). When users.info fails: the client record's
        name once known, else the user id; a failed answer is not kept, the next message asks again."""
        now = time.monotonic()
        cached = self._names.get(user)
        if cached is not None and now - cached[0] < NAME_TTL:
            return cached[1], cached[2]
        try:
            info = (await client.users_info(user=user)).get("user") or {}
        except SlackApiError as err:
            log.warning("users.info for %s failed: %s", user, err.response.get("error"))
            known = await self._store.get_client(Client.make_id(Channel.SLACK, user))
            return (known.name, known.username) if known is not None else (user, None)
        name, username = name_of(info, user)
        if len(self._names) >= NAMES_KEPT:
            self._names.clear()
        self._names[user] = (now, name, username)
        return name, username


def name_of(info: dict[str, Any], user: str) -> tuple[str, str | None]:
    """(shown name, handle) of a users.info `user` object: the display name, else the real name; the handle
    only for a profile with neither (Slack requires a real name, so in practice never)."""
    profile = info.get("profile") or {}
    name = profile.get("display_name") or profile.get("real_name") or info.get("real_name") or info.get("name")
    return str(name or user), info.get("name") or None


class SlackClientDelivery:
    """Route "slack.client": messages, files, edits, deletions and status cards into a customer's DM."""

    def __init__(self, client: AsyncWebClient, store: Store, files: Files):
        self._client = client
        self._store = store
        self._files = files

    async def deliver(self, entry: OutboxEntry, merged: Sequence[OutboxEntry] = ()) -> None:
        if not isinstance(entry.action, ToClient):
            raise unknown_action(entry.action, "client")
        channel = entry.action.chat_id
        line_id = entry.action.line_id
        try:
            match entry.action:
                case SendText() as send:
                    ts = await self._send(channel, send)
                    if send.message_id and ts is not None:
                        copy = slack_client_copy(line_id, send.message_id, channel, ts)
                        await steadily(self._store.link, copy)
                case ClientStatusCard(instance_id=instance_id, text=text):
                    await self._status_card(channel, instance_id, text)
                case EditText() as edit:
                    await self._edit(line_message(line_id, edit.message_id), edit)
                case DeleteText(message_id=message_id):
                    await self._delete(line_message(line_id, message_id))
                case AskQuestion() as ask:
                    blocks = question_blocks(ask.ask_id, ask.text, ask.choices)
                    response = await self._client.chat_postMessage(channel=channel, text=fit(ask.text), blocks=blocks)
                    copy = slack_client_copy(line_id, ask.message_id, channel, str(response["ts"]))
                    await steadily(self._store.link, copy)
                case AskAnswered() as answered:
                    await self._answered(line_message(line_id, answered.message_id), answered.text)
                case AskRating(session=session, text=text):
                    await self._client.chat_postMessage(channel=channel, text=text, blocks=rating_blocks(session, text))
                case other:
                    raise unknown_action(other, "client")
        except DeliveryError:
            raise
        except Exception as err:
            raise client_delivery_error(err) from err

    async def _send(self, channel: str, send: SendText) -> str | None:
        """Post the (signed) text, or upload the files with it as their comment. Returns the message's ts when
        Slack tells it."""
        attachments = send.attachments
        files = [a for a in attachments if a.ref and not a.too_large]
        # a sticker, a location or a contact (from a Telegram desk) reads as a line of text; a file too large
        # to fetch is named rather than dropped
        shown = [
            a.describe() + (" — too large to send here" if a.too_large else "")
            for a in attachments
            if a.ref is None or a.too_large
        ]
        text = "\n".join(part for part in (send.text, *shown) if part)
        if not files and not text:
            return None
        body = fit(signed(send, text))
        if not files:
            response = await self._client.chat_postMessage(channel=channel, text=body)
            return str(response["ts"])
        uploads = []
        for attachment in files:
            assert attachment.ref is not None
            name = attachment.name or attachment.kind
            uploads.append({"content": await self._files.fetch(attachment.ref), "filename": name, "title": name})
        response = await self._client.files_upload_v2(
            channel=channel, file_uploads=uploads, initial_comment=body or None
        )
        return _share_ts(response.get("files") or [], channel)

    async def _client_copy(self, key: str) -> dict[str, Any] | None:
        link = await self._store.link_of(LinkKind.SLACK_CLIENT_COPY, key)
        return link.data if link is not None else None

    async def _edit(self, key: str, edit: EditText) -> None:
        sent = await self._client_copy(key)
        if sent is None or not sent.get("ts"):
            raise DeliveryError(
                "the edit cannot reach the client: Slack never said where their copy is",
                permanent=True,
                reason="not_sent",
            )
        await self._client.chat_update(channel=sent["channel"], ts=sent["ts"], text=fit(signed(edit, edit.text)))

    async def _answered(self, key: str, text: str) -> None:
        """The question shows the answer, its buttons gone."""
        sent = await self._client_copy(key)
        if sent is None or not sent.get("ts"):
            return  # the question never reached the client: nothing to edit
        await self._client.chat_update(
            channel=sent["channel"], ts=sent["ts"], text=fit(text), blocks=answered_blocks(text)
        )

    async def _delete(self, key: str) -> None:
        sent = await self._client_copy(key)
        if sent is None:
            return  # the client never got it: nothing to take back
        try:
            await self._client.chat_delete(channel=sent["channel"], ts=sent["ts"])
        except SlackApiError as err:
            if err.response.get("error") != "message_not_found":
                raise
        await steadily(self._store.unlink, LinkKind.SLACK_CLIENT_COPY, key)

    async def _status_card(self, channel: str, instance_id: str, text: str) -> None:
        """One message per instance, edited in place as the process moves on."""
        link = await self._store.link_of(LinkKind.SLACK_CLIENT_STATUS, instance_id)
        card = link.data if link is not None else None
        if card is not None:
            try:
                await self._client.chat_update(channel=card["channel"], ts=card["ts"], text=fit(text))
                return
            except SlackApiError as err:
                if err.response.get("error") != "message_not_found":
                    raise
        response = await self._client.chat_postMessage(channel=channel, text=fit(text))
        await steadily(self._store.link, slack_client_status(instance_id, channel, str(response["ts"])))


def _share_ts(files: list[dict[str, Any]], channel: str) -> str | None:
    """The ts of the message that shared the uploaded files in `channel` (Slack may not tell it yet)."""
    for file in files:
        shares = file.get("shares") or {}
        for scope in ("private", "public"):
            for share in (shares.get(scope) or {}).get(channel) or []:
                if share.get("ts"):
                    return str(share["ts"])
    return None
