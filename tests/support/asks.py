"""What a client does with a process's question (`linedesk.ask`) in the e2e tests: find it, press its buttons."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sandboxes.rig import SUPPORT_TOKEN, Person, Rig
from tests.support.bpmn import Step, write_process


def processes_folder(tmp_path: Path, *processes: tuple[str, str, list[Step]]) -> Path:
    """A process folder with `processes` (id, name, steps)."""
    folder = tmp_path / "processes"
    for pid, name, steps in processes:
        write_process(folder, f"{pid}.bpmn", pid, name, *steps)
    return folder


def telegram_question(rig: Rig, person: Person, text: str) -> dict[str, Any]:
    """The bot's message in the client's private chat that starts with `text` (as it is now)."""
    return next(m for m in rig.bot_messages(person) if m.get("text", "").startswith(text))


def buttons(message: dict[str, Any]) -> list[tuple[str, str]]:
    """(label, callback data) of an inline keyboard's buttons, row by row."""
    rows = (message.get("reply_markup") or {}).get("inline_keyboard") or []
    return [(b["text"], b["callback_data"]) for row in rows for b in row]


async def client_presses(rig: Rig, person: Person, message: dict[str, Any], data: str) -> dict[str, Any] | None:
    """A Telegram client presses an inline button (its callback data) under a message in their private chat;
    returns how the bot answered the press."""
    user = rig.telegram.user(person.telegram_user, person.name)
    update = rig.telegram.callback_update(SUPPORT_TOKEN, user, data, message["message_id"])
    result = await rig.telegram.deliver(SUPPORT_TOKEN, update)
    assert result.status == 200, result
    await rig.settle()
    answer: dict[str, Any] | None = rig.telegram.callback_answer(SUPPORT_TOKEN, update["callback_query"]["id"])
    return answer


def slack_question(rig: Rig, person: Person, text: str) -> dict[str, Any]:
    """The app's message in a Slack customer's DM that starts with `text`."""
    channel = rig.slack.dm(person.slack_user)
    return next(m for m in rig.slack.channel_messages(channel) if m.get("text", "").startswith(text))


def slack_buttons(message: dict[str, Any]) -> list[dict[str, Any]]:
    return [e for b in message.get("blocks") or [] if b["type"] == "actions" for e in b["elements"]]


async def slack_client_clicks(rig: Rig, person: Person, message: dict[str, Any], action_id: str, value: str) -> None:
    channel = rig.slack.dm(person.slack_user)
    response = await rig.click(person, action_id, value, channel_id=channel, message_ts=message["ts"])
    assert response.status == 200, response
