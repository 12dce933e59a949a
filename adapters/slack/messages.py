"""Slack `message` events: an operator's reply in a session's thread goes to the client.

One listener takes every `message` event (Bolt runs only the first listener that matches), so
everything that arrives as a message — thread replies, and later DMs of Slack customers, edits,
deletions — is routed from here.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_sdk.web.async_client import AsyncWebClient

from adapters.slack.delivery import THREAD_REF
from core.courier import SLACK_DESK
from core.errors import Refusal
from core.inbound import OperatorText
from core.operators import Operators
from core.sessions import Sessions
from core.store.base import Store

Listener = Callable[..., Awaitable[None]]


class SlackMessages:
    def __init__(self, app: AsyncApp, track: Callable[[Listener], Listener], *, store: Store, sessions: Sessions,
                 operators: Operators):
        self._store = store
        self._sessions = sessions
        self._operators = operators
        app.event("message")(track(self.on_message))

    async def on_message(self, event: dict[str, Any], client: AsyncWebClient) -> None:
        if event.get("subtype") or event.get("bot_id") or not event.get("thread_ts"):
            return
        if event.get("thread_ts") == event.get("ts"):
            return
        ref = await self._store.get_ref(THREAD_REF, f"{event.get('channel')}:{event.get('thread_ts')}")
        if ref is None:
            return
        user = event.get("user", "")
        operator = self._operators.by_slack(user)
        try:
            if operator is None:
                raise Refusal("You are not a linedesk operator: the client does not get this message.",
                              "not_operator")
            await self._sessions.operator_text(OperatorText(
                session=int(ref["session"]), operator_id=operator.id, text=event.get("text", ""),
                platform_ref=f"slack:{event.get('channel')}:{event.get('ts')}", desk=SLACK_DESK))
        except Refusal as refusal:
            await client.chat_postEphemeral(channel=event["channel"], user=user, thread_ts=event["thread_ts"],
                                            text=f"Not sent to the client: {refusal.reason}")

