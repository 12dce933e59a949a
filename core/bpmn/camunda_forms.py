"""Camunda Forms: `.form` files (the Modeler's form editor) anywhere in the catalog folder.

A user task or start event shows one with `camunda:formRef="<form id>"` (Camunda 7.16+, with any
`camunda:formRefBinding`: the catalog holds one version of each form) or with
`camunda:formKey="camunda-forms:…:<file>.form"` (matched by file name). Other formKeys (`embedded:…`,
`app:…`, URLs) name forms linedesk cannot show: a `check-config` error, as is a missing form.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lxml import etree

from core.bpmn.checks import FORM_HINT
from core.bpmn.form_fields import CAMUNDA_NS, FormField, camunda_form_fields, form_data_fields

log = logging.getLogger(__name__)

BPMN_NS = "http://www.omg.org/spec/BPMN/20100524/MODEL"
_C = "{" + CAMUNDA_NS + "}"
CAMUNDA_FORMS_PREFIX = "camunda-forms:"
FORM_ELEMENTS = ("userTask", "startEvent")


class FormProblem(Exception):
    """A task's form cannot be shown (missing, unknown, unsupported); the message names what to do."""


@dataclass
class FormIndex:
    """Every `.form` file of the catalog folder: by form id and by file name."""

    by_id: dict[str, Path] = field(default_factory=dict)
    by_name: dict[str, Path] = field(default_factory=dict)
    broken: dict[Path, str] = field(default_factory=dict)

    @classmethod
    def scan(cls, root: Path) -> FormIndex:
        index = cls()
        if not root.is_dir():
            return index
        for path in sorted(root.rglob("*.form")):
            index.by_name.setdefault(path.name, path)
            try:
                schema = json.loads(path.read_text(encoding="utf-8"))
            except (OSError, ValueError) as err:
                index.broken[path] = f"not a JSON form file: {err}"
                continue
            if isinstance(schema, dict) and isinstance(schema.get("id"), str):
                index.by_id.setdefault(schema["id"], path)
        return index

    def fields_of(self, path: Path) -> list[FormField]:
        if path in self.broken:
            raise FormProblem(f"{path.name}: {self.broken[path]}")
        try:
            schema = json.loads(path.read_text(encoding="utf-8"))
            if not isinstance(schema, dict):
                raise ValueError("the file holds no form object")
            return camunda_form_fields(schema)
        except (OSError, ValueError) as err:
            raise FormProblem(f"{path.name}: {err}") from None


def form_of(node: Any, index: FormIndex | None) -> list[FormField] | None:
    """The fields a userTask/startEvent element shows, or None when it has no form. Raises FormProblem."""
    ref = node.get(f"{_C}formRef")
    key = node.get(f"{_C}formKey")
    if ref:
        path = index.by_id.get(ref) if index else None
        if path is None:
            raise FormProblem(
                f"camunda:formRef {ref!r}: no .form file with this id in the process folder "
                "(save the form from the Modeler's form editor next to the BPMN file)"
            )
        return index.fields_of(path) if index else None
    if key:
        if not key.startswith(CAMUNDA_FORMS_PREFIX):
            raise FormProblem(f"camunda:formKey {key!r} is an embedded, app or external form: {FORM_HINT}")
        name = Path(key.rsplit(":", 1)[-1]).name
        path = index.by_name.get(name) if index else None
        if path is None:
            raise FormProblem(f"camunda:formKey {key!r}: no file {name!r} in the process folder")
        return index.fields_of(path) if index else None
    return form_data_fields(node)


def _form_nodes(tree: Any) -> Iterator[Any]:
    for local in FORM_ELEMENTS:
        yield from tree.iter(f"{{{BPMN_NS}}}{local}")


def check_forms(file: Path, index: FormIndex) -> list[tuple[int | None, str | None, str | None, str]]:
    """(line, element id, element name, message) of every user task or start event whose form cannot be shown."""
    try:
        tree = etree.parse(str(file))
    except etree.XMLSyntaxError:
        return []  # the catalog's own checks report it
    problems: list[tuple[int | None, str | None, str | None, str]] = []
    for node in _form_nodes(tree):
        try:
            form_of(node, index)
        except FormProblem as err:
            name = " ".join((node.get("name") or "").split()) or None
            problems.append((node.sourceline, node.get("id"), name, str(err)))
    return problems
