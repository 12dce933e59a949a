"""Camunda's typed variables (`{"value": …, "type": "String" | …}`), both ways (SPEC §12).

In: a typed value becomes a plain Python value of the instance data (a `Date` a timezone-aware datetime, a `Json`
its parsed document); an untyped one (`{"value": 3}`, as the Python client sends) is taken as JSON gives it.
Out: every instance variable gets the type Camunda would give it.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping
from typing import Any

INT_MAX = 2**31 - 1
LONG_MAX = 2**63 - 1
TYPES = ("String", "Boolean", "Integer", "Short", "Long", "Double", "Date", "Json", "Null", "Object")


class VariableError(ValueError):
    """A variable that is not Camunda's typed JSON: the message names it."""


def parse_date(text: str) -> dt.datetime:
    """Camunda's `yyyy-MM-dd'T'HH:mm:ss.SSSZ` (`+0200`), or any ISO-8601 text; naive means UTC."""
    try:
        value = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        value = dt.datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%f%z")
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


def format_date(value: dt.datetime | float) -> str:
    """Camunda's date format: `2026-12-03T13:15:00.000+0000`."""
    when = value if isinstance(value, dt.datetime) else dt.datetime.fromtimestamp(value, dt.UTC)
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    return when.strftime("%Y-%m-%dT%H:%M:%S.") + f"{when.microsecond // 1000:03d}" + when.strftime("%z")


def _whole(name: str, value: Any, limit: int, kind: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise VariableError(f"variable {name!r}: a {kind} needs a whole number, not {value!r}")
    try:
        number = int(value)
    except ValueError:
        raise VariableError(f"variable {name!r}: a {kind} needs a whole number, not {value!r}") from None
    if (number != value and not isinstance(value, str)) or not -limit - 1 <= number <= limit:
        raise VariableError(f"variable {name!r}: {value!r} is no {kind}")
    return number


def _typed(name: str, kind: str, value: Any) -> Any:  # noqa: C901 - one case per Camunda type
    if value is None or kind == "Null":
        return None
    if kind == "String":
        if not isinstance(value, str):
            raise VariableError(f"variable {name!r}: a String needs a text, not {value!r}")
        return value
    if kind == "Boolean":
        if not isinstance(value, bool):
            raise VariableError(f"variable {name!r}: a Boolean is true or false, not {value!r}")
        return value
    if kind in ("Integer", "Short"):
        return _whole(name, value, INT_MAX, kind)
    if kind == "Long":
        return _whole(name, value, LONG_MAX, kind)
    if kind == "Double":
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise VariableError(f"variable {name!r}: a Double needs a number, not {value!r}")
        return float(value)
    if kind == "Date":
        if not isinstance(value, str):
            raise VariableError(f"variable {name!r}: a Date needs a text like 2026-12-03T13:00:00.000+0000")
        try:
            return parse_date(value)
        except ValueError:
            raise VariableError(f"variable {name!r}: {value!r} is no date (2026-12-03T13:00:00.000+0000)") from None
    if kind == "Json":
        if not isinstance(value, str):
            return value
        try:
            return json.loads(value)
        except ValueError:
            raise VariableError(f"variable {name!r}: its Json value is not JSON") from None
    raise VariableError(f"variable {name!r}: type {kind!r} is not supported here (use one of {', '.join(TYPES[:-1])})")


def from_camunda(variables: Any, what: str = "variables") -> dict[str, Any]:
    """`{"name": {"value": …, "type": …}}` → `{"name": value}`; VariableError naming the first bad one."""
    if variables is None:
        return {}
    if not isinstance(variables, Mapping):
        raise VariableError(f"{what} must be an object of {{name: {{value, type}}}}")
    found: dict[str, Any] = {}
    for name, typed in variables.items():
        if not isinstance(typed, Mapping) or ("value" not in typed and typed.get("type") not in ("Null", "null")):
            raise VariableError(f"{what}: variable {name!r} must be an object with a value (and a type)")
        kind = typed.get("type")
        if kind is None:
            found[name] = typed.get("value")
            continue
        if not isinstance(kind, str):
            raise VariableError(f"{what}: variable {name!r} has a type that is not a text")
        found[name] = _typed(name, kind[:1].upper() + kind[1:], typed.get("value"))
    return found


def typed(value: Any) -> dict[str, Any]:
    """One value as Camunda shows it."""
    if value is None:
        return {"value": None, "type": "Null", "valueInfo": {}}
    if isinstance(value, bool):
        return {"value": value, "type": "Boolean", "valueInfo": {}}
    if isinstance(value, int):
        return {"value": value, "type": "Integer" if -INT_MAX - 1 <= value <= INT_MAX else "Long", "valueInfo": {}}
    if isinstance(value, float):
        return {"value": value, "type": "Double", "valueInfo": {}}
    if isinstance(value, str):
        return {"value": value, "type": "String", "valueInfo": {}}
    if isinstance(value, dt.datetime):
        return {"value": format_date(value), "type": "Date", "valueInfo": {}}
    if isinstance(value, dt.date):
        return {"value": format_date(dt.datetime.combine(value, dt.time(), dt.UTC)), "type": "Date", "valueInfo": {}}
    return {"value": json.dumps(value, default=str), "type": "Json", "valueInfo": {}}


def to_camunda(variables: Mapping[str, Any], names: Any = None) -> dict[str, dict[str, Any]]:
    """The instance's variables (only `names` when a list is given) as Camunda's typed JSON."""
    wanted = set(names) if isinstance(names, (list, tuple, set)) else None
    return {k: typed(v) for k, v in variables.items() if wanted is None or k in wanted}
