"""FEEL, as far as a DMN decision table drawn in Camunda Modeler needs it (SPEC §11 "Flow").

- Unary tests in input entries: `-` (any), literals (`"gold"`, `42`, `true`, `null`), comparisons
  (`< 10`, `>= 5.5`, `!= "x"`), intervals (`[1..10]`, `(1..10)`, `]1..10[`), lists of tests (`"a","b"`),
  `not(…)`, and variable names (`limit`, `customer.level`) where a value goes.
- Input expressions and output entries: a literal, or a variable name / dotted path.

Parsed with a small tokenizer and recursive descent into values and tests that are evaluated over the
instance variables — nothing is ever handed to `eval`. Anything else is a `FeelError` (check-config names it).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

_TOKEN = re.compile(
    r"""\s*(?:
      (?P<string>"(?:[^"\\]|\\.)*")
    | (?P<number>-?\d+(?:\.\d+)?)
    | (?P<range>\.\.)
    | (?P<op><=|>=|!=|<|>|=)
    | (?P<punct>[\[\]\(\),])
    | (?P<name>[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*)
    )""",
    re.VERBOSE,
)


class FeelError(ValueError):
    """An expression this FEEL subset cannot read, or a value it cannot find."""


Value = Callable[[Mapping[str, Any]], Any]
Test = Callable[[Any, Mapping[str, Any]], bool]


@dataclass
class _Tokens:
    items: list[tuple[str, str]]
    text: str
    pos: int = 0

    def peek(self) -> tuple[str, str] | None:
        return self.items[self.pos] if self.pos < len(self.items) else None

    def take(self) -> tuple[str, str]:
        token = self.peek()
        if token is None:
            raise FeelError(f"unexpected end of {self.text!r}")
        self.pos += 1
        return token

    def expect(self, kind: str, text: str | None = None) -> str:
        got_kind, got = self.take()
        if got_kind != kind or (text is not None and got != text):
            raise FeelError(f"expected {text or kind} in {self.text!r}, found {got!r}")
        return got


def _tokenize(text: str) -> _Tokens:
    items: list[tuple[str, str]] = []
    pos = 0
    stripped = text.rstrip()
    while pos < len(stripped):
        match = _TOKEN.match(stripped, pos)
        if match is None or match.end() == pos:
            raise FeelError(f"cannot read {text!r} at {stripped[pos:]!r}")
        kind = match.lastgroup or ""
        items.append((kind, match.group(kind)))
        pos = match.end()
    return _Tokens(items, text)


def lookup(path: str, data: Mapping[str, Any]) -> Any:
    value: Any = data
    for part in path.split("."):
        if isinstance(value, Mapping) and part in value:
            value = value[part]
        else:
            raise FeelError(f"no variable {path!r}")
    return value


def _value(tokens: _Tokens) -> Value:
    kind, text = tokens.take()
    if kind == "string":
        literal = text[1:-1].replace('\\"', '"').replace("\\\\", "\\")
        return lambda data: literal
    if kind == "number":
        number: float | int = float(text) if "." in text else int(text)
        return lambda data: number
    if kind == "name":
        constants = {"true": True, "false": False, "null": None}
        if text in constants:
            constant = constants[text]
            return lambda data: constant
        return lambda data: lookup(text, data)
    raise FeelError(f"expected a value in {tokens.text!r}, found {text!r}")


def _compare(op: str, left: Any, right: Any) -> bool:
    if op in ("=", "=="):
        return bool(left == right)
    if op == "!=":
        return bool(left != right)
    if left is None or right is None:
        return False
    try:
        return bool({"<": left < right, "<=": left <= right, ">": left > right, ">=": left >= right}[op])
    except TypeError:
        return False


def _interval(tokens: _Tokens) -> Test:
    opening = tokens.take()[1]
    low = _value(tokens)
    tokens.expect("range")
    high = _value(tokens)
    closing = tokens.expect("punct")
    if closing not in ("]", ")", "["):
        raise FeelError(f"an interval ends with ] ) or [ in {tokens.text!r}")
    low_op = ">=" if opening == "[" else ">"
    high_op = "<=" if closing == "]" else "<"
    return lambda given, data: _compare(low_op, given, low(data)) and _compare(high_op, given, high(data))


def _single_test(tokens: _Tokens) -> Test:
    token = tokens.peek()
    if token is None:
        raise FeelError(f"empty test in {tokens.text!r}")
    kind, text = token
    if kind == "op":
        tokens.take()
        right = _value(tokens)
        op = text
        return lambda given, data: _compare(op, given, right(data))
    if kind == "punct" and text in "[(]":
        return _interval(tokens)
    if kind == "name" and text == "not":
        tokens.take()
        tokens.expect("punct", "(")
        inner = _test_list(tokens)
        tokens.expect("punct", ")")
        return lambda given, data: not inner(given, data)
    value = _value(tokens)
    return lambda given, data: _compare("=", given, value(data))


def _test_list(tokens: _Tokens) -> Test:
    tests = [_single_test(tokens)]
    while tokens.peek() == ("punct", ","):
        tokens.take()
        tests.append(_single_test(tokens))
    return lambda given, data: any(test(given, data) for test in tests)


def unary_test(text: str | None) -> Test:
    """An input entry's test: called with the input's value and the variables."""
    if text is None or text.strip() in ("", "-"):
        return lambda given, data: True
    tokens = _tokenize(text)
    test = _test_list(tokens)
    if tokens.peek() is not None:
        raise FeelError(f"unexpected {tokens.peek()[1]!r} in {text!r}")  # type: ignore[index]
    return test


def expression(text: str | None) -> Value:
    """An input expression or output entry: a literal or a variable (path). Empty gives null."""
    if text is None or not text.strip():
        return lambda data: None
    tokens = _tokenize(text)
    value = _value(tokens)
    if tokens.peek() is not None:
        raise FeelError(f"only a literal or a variable name is supported here, not {text!r}")
    return value
