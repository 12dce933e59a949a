"""The pure parts of the flow support: FEEL unary tests of DMN tables, Camunda's mapDecisionResult, and when
timer start events are due (ISO-8601 repeating intervals, cron in both forms, dates)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from core.bpmn.cycles import CycleError, parse_cycle
from core.bpmn.decisions import map_result
from core.bpmn.feel import FeelError, expression, unary_test

DATA: dict[str, Any] = {"limit": 10, "customer": {"level": "gold"}, "name": "Ann"}


@pytest.mark.parametrize(
    ("test", "value", "expected"),
    [
        ("-", "anything", True),
        ("", None, True),
        ('"gold"', "gold", True),
        ('"gold"', "silver", False),
        ('"gold","platinum"', "platinum", True),
        ('not("banned")', "gold", True),
        ('not("banned", "blocked")', "blocked", False),
        ("< 10", 9, True),
        ("< 10", 10, False),
        (">= 5.5", 5.5, True),
        ("!= 3", 4, True),
        ("[1..10]", 10, True),
        ("[1..10[", 10, False),
        ("]1..10]", 1, False),
        ("(1..10)", 5, True),
        ("< limit", 9, True),
        ("customer.level", "gold", True),
        ("true", True, True),
        ("null", None, True),
        ("> 3", None, False),
        ("> 3", "text", False),
    ],
)
def test_unary_tests(test: str, value: Any, expected: bool) -> None:
    assert unary_test(test)(value, DATA) is expected


@pytest.mark.parametrize("bad", ["[1..", "< ", '"open', "a b", "1 +", "__import__('os')"])
def test_unreadable_unary_tests_are_errors_not_code(bad: str) -> None:
    with pytest.raises(FeelError):
        unary_test(bad)


def test_expressions_are_literals_or_variables() -> None:
    assert expression('"x"')(DATA) == "x"
    assert expression("customer.level")(DATA) == "gold"
    assert expression("-2.5")(DATA) == -2.5
    assert expression("")(DATA) is None
    with pytest.raises(FeelError, match="no variable 'missing'"):
        expression("missing")(DATA)
    with pytest.raises(FeelError):
        expression("limit * 2")


def test_map_decision_result_as_camunda() -> None:
    one = [{"percent": 10}]
    two = [{"percent": 10}, {"percent": 5}]
    assert map_result(one, "singleEntry") == 10
    assert map_result([], "singleEntry") is None
    assert map_result(one, "singleResult") == {"percent": 10}
    assert map_result(two, "collectEntries") == [10, 5]
    assert map_result(two, "resultList") == two
    with pytest.raises(ValueError, match="at most one matching rule"):
        map_result(two, "singleResult")
    with pytest.raises(ValueError, match="one output"):
        map_result([{"a": 1, "b": 2}], "singleEntry")


def _at(text: str) -> float:
    return dt.datetime.fromisoformat(text).replace(tzinfo=dt.UTC).timestamp()


def test_repeating_intervals_with_and_without_start_and_count() -> None:
    hourly = parse_cycle("timeCycle", "R/PT1H")
    assert hourly.due_after(100.0, 100.0, 0) == 3700.0
    assert hourly.due_after(3700.0, 100.0, 1) == 7300.0
    three = parse_cycle("timeCycle", "R3/2026-01-01T09:00:00Z/P1D")
    assert three.due_after(_at("2025-12-31T00:00:00"), 0, 0) == _at("2026-01-01T09:00:00")
    assert three.due_after(_at("2026-01-01T09:00:00"), 0, 1) == _at("2026-01-02T09:00:00")
    assert three.due_after(_at("2026-01-03T09:00:00"), 0, 3) is None


def test_cron_in_unix_and_quartz_forms_and_dates() -> None:
    monday = _at("2026-01-05T00:00:00")  # a Monday
    assert parse_cycle("timeCycle", "30 9 * * 1-5").due_after(monday, 0, 0) == _at("2026-01-05T09:30:00")
    # Quartz: seconds first, ? for "no value", day-of-week 1 = Sunday
    assert parse_cycle("timeCycle", "0 0 9 ? * 1").due_after(monday, 0, 0) == _at("2026-01-11T09:00:00")
    assert parse_cycle("timeCycle", "0 0 9 ? * 2#1").cron == "0 0 9 * * 1#1"  # the first Monday
    assert parse_cycle("timeCycle", "0 0 9 ? * 2-6/2").cron == "0 0 9 * * 1-5/2"
    once = parse_cycle("timeDate", "2026-02-01T10:00:00")
    assert once.due_after(0, 0, 0) == _at("2026-02-01T10:00:00") and once.due_after(0, 0, 1) is None
    for bad in ("every day", "R/2026-01-01T00:00:00Z", "61 * * * *"):
        with pytest.raises((CycleError, ValueError)):
            parse_cycle("timeCycle", bad)
