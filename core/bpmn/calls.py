"""Call activities (SPEC §11 "Flow"): `calledElement` is a catalog process id; the child runs inside the
same instance (same session, same desk thread) as a SpiffWorkflow sub-workflow.

Variables cross as Camunda 7 defines it: `camunda:in` (`source`/`target`, `sourceExpression="${name}"`,
`variables="all"`) into the child, `camunda:out` back; without mappings nothing crosses — except
linedesk's own instance variables (session, line, client, channel, started_by, trigger, last_message),
which the child always gets so that its blocks and templates speak to the same client.
"""

from __future__ import annotations

import re
from copy import deepcopy
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lxml import etree
from SpiffWorkflow.bpmn.specs.defaults import CallActivity
from SpiffWorkflow.camunda.parser.task_spec import CAMUNDA_MODEL_NS, CallActivityParser
from SpiffWorkflow.task import Task

BPMN_NS = "http://www.omg.org/spec/BPMN/20100524/MODEL"
_CAMUNDA = "{" + CAMUNDA_MODEL_NS + "}"
CONTEXT_VARIABLES = (
    "session_id",
    "line_id",
    "client_id",
    "client_name",
    "channel",
    "started_by",
    "trigger",
    "last_message",
)
_SIMPLE_EXPRESSION = re.compile(r"^[$#]\{\s*([A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*)\s*\}$")


def _mappings(node: Any, tag: str) -> list[dict[str, str]]:
    return [
        {
            k: v
            for k, v in (
                ("source", m.get("source")),
                ("target", m.get("target")),
                ("sourceExpression", m.get("sourceExpression")),
                ("variables", m.get("variables")),
            )
            if v is not None
        }
        for m in node.iter(_CAMUNDA + tag)
    ]


def _path(data: dict[str, Any], path: str) -> Any:
    value: Any = data
    for part in path.split("."):
        value = value[part] if isinstance(value, dict) else getattr(value, part)
    return value


def _apply(mappings: list[dict[str, str]], source: dict[str, Any], target: dict[str, Any]) -> None:
    for mapping in mappings:
        if mapping.get("variables") == "all":
            target.update(deepcopy(source))
            continue
        name = mapping.get("target") or mapping.get("source")
        if not name:
            continue
        expression = mapping.get("sourceExpression")
        if expression is not None:
            match = _SIMPLE_EXPRESSION.match(expression.strip())
            target[name] = deepcopy(_path(source, match.group(1))) if match else expression
        elif mapping.get("source") in source:
            target[name] = deepcopy(source[mapping["source"]])
        else:
            target[name] = None  # Camunda maps a missing variable as null


class LinedeskCallActivity(CallActivity):
    def _mapping(self, kind: str) -> list[dict[str, str]]:
        attrs = (getattr(self, "extensions", None) or {}).get("linedesk", {})
        return list(attrs.get(kind, []))

    def copy_data(self, my_task: Task, subworkflow: Any) -> None:
        start = subworkflow.get_next_task(subworkflow.task_tree, skip_subprocesses=True, spec_name="Start")
        data = {k: deepcopy(my_task.data[k]) for k in CONTEXT_VARIABLES if k in my_task.data}
        _apply(self._mapping("in"), my_task.data, data)
        start.set_data(**data)

    def update_data(self, my_task: Task, subworkflow: Any) -> None:
        _apply(self._mapping("out"), dict(subworkflow.last_task.data), my_task.data)


class LinedeskCallActivityParser(CallActivityParser):
    def parse_extensions(self, node: Any = None) -> dict[str, Any]:
        extensions: dict[str, Any] = super().parse_extensions(node)
        element = self.node if node is None else node
        extensions["linedesk"] = {"in": _mappings(element, "in"), "out": _mappings(element, "out")}
        return extensions


@dataclass
class ProcessIndex:
    """Which catalog file holds each executable process, and which processes each file calls."""

    files: dict[str, Path] = field(default_factory=dict)
    calls: dict[Path, set[str]] = field(default_factory=dict)

    @classmethod
    def scan(cls, files: list[Path]) -> ProcessIndex:
        index = cls()
        for file in files:
            try:
                tree = etree.parse(str(file))
            except etree.XMLSyntaxError:
                continue
            for process in tree.getroot().iter(f"{{{BPMN_NS}}}process"):
                if process.get("isExecutable") == "true" and process.get("id"):
                    index.files.setdefault(process.get("id"), file)
            called = {c.get("calledElement") or "" for c in tree.getroot().iter(f"{{{BPMN_NS}}}callActivity")}
            index.calls[file] = {c for c in called if c}
        return index

    def dependencies(self, file: Path) -> list[Path]:
        """The other files whose processes `file` calls, directly or through them."""
        seen: list[Path] = []
        todo = [file]
        while todo:
            current = todo.pop()
            for called in sorted(self.calls.get(current, ())):
                other = self.files.get(called)
                if other is not None and other != file and other not in seen:
                    seen.append(other)
                    todo.append(other)
        return seen

    def calls_back(self, called: str, file: Path) -> bool:
        """Does the process `called` lead, through its call activities, back into `file`?"""
        start = self.files.get(called)
        if start is None:
            return False
        return start == file or file in self.dependencies(start)


def call_problem(element: Any, index: ProcessIndex) -> str | None:
    """What is wrong with a call activity, for check-config."""
    called = element.get("calledElement")
    if not called:
        return "call activity without calledElement: name the catalog process it calls"
    if "${" in called or "#{" in called:
        return "calledElement must be a process id, not an expression"
    if called not in index.files:
        return f"calls process {called!r}, which is not in the catalog (no executable process with that id)"
    file = Path(str(element.getroottree().docinfo.URL or ""))
    if index.calls_back(called, file):
        return f"calls process {called!r}, which calls back into this one: recursive calls are not supported"
    for tag in ("in", "out"):
        for mapping in _mappings(element, tag):
            expression = mapping.get("sourceExpression")
            if expression is not None and not _SIMPLE_EXPRESSION.match(expression.strip()):
                return (
                    f"camunda:{tag} sourceExpression {expression!r}: only a variable (${{name}}) is supported; "
                    "compute it in a script task first"
                )
    return None
