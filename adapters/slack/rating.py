"""The client's rating after close, in a Slack DM (SPEC §14): "How did we do?" with 1–5 buttons, and the click.

A button's value is "<session>:<score>"; core checks that the clicker is the session's own client and keeps the
first score. The question is then replaced by the answer (through the click's response URL)."""

from __future__ import annotations

import re
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncRespond
from slack_bolt.context.async_context import AsyncBoltContext

from adapters.slack import mrkdwn
from adapters.slack.tracking import OPTIONAL, Answer, SlackListeners
from core.errors import Refusal
from core.model import Channel, Client, parse_number
from core.sessions import Sessions
from core.sessions.rating import SCORES

RATE = "rating.rate"
"""action_id prefix of the score buttons: "rating.rate:<score>" (unique within their block)."""
Block = dict[str, Any]


def rating_blocks(session: int, text: str) -> list[Block]:
    buttons = [
        {
            "type": "button",
            "action_id": f"{RATE}:{score}",
            "text": {"type": "plain_text", "text": f"{score} ⭐", "emoji": True},
            "value": f"{session}:{score}",
        }
        for score in SCORES
    ]
    return [
        {"type": "section", "text": {"type": "mrkdwn", "text": mrkdwn.escape(text)}},
        {"type": "actions", "block_id": f"rating:{session}", "elements": buttons},
    ]


def parse_value(value: str) -> tuple[int, int]:
    """A score button's value, or a refusal if it is not one linedesk made."""
    number_text, _, score_text = value.partition(":")
    number, score = parse_number(number_text), parse_number(score_text)
    if number is None or score is None:
        raise Refusal("This button is not valid (stale or tampered with).", "tampered")
    return number, score


async def _tell(reason: str, body: dict[str, Any], context: AsyncBoltContext) -> None:
    if context.respond is not None:
        await context.respond(text=reason, response_type="ephemeral", replace_original=False)


class SlackRating:
    def __init__(self, listeners: SlackListeners, *, sessions: Sessions):
        self._sessions = sessions
        listeners.on(
            listeners.app.action, re.compile(rf"^{re.escape(RATE)}:"), self.on_rate, Answer(after=_tell), OPTIONAL
        )

    async def on_rate(self, ack: AsyncAck, body: dict[str, Any], respond: AsyncRespond) -> None:
        await ack()
        action = (body.get("actions") or [{}])[0]
        number, score = parse_value(str(action.get("value", "")))
        client_id = Client.make_id(Channel.SLACK, str((body.get("user") or {}).get("id") or ""))
        rated = await self._sessions.rate(number, client_id, score)
        if rated.first:
            question = str((body.get("message") or {}).get("text") or "")
            text = f"{question}\n{rated.answer}" if question else rated.answer
            await respond(text=text, replace_original=True)
        else:
            await respond(text=rated.answer, response_type="ephemeral", replace_original=False)
