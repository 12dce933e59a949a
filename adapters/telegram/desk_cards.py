"""The Telegram desk's cards and their buttons: what operators see in a session's topic.

Button payloads are aiogram `CallbackData` (well under Telegram's 64 bytes); every value in
them is re-checked by core when clicked.
"""

from __future__ import annotations

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
