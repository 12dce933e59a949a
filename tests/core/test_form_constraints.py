"""Field constraints as Camunda 7 checks them (inclusive bounds; an empty optional field passes), Camunda Forms
types and patterns: a table of values, and a pattern that could backtrack for ever never gets to run."""

from __future__ import annotations

import time
from typing import Any

import pytest

from core.bpmn.form_fields import FormField, camunda_form_fields, risky_pattern
from core.forms import PATTERN_INPUT_LIMIT, coerce, validate


def f(ftype: str = "string", **kw: Any) -> FormField:
    return FormField(id="x", label="X", type=ftype, **kw)


@pytest.mark.parametrize(
    ("field", "raw", "expected"),
    [
        (f(min_length=2, max_length=3), "ab", "ab"),
        (f(min_length=2, max_length=3), "abc", "abc"),
        (f(min_length=2), "", None),  # an empty optional field passes, as in Camunda
        (f("long", min="-5", max="5"), "-5", -5),
        (f("long", min="-5", max="5"), "5", 5),
        (f("number", min="0.5", max="1.5"), "1.5", 1.5),
        (f("number"), "7", 7),
        (f("date", min="2026-01-01", max="31/12/2026"), "2026-12-31", "2026-12-31"),
        (f("time"), "9:05", "09:05"),
        (f("datetime"), "2026-05-02T10:30+02:00", "2026-05-02T08:30:00Z"),
        (f("checklist", options=(("a", "A"), ("b", "B"))), "b, A", ["b", "a"]),
        (f("checklist", options=(("a", "A"),), default='["a"]'), None, ["a"]),
        (f(readonly=True, default="fixed"), None, "fixed"),
        (f(readonly=True, default="fixed"), "fixed", "fixed"),
        (f(pattern="^C-[0-9]+$"), "C-1", "C-1"),
    ],
)
def test_accepted(field: FormField, raw: Any, expected: Any) -> None:
    assert coerce(field, raw) == expected


@pytest.mark.parametrize(
    ("field", "raw", "message"),
    [
        (f(min_length=2), "a", "validation of minlength(2) failed"),
        (f(max_length=3), "abcd", "validation of maxlength(3) failed"),
        (f("long", min="-5"), "-6", "validation of min(-5) failed"),
        (f("long", max="5"), "6", "validation of max(5) failed"),
        (f("date", max="2026-12-31"), "2027-01-01", "validation of max(2026-12-31) failed"),
        (f(readonly=True, default="fixed"), "changed", "validation of readonly failed"),
        (f(readonly=True), "anything", "validation of readonly failed"),
        (f(pattern="^C-[0-9]+$"), "D-1", "validation of pattern(^C-[0-9]+$) failed"),
        (f(pattern="x"), "x" * (PATTERN_INPUT_LIMIT + 1), "at most 1000 characters"),
        (f("number"), "nan", "Enter a number."),
    ],
)
def test_refused_with_camundas_message_naming_the_field(field: FormField, raw: Any, message: str) -> None:
    with pytest.raises(ValueError, match=r"form field 'x'|Enter a number") as err:
        coerce(field, raw)
    assert message in str(err.value)


def test_texts_of_a_form_are_shown_not_values() -> None:
    fields = camunda_form_fields({"components": [{"type": "text", "text": "Hi"}, {"type": "textfield", "key": "a"}]})
    assert [field.type for field in fields] == ["display", "string"]
    assert validate(tuple(fields), {"a": "1"}) == ({"a": "1"}, {})


@pytest.mark.parametrize("pattern", ["^(a+)+$", "(x*)*y", r"(\w{1,3})+$", "(" * 3 + "a" * 300])
def test_risky_or_broken_patterns_are_named(pattern: str) -> None:
    assert risky_pattern(pattern) is not None
    with pytest.raises(ValueError):
        camunda_form_fields({"components": [{"type": "textfield", "key": "a", "validate": {"pattern": pattern}}]})


def test_an_accepted_pattern_checks_a_long_value_quickly() -> None:
    field = f(pattern=r"^[a-z]+(-[a-z]+)*$")
    assert risky_pattern(field.pattern or "") is None
    began = time.monotonic()
    with pytest.raises(ValueError, match="must match"):
        coerce(field, "a" * 999 + "!")
    assert coerce(field, "washing-machine") == "washing-machine"
    assert time.monotonic() - began < 2.0


def test_a_pattern_that_backtracks_for_ever_is_stopped_and_the_value_refused() -> None:
    field = f(pattern=r"(\w+\s?)+$")  # not caught by the static check: it runs, in a child process
    assert risky_pattern(field.pattern or "") is None
    began = time.monotonic()
    with pytest.raises(ValueError, match="the pattern took too long on this value"):
        coerce(field, "a" * 40 + "!")
    assert time.monotonic() - began < 3.0
