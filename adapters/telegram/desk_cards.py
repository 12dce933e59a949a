"""The Telegram desk's cards and their buttons: what operators see in a session's topic.

Button payloads are aiogram `CallbackData` (well under Telegram's 64 bytes); every value in
them is re-checked by core when clicked.
"""

from __future__ import annotations

import hashlib
import html
from collections.abc import Sequence

from aiogram.filters.callback_data import CallbackData
from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup

from core.desk_card import CardFacts
from core.model import Session, SessionStatus
from core.outbox_actions import TaskCard
from core.sessions.rating import stars as rating_stars

STATUS_WORDS = {"queued": "🟡 queued", "active": "🟢 active", "closed": "⚪ closed", "spam": "🚫 spam"}


class SessionAction(CallbackData, prefix="ses"):
    action: str
    session: int


def card_text(
    session: Session,
    client_name: str,
    channel: str,
    line_name: str,
    assignee: str | None,
    notes: Sequence[str] = (),
) -> str:
    """`notes`: the card's further lines — the client's earlier sessions on the line (SPEC §14), the service
    levels (`core.service_levels.card_lines`)."""
    lines = [
        f"#{session.number} · {client_name}",
        f"{channel.capitalize()} · line {line_name}",
        f"{STATUS_WORDS.get(session.status.value, session.status.value)} · {assignee or 'unassigned'}",
    ]
    if session.previous_session:
        lines.append(f"Previous session: #{session.previous_session}")
    lines += notes
    if session.rating is not None:
        lines.append(f"Rated by the client: {rating_stars(session.rating)} ({session.rating}/5)")
    return "\n".join(lines)


TELEGRAM_CARD = "telegram"
"""The Telegram desk's cards in `core.desk_card.DrawnCards`."""


def card_view(facts: CardFacts) -> tuple[str, InlineKeyboardMarkup | None]:
    """A session's card in a topic: its text and buttons."""
    client = facts.client
    notes = [*filter(None, [facts.earlier]), *facts.levels]
    text = card_text(
        facts.session,
        client.name if client else "?",
        client.channel.value if client else "?",
        facts.line_name,
        facts.assignee,
        notes,
    )
    return text, card_keyboard(facts.session)


def card_keyboard(session: Session) -> InlineKeyboardMarkup | None:
    """Open: Take / Start process / Close, then Transfer / Spam / Processes. Spam: only Unmark spam. Closed: none."""
    number = session.number

    def button(text: str, action: str) -> InlineKeyboardButton:
        return InlineKeyboardButton(text=text, callback_data=SessionAction(action=action, session=number).pack())

    if session.status == SessionStatus.SPAM:
        return InlineKeyboardMarkup(inline_keyboard=[[button("Unmark spam", "unspam")]])
    if not session.is_open:
        return None
    return InlineKeyboardMarkup(
        inline_keyboard=[
            [button("Take", "take"), button("Start process", "start"), button("Close", "close")],
            [button("Transfer", "transfer"), button("Spam", "spam"), button("Processes", "processes")],
        ]
    )


# --- transferring a session -------------------------------------------------------------------------
OPERATOR_ICONS = {"online": "🟢", "busy": "🟠", "offline": "⚪"}
OPERATOR_KEY_LENGTH = 12
QUEUE_KEY = "-"
CANCEL_KEY = "x"


class TransferTo(CallbackData, prefix="tr"):
    """A button of the transfer menu: `to` is `operator_key` of the target operator, `QUEUE_KEY` (back to the
    queue) or `CANCEL_KEY` (close the menu). Operator ids may be 64 characters long: a short hash keeps the
    payload well under 64 bytes; the server resolves it against the line's operators."""

    session: int
    to: str


def operator_key(operator_id: str) -> str:
    return hashlib.sha256(operator_id.encode()).hexdigest()[:OPERATOR_KEY_LENGTH]


def transfer_text(number: int, client_name: str) -> str:
    return f"➡ Transfer session #{number} · {client_name} to:"


def transfer_keyboard(number: int, choices: Sequence[tuple[str, str, str]], assigned: bool) -> InlineKeyboardMarkup:
    """`choices`: (operator id, name, status) of the line's other operators, one per row; offline ones too
    (choosing them is refused with the reason)."""
    rows = [
        [
            InlineKeyboardButton(
                text=f"{name} · {OPERATOR_ICONS.get(status, '')} {status}",
                callback_data=TransferTo(session=number, to=operator_key(op_id)).pack(),
            )
        ]
        for op_id, name, status in choices
    ]
    if assigned:
        rows.append(
            [
                InlineKeyboardButton(
                    text="↩ Back to the queue", callback_data=TransferTo(session=number, to=QUEUE_KEY).pack()
                )
            ]
        )
    rows.append([InlineKeyboardButton(text="✖ Cancel", callback_data=TransferTo(session=number, to=CANCEL_KEY).pack())])
    return InlineKeyboardMarkup(inline_keyboard=rows)


def topic_link(chat_id: int, thread_id: int) -> str:
    """A link to a forum topic of a supergroup: t.me/c/ takes the chat id without its "-100" prefix."""
    internal = str(chat_id).removeprefix("-100").lstrip("-")
    return f"https://t.me/c/{internal}/{thread_id}"


def sessions_html(mine: Sequence[tuple[str, str | None]], queued: Sequence[tuple[str, str | None]]) -> str:
    """`/sessions`: (title, topic link or None) of the operator's active sessions and of the queued ones of
    their lines, as Telegram HTML (titles are escaped here)."""

    def item(title: str, link: str | None) -> str:
        shown = html.escape(title)
        return f'• <a href="{html.escape(link)}">{shown}</a>' if link else f"• {shown}"

    parts = ["<b>Your active sessions</b>"]
    parts += [item(*entry) for entry in mine] or ["You have no active sessions: take one from the queue."]
    if queued:
        parts += ["", "<b>Waiting in the queue of your lines</b>", *(item(*entry) for entry in queued)]
    return "\n".join(parts)


class TaskAction(CallbackData, prefix="task"):
    """**Take task** / **Open form** on a task card; `instance` is the instance id (32 hex)."""

    instance: str


def task_text(card: TaskCard) -> str:
    who = card.assignee_name or ", ".join(card.candidates[:10]) or "any online operator of the line"
    note = f"\nℹ {card.note}" if card.note else ""
    return f"📝 {card.task} · {card.process} — for {who}{note}"


def task_keyboard(card: TaskCard) -> InlineKeyboardMarkup:
    label = "Open form" if card.assignee_name else "Take task"
    data = TaskAction(instance=card.instance_id).pack()
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
            row.append(
                InlineKeyboardButton(
                    text=f"Turn {'on' if turn_on else 'off'} · {event}",
                    callback_data=AutostartAction(action="t", event=index, value="1" if turn_on else "0").pack(),
                )
            )
        row.append(
            InlineKeyboardButton(
                text="Process…" if event in enabled else f"Choose process · {event}",
                callback_data=AutostartAction(action="m", event=index).pack(),
            )
        )
        rows.append(row)
    return InlineKeyboardMarkup(inline_keyboard=rows)


def autostart_back_row() -> list[InlineKeyboardButton]:
    return [InlineKeyboardButton(text="◀ Back to the rules", callback_data=AutostartAction(action="l").pack())]
