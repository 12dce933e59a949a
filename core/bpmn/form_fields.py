"""The fields of a form as linedesk asks them, read from what the Modeler saves.

Two sources: `camunda:formData` / `camunda:formField` (Camunda 7 generated forms, on a user task or the
none start event) and Camunda Forms (`.form` JSON of the Modeler's form editor, see camunda_forms.py).
Both become `FormField`s, stored as plain dicts in the task spec's `extensions["linedesk"]["form"]` so
that they travel with a serialised instance.
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass, fields
from typing import Any

CAMUNDA_NS = "http://camunda.org/schema/1.0/bpmn"
_C = "{" + CAMUNDA_NS + "}"

PATTERN_LIMIT = 200
"""Characters of a Camunda Forms `pattern` linedesk accepts (longer: a check-config error)."""
_NESTED_QUANTIFIER = re.compile(
    r"\((?:\?:)?(?:\[(?:[^\]\\]|\\.)*\]|\\.|[^()\[\]\\|])(?:[+*]|\{\d*,?\d*\})\??\)\s*(?:[+*]|\{\d*,?\d*\})"
)
"""A repeated group of one repeated atom — `(a+)+`, `(x*)*`, `(\\w{1,3})+`: it backtracks for ever on a short
input. check-config names these; any other pattern is tried in a child process with a time limit."""


@dataclass(frozen=True)
class FormField:
    id: str
    label: str
    type: str
    """"string", "long", "boolean", "enum", "date" (formData); Camunda Forms add "number", "checklist",
    "time", "datetime" and "display" (a text shown, not asked)."""
    default: str | None = None
    required: bool = False
    options: tuple[tuple[str, str], ...] = ()
    """(id, name) of an enum's values."""
    readonly: bool = False
    min_length: int | None = None
    max_length: int | None = None
    min: str | None = None
    max: str | None = None
    pattern: str | None = None
    widget: str = ""
    """How a Camunda Forms component wants to be shown: "textarea", "radio", "select" or ""."""

    @property
    def asked(self) -> bool:
        """Whether the operator enters a value (display texts and readonly fields are only shown)."""
        return self.type != "display" and not self.readonly


def field_to_dict(field: FormField) -> dict[str, Any]:
    data = asdict(field)
    data["options"] = [list(option) for option in field.options]
    return data


def field_from_dict(data: dict[str, Any]) -> FormField:
    known = {f.name for f in fields(FormField)}
    values = {k: v for k, v in data.items() if k in known}
    values["options"] = tuple((str(a), str(b)) for a, b in values.get("options") or [])
    return FormField(**values)


def risky_pattern(pattern: str) -> str | None:
    """Why a pattern cannot be used (too long, invalid, may backtrack for ever), or None."""
    if len(pattern) > PATTERN_LIMIT:
        return f"pattern longer than {PATTERN_LIMIT} characters"
    try:
        re.compile(pattern)
    except re.error as err:
        return f"pattern {pattern!r} is not a valid regular expression ({err})"
    if _NESTED_QUANTIFIER.search(pattern):
        return f"pattern {pattern!r} nests quantifiers (like (a+)+): it could take for ever to check"
    return None


# --- camunda:formData ------------------------------------------------------------------------------


def form_data_fields(node: Any) -> list[FormField] | None:
    """The `camunda:formField`s under `node` (a userTask or startEvent element), or None without formData."""
    form_data = node.find(f".//{_C}formData")
    if form_data is None:
        return None
    return [_form_data_field(xml) for xml in form_data.findall(f"{_C}formField")]


def _form_data_field(xml: Any) -> FormField:
    constraints: dict[str, str | None] = {}
    for constraint in xml.iter(f"{_C}constraint"):
        constraints[str(constraint.get("name") or "")] = constraint.get("config")
    options = tuple((str(v.get("id") or ""), str(v.get("name") or v.get("id") or "")) for v in xml.iter(f"{_C}value"))
    fid = str(xml.get("id") or "")
    return FormField(
        id=fid,
        label=xml.get("label") or fid,
        type=xml.get("type") or "string",
        default=xml.get("defaultValue") or None,
        required="required" in constraints and constraints["required"] not in ("false", "False"),
        options=options,
        readonly="readonly" in constraints and constraints["readonly"] not in ("false", "False"),
        min_length=_int(constraints.get("minlength")),
        max_length=_int(constraints.get("maxlength")),
        min=constraints.get("min"),
        max=constraints.get("max"),
    )


def _int(text: Any) -> int | None:
    try:
        return int(str(text).strip()) if text is not None and str(text).strip() != "" else None
    except ValueError:
        return None


# --- Camunda Forms (form-js schema) ------------------------------------------------------------------

ASKED_COMPONENTS = {
    "textfield": "string",
    "textarea": "string",
    "number": "number",
    "checkbox": "boolean",
    "checklist": "checklist",
    "radio": "enum",
    "select": "enum",
    "datetime": "date",
}
SHOWN_COMPONENTS = frozenset({"text"})
LAYOUT_COMPONENTS = frozenset({"spacer", "separator", "button"})


def camunda_form_fields(schema: dict[str, Any]) -> list[FormField]:
    """The fields of a Camunda Form (its `components`, in order). Unknown components raise ValueError."""
    result = []
    for index, component in enumerate(schema.get("components") or []):
        if not isinstance(component, dict):
            continue
        kind = str(component.get("type") or "")
        if kind in LAYOUT_COMPONENTS:
            continue
        if kind in SHOWN_COMPONENTS:
            text = str(component.get("text") or "")
            result.append(FormField(id=str(component.get("id") or f"text{index}"), label=text, type="display"))
            continue
        if kind not in ASKED_COMPONENTS:
            raise ValueError(f"component {component.get('id') or index} of type {kind!r} is not supported")
        result.append(_component_field(component, kind))
    return result


def _component_field(component: dict[str, Any], kind: str) -> FormField:
    key = str(component.get("key") or "")
    if not key:
        raise ValueError(f"component {component.get('id') or kind} has no key")
    validate = component.get("validate") if isinstance(component.get("validate"), dict) else {}
    assert isinstance(validate, dict)
    ftype = ASKED_COMPONENTS[kind]
    if kind == "datetime":
        ftype = {"date": "date", "time": "time"}.get(str(component.get("subtype") or "date"), "datetime")
    label = component.get("label") or component.get("dateLabel") or component.get("timeLabel") or key
    pattern = validate.get("pattern")
    if pattern and (reason := risky_pattern(str(pattern))):
        raise ValueError(f"component {key}: {reason}")
    return FormField(
        id=key,
        label=str(label),
        type=ftype,
        default=_default(component.get("defaultValue")),
        required=bool(validate.get("required")),
        options=tuple(
            (str(v.get("value")), str(v.get("label") or v.get("value")))
            for v in component.get("values") or []
            if isinstance(v, dict)
        ),
        readonly=component.get("readonly") is True or component.get("disabled") is True,
        min_length=_int(validate.get("minLength")),
        max_length=_int(validate.get("maxLength")),
        min=None if validate.get("min") is None else str(validate["min"]),
        max=None if validate.get("max") is None else str(validate["max"]),
        pattern=str(pattern) if pattern else None,
        widget=kind if kind in ("textarea", "radio", "select") else "",
    )


def _default(value: Any) -> str | None:
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return json.dumps([str(v) for v in value])
    return str(value)
