"""Recursive conformance checker against the machine-readable Bot API spec.

``SpecChecker(spec).check("Update", payload)`` returns a list of problems (empty = conforms):
required fields missing, fields the spec does not know, wrong primitive types, recursively through
nested objects, arrays and union types (``ChatMember`` → ``ChatMemberOwner`` | …).

Reusable by any test: ``load_spec()`` finds ``telegram_bot_api_spec.json`` (env
``LINEDESK_TELEGRAM_SPEC`` to check against another version, else the copy in ``tests/fixtures``).
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from functools import lru_cache
from pathlib import Path
from typing import Any

from tests import fixtures

# Fields newer than the spec snapshot (Bot API 10.1) that aiogram 3.31 (Bot API 10.3) *requires*,
# so conforming objects must carry them anyway.
NEWER_FIELDS: Mapping[str, frozenset[str]] = {
    "ChatMemberAdministrator": frozenset({"can_send_welcome_messages"}),
    "ChatAdministratorRights": frozenset({"can_send_welcome_messages"}),
}

_PRIMITIVES = {
    "Integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "Float": lambda v: isinstance(v, int | float) and not isinstance(v, bool),
    "String": lambda v: isinstance(v, str),
    "Boolean": lambda v: isinstance(v, bool),
    "True": lambda v: v is True,
}


@lru_cache(maxsize=1)
def load_spec() -> dict[str, Any]:
    env = os.environ.get("LINEDESK_TELEGRAM_SPEC")
    path = Path(env) if env else fixtures.TELEGRAM_SPEC
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return data


class SpecChecker:
    def __init__(self, spec: Mapping[str, Any]) -> None:
        self.types: Mapping[str, Any] = spec["types"]
        self.methods: Mapping[str, Any] = spec["methods"]

    def check(self, type_expr: str, value: Any, path: str = "$") -> list[str]:
        if type_expr.startswith("Array of "):
            if not isinstance(value, list):
                return [f"{path}: expected {type_expr}, got {type(value).__name__}"]
            item_type = type_expr.removeprefix("Array of ")
            return [e for i, item in enumerate(value) for e in self.check(item_type, item, f"{path}[{i}]")]
        if type_expr in _PRIMITIVES:
            ok = _PRIMITIVES[type_expr](value)
            return [] if ok else [f"{path}: expected {type_expr}, got {value!r}"]
        spec_type = self.types.get(type_expr)
        if spec_type is None:
            return [f"{path}: unknown spec type {type_expr}"]
        if "subtypes" in spec_type:
            return self._check_union(spec_type["subtypes"], value, path)
        return self._check_object(type_expr, spec_type.get("fields", []), value, path)

    def _check_union(self, subtypes: list[str], value: Any, path: str) -> list[str]:
        attempts = [(self.check(sub, value, path), sub) for sub in subtypes]
        errors, best = min(attempts, key=lambda a: len(a[0]))
        return [] if not errors else [f"(as {best}) {e}" for e in errors]

    def _check_object(self, name: str, fields: list[dict[str, Any]], value: Any, path: str) -> list[str]:
        if not isinstance(value, dict):
            return [f"{path}: expected {name} object, got {type(value).__name__}"]
        errors: list[str] = []
        known = {f["name"]: f for f in fields}
        allowed_extra = NEWER_FIELDS.get(name, frozenset())
        for key in value:
            if key not in known and key not in allowed_extra:
                errors.append(f"{path}.{key}: not in spec {name}")
        for fname, spec_field in known.items():
            if fname not in value:
                if spec_field["required"]:
                    errors.append(f"{path}.{fname}: missing (required in {name})")
                continue
            variants = [self.check(t, value[fname], f"{path}.{fname}") for t in spec_field["types"]]
            if all(variants):
                closest: list[str] = min(variants, key=len)
                errors.extend(closest)
        return errors

    def check_update(self, update: Any) -> list[str]:
        return self.check("Update", update, "update")

    def check_result(self, method: str, result: Any) -> list[str]:
        """Check a method's result against the spec's ``returns`` (any of them)."""
        returns = self.methods[method]["returns"]
        attempts = [self.check(r, result, f"{method}()") for r in returns]
        return [] if not all(attempts) else min(attempts, key=len)
