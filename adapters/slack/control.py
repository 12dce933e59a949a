"""Control of a session's process instances from Slack (SPEC §11): the card's **Processes** button and
`/processes [N]` list them (to the clicker only); **Cancel**, **Reassign…** and **Retry** act on one.

Button values are "<session>:<instance>" ("<session>:<instance>:<operator>" for a reassign target); the
instance must belong to the session the value names, and core re-checks the clicker, the instance's state
and the target. Core announces each action in the session's thread.
"""

from __future__ import annotations

import re
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncRespond
from slack_sdk.web.async_client import AsyncWebClient

from adapters.slack import mrkdwn
from adapters.slack.tracking import REQUIRED, Answer, SlackListeners, in_ack
from adapters.slack.views import PROCESSES as PROCESSES
from core.config import OperatorConfig
from core.errors import Refusal
from core.model import InstanceRecord, parse_number
from core.operators import Operators
from core.processes import InstanceSummary, Processes
from core.sessions import Sessions
from core.store.base import Store

CANCEL = "instance.cancel"
REASSIGN = "instance.reassign"
REASSIGN_TO = "instance.reassign_to"
RETRY = "instance.retry"
COMMAND = "/processes"
_INSTANCE = re.compile(r"^[0-9a-f]{32}$")
_OPERATOR = re.compile(r"^[a-z0-9_-]{1,64}$")
Block = dict[str, Any]


def _plain(text: str) -> dict[str, Any]:
    return {"type": "plain_text", "text": text[:75], "emoji": True}


def value_of(session: int, instance_id: str, operator_id: str | None = None) -> str:
    return f"{session}:{instance_id}" + (f":{operator_id}" if operator_id else "")


def parse_value(value: str, with_operator: bool = False) -> tuple[int, str, str | None]:
    """A button's value, or ValueError if it is not one linedesk made."""
    parts = value.split(":")
    if len(parts) != (3 if with_operator else 2):
        raise ValueError(value)
    number = parse_number(parts[0])
    if number is None or not _INSTANCE.match(parts[1]) or (with_operator and not _OPERATOR.match(parts[2])):
        raise ValueError(value)
    return number, parts[1], parts[2] if with_operator else None


def instances_view(number: int, found: list[InstanceSummary]) -> tuple[str, list[Block]]:
    """The session's instances: state and step of each, and the buttons that apply to it."""
    text = f"Processes of session #{number}"
    if not found:
        return f"{text}: none yet.", [{"type": "section", "text": {"type": "mrkdwn", "text": f"*{text}*: none yet."}}]
    blocks: list[Block] = [{"type": "header", "text": _plain(text)}]
    for item in found[:20]:
        step = f" · step “{mrkdwn.escape(item.step)}”" if item.step else ""
        line = f"*{mrkdwn.escape(item.process)}* · {mrkdwn.escape(item.state[:500])}{step}"
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": line}})
        buttons = []
        value = value_of(number, item.id)
        if item.status in ("running", "waiting"):
            buttons.append({"type": "button", "action_id": CANCEL, "text": _plain("Cancel"), "value": value})
        if item.status == "waiting" and item.state.startswith("waiting for a task"):
            buttons.append({"type": "button", "action_id": REASSIGN, "text": _plain("Reassign…"), "value": value})
        if item.status == "failed":
            buttons.append({"type": "button", "action_id": RETRY, "text": _plain("Retry"), "value": value})
        if buttons:
            blocks.append({"type": "actions", "block_id": f"instance:{item.id}", "elements": buttons})
    return text, blocks[:50]


def reassign_view(number: int, record: InstanceRecord, choices: list[OperatorConfig]) -> tuple[str, list[Block]]:
    text = f"Give the task of {record.process_name} (session #{number}) to:"
    buttons = [
        {
            "type": "button",
            "action_id": f"{REASSIGN_TO}:{o.id}",
            "text": _plain(o.name),
            "value": value_of(number, record.id, o.id),
        }
        for o in choices[:25]
    ]
    if not buttons:
        return "Nobody else works this line.", [
            {"type": "section", "text": {"type": "mrkdwn", "text": "Nobody else works this line."}}
        ]
    return text, [
        {"type": "section", "text": {"type": "mrkdwn", "text": mrkdwn.escape(text)}},
        {"type": "actions", "elements": buttons},
    ]


def _respond(prefix: str) -> Answer:
    async def after(reason: str, body: dict[str, Any], context: Any) -> None:
        if context.respond is not None:
            await context.respond(text=f"{prefix}{reason}", response_type="ephemeral", replace_original=False)

    return Answer(after=after)


class SlackControl:
    def __init__(
        self, listeners: SlackListeners, *, store: Store, sessions: Sessions, processes: Processes, operators: Operators
    ):
        self._store = store
        self._sessions = sessions
        self._processes = processes
        self._operators = operators
        app, on = listeners.app, listeners.on
        refused = _respond("Not done: ")
        on(app.command, COMMAND, self.on_command, in_ack(), REQUIRED)
        on(app.action, PROCESSES, self.on_list_button, refused, REQUIRED)
        on(app.action, CANCEL, self.on_cancel, refused, REQUIRED)
        on(app.action, RETRY, self.on_retry, refused, REQUIRED)
        on(app.action, REASSIGN, self.on_reassign, refused, REQUIRED)
        on(app.action, re.compile(rf"^{re.escape(REASSIGN_TO)}:"), self.on_reassign_to, refused, REQUIRED)

    async def _listing(self, number: int, operator: OperatorConfig) -> tuple[str, list[Block]]:
        session = await self._sessions.require(number)
        await self._operators.require_active(operator, session, "control processes")
        return instances_view(number, await self._processes.session_instances(number))

    async def on_command(self, ack: AsyncAck, command: dict[str, Any], operator: OperatorConfig) -> None:
        """`/processes N`, or `/processes` for the operator's latest session."""
        text = (command.get("text") or "").strip().lstrip("#")
        if text:
            number = parse_number(text)
        else:
            state = await self._operators.state(operator.id)
            number = state.last_session
        if number is None:
            await ack(text="Use `/processes N` for the processes of session #N.")
            return
        fallback, blocks = await self._listing(number, operator)
        await ack(text=fallback, blocks=blocks)

    async def on_list_button(
        self, ack: AsyncAck, body: dict[str, Any], client: AsyncWebClient, operator: OperatorConfig
    ) -> None:
        await ack()
        number = parse_number((body.get("actions") or [{}])[0].get("value"))
        if number is None:
            raise _tampered()
        fallback, blocks = await self._listing(number, operator)
        message = body.get("message") or {}
        await client.chat_postEphemeral(
            channel=str((body.get("channel") or {}).get("id") or ""),
            user=str((body.get("user") or {}).get("id") or ""),
            text=fallback,
            blocks=blocks,
            thread_ts=message.get("thread_ts") or message.get("ts"),
        )

    async def _instance(self, body: dict[str, Any], with_operator: bool = False) -> tuple[int, str, str | None]:
        action = (body.get("actions") or [{}])[0]
        try:
            number, instance_id, target = parse_value(str(action.get("value", "")), with_operator)
        except ValueError:
            raise _tampered() from None
        record = await self._processes.get(instance_id)
        if record is None or record.session != number:
            raise _tampered()
        return number, instance_id, target

    async def on_cancel(
        self, ack: AsyncAck, body: dict[str, Any], respond: AsyncRespond, operator: OperatorConfig
    ) -> None:
        await ack()
        number, instance_id, _ = await self._instance(body)
        record = await self._processes.cancel(instance_id, operator.id)
        await respond(text=f"■ {record.process_name} cancelled (session #{number}).", replace_original=True)

    async def on_retry(
        self, ack: AsyncAck, body: dict[str, Any], respond: AsyncRespond, operator: OperatorConfig
    ) -> None:
        await ack()
        number, instance_id, _ = await self._instance(body)
        record = await self._processes.retry(instance_id, operator.id)
        await respond(
            text=f"↻ {record.process_name} retried: {record.status.value} (session #{number}).", replace_original=True
        )

    async def on_reassign(
        self, ack: AsyncAck, body: dict[str, Any], respond: AsyncRespond, operator: OperatorConfig
    ) -> None:
        await ack()
        number, instance_id, _ = await self._instance(body)
        record = await self._processes.get(instance_id)
        session = await self._sessions.require(number)
        await self._operators.require_active(operator, session, "reassign tasks")
        assert record is not None
        choices = [o for o in self._operators.of_line(session.line_id) if o.id != record.assignee]
        text, blocks = reassign_view(number, record, choices)
        await respond(text=text, blocks=blocks, replace_original=True)

    async def on_reassign_to(
        self, ack: AsyncAck, body: dict[str, Any], respond: AsyncRespond, operator: OperatorConfig
    ) -> None:
        await ack()
        number, instance_id, target = await self._instance(body, with_operator=True)
        assert target is not None
        record = await self._processes.reassign(instance_id, operator.id, target)
        owner = self._operators.get(record.assignee) if record.assignee else None
        await respond(
            text=f"↪ The task is now {owner.name if owner else target}'s (session #{number}).", replace_original=True
        )


def _tampered() -> Refusal:
    return Refusal("This button is not valid (stale or tampered with).", "tampered")
