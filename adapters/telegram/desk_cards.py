"""The Telegram desk's cards and their buttons: what operators see in a session's topic.

Button payloads are aiogram `CallbackData` (well under Telegram's 64 bytes); every value in
them is re-checked by core when clicked.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from aiogram.filters.callback_data import CallbackData
from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup

from core.model import Session

STATUS_WORDS = {"queued": "🟡 queued", "active": "🟢 active", "closed": "⚪ closed", "spam": "🚫 spam"}


class SessionAction(CallbackData, prefix="ses"):
    action: str
    session: int


def card_text(session: Session, client_name: str, channel: str, line_name: str, assignee: str | None) -> str:
    lines = [f"#{session.number} · {client_name}", f"{channel.capitalize()} · line {line_name}",
             f"{STATUS_WORDS.get(session.status.value, session.status.value)} · {assignee or 'unassigned'}"]
    if session.previous_session:
        lines.append(f"Previous session: #{session.previous_session}")
    return "\n".join(lines)


def card_keyboard(session: Session) -> InlineKeyboardMarkup | None:
    if not session.is_open:
        return None
    number = session.number
    return InlineKeyboardMarkup(inline_keyboard=[[
        InlineKeyboardButton(text="Take", callback_data=SessionAction(action="take", session=number).pack()),
        InlineKeyboardButton(text="Start process", callback_data=SessionAction(action="start", session=number).pack()),
        InlineKeyboardButton(text="Close", callback_data=SessionAction(action="close", session=number).pack()),
    ]])


class TaskAction(CallbackData, prefix="task"):
    """**Take task** / **Open form** on a task card; `instance` is the instance id (32 hex)."""

    instance: str


def task_text(payload: dict[str, Any]) -> str:
    who = payload.get("assignee_name") or "any online operator of the line"
    return f"📝 {payload.get('task')} · {payload.get('process')} — for {who}"


def task_keyboard(payload: dict[str, Any]) -> InlineKeyboardMarkup:
    label = "Open form" if payload.get("assignee_name") else "Take task"
    data = TaskAction(instance=str(payload["instance_id"])).pack()
    return InlineKeyboardMarkup(inline_keyboard=[[InlineKeyboardButton(text=label, callback_data=data)]])


# --- /autostart in a desk group -----------------------------------------------------------------
AUTOSTART_ICONS = {True: "🟢 on", False: "⚪ off"}


class AutostartAction(CallbackData, prefix="as"):
    """`action`: "t" turn the rule of event `event` (an index into core.autostart.EVENTS) on ("1") or
    off ("0") as `value` says; "m" show the process menu for it, "g" turn that menu to page `value`,
    "c" choose the process whose `picker.process_key` is `value`; "l" back to the list of rules."""

    action: str
    event: int = 0
    value: str = ""


def autostart_text(line_name: str, events: Sequence[str], rules: dict[str, tuple[str, bool, str]]) -> str:
    """`rules`: event → (process name, enabled, who set it) for the events that have a rule."""
    lines = [f"⚙ Automatic start · {line_name}"]
    for event in events:
        rule = rules.get(event)
        if rule is None:
            lines.append(f"• {event} → none")
        else:
            name, enabled, source = rule
            lines.append(f"• {event} → {name} · {AUTOSTART_ICONS[enabled]} · {source}")
    lines.append("Only admins can change these.")
    return "\n".join(lines)


def autostart_keyboard(events: Sequence[str], enabled: dict[str, bool]) -> InlineKeyboardMarkup:
    """Per event: Turn on/off (when it has a rule) and a button for choosing its process."""
    rows = []
    for index, event in enumerate(events):
        row = []
        if event in enabled:
            turn_on = not enabled[event]
            row.append(InlineKeyboardButton(
                text=f"Turn {'on' if turn_on else 'off'} · {event}",
                callback_data=AutostartAction(action="t", event=index, value="1" if turn_on else "0").pack()))
        row.append(InlineKeyboardButton(text="Process…" if event in enabled else f"Choose process · {event}",
                                        callback_data=AutostartAction(action="m", event=index).pack()))
        rows.append(row)
    return InlineKeyboardMarkup(inline_keyboard=rows)


def autostart_back_row() -> list[InlineKeyboardButton]:
    return [InlineKeyboardButton(text="◀ Back to the rules", callback_data=AutostartAction(action="l").pack())]
