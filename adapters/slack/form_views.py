"""Block Kit for task forms: a user task's (or start) form as a modal, and what a submitted modal holds.

Every field kind of formData and Camunda Forms has its element; Block Kit's own bounds are set where it
has them (text length, number range) and the server checks every constraint again on submit.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from adapters.slack import mrkdwn
from core.bpmn.engine import FormField, UserTaskView

Block = dict[str, Any]

TASK_FORM = "task_form"
FIELD_ACTION = "value"
MODAL_TITLE = 24
MAX_CHOICES = 10
"""Options radio buttons and checkboxes show at most (more: a menu)."""
SLACK_TEXT_LIMIT = 3000


def _plain(text: str, limit: int = 3000) -> dict[str, Any]:
    return {"type": "plain_text", "text": mrkdwn.cut(text, limit), "emoji": True}


def _shown(text: str, limit: int) -> str:
    return mrkdwn.cut(mrkdwn.escape(text), limit)


def task_modal(process_name: str, task: UserTaskView, metadata: dict[str, Any]) -> dict[str, Any]:
    """A user task's form as a modal; `metadata` travels in private_metadata and is re-checked on submit."""
    blocks: list[Block] = [
        {
            "type": "context",
            "elements": [{"type": "mrkdwn", "text": f"*{_shown(process_name, 200)}* · {_shown(task.name, 200)}"}],
        }
    ]
    blocks += [_field_block(field) for field in task.fields]
    if not task.fields:
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": "Nothing to fill in: submit to go on."}})
    return {
        "type": "modal",
        "callback_id": TASK_FORM,
        "title": _plain(process_name, MODAL_TITLE),
        "submit": _plain("Submit"),
        "close": _plain("Later"),
        "private_metadata": json.dumps(metadata, separators=(",", ":")),
        "blocks": blocks[:100],
    }


def _field_block(field: FormField) -> Block:
    """An asked field as an input block; a readonly field or a form's text as a section (nothing to enter)."""
    if field.type == "display":
        return {"type": "section", "text": {"type": "mrkdwn", "text": _shown(field.label or " ", 3000)}}
    if field.readonly:
        shown = _shown(_readonly_text(field), 2500)
        text = f"*{_shown(field.label, 400)}*\n{shown}"
        return {"type": "section", "block_id": f"readonly:{field.id}"[:255], "text": {"type": "mrkdwn", "text": text}}
    return _input(field)


def _readonly_text(field: FormField) -> str:
    if field.default in (None, ""):
        return "—"
    if field.type == "boolean":
        return "Yes" if str(field.default).lower() == "true" else "No"
    return dict(field.options).get(str(field.default), str(field.default))


def _choice_element(field: FormField) -> dict[str, Any]:
    options = [{"text": _plain(name, 75), "value": option_id} for option_id, name in field.options]
    if field.type == "checklist":
        chosen = _default_list(field)
        kind = "checkboxes" if len(options) <= MAX_CHOICES else "multi_static_select"
        element: dict[str, Any] = {"type": kind, "options": options[:100]}
        initial = [o for o in options if o["value"] in chosen]
        if initial:
            element["initial_options"] = initial
        return element
    kind = "radio_buttons" if field.widget == "radio" and len(options) <= MAX_CHOICES else "static_select"
    element = {"type": kind, "options": options[:100]}
    first = next((o for o in options if o["value"] == field.default), None)
    if first:
        element["initial_option"] = first
    return element


def _default_list(field: FormField) -> list[str]:
    try:
        chosen = json.loads(field.default or "[]")
    except ValueError:
        chosen = [field.default]
    return [str(c) for c in chosen] if isinstance(chosen, list) else [str(chosen)]


def _number_element(field: FormField) -> dict[str, Any]:
    """Block Kit's own bounds where it has them; the server checks them again on submit."""
    element: dict[str, Any] = {"type": "number_input", "is_decimal_allowed": field.type == "number"}
    for bound, key in ((field.min, "min_value"), (field.max, "max_value")):
        if bound is not None and _is_number(bound, decimal=field.type == "number"):
            element[key] = bound.strip()
    if field.default and _within(field.default, element.get("min_value"), element.get("max_value")):
        element["initial_value"] = field.default  # Slack refuses a view whose initial value is out of bounds
    return element


def _within(value: str, low: str | None, high: str | None) -> bool:
    try:
        number = float(value)
        return (low is None or number >= float(low)) and (high is None or number <= float(high))
    except ValueError:
        return False


def _is_number(text: str, *, decimal: bool) -> bool:
    try:
        int(text) if not decimal else float(text)
    except ValueError:
        return False
    return True


def _text_element(field: FormField) -> dict[str, Any]:
    element: dict[str, Any] = {"type": "plain_text_input"}
    if field.widget == "textarea":
        element["multiline"] = True
    if field.min_length is not None and 0 <= field.min_length <= SLACK_TEXT_LIMIT:
        element["min_length"] = field.min_length
    if field.max_length is not None and 1 <= field.max_length <= SLACK_TEXT_LIMIT:
        element["max_length"] = field.max_length
    if field.default and len(field.default) <= element.get("max_length", SLACK_TEXT_LIMIT):
        element["initial_value"] = field.default
    return element


def _when_element(field: FormField) -> dict[str, Any]:
    if field.type == "date":
        element: dict[str, Any] = {"type": "datepicker"}
        if field.default:
            element["initial_date"] = field.default
    elif field.type == "time":
        element = {"type": "timepicker"}
        if field.default:
            element["initial_time"] = field.default[:5]
    else:
        element = {"type": "datetimepicker"}
        moment = _epoch(field.default)
        if moment is not None:
            element["initial_date_time"] = moment
    return element


def _epoch(text: str | None) -> int | None:
    if not text:
        return None
    try:
        moment = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return int((moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)).timestamp())


def _input(field: FormField) -> Block:
    element: dict[str, Any]
    if field.type in ("enum", "checklist"):
        element = _choice_element(field)
    elif field.type == "boolean":
        options = [{"text": _plain("Yes"), "value": "true"}, {"text": _plain("No"), "value": "false"}]
        element = {"type": "radio_buttons", "options": options}
        if field.default is not None:
            element["initial_option"] = options[0] if field.default.lower() == "true" else options[1]
    elif field.type in ("long", "number"):
        element = _number_element(field)
    elif field.type in ("date", "time", "datetime"):
        element = _when_element(field)
    else:
        element = _text_element(field)
    element["action_id"] = FIELD_ACTION
    return {
        "type": "input",
        "block_id": field.id,
        "label": _plain(field.label, 2000),
        "optional": not field.required,
        "element": element,
    }


SELECTED = {"datepicker": "selected_date", "timepicker": "selected_time", "datetimepicker": "selected_date_time"}


def form_values(state_values: dict[str, Any]) -> dict[str, Any]:
    """What the operator entered, by field id, as text (None when left empty; a list for checkboxes)."""
    values: dict[str, Any] = {}
    for block_id, actions in state_values.items():
        action = actions.get(FIELD_ACTION) if isinstance(actions, dict) else None
        if not isinstance(action, dict):
            continue
        kind = action.get("type")
        if kind in ("static_select", "radio_buttons"):
            selected = action.get("selected_option")
            values[block_id] = selected.get("value") if isinstance(selected, dict) else None
        elif kind in ("checkboxes", "multi_static_select"):
            chosen = action.get("selected_options")
            values[block_id] = (
                [o.get("value") for o in chosen if isinstance(o, dict)] if isinstance(chosen, list) else []
            )
        elif kind in SELECTED:
            values[block_id] = action.get(SELECTED[str(kind)])
        else:
            values[block_id] = action.get("value")
    return values
