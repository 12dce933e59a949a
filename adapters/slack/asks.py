"""Questions of processes (`linedesk.ask`) in a Slack customer's DM: the buttons and their clicks.

A button's action id is `ACTION:<index>` and its value `<ask id>:<index>` (the label is never trusted back);
core checks everything a click claims (`Processes.answer_ask`). A refused click is told to the client in an
ephemeral message in the DM; a taken one shows in the question itself, edited (`SlackClientDelivery`).
"""

from __future__ import annotations

import re
from typing import Any

from slack_bolt.context.ack.async_ack import AsyncAck
from slack_bolt.context.async_context import AsyncBoltContext

from adapters.slack import mrkdwn
from adapters.slack.tracking import SlackListeners
from core.asks import REPLIES, Outcome
from core.model import Channel, Client
from core.processes import Processes

ACTION = "linedesk_ask"


def question_blocks(ask_id: str, text: str, choices: list[str]) -> list[dict[str, Any]]:
    """The question as a section, its choices as buttons below it (none: a typed answer only)."""
    blocks: list[dict[str, Any]] = [{"type": "section", "text": {"type": "mrkdwn", "text": mrkdwn.escape(text)}}]
    if choices:
        buttons = [
            {
                "type": "button",
                "action_id": f"{ACTION}:{index}",
                "text": {"type": "plain_text", "text": label, "emoji": True},
                "value": f"{ask_id}:{index}",
            }
            for index, label in enumerate(choices)
        ]
        blocks.append({"type": "actions", "block_id": f"ask:{ask_id}", "elements": buttons})
    return blocks


def answered_blocks(text: str) -> list[dict[str, Any]]:
    """The answered question: its text only, the buttons gone."""
    return [{"type": "section", "text": {"type": "mrkdwn", "text": mrkdwn.escape(text)}}]


def parse_value(value: Any) -> tuple[str, int] | None:
    """(ask id, choice index) of a button's value; None for anything else."""
    match = re.fullmatch(r"([0-9a-f]{1,32}):(\d{1,3})", str(value or ""))
    return (match.group(1), int(match.group(2))) if match else None


class SlackAsks:
    def __init__(self, listeners: SlackListeners, processes: Processes):
        self._processes = processes
        listeners.on(listeners.app.action, re.compile(rf"^{ACTION}:"), self.on_click)

    async def on_click(self, ack: AsyncAck, body: dict[str, Any], context: AsyncBoltContext) -> None:
        await ack()
        user = str((body.get("user") or {}).get("id") or "")
        action = (body.get("actions") or [{}])[0]
        parsed = parse_value(action.get("value"))
        outcome = Outcome.INVALID
        if parsed is not None and user:
            ask_id, choice = parsed
            client_id = Client.make_id(Channel.SLACK, user)
            outcome = await self._processes.answer_ask(ask_id, client_id, choice=choice)
        channel = str((body.get("channel") or {}).get("id") or (body.get("container") or {}).get("channel_id") or "")
        if outcome != Outcome.TAKEN and channel and context.client is not None:
            await context.client.chat_postEphemeral(channel=channel, user=user, text=REPLIES[outcome])
