"""User task forms: turning what an operator typed into typed process variables, field by field.

Types first (a whole number, a date, one of the options…), then the field's constraints as Camunda 7
checks them (`required`, `readonly`, `minlength`, `maxlength`, `min`, `max` — inclusive; an empty optional
field passes) and a Camunda Form's `pattern`. A refused constraint reads as Camunda says it:
"Invalid value submitted for form field 'amount': validation of max(100) failed", with a hint.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from typing import Any

from core import regex_guard
from core.bpmn.form_fields import FormField

TRUE_WORDS = frozenset({"true", "yes", "on", "1", "y"})
FALSE_WORDS = frozenset({"false", "no", "off", "0", "n"})
PATTERN_INPUT_LIMIT = 1000
"""Characters of a value a `pattern` is tried on (longer: refused), so that no regex runs for long."""


def _failed(field: FormField, constraint: str, config: object, hint: str) -> ValueError:
    return ValueError(
        f"Invalid value submitted for form field '{field.id}': validation of {constraint}({config}) failed ({hint})."
    )


def coerce(field: FormField, raw: Any) -> Any:
    """The typed value of one field, or ValueError with a message for the operator."""
    if field.readonly:
        return _readonly(field, raw)
    if raw is None or (isinstance(raw, str) and raw.strip() == "") or raw == []:
        if field.default is not None and field.default != "":
            raw = field.default
        elif field.required:
            raise ValueError("This field is required.")
        else:
            return None
    value = TYPES.get(field.type, _text)(field, raw)
    check(field, value)
    return value


def _readonly(field: FormField, raw: Any) -> Any:
    """A readonly field keeps its default: a submitted other value (a tampered form) is refused."""
    value = TYPES.get(field.type, _text)(field, field.default) if field.default not in (None, "") else None
    if raw is None or raw == "" or raw == []:
        return value
    submitted = TYPES.get(field.type, _text)(field, raw) if field.default not in (None, "") else raw
    if submitted != value:
        raise ValueError(
            f"Invalid value submitted for form field '{field.id}': validation of readonly failed "
            "(it cannot be changed)."
        )
    return value


def _boolean(field: FormField, raw: Any) -> bool:
    if isinstance(raw, bool):
        return raw
    word = str(raw).strip().lower()
    if word in TRUE_WORDS:
        return True
    if word in FALSE_WORDS:
        return False
    raise ValueError("Answer yes or no.")


def _long(field: FormField, raw: Any) -> int:
    try:
        return int(str(raw).strip())
    except ValueError:
        raise ValueError("Enter a whole number.") from None


def _number(field: FormField, raw: Any) -> int | float:
    text = str(raw).strip()
    try:
        return int(text)
    except ValueError:
        pass
    try:
        value = float(text)
    except ValueError:
        raise ValueError("Enter a number.") from None
    if value != value or value in (float("inf"), float("-inf")):
        raise ValueError("Enter a number.")
    return value


def _enum(field: FormField, raw: Any) -> str:
    value = str(raw).strip()
    ids = [option_id for option_id, _ in field.options]
    if value in ids:
        return value
    by_name = {name.casefold(): option_id for option_id, name in field.options}
    if value.casefold() in by_name:
        return by_name[value.casefold()]
    raise ValueError("Choose one of: " + ", ".join(name for _, name in field.options) + ".")


def _checklist(field: FormField, raw: Any) -> list[str]:
    """Several options: a list, a JSON list (a default), or names separated by commas (typed)."""
    if isinstance(raw, str):
        text = raw.strip()
        items: list[Any] = json.loads(text) if text.startswith("[") else [p for p in text.split(",") if p.strip()]
    else:
        items = list(raw) if isinstance(raw, (list, tuple)) else [raw]
    return [_enum(field, item) for item in items]


def _date(field: FormField, raw: Any) -> str:
    try:
        return dt.date.fromisoformat(str(raw).strip()).isoformat()
    except ValueError:
        raise ValueError("Enter a date as YYYY-MM-DD.") from None


def _time(field: FormField, raw: Any) -> str:
    text = str(raw).strip()
    try:
        return dt.datetime.strptime(text, "%H:%M").strftime("%H:%M")
    except ValueError:
        pass
    try:
        return dt.time.fromisoformat(text).strftime("%H:%M")
    except ValueError:
        raise ValueError("Enter a time as HH:MM.") from None


def _datetime(field: FormField, raw: Any) -> str:
    """An ISO date and time (UTC when no offset is given), or a Unix time (Slack's datetimepicker)."""
    try:
        if isinstance(raw, (int, float)) and not isinstance(raw, bool):
            moment = dt.datetime.fromtimestamp(raw, dt.UTC)
        else:
            moment = dt.datetime.fromisoformat(str(raw).strip().replace("Z", "+00:00"))
    except (ValueError, OverflowError, OSError):
        raise ValueError("Enter a date and time as YYYY-MM-DD HH:MM.") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _text(field: FormField, raw: Any) -> str:
    return str(raw)


TYPES: dict[str, Callable[[FormField, Any], Any]] = {
    "boolean": _boolean,
    "long": _long,
    "number": _number,
    "enum": _enum,
    "checklist": _checklist,
    "date": _date,
    "time": _time,
    "datetime": _datetime,
}


def check(field: FormField, value: Any) -> None:
    """The field's constraints on its typed value (ValueError naming the first one refused)."""
    if isinstance(value, str) and field.type in ("string", "text"):
        _check_length(field, value)
        _check_pattern(field, value)
    if field.min is not None or field.max is not None:
        _check_range(field, value)


def _check_length(field: FormField, value: str) -> None:
    if field.min_length is not None and len(value) < field.min_length:
        raise _failed(field, "minlength", field.min_length, f"at least {field.min_length} characters")
    if field.max_length is not None and len(value) > field.max_length:
        raise _failed(field, "maxlength", field.max_length, f"at most {field.max_length} characters")


def _check_pattern(field: FormField, value: str) -> None:
    if not field.pattern:
        return
    if len(value) > PATTERN_INPUT_LIMIT:
        raise _failed(field, "pattern", field.pattern, f"at most {PATTERN_INPUT_LIMIT} characters")
    matched = regex_guard.search(field.pattern, value)
    if matched is None:
        raise _failed(field, "pattern", field.pattern, "the pattern took too long on this value")
    if not matched:
        raise _failed(field, "pattern", field.pattern, f"must match {field.pattern}")


def _bound(field: FormField, config: str) -> Any:
    """A min/max configuration, typed like the field's value: a number, or a date for date fields."""
    if field.type == "date":
        text = config.strip()
        try:
            return dt.date.fromisoformat(text)
        except ValueError:
            return dt.datetime.strptime(text, "%d/%m/%Y").date()  # Camunda's default date format
    return float(config)


def _check_range(field: FormField, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        return
    try:
        typed = dt.date.fromisoformat(value) if field.type == "date" and isinstance(value, str) else value
        if isinstance(typed, str):
            return  # min/max apply to numbers and dates only
        low = _bound(field, field.min) if field.min is not None else None
        high = _bound(field, field.max) if field.max is not None else None
    except ValueError:
        return  # a constraint linedesk cannot read (check-config names it)
    if low is not None and typed < low:
        raise _failed(field, "min", field.min, f"at least {field.min}")
    if high is not None and typed > high:
        raise _failed(field, "max", field.max, f"at most {field.max}")


def validate(fields: tuple[FormField, ...], raw: dict[str, Any]) -> tuple[dict[str, Any], dict[str, str]]:
    """(values, errors): errors maps a field id to its message; values holds every valid field.
    Texts shown in the form (Camunda Forms `text`) are no values."""
    values: dict[str, Any] = {}
    errors: dict[str, str] = {}
    for field in fields:
        if field.type == "display":
            continue
        try:
            values[field.id] = coerce(field, raw.get(field.id))
        except ValueError as err:
            errors[field.id] = str(err)
    return values, errors
