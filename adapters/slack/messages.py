"""Slack `message` events: operators' replies in a session's thread, and Slack customers' DMs.

One listener takes every `message` event (Bolt runs only the first listener that matches), so
everything that arrives as a message is routed from here: a customer's DM (→ `SlackCustomers`), an
operator's thread reply with its files (→ the client), edits (`message_changed`) and deletions
(`message_deleted`) of either. The app's own messages and other bots' are ignored.
"""

from __future__ import annotations

from typing import Any

from slack_bolt.context.async_context import AsyncBoltContext
from slack_sdk.web.async_client import AsyncWebClient

from adapters.slack import mrkdwn
from adapters.slack.customers import SlackCustomers, platform_ref
from adapters.slack.files import attachments_of
from adapters.slack.tracking import SlackListeners
from core.courier import SLACK_DESK
from core.errors import Refusal
from core.inbound import OperatorDelete, OperatorEdit, OperatorText
from core.links import LinkKind
from core.model import MAX_FILE_BYTES
from core.operators import Operators
from core.sessions import Sessions
from core.store.base import Store

POSTED = (None, "file_share", "thread_broadcast")
"""Subtypes of a message a person wrote (plain, with files, a thread reply also sent to the channel)."""
SLACKBOT = "USLACKBOT"


class SlackMessages:
    def __init__(self, listeners: SlackListeners, *, store: Store, sessions: Sessions, operators: Operators):
        self._store = store
        self._sessions = sessions
        self._operators = operators
        self._customers = SlackCustomers(store, sessions)
        listeners.on(listeners.events.event, "message", self.on_message)

    async def on_message(self, event: dict[str, Any], client: AsyncWebClient, context: AsyncBoltContext) -> None:
        subtype = event.get("subtype")
        if subtype == "message_changed":
            await self._changed(event, client, context)
        elif subtype == "message_deleted":
            await self._deleted(event, context)
        elif subtype in POSTED and not _from_bot(event, context):
            if event.get("channel_type") == "im":
                await self._customers.on_message(event, client)
            else:
                await self._thread_reply(event, client)

    async def _thread_reply(self, event: dict[str, Any], client: AsyncWebClient) -> None:
        """An operator's message in a session's thread goes to the client (or stays as a `//` note)."""
        if not event.get("thread_ts") or event.get("thread_ts") == event.get("ts"):
            return
        link = await self._store.link_to(LinkKind.SESSION_THREAD, f"{event.get('channel')}:{event.get('thread_ts')}")
        if link is None:
            return
        user = event.get("user", "")
        operator = self._operators.by_slack(user)
        attachments = attachments_of(event.get("files"))
        try:
            if operator is None:
                raise Refusal("You are not a linedesk operator: the client does not get this message.", "not_operator")
            message = await self._sessions.operator_text(
                OperatorText(
                    session=int(link.ours),
                    operator_id=operator.id,
                    text=mrkdwn.unescape(str(event.get("text") or "")),
                    platform_ref=platform_ref(str(event.get("channel")), str(event.get("ts"))),
                    desk=SLACK_DESK,
                    attachments=attachments,
                )
            )
        except Refusal as refusal:
            await client.chat_postEphemeral(
                channel=event["channel"],
                user=user,
                thread_ts=event["thread_ts"],
                text=f"Not sent to the client: {refusal.reason}",
            )
            return
        too_large = [a for a in attachments if a.too_large]
        if too_large and not message.internal:
            names = ", ".join(f"{a.name or a.kind} ({(a.size or 0) / 1024 / 1024:.1f} MB)" for a in too_large)
            rest = (
                "the rest of your message was sent"
                if message.text or len(too_large) < len(attachments)
                else "nothing else was sent"
            )
            await client.chat_postEphemeral(
                channel=event["channel"],
                user=user,
                thread_ts=event["thread_ts"],
                text=f"Not sent to the client: {names} — files go up to {MAX_FILE_BYTES // 1024 // 1024} MB; "
                f"{rest}. Send a smaller file or a link.",
            )

    async def _changed(self, event: dict[str, Any], client: AsyncWebClient, context: AsyncBoltContext) -> None:
        """A person edited a message: a customer in their DM, or an operator in a session's thread."""
        message: dict[str, Any] = event.get("message") or {}
        previous: dict[str, Any] = event.get("previous_message") or {}
        message = {
            **message,
            "ts": message.get("ts") or previous.get("ts"),
            "user": message.get("user") or previous.get("user"),
        }
        if _from_bot(message, context) or not message.get("ts"):
            return
        channel = str(event.get("channel"))
        if event.get("channel_type") == "im":
            await self._customers.on_edit(message, channel)
            return
        operator = self._operators.by_slack(str(message.get("user")))
        if operator is not None:
            await self._sessions.operator_edit(
                OperatorEdit(
                    operator_id=operator.id,
                    platform_ref=platform_ref(channel, str(message["ts"])),
                    text=mrkdwn.unescape(str(message.get("text") or "")),
                    desk=SLACK_DESK,
                )
            )

    async def _deleted(self, event: dict[str, Any], context: AsyncBoltContext) -> None:
        """An operator deleted their message in a session's thread: the client's copy goes too. (A customer's
        deletion in their DM changes nothing: the desk keeps what the client wrote.)"""
        previous: dict[str, Any] = event.get("previous_message") or {}
        ts = event.get("deleted_ts") or previous.get("ts")
        if event.get("channel_type") == "im" or not ts or _from_bot(previous, context):
            return
        operator = self._operators.by_slack(str(previous.get("user")))
        if operator is not None:
            await self._sessions.operator_delete(
                OperatorDelete(
                    operator_id=operator.id,
                    platform_ref=platform_ref(str(event.get("channel")), str(ts)),
                    desk=SLACK_DESK,
                )
            )


def _from_bot(message: dict[str, Any], context: AsyncBoltContext) -> bool:
    """The app's own messages (its user id from auth.test, via Bolt's context) and any other bot's."""
    user = message.get("user")
    return (
        bool(message.get("bot_id"))
        or message.get("subtype") == "bot_message"
        or not user
        or user in (context.bot_user_id, SLACKBOT)
    )
