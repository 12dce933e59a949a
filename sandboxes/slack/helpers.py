"""Request parameters, ids and timestamps, and the Block Kit checks the Slack sandbox applies as Slack does."""

from __future__ import annotations

import base64
import copy
import itertools
import json
import secrets
import time
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import urlencode

from .records import ACTIONS_ELEMENT_LIMIT, FORM, JSON, VIEW_BLOCK_LIMIT, VIEW_TITLE_LIMIT, _ApiError


class _Clock:
    """Message timestamps: unique, increasing, shaped like Slack's ``"1700000000.000100"``."""

    def __init__(self) -> None:
        self._last = 0

    def next_ts(self) -> str:
        micros = max(time.time_ns() // 1000, self._last + 1)
        self._last = micros
        return f"{micros // 1_000_000}.{micros % 1_000_000:06d}"


class _Ids:
    """Readable, unique ids with Slack's prefixes (``V…`` views, ``F…`` files, ``Ev…`` events)."""

    def __init__(self) -> None:
        self._counter = itertools.count(1)

    def new(self, prefix: str) -> str:
        return f"{prefix}0{next(self._counter):08X}"


class _Params:
    """Typed access to a call's parameters (query and body merged, JSON fields decoded)."""

    def __init__(self, values: Mapping[str, Any]) -> None:
        self.values = values

    def get(self, name: str) -> str | None:
        value = self.values.get(name)
        if value is None or value == "":
            return None
        return value if isinstance(value, str) else str(value)

    def require(self, name: str, error: str = "invalid_arguments") -> str:
        value = self.get(name)
        if value is None:
            raise _ApiError(error)
        return value

    def flag(self, name: str) -> bool:
        value = self.values.get(name)
        if isinstance(value, bool):
            return value
        return str(value).lower() in ("1", "true")

    def number(self, name: str, default: int) -> int:
        try:
            return int(self.values.get(name) or default)
        except (TypeError, ValueError):
            raise _ApiError("invalid_arguments") from None

    def array(self, name: str, error: str = "invalid_arguments") -> list[Any] | None:
        value = self.values.get(name)
        if value is None or value == "":
            return None
        if not isinstance(value, list):
            raise _ApiError(error)
        return value

    def obj(self, name: str, error: str = "invalid_arguments") -> JSON | None:
        value = self.values.get(name)
        if value is None or value == "":
            return None
        if not isinstance(value, dict):
            raise _ApiError(error)
        return value


def _form(fields: Mapping[str, str]) -> tuple[str, str]:
    return urlencode(fields), FORM


def _interaction(payload: JSON) -> tuple[str, str]:
    """Interactivity requests are form bodies with one field, ``payload=<json>``."""
    return _form({"payload": json.dumps(payload)})


def _rich_text(text: str) -> list[JSON]:
    """The ``rich_text`` block Slack clients attach to what a person types."""
    section = {"type": "rich_text_section", "elements": [{"type": "text", "text": text}]}
    return [{"type": "rich_text", "block_id": secrets.token_urlsafe(3), "elements": [section]}]


def _paginate(items: list[JSON], params: _Params, default_limit: int) -> tuple[list[JSON], str]:
    """Offset cursors, opaque like Slack's (base64 of ``next:<offset>``)."""
    limit = max(1, params.number("limit", default_limit))
    cursor = params.get("cursor")
    offset = 0
    if cursor:
        try:
            offset = int(base64.b64decode(cursor).decode().removeprefix("next:"))
        except ValueError:
            raise _ApiError("invalid_cursor") from None
    page = items[offset : offset + limit]
    more = offset + limit < len(items)
    return page, base64.b64encode(f"next:{offset + limit}".encode()).decode() if more else ""


def _interactive_elements(block: JSON) -> list[JSON]:
    found: list[JSON] = []
    if isinstance(block.get("elements"), list) and block.get("type") in ("actions", "input"):
        found.extend(e for e in block["elements"] if isinstance(e, dict))
    for key in ("accessory", "element"):
        if isinstance(block.get(key), dict):
            found.append(block[key])
    return found


def _normalise_blocks(blocks: list[Any], limit: int, error: str) -> list[JSON]:
    """Check blocks the way Slack refuses them, and fill ``block_id``/``action_id`` like Slack does."""
    problems: list[str] = []
    if len(blocks) > limit:
        problems.append(f"no more than {limit} items allowed [json-pointer:/blocks]")
    seen: set[str] = set()
    out: list[JSON] = []
    for i, raw in enumerate(blocks):
        if not isinstance(raw, dict) or not isinstance(raw.get("type"), str):
            problems.append(f"missing required field: type [json-pointer:/blocks/{i}]")
            continue
        block = copy.deepcopy(raw)
        block_id = block.setdefault("block_id", secrets.token_urlsafe(3))
        if block_id in seen:
            problems.append(f"duplicate block_id [json-pointer:/blocks/{i}/block_id]")
        seen.add(block_id)
        elements = block.get("elements")
        if block["type"] == "actions" and isinstance(elements, list) and len(elements) > ACTIONS_ELEMENT_LIMIT:
            problems.append(f"no more than {ACTIONS_ELEMENT_LIMIT} items allowed [json-pointer:/blocks/{i}/elements]")
        if block["type"] == "input" and not (isinstance(block.get("element"), dict) and block.get("label")):
            problems.append(f"input needs label and element [json-pointer:/blocks/{i}]")
        for element in _interactive_elements(block):
            if element.get("type") not in ("image", None):
                element.setdefault("action_id", secrets.token_urlsafe(4))
        out.append(block)
    if problems:
        raise _ApiError(error, response_metadata={"messages": [f"[ERROR] {p}" for p in problems]})
    return out


def _check_plain_text(value: Any, name: str, problems: list[str]) -> None:
    if value is None:
        return
    text = value.get("text") if isinstance(value, dict) else None
    if not isinstance(text, str) or not text:
        problems.append(f"must provide a text object [json-pointer:/view/{name}]")
    elif len(text) > VIEW_TITLE_LIMIT:
        problems.append(f"must be less than {VIEW_TITLE_LIMIT + 1} characters [json-pointer:/view/{name}/text]")


def _checked_view(payload: Any, kind: str) -> JSON:
    """Validate a view payload like Slack (``invalid_arguments`` + messages) and normalise its blocks."""
    if not isinstance(payload, dict):
        raise _ApiError("invalid_arguments", response_metadata={"messages": ["[ERROR] missing view"]})
    problems: list[str] = []
    if payload.get("type") != kind:
        problems.append(f"must be '{kind}' [json-pointer:/view/type]")
    if kind == "modal":
        if payload.get("title") is None:
            problems.append("missing required field: title [json-pointer:/view]")
        for name in ("title", "submit", "close"):
            _check_plain_text(payload.get(name), name, problems)
        has_input = any(isinstance(b, dict) and b.get("type") == "input" for b in payload.get("blocks") or [])
        if has_input and payload.get("submit") is None:
            problems.append("submit is required when an input block is present [json-pointer:/view/submit]")
    if len(str(payload.get("private_metadata", ""))) > 3000:
        problems.append("must be less than 3001 characters [json-pointer:/view/private_metadata]")
    if len(str(payload.get("callback_id", ""))) > 255:
        problems.append("must be less than 256 characters [json-pointer:/view/callback_id]")
    blocks = payload.get("blocks")
    if not isinstance(blocks, list):
        problems.append("missing required field: blocks [json-pointer:/view]")
    if problems:
        raise _ApiError("invalid_arguments", response_metadata={"messages": [f"[ERROR] {p}" for p in problems]})
    assert isinstance(blocks, list)
    return {**payload, "blocks": _normalise_blocks(blocks, VIEW_BLOCK_LIMIT, "invalid_arguments")}


def _find_element(
    blocks: Iterable[Any], action_id: str, value: str | None, block_id: str | None
) -> tuple[str, JSON] | None:
    """The element a click targets; among same ``action_id`` buttons, the one with ``value``."""
    candidates: list[tuple[str, JSON]] = []
    for block in blocks:
        if not isinstance(block, dict) or (block_id is not None and block.get("block_id") != block_id):
            continue
        for element in _interactive_elements(block):
            if element.get("action_id") == action_id:
                candidates.append((str(block.get("block_id", "")), element))
    for candidate in candidates:
        if value is not None and candidate[1].get("value") == value:
            return candidate
    return candidates[0] if candidates else None


def _plain_text(value: Any) -> Any:
    """Slack stores ``plain_text`` objects with ``emoji: true`` unless told otherwise."""
    if isinstance(value, dict) and value.get("type") == "plain_text" and "emoji" not in value:
        return {**value, "emoji": True}
    return value


def _options(element: JSON) -> list[JSON]:
    options = [o for o in element.get("options") or [] if isinstance(o, dict)]
    for group in element.get("option_groups") or []:
        options.extend(o for o in group.get("options") or [] if isinstance(o, dict))
    return options


def _option(element: JSON, value: Any) -> JSON:
    for option in _options(element):
        if option.get("value") == str(value):
            return {k: v for k, v in option.items() if k in ("text", "value", "description")}
    return {"text": {"type": "plain_text", "text": str(value), "emoji": True}, "value": str(value)}


def _element_state(element: JSON, raw: Any) -> JSON:
    """The ``state.values`` entry Slack sends for ``element`` when the user entered ``raw``."""
    kind = str(element.get("type", "plain_text_input"))
    if kind in ("static_select", "external_select", "radio_buttons"):
        return {"type": kind, "selected_option": None if raw is None else _option(element, raw)}
    if kind in ("multi_static_select", "multi_external_select", "checkboxes"):
        if raw is True:
            raw = [o.get("value") for o in _options(element)[:1]]
        values = [] if raw in (None, False) else raw if isinstance(raw, list) else [raw]
        return {"type": kind, "selected_options": [_option(element, v) for v in values]}
    single = {
        "datepicker": "selected_date",
        "timepicker": "selected_time",
        "datetimepicker": "selected_date_time",
        "users_select": "selected_user",
        "conversations_select": "selected_conversation",
        "channels_select": "selected_channel",
    }
    if kind in single:
        return {"type": kind, single[kind]: raw}
    return {"type": kind, "value": None if raw is None else str(raw)}


def _state_values(blocks: Iterable[Any], given: Mapping[str, Mapping[str, Any]]) -> JSON:
    """``view.state.values``: every input of the view, filled from ``given``.

    A given value that is a dict is sent as is; anything else is shaped for the element
    (a select gets ``selected_option`` of the option with that value, etc.).
    """
    state: JSON = {}
    for block in blocks:
        if not isinstance(block, dict) or block.get("type") != "input" or not isinstance(block.get("element"), dict):
            continue
        element, block_id = block["element"], str(block.get("block_id"))
        action_id = str(element.get("action_id"))
        raw = given.get(block_id, {}).get(action_id)
        state.setdefault(block_id, {})[action_id] = raw if isinstance(raw, dict) else _element_state(element, raw)
    for block_id, actions in given.items():
        for action_id, raw in actions.items():
            if action_id not in state.get(block_id, {}):
                entry = raw if isinstance(raw, dict) else {"type": "plain_text_input", "value": raw}
                state.setdefault(block_id, {})[action_id] = entry
    return state
