"""User task forms: turning what an operator typed into typed process variables, field by field."""

from __future__ import annotations

import datetime as dt
from typing import Any

from core.bpmn.engine import FormField

TRUE_WORDS = frozenset({"true", "yes", "on", "1", "y"})
FALSE_WORDS = frozenset({"false", "no", "off", "0", "n"})


def coerce(field: FormField, raw: Any) -> Any:
    """The typed value of one field, or ValueError with a message for the operator."""
    if raw is None or (isinstance(raw, str) and raw.strip() == ""):
        if field.default is not None and field.default != "":
            raw = field.default
        elif field.required:
            raise ValueError("This field is required.")
        else:
            return None
    if field.type == "boolean":
        if isinstance(raw, bool):
            return raw
        word = str(raw).strip().lower()
        if word in TRUE_WORDS:
            return True
        if word in FALSE_WORDS:
            return False
        raise ValueError("Answer yes or no.")
    if field.type == "long":
        try:
            return int(str(raw).strip())
        except ValueError:
            raise ValueError("Enter a whole number.") from None
    if field.type == "enum":
        value = str(raw).strip()
        ids = [option_id for option_id, _ in field.options]
        if value in ids:
            return value
        by_name = {name.casefold(): option_id for option_id, name in field.options}
        if value.casefold() in by_name:
            return by_name[value.casefold()]
        raise ValueError("Choose one of: " + ", ".join(name for _, name in field.options) + ".")
    if field.type == "date":
        try:
            return dt.date.fromisoformat(str(raw).strip()).isoformat()
        except ValueError:
            raise ValueError("Enter a date as YYYY-MM-DD.") from None
    return str(raw)


def validate(fields: tuple[FormField, ...], raw: dict[str, Any]) -> tuple[dict[str, Any], dict[str, str]]:
    """(values, errors): errors maps a field id to its message; values holds every valid field."""
    values: dict[str, Any] = {}
    errors: dict[str, str] = {}
    for field in fields:
        try:
            values[field.id] = coerce(field, raw.get(field.id))
        except ValueError as err:
            errors[field.id] = str(err)
    return values, errors
