"""What every test checks of the platform calls it caused (used by tests/conftest.py's autouse fixtures and
by tests that check payloads themselves): the Telegram Bot API spec (`CallChecker`, `call_checker`) and Slack's
Block Kit limits (`BlockKitLimits`, `SlackSeen`, the method sets). See tests/conftest.py's docstring."""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from sandboxes.slack import SlackSandbox
from sandboxes.telegram import ApiError, SandboxCall, format_text, utf16_len
from tests.support.telegram_spec import SpecChecker, load_spec

UNCHECKED_MARKER = "telegram_calls_unchecked"
SLACK_UNCHECKED_MARKER = "slack_calls_unchecked"

_PRIMITIVES = frozenset({"Integer", "Float", "String", "Boolean", "True"})
_LIMIT = re.compile(r"\b(\d+)-(\d+) (characters|bytes)\b([^.;]*)")
# Fields of InlineKeyboardButton that do not choose what the button does (the spec: "Exactly one of the
# fields other than text, icon_custom_emoji_id, and style must be used").
_BUTTON_DECOR = frozenset({"text", "icon_custom_emoji_id", "style"})
_MAX_PROBLEMS_PER_CALL = 6


@dataclass(frozen=True)
class Limit:
    low: int
    high: int
    unit: str  # "characters" (UTF-16 code units) or "bytes" (UTF-8)
    after_entities: bool

    def measure(self, text: str) -> int:
        return utf16_len(text) if self.unit == "characters" else len(text.encode("utf-8"))


@dataclass(frozen=True)
class MethodRules:
    name: str
    types: Mapping[str, tuple[str, ...]]
    required: frozenset[str]
    limits: Mapping[str, Limit]


def _element_type(type_expr: str) -> str:
    while type_expr.startswith("Array of "):
        type_expr = type_expr.removeprefix("Array of ")
    return type_expr


def _structured(types: Sequence[str]) -> bool:
    """True when a parameter carries a JSON object/array the spec describes (not a scalar or a file)."""
    return any(_element_type(t) not in _PRIMITIVES | {"InputFile"} for t in types)


def _entity_fields(param: str) -> tuple[str, str]:
    """The parse mode and entity parameters that shape ``param`` (text → parse_mode/entities, …)."""
    if param == "text":
        return "parse_mode", "entities"
    if param == "caption":
        return "parse_mode", "caption_entities"
    return f"{param}_parse_mode", f"{param}_entities"


class CallChecker:
    """Checks recorded :class:`SandboxCall` s against the spec; rules are built once per method."""

    def __init__(self, spec: Mapping[str, Any]) -> None:
        self.types = SpecChecker(spec)
        self.methods: dict[str, MethodRules] = {}
        for name, method in spec["methods"].items():
            fields = method.get("fields", [])
            limits: dict[str, Limit] = {}
            for field in fields:
                match = _LIMIT.search(field["description"])
                if match and field["types"] == ["String"]:
                    limits[field["name"]] = Limit(int(match[1]), int(match[2]), match[3], "entit" in match[4])
            self.methods[name.lower()] = MethodRules(
                name=name,
                types={f["name"]: tuple(f["types"]) for f in fields},
                required=frozenset(f["name"] for f in fields if f["required"]),
                limits=limits,
            )

    def problems(self, call: SandboxCall) -> list[str]:
        rules = self.methods.get(call.method.lower())
        if call.status == 401:
            return [f"the sandbox answered 401 Unauthorized: unknown bot token (bot id {call.token.split(':')[0]})"]
        if rules is None:
            return [f"{call.method!r} is not a Bot API method (answered {call.status})"]
        if call.status == 404:
            return ["the sandbox answered 404: it does not implement this Bot API method"]
        params = call.params
        if not params and call.status == 400 and rules.required:
            return [f"the request could not be decoded: {call.description}"]
        problems: list[str] = []
        missing = sorted(n for n in rules.required if params.get(n) is None)
        if missing:
            problems.append(f"required parameter(s) missing: {', '.join(missing)}")
        unknown = sorted(set(params) - set(rules.types))
        if unknown:
            problems.append(f"parameter(s) the method does not know: {', '.join(unknown)}")
        for name, value in params.items():
            types = rules.types.get(name)
            if types and _structured(types):
                problems += self._structure(name, types, value)
        if isinstance(params.get("reply_markup"), Mapping):
            problems += self._inline_buttons(params["reply_markup"])
        for name, limit in rules.limits.items():
            value = params.get(name)
            if isinstance(value, str):
                problems += self._length(name, value, limit, params)
        return problems

    def _structure(self, name: str, types: Sequence[str], value: Any) -> list[str]:
        if isinstance(value, str | bytes):
            try:
                value = json.loads(value)
            except ValueError:
                if "String" in types:
                    return []
                return [f"{name}: not valid JSON ({str(value)[:60]!r})"]
        attempts = [self.types.check(t, value, name) for t in types]
        if not all(attempts):
            return []
        return [f"{name} does not conform to {' | '.join(types)}: {'; '.join(min(attempts, key=len)[:4])}"]

    @staticmethod
    def _inline_buttons(markup: Mapping[str, Any]) -> list[str]:
        rows = markup.get("inline_keyboard")
        if not isinstance(rows, list):
            return []
        problems: list[str] = []
        for r, row in enumerate(rows):
            for c, button in enumerate(row if isinstance(row, list) else []):
                if not isinstance(button, Mapping):
                    continue
                where = f"reply_markup.inline_keyboard[{r}][{c}]"
                actions = sorted(k for k in button if k not in _BUTTON_DECOR)
                if len(actions) != 1:
                    problems.append(f"{where}: exactly one action field is required, got {actions or 'none'}")
                data = button.get("callback_data")
                if isinstance(data, str) and not 1 <= len(data.encode("utf-8")) <= 64:
                    problems.append(
                        f"{where}.callback_data is {len(data.encode('utf-8'))} bytes (UTF-8), the spec allows 1-64: "
                        f"{data[:80]!r}"
                    )
        return problems

    @staticmethod
    def _length(name: str, value: str, limit: Limit, params: Mapping[str, Any]) -> list[str]:
        shown = value
        if limit.after_entities:
            mode_param, entities_param = _entity_fields(name)
            mode, entities = params.get(mode_param), params.get(entities_param)
            try:
                entity_list = entities if isinstance(entities, list) else None
                shown, _ = format_text(value, str(mode) if mode else None, entity_list)
            except ApiError as error:
                return [f"{name}: {error.description} (parse_mode={mode!r})"]
        size = limit.measure(shown)
        if limit.low <= size <= limit.high:
            return []
        after = " after entity parsing" if limit.after_entities else ""
        return [f"{name} is {size} {limit.unit}{after}, the spec allows {limit.low}-{limit.high}: {shown[:60]!r}…"]


@lru_cache(maxsize=1)
def call_checker() -> CallChecker:
    return CallChecker(load_spec())


def _report(nodeid: str, findings: list[tuple[SandboxCall, list[str]]]) -> str:
    counted: Counter[tuple[str, int, str]] = Counter()
    for call, problems in findings:
        for problem in problems[:_MAX_PROBLEMS_PER_CALL]:
            counted[(call.method, call.status, problem)] += 1
    lines = [f"{nodeid}: outgoing Telegram Bot API calls that break the spec ({len(findings)} call(s)):"]
    for (method, status, problem), count in counted.items():
        times = f" ×{count}" if count > 1 else ""
        lines.append(f"  {method} (answered {status}){times}: {problem}")
    lines.append(f"(mark the test @pytest.mark.{UNCHECKED_MARKER} only if it makes these calls on purpose)")
    return "\n".join(lines)


# --- Slack: Block Kit limits ------------------------------------------------------------------------
SLACK_MESSAGE_METHODS = frozenset({"chat.postMessage", "chat.postEphemeral", "chat.update", "response_url"})
SLACK_VIEW_METHODS = frozenset({"views.open", "views.update", "views.push", "views.publish"})
_SELECTS = frozenset({"static_select", "multi_static_select"})


class BlockKitLimits:
    """Slack's documented Block Kit limits, checked on one message or view; each method returns the problems
    found, each naming where (a JSON path) and what."""

    MESSAGE_BLOCKS = 50
    VIEW_BLOCKS = 100
    MESSAGE_TEXT = 40_000

    def message(self, payload: Mapping[str, Any]) -> list[str]:
        problems: list[str] = []
        text = payload.get("text")
        if isinstance(text, str) and len(text) > self.MESSAGE_TEXT:
            problems.append(f"text is {len(text)} characters, Slack allows {self.MESSAGE_TEXT}")
        blocks = payload.get("blocks")
        if blocks is not None:
            problems += self.blocks(blocks, self.MESSAGE_BLOCKS, "blocks")
        return problems

    def view(self, view: Any) -> list[str]:
        view = _decoded(view)
        if not isinstance(view, Mapping):
            return [f"view is not a JSON object: {str(view)[:60]!r}"]
        problems: list[str] = []
        for name in ("title", "submit", "close"):
            if view.get(name) is not None:
                problems += self._plain(view[name], 24, f"view.{name}")
        for name in ("callback_id", "external_id"):
            problems += self._max(view.get(name), 255, f"view.{name}")
        metadata = view.get("private_metadata")
        if metadata is not None:
            problems += self._max(metadata, 3000, "view.private_metadata")
            if metadata != "":
                try:
                    json.loads(metadata)
                except (TypeError, ValueError):
                    problems.append(f"view.private_metadata is not JSON: {str(metadata)[:60]!r}")
        problems += self.blocks(view.get("blocks"), self.VIEW_BLOCKS, "view.blocks")
        return problems

    def blocks(self, blocks: Any, limit: int, where: str) -> list[str]:
        blocks = _decoded(blocks)
        if not isinstance(blocks, list):
            return [f"{where} is not a list of blocks"]
        problems = [f"{where} has {len(blocks)} blocks, Slack allows {limit}"] if len(blocks) > limit else []
        for index, block in enumerate(blocks):
            if isinstance(block, Mapping):
                problems += self._block(block, f"{where}[{index}]")
            else:
                problems.append(f"{where}[{index}] is not a block")
        return problems

    def _block(self, block: Mapping[str, Any], where: str) -> list[str]:
        kind = block.get("type")
        where = f"{where}({kind})"
        problems = self._max(block.get("block_id"), 255, f"{where}.block_id")
        elements: list[Any] = block["elements"] if isinstance(block.get("elements"), list) else []
        if kind == "actions":
            if len(elements) > 25:
                problems.append(f"{where} has {len(elements)} elements, Slack allows 25")
            for index, element in enumerate(elements):
                problems += self._element(element, f"{where}.elements[{index}]")
        elif kind == "context" and len(elements) > 10:
            problems.append(f"{where} has {len(elements)} elements, Slack allows 10")
        elif kind == "header":
            problems += self._plain(block.get("text"), 150, f"{where}.text")
        elif kind == "section":
            text = block.get("text")
            if text is not None:
                problems += self._max(text.get("text") if isinstance(text, Mapping) else text, 3000, f"{where}.text")
            fields = block.get("fields") or []
            if len(fields) > 10:
                problems.append(f"{where} has {len(fields)} fields, Slack allows 10")
            for index, item in enumerate(fields):
                problems += self._max(
                    item.get("text") if isinstance(item, Mapping) else item, 2000, f"{where}.fields[{index}]"
                )
            if isinstance(block.get("accessory"), Mapping):
                problems += self._element(block["accessory"], f"{where}.accessory")
        elif kind == "input":
            problems += self._plain(block.get("label"), 2000, f"{where}.label")
            if block.get("hint") is not None:
                problems += self._plain(block.get("hint"), 2000, f"{where}.hint")
            if isinstance(block.get("element"), Mapping):
                problems += self._element(block["element"], f"{where}.element")
        return problems

    def _element(self, element: Any, where: str) -> list[str]:
        if not isinstance(element, Mapping):
            return [f"{where} is not an element"]
        kind = element.get("type")
        where = f"{where}({kind})"
        problems = self._max(element.get("action_id"), 255, f"{where}.action_id")
        if element.get("placeholder") is not None:
            problems += self._plain(element["placeholder"], 150, f"{where}.placeholder")
        if kind == "button":
            problems += self._plain(element.get("text"), 75, f"{where}.text")
            problems += self._max(element.get("value"), 2000, f"{where}.value")
            problems += self._max(element.get("url"), 3000, f"{where}.url")
        elif kind in _SELECTS:
            options = element.get("options") or []
            groups = element.get("option_groups") or []
            if len(options) > 100:
                problems.append(f"{where} has {len(options)} options, Slack allows 100")
            if len(groups) > 100:
                problems.append(f"{where} has {len(groups)} option groups, Slack allows 100")
            problems += self._options(options, f"{where}.options")
            for index, group in enumerate(groups):
                group_where = f"{where}.option_groups[{index}]"
                problems += self._plain(group.get("label"), 75, f"{group_where}.label")
                group_options = group.get("options") or []
                if len(group_options) > 100:
                    problems.append(f"{group_where} has {len(group_options)} options, Slack allows 100")
                problems += self._options(group_options, f"{group_where}.options")
        elif kind == "overflow":
            options = element.get("options") or []
            if not 2 <= len(options) <= 5:
                problems.append(f"{where} has {len(options)} options, Slack allows 2-5")
            problems += self._options(options, f"{where}.options")
        elif kind in ("radio_buttons", "checkboxes"):
            options = element.get("options") or []
            if len(options) > 10:
                problems.append(f"{where} has {len(options)} options, Slack allows 10")
            problems += self._options(options, f"{where}.options", plain_only=False)
        return problems

    def _options(self, options: Any, where: str, *, plain_only: bool = True) -> list[str]:
        problems: list[str] = []
        for index, option in enumerate(options if isinstance(options, list) else []):
            text = option.get("text") if isinstance(option, Mapping) else None
            if plain_only:
                problems += self._plain(text, 75, f"{where}[{index}].text")
            else:
                problems += self._max(
                    text.get("text") if isinstance(text, Mapping) else None, 75, f"{where}[{index}].text"
                )
            problems += self._max(
                option.get("value") if isinstance(option, Mapping) else None, 150, f"{where}[{index}].value"
            )
        return problems

    @staticmethod
    def _plain(value: Any, limit: int, where: str) -> list[str]:
        text = value.get("text") if isinstance(value, Mapping) else None
        if not isinstance(value, Mapping) or value.get("type") != "plain_text" or not isinstance(text, str):
            return [f"{where} must be a plain_text object, got {str(value)[:60]!r}"]
        return BlockKitLimits._max(value["text"], limit, where)

    @staticmethod
    def _max(value: Any, limit: int, where: str) -> list[str]:
        if isinstance(value, str) and len(value) > limit:
            return [f"{where} is {len(value)} characters, Slack allows {limit}: {value[:40]!r}…"]
        return []


def _decoded(value: Any) -> Any:
    if isinstance(value, str | bytes) and value[:1] in ("[", "{", b"[", b"{"):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


@dataclass
class SlackSeen:
    """What one test's Slack sandboxes saw the product show, besides their recorded Web API calls."""

    sandboxes: list[SlackSandbox]
    acks: list[dict[str, Any]]
    """Ack bodies the sandbox showed as ephemeral messages (slash commands, interactions)."""
    answered_views: list[tuple[str, Any]]
    """Views in view-submission answers: (response_action, view)."""

    def findings(self, limits: BlockKitLimits) -> list[tuple[str, list[str]]]:
        found: list[tuple[str, list[str]]] = []
        for sandbox in self.sandboxes:
            for call in sandbox.calls:
                if call.method in SLACK_MESSAGE_METHODS:
                    problems = limits.message(call.params)
                elif call.method in SLACK_VIEW_METHODS:
                    problems = limits.view(call.params.get("view"))
                else:
                    continue
                if problems:
                    found.append((call.method, problems))
        for ack in self.acks:
            if problems := limits.message(ack):
                found.append(("ack (shown as ephemeral)", problems))
        for action, view in self.answered_views:
            if problems := limits.view(view):
                found.append((f"view-submission answer ({action})", problems))
        return found


def _slack_report(nodeid: str, findings: list[tuple[str, list[str]]]) -> str:
    counted: Counter[tuple[str, str]] = Counter()
    for where, problems in findings:
        for problem in problems[:_MAX_PROBLEMS_PER_CALL]:
            counted[(where, problem)] += 1
    lines = [f"{nodeid}: Slack messages or views that break Block Kit's limits ({len(findings)} payload(s)):"]
    for (where, problem), count in counted.items():
        times = f" ×{count}" if count > 1 else ""
        lines.append(f"  {where}{times}: {problem}")
    lines.append(f"(mark the test @pytest.mark.{SLACK_UNCHECKED_MARKER} only if it sends these on purpose)")
    return "\n".join(lines)
