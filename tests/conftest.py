"""Repository-wide test hooks.

Every Telegram sandbox created during a test registers itself; when the test ends, every Bot API
call recorded by those sandboxes is checked against the machine-readable Bot API spec
(``telegram_bot_api_spec.json``, see ``tests/telegram/spec_check.py``):

* the method exists in the spec, and the sandbox knew the bot token and the method (401/404 answers
  are reported: the product called something Telegram would refuse);
* every required parameter is present, no parameter is unknown to the method;
* structured parameters (``reply_markup``, ``entities``, ``reply_parameters``, …) conform to their
  spec types, recursively; inline buttons carry exactly one action and ``callback_data`` of 1-64
  bytes (UTF-8);
* length limits stated by the spec ("1-4096 characters after entities parsing", "0-1024
  characters", "1-128 characters", "0-2048 bytes" …) hold, characters counted as Telegram counts
  them (UTF-16 code units), after parse_mode/entities are applied.

A problem fails the test at teardown, naming the test, the method and the problem. Tests that make
wrong calls on purpose opt out with ``@pytest.mark.telegram_calls_unchecked``. Without the spec file
the check is skipped (the tests still run).
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import pytest

from adapters.telegram.sandbox import ApiError, SandboxCall, TelegramSandbox, format_text, utf16_len
from tests.telegram.spec_check import SpecChecker, load_spec

UNCHECKED_MARKER = "telegram_calls_unchecked"

_PRIMITIVES = frozenset({"Integer", "Float", "String", "Boolean", "True"})
_LIMIT = re.compile(r"\b(\d+)-(\d+) (characters|bytes)\b([^.;]*)")
# Fields of InlineKeyboardButton that do not choose what the button does (the spec: "Exactly one of the
# fields other than text, icon_custom_emoji_id, and style must be used").
_BUTTON_DECOR = frozenset({"text", "icon_custom_emoji_id", "style"})
_MAX_PROBLEMS_PER_CALL = 6


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        f"{UNCHECKED_MARKER}: do not check this test's outgoing Telegram Bot API calls against the spec "
        "(for tests that make wrong calls on purpose)",
    )


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
def call_checker() -> CallChecker | None:
    spec = load_spec()
    return None if spec is None else CallChecker(spec)


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


@pytest.fixture(autouse=True)
def _telegram_calls_follow_the_spec(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Check every Bot API call of every sandbox created during the test (see the module docstring)."""
    checker = call_checker()
    if checker is None or request.node.get_closest_marker(UNCHECKED_MARKER) is not None:
        yield
        return
    sandboxes: list[TelegramSandbox] = []
    original_init = TelegramSandbox.__init__

    def registering_init(self: TelegramSandbox, *args: Any, **kwargs: Any) -> None:
        original_init(self, *args, **kwargs)
        sandboxes.append(self)

    monkeypatch.setattr(TelegramSandbox, "__init__", registering_init)
    yield
    findings = [
        (call, problems)
        for sandbox in sandboxes
        for call in sandbox.calls
        if (problems := checker.problems(call))
    ]
    if findings:
        pytest.fail(_report(request.node.nodeid, findings), pytrace=False)
