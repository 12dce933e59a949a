"""Saved replies on the Slack desk (SPEC §14): `/reply` lists the session's saved replies as buttons (to the
operator only), `/reply ID` or a click sends one to the client as the operator; the message shortcut
"Saved reply" on any message of a session's thread lists them there.

Slack sends no thread with a slash command: `/reply` works on the session whose thread the operator last
wrote in or took (as `/processes`), or `/reply N` / `/reply N ID` on session #N. A button's value is
"<session>:<reply id>"; core re-checks the reply, the line and the operator (the checks of any operator message).
"""

from __future__ import annotations

import re
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncRespond
from slack_bolt.context.async_context import AsyncBoltContext
from slack_sdk.web.async_client import AsyncWebClient

from adapters.slack import mrkdwn
from adapters.slack.tracking import OPTIONAL, REQUIRED, Answer, SlackListeners, in_ack, not_operator
from core.config import OperatorConfig
from core.errors import Refusal
from core.links import LinkKind
from core.model import parse_number
from core.operators import Operators
from core.replies import Offer, SavedReplies
from core.store.base import Store

COMMAND = "/reply"
SEND = "reply.send"
"""action_id prefix of a saved reply's button: "reply.send:<index>" (unique within the block)."""
SHORTCUT = "saved_reply"
"""callback_id of the message shortcut "Saved reply" (slack-manifest.yml)."""
USAGE = "Use `/reply` (your latest session), `/reply N` (session #N), or `/reply [N] ID` to send saved reply ID."
_VALUE = re.compile(r"^([0-9]{1,12}):([a-z0-9_-]{1,64})$")
Block = dict[str, Any]
MAX_BUTTONS = 25


def offer_view(offer: Offer) -> tuple[str, list[Block]]:
    number = offer.session.number
    if not offer.replies:
        text = f"Session #{number}'s line has no saved replies."
        return text, [{"type": "section", "text": {"type": "mrkdwn", "text": text}}]
    text = f"Saved replies for session #{number}: a click sends one to the client as you."
    blocks: list[Block] = [{"type": "section", "text": {"type": "mrkdwn", "text": text}}]
    for start in range(0, min(len(offer.replies), 4 * MAX_BUTTONS), MAX_BUTTONS):
        chunk = offer.replies[start : start + MAX_BUTTONS]
        blocks.append(
            {
                "type": "actions",
                "block_id": f"replies:{number}:{start}",
                "elements": [
                    {
                        "type": "button",
                        "action_id": f"{SEND}:{start + i}",
                        "text": {"type": "plain_text", "text": reply.title[:75], "emoji": True},
                        "value": f"{number}:{reply.id}",
                    }
                    for i, reply in enumerate(chunk)
                ],
            }
        )
    for reply in offer.replies[: 4 * MAX_BUTTONS]:
        preview = mrkdwn.cut(mrkdwn.escape(reply.text), 150)
        blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": f"*{reply.id}*: {preview}"}]})
    return text, blocks[:50]


def parse_value(value: str) -> tuple[int, str]:
    found = _VALUE.match(value)
    if found is None:
        raise Refusal("This button is not valid (stale or tampered with).", "tampered")
    return int(found.group(1)), found.group(2)


def _respond(prefix: str) -> Answer:
    async def after(reason: str, body: dict[str, Any], context: AsyncBoltContext) -> None:
        if context.respond is not None:
            await context.respond(text=f"{prefix}{reason}", response_type="ephemeral", replace_original=False)

    return Answer(after=after)


class SlackSavedReplies:
    def __init__(self, listeners: SlackListeners, *, replies: SavedReplies, store: Store, operators: Operators):
        self._replies = replies
        self._store = store
        self._operators = operators
        app, on = listeners.app, listeners.on
        on(app.command, COMMAND, self.on_command, in_ack("Not sent: "), REQUIRED)
        on(app.action, re.compile(rf"^{re.escape(SEND)}:"), self.on_click, _respond("Not sent: "), REQUIRED)
        on(app.shortcut, SHORTCUT, self.on_shortcut, _respond(""), OPTIONAL)

    async def on_command(self, ack: AsyncAck, command: dict[str, Any], operator: OperatorConfig) -> None:
        words = (command.get("text") or "").split()
        number = parse_number(words[0].lstrip("#")) if words else None
        if number is not None:
            words = words[1:]
        else:
            number = (await self._operators.state(operator.id)).last_session
        if number is None or len(words) > 1:
            await ack(text=USAGE)
            return
        if words:
            await self._replies.send(number, words[0].lower(), operator.id)
            await ack(text=f"✉ Saved reply {words[0].lower()!r} sent to the client of session #{number}.")
            return
        text, blocks = offer_view(await self._replies.offer(number, operator))
        await ack(text=text, blocks=blocks)

    async def on_click(
        self, ack: AsyncAck, body: dict[str, Any], respond: AsyncRespond, operator: OperatorConfig
    ) -> None:
        await ack()
        number, reply_id = parse_value(str((body.get("actions") or [{}])[0].get("value", "")))
        await self._replies.send(number, reply_id, operator.id)
        await respond(
            text=f"✉ Saved reply {reply_id!r} sent to the client of session #{number}.", replace_original=True
        )

    async def on_shortcut(
        self, ack: AsyncAck, body: dict[str, Any], client: AsyncWebClient, operator: OperatorConfig | None
    ) -> None:
        """ "Saved reply" on a message of a session's thread: the list, visible only to the operator, in the thread."""
        await ack()
        message = body.get("message") or {}
        channel = str((body.get("channel") or {}).get("id") or "")
        root = str(message.get("thread_ts") or message.get("ts") or "")
        link = await self._store.link_to(LinkKind.SESSION_THREAD, f"{channel}:{root}") if channel and root else None
        if link is None:
            raise Refusal("Saved reply works on the messages of a session's thread: this message is not in one.")
        if operator is None:
            raise not_operator()
        text, blocks = offer_view(await self._replies.offer(int(link.ours), operator))
        user = str((body.get("user") or {}).get("id") or "")
        await client.chat_postEphemeral(channel=channel, user=user, thread_ts=root, text=text, blocks=blocks)
