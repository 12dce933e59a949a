"""Block Kit for the Slack desk: session cards, the process picker, task forms. Pure functions."""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from typing import Any

from adapters.slack import mrkdwn
from adapters.slack.form_views import FIELD_ACTION as FIELD_ACTION
from adapters.slack.form_views import TASK_FORM as TASK_FORM
from adapters.slack.form_views import form_values as form_values
from adapters.slack.form_views import task_modal as task_modal
from core.bpmn.catalog import ScopeGroup
from core.desk_card import CardFacts
from core.model import Client, Session, SessionStatus, parse_number
from core.outbox_actions import StatusCard, TaskCard
from core.sessions.rating import stars as rating_stars

Block = dict[str, Any]

TAKE = "session.take"
START = "session.start_process"
CLOSE = "session.close"
MENU = "session.menu"
"""The card's overflow menu: "Transfer to…", "Back to the queue", "Mark as spam"."""
TRANSFER_TO = "session.transfer_to"
"""A button of the transfer picker (`TRANSFER_TO:<index>`), value `transfer_value(session, operator id)`."""
UNSPAM = "session.unspam"
MENU_TRANSFER, MENU_QUEUE, MENU_SPAM = "transfer", "queue", "spam"
PICK = "process.pick"
PICK_SELECT = "process.pick_select"
TASK_OPEN = "task.open"
TASK_TAKE = "task.take"
PROCESSES = "session.processes"
"""The card's **Processes** button (`adapters.slack.control`)."""

MAX_BUTTONS = 25
MESSAGE_BLOCKS = 50
MODAL_TITLE = 24
BUTTON_TEXT = 75

STATUS_ICONS = {"queued": "🟡", "active": "🟢", "closed": "⚪", "spam": "🚫"}
OPERATOR_ICONS = {"online": "🟢", "busy": "🟠", "offline": "⚪"}
_OPERATOR_ID = re.compile(r"^[a-z0-9_-]{1,64}$")


def _plain(text: str, limit: int = 3000) -> dict[str, Any]:
    return {"type": "plain_text", "text": mrkdwn.cut(text, limit), "emoji": True}


def _shown(text: str, limit: int) -> str:
    """Someone's text (a process's, a task's, a variable's) in mrkdwn: escaped, then cut to fit."""
    return mrkdwn.cut(mrkdwn.escape(text), limit)


SLACK_CARD = "slack"
"""The Slack desk's cards in `core.desk_card.DrawnCards`."""


def session_card_of(facts: CardFacts, client: Client) -> tuple[str, list[dict[str, Any]]]:
    """A session's card as the root of its thread: its text and blocks."""
    return session_card(facts.session, client, facts.line_name, facts.assignee, facts.earlier, facts.levels)


def session_card(
    session: Session,
    client: Client,
    line_name: str,
    assignee_name: str | None,
    earlier: str | None = None,
    service_levels: Sequence[str] = (),
) -> tuple[str, list[Block]]:
    """The root message of a session's thread: who, where, status and assignee, its buttons (Take,
    Start process, Close) and a menu (transfer, back to the queue, spam). A spam card has only
    **Unmark spam**; a closed one has no buttons (a client message within `reopen_within` reopens it)."""
    status = session.status.value
    title = f"#{session.number} · {mrkdwn.escape(client.name)}"
    facts = (
        f"*{title}*\n{client.channel.value.capitalize()} · line {line_name}\n"
        f"{STATUS_ICONS.get(status, '')} {status}" + (f" · {assignee_name}" if assignee_name else " · unassigned")
    )
    if session.previous_session:
        facts += f"\nPrevious session: #{session.previous_session}"
    if earlier:  # the client's earlier sessions on the line (SPEC §14)
        facts += f"\n{mrkdwn.escape(earlier)}"
    if session.rating is not None:
        facts += f"\nRated by the client: {rating_stars(session.rating)} ({session.rating}/5)"
    facts += "".join(f"\n{mrkdwn.escape(line)}" for line in service_levels)  # `core.service_levels.card_lines`
    head: Block = {"type": "section", "text": {"type": "mrkdwn", "text": facts}}
    blocks: list[Block] = [head]
    value = str(session.number)
    if session.is_open:
        head["accessory"] = session_menu(session)
        blocks.append(
            {
                "type": "actions",
                "block_id": f"session:{session.number}",
                "elements": [
                    {"type": "button", "action_id": TAKE, "text": _plain("Take"), "value": value, "style": "primary"},
                    {"type": "button", "action_id": START, "text": _plain("Start process"), "value": value},
                    {"type": "button", "action_id": PROCESSES, "text": _plain("Processes"), "value": value},
                    {"type": "button", "action_id": CLOSE, "text": _plain("Close"), "value": value, "style": "danger"},
                ],
            }
        )
    elif session.status == SessionStatus.SPAM:
        blocks.append(
            {
                "type": "actions",
                "block_id": f"session:{session.number}",
                "elements": [{"type": "button", "action_id": UNSPAM, "text": _plain("Unmark spam"), "value": value}],
            }
        )
    return f"Session {title} ({status})", blocks


def session_menu(session: Session) -> Block:
    """The card's overflow menu; each value is "<verb>:<session>", re-checked when chosen."""
    choices = [(MENU_TRANSFER, "➡ Transfer to…")]
    if session.assignee is not None:
        choices.append((MENU_QUEUE, "↩ Back to the queue"))
    choices.append((MENU_SPAM, "🚫 Mark as spam"))
    return {
        "type": "overflow",
        "action_id": MENU,
        "options": [{"text": _plain(text, 75), "value": menu_value(verb, session.number)} for verb, text in choices],
    }


def menu_value(verb: str, session: int) -> str:
    return f"{verb}:{session}"


def parse_menu_value(value: str) -> tuple[str, int]:
    """(verb, session) of a menu choice; ValueError for anything tampered with."""
    verb, _, number = value.partition(":")
    session = parse_number(number)
    if verb not in (MENU_TRANSFER, MENU_QUEUE, MENU_SPAM) or session is None:
        raise ValueError("malformed menu choice")
    return verb, session


def transfer_value(session: int, operator_id: str | None) -> str:
    """ "<session>:<operator id>", or "<session>:" for the queue."""
    return f"{session}:{operator_id or ''}"


def parse_transfer_value(value: str) -> tuple[int, str | None]:
    number, sep, operator_id = value.partition(":")
    session = parse_number(number)
    if not sep or session is None or (operator_id and not _OPERATOR_ID.fullmatch(operator_id)):
        raise ValueError("malformed transfer button")
    return session, operator_id or None


def transfer_picker(
    session: Session, client: Client, choices: Sequence[tuple[str, str, str]]
) -> tuple[str, list[Block]]:
    """Who can take over: `choices` are (operator id, name, status) of the line's other operators;
    offline ones are shown too (a click on them is refused with the reason)."""
    text = f"Transfer session *#{session.number}* · {mrkdwn.escape(client.name)} to:"
    blocks: list[Block] = [{"type": "section", "text": {"type": "mrkdwn", "text": text}}]
    buttons: list[Block] = [
        {
            "type": "button",
            "action_id": f"{TRANSFER_TO}:{index}",
            "value": transfer_value(session.number, op_id),
            "text": _plain(f"{name} · {OPERATOR_ICONS.get(status, '')} {status}", BUTTON_TEXT),
        }
        for index, (op_id, name, status) in enumerate(choices)
    ]
    if session.assignee is not None:
        buttons.append(
            {
                "type": "button",
                "action_id": f"{TRANSFER_TO}:queue",
                "value": transfer_value(session.number, None),
                "text": _plain("↩ Back to the queue"),
            }
        )
    if not buttons:
        blocks.append(
            {
                "type": "section",
                "text": {"type": "mrkdwn", "text": "_Nobody else works on this line: there is nobody to transfer to._"},
            }
        )
    blocks += [
        {"type": "actions", "block_id": f"transfer:{start}", "elements": list(chunk)}
        for start, chunk in _chunks(buttons, MAX_BUTTONS)
    ][: MESSAGE_BLOCKS - 2]
    return f"Transfer session #{session.number} to…", blocks


def pick_value(session: int, process_id: str) -> str:
    return json.dumps({"s": session, "p": process_id}, separators=(",", ":"))


def parse_pick_value(value: str) -> tuple[int, str]:
    """The session and process a picker button names; ValueError for anything tampered with."""
    data = json.loads(value)
    if (
        not isinstance(data, dict)
        or type(data.get("s")) is not int
        or not isinstance(data.get("p"), str)
        or parse_number(str(data["s"])) is None
    ):
        raise ValueError("malformed process button")
    return data["s"], data["p"]


def process_picker(session: Session, client: Client, groups: Sequence[ScopeGroup]) -> tuple[str, list[Block]]:
    """Every catalog process grouped by scope: a header per scope, then its buttons (or a menu past 25).

    A catalog of more scopes than a message can hold that way (2 blocks each, 50 blocks at most) is shown
    compact: one menu per scope, named by its placeholder, 25 menus per actions block."""
    blocks: list[Block] = [
        {
            "type": "section",
            "text": {
                "type": "mrkdwn",
                "text": f"Start a process for session *#{session.number}* · {mrkdwn.escape(client.name)}:",
            },
        }
    ]
    if 1 + 2 * len(groups) > MESSAGE_BLOCKS:
        menus = [_scope_menu(session, index, group) for index, group in enumerate(groups)]
        blocks += [
            {"type": "actions", "block_id": f"scopes:{start}", "elements": list(chunk)}
            for start, chunk in _chunks(menus, MAX_BUTTONS)
        ][: MESSAGE_BLOCKS - 1]
        return f"Start a process for session #{session.number}", blocks
    for index, group in enumerate(groups):
        blocks.append({"type": "header", "text": _plain(group.scope.title, 150)})
        if len(group.processes) <= MAX_BUTTONS:
            blocks.append(
                {
                    "type": "actions",
                    "block_id": f"scope:{index}",
                    "elements": [
                        {
                            "type": "button",
                            "action_id": f"{PICK}:{entry.id}"[:255],
                            "text": _plain(entry.name, BUTTON_TEXT),
                            "value": pick_value(session.number, entry.id),
                        }
                        for entry in group.processes
                    ],
                }
            )
        else:
            blocks.append(
                {"type": "actions", "block_id": f"scope:{index}", "elements": [_scope_menu(session, index, group)]}
            )
    if not groups:
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": "_The process catalog is empty._"}})
    return f"Start a process for session #{session.number}", blocks


def _scope_menu(session: Session, index: int, group: ScopeGroup) -> Block:
    """One scope's processes as a menu: option groups of at most 100 (Slack's limit per group)."""
    title = group.scope.title
    return {
        "type": "static_select",
        "action_id": f"{PICK_SELECT}:{index}",
        "placeholder": _plain(f"{title}: choose a process", 150),
        "option_groups": [
            {
                "label": _plain(f"{title} {start + 1}–{start + len(chunk)}", 75),
                "options": [{"text": _plain(e.name, 75), "value": pick_value(session.number, e.id)} for e in chunk],
            }
            for start, chunk in _chunks(group.processes, 100)
        ][:100],
    }


def _chunks(items: Sequence[Any], size: int) -> list[tuple[int, Sequence[Any]]]:
    return [(start, items[start : start + size]) for start in range(0, len(items), size)]


def session_list(sessions: Sequence[tuple[Session, Client]]) -> tuple[str, list[Block]]:
    """The operator's active sessions as buttons, when `/startprocess` has no session to go on."""
    if not sessions:
        return "You have no active sessions.", [
            {
                "type": "section",
                "text": {
                    "type": "mrkdwn",
                    "text": "You have no active sessions. Use `/startprocess N` for session #N.",
                },
            }
        ]
    buttons = [
        {
            "type": "button",
            "action_id": f"{START}:{s.number}",
            "value": str(s.number),
            "text": _plain(f"#{s.number} {c.name}", BUTTON_TEXT),
        }
        for s, c in sessions[:MAX_BUTTONS]
    ]
    return "Which session?", [
        {"type": "section", "text": {"type": "mrkdwn", "text": "Start a process for which session?"}},
        {"type": "actions", "block_id": "sessions", "elements": buttons},
    ]


def note_modal(title: str, text: str) -> dict[str, Any]:
    """A modal that only tells something (no submit): "Starting…" while a form is being prepared, then what
    became of it when there is no form to show (nothing to fill in, a failure, a refusal)."""
    return {
        "type": "modal",
        "title": _plain(title, MODAL_TITLE),
        "close": _plain("Close"),
        "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": _shown(text, 3000)}}],
    }


def task_card(card: TaskCard) -> tuple[str, list[Block]]:
    """A user task waiting in a session's thread: for whom, and the button that opens its form."""
    who = card.assignee_name
    head = f"📝 *{_shown(card.task, 200)}* · {_shown(card.process, 200)}"
    line = f"for {who}" if who else task_for(card.candidates)
    if card.note:
        line += f"\nℹ {_shown(card.note, 500)}"
    button = {
        "type": "button",
        "action_id": TASK_OPEN if who else TASK_TAKE,
        "value": card.instance_id,
        "text": _plain("Open form" if who else "Take task"),
    }
    if not who:
        button["style"] = "primary"
    return f"Task {card.task} ({line})", [
        {"type": "section", "text": {"type": "mrkdwn", "text": f"{head}\n{line}"}},
        {"type": "actions", "block_id": f"task:{card.instance_id}"[:255], "elements": [button]},
    ]


def task_for(candidates: Sequence[str]) -> str:
    if candidates:
        return f"for {', '.join(_shown(c, 80) for c in candidates[:10])} (whoever takes it)"
    return "for any online operator of the line"


def status_card(status: StatusCard) -> tuple[str, list[Block]]:
    text = f"⚙ *{_shown(status.process, 200)}* · status: {_shown(status.text, 2500)}"
    return text, [{"type": "context", "elements": [{"type": "mrkdwn", "text": text}]}]
