"""The process catalog: every executable BPMN process under `processes.dir`, by scope.

`processes/*.bpmn` are company processes, `processes/<section>/*.bpmn` section
processes, `processes/<section>/<app>/*.bpmn` app processes (SPEC §6).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lxml import etree
from SpiffWorkflow.bpmn.parser.ValidationException import ValidationException
from SpiffWorkflow.bpmn.specs.bpmn_process_spec import BpmnProcessSpec

from core.bpmn.camunda_forms import FormIndex, check_forms
from core.bpmn.checks import (
    BPMN_NS,
    CAMUNDA_NS,
    SUPPORTED_ELEMENTS,
    TOLERATED_ELEMENTS,
    CatalogProblem,
    check_file,
    inspect_file,
    participant_names,
)
from core.bpmn.flow_checks import FlowContext, flow_problems, start_note
from core.bpmn.specs import LinedeskParser
from core.bpmn.starts import ProcessStart, start_of

__all__ = [
    "BPMN_NS",
    "CAMUNDA_NS",
    "SUPPORTED_ELEMENTS",
    "TOLERATED_ELEMENTS",
    "Catalog",
    "CatalogProblem",
    "ProcessEntry",
    "Scope",
    "check_file",
    "load_catalog",
]


@dataclass(frozen=True)
class Scope:
    kind: str
    """"company", "section" or "app"."""
    section: str | None = None
    app: str | None = None

    @property
    def title(self) -> str:
        if self.kind == "company":
            return "Company"
        if self.kind == "section":
            return str(self.section)
        return f"{self.section} · {self.app}"

    @property
    def order(self) -> tuple[int, str, str]:
        rank = {"company": 0, "section": 1, "app": 2}[self.kind]
        return (rank, self.section or "", self.app or "")


@dataclass
class ProcessEntry:
    id: str
    name: str
    scope: Scope
    file: Path
    spec: BpmnProcessSpec
    subprocess_specs: dict[str, Any] = field(default_factory=dict)
    start: ProcessStart = field(default_factory=ProcessStart)


@dataclass
class ScopeGroup:
    scope: Scope
    processes: list[ProcessEntry]


class Catalog:
    def __init__(
        self,
        root: Path,
        entries: Iterable[ProcessEntry],
        problems: Iterable[CatalogProblem],
        notes: Iterable[CatalogProblem] = (),
    ):
        self.root = root
        self._entries = {entry.id: entry for entry in entries}
        self.problems = list(problems)
        self.notes = list(notes)
        """Not problems: how accepted processes are started or served (message starts, worker topics)."""

    def __contains__(self, process_id: object) -> bool:
        return process_id in self._entries

    def __iter__(self) -> Iterator[ProcessEntry]:
        return iter(self._entries.values())

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, process_id: str) -> ProcessEntry | None:
        return self._entries.get(process_id)

    def grouped(self, *, everything: bool = False) -> list[ScopeGroup]:
        """Company first, then each section, then each app; processes by name within a scope. Only those an
        operator starts (a none start event) unless `everything`."""
        groups: dict[Scope, list[ProcessEntry]] = {}
        for entry in self._entries.values():
            if not everything and not entry.start.manual:
                continue
            groups.setdefault(entry.scope, []).append(entry)
        return [
            ScopeGroup(scope, sorted(entries, key=lambda e: e.name.casefold()))
            for scope, entries in sorted(groups.items(), key=lambda item: item[0].order)
        ]


def scope_of(root: Path, file: Path) -> Scope | None:
    parts = file.relative_to(root).parts
    if len(parts) == 1:
        return Scope("company")
    if len(parts) == 2:
        return Scope("section", section=parts[0])
    if len(parts) == 3:
        return Scope("app", section=parts[0], app=parts[1])
    return None


def load_catalog(root: Path, known_blocks: Iterable[str]) -> Catalog:
    """Parse every BPMN file under `root`. Problems are collected, never raised: a broken
    file leaves the rest of the catalog usable and `check-config` reports them all."""
    blocks = frozenset(known_blocks)
    entries: list[ProcessEntry] = []
    problems: list[CatalogProblem] = []
    notes: list[CatalogProblem] = []
    if not root.is_dir():
        return Catalog(root, [], [CatalogProblem(str(root), None, None, "process folder does not exist")])
    seen: dict[str, Path] = {}
    forms = FormIndex.scan(root)
    files = sorted(root.rglob("*.bpmn"))
    context = FlowContext.scan(root, files)  # DMN decisions and called processes, across the folder
    problems.extend(CatalogProblem(*found) for found in context.decisions.problems)
    for file in files:
        scope = scope_of(root, file)
        if scope is None:
            problems.append(
                CatalogProblem(str(file), None, None, "too deep: use processes/<section>/<app>/*.bpmn at most")
            )
            continue
        report = inspect_file(file, blocks)
        file_problems = report.problems + _form_problems(file, forms) + _flow_problems(file, context)
        problems.extend(file_problems)
        if file_problems:
            continue
        notes.extend(report.notes)
        for entry in _parse_file(file, scope, problems, (forms, context)):
            if entry.id in seen:
                problems.append(
                    CatalogProblem(
                        str(file),
                        _line_of(file, entry.id),
                        entry.id,
                        f"duplicate process id {entry.id!r} (also in {seen[entry.id]})",
                    )
                )
                continue
            seen[entry.id] = file
            entries.append(entry)
            note = (
                start_note(entry.id, entry.start)
                if entry.start.kind == "timer" or entry.start.autostart_event
                else None
            )
            if note:  # a message start that is no auto-start event is noted by inspect_file already
                notes.append(CatalogProblem(str(file), _line_of(file, entry.id), entry.id, note))
    return Catalog(root, entries, problems, notes)


def _flow_problems(file: Path, context: FlowContext) -> list[CatalogProblem]:
    """Call activities, decisions and start events linedesk cannot run (`core.bpmn.flow_checks`)."""
    try:
        tree = etree.parse(str(file))
    except etree.XMLSyntaxError:
        return []  # inspect_file reports it
    return [
        CatalogProblem(str(file), *found)
        for process in tree.getroot().iter(f"{{{BPMN_NS}}}process")
        if process.get("isExecutable") == "true"
        for found in flow_problems(process, context)
    ]


def _form_problems(file: Path, forms: FormIndex) -> list[CatalogProblem]:
    """Forms linedesk cannot show: a missing `.form`, an unknown form id, embedded/app formKeys."""
    return [
        CatalogProblem(str(file), line, element, message, name)
        for line, element, name, message in check_forms(file, forms)
    ]


def _parse_file(
    file: Path, scope: Scope, problems: list[CatalogProblem], parts: tuple[FormIndex, FlowContext]
) -> list[ProcessEntry]:
    """The file's processes, parsed with the forms, decisions and called processes they use (`parts`)."""
    forms, context = parts
    parser = LinedeskParser(forms)
    try:
        context.decisions.add_to(parser)
        for other in context.processes.dependencies(file):
            parser.add_bpmn_file(str(other))
        parser.add_bpmn_file(str(file))
        tree = etree.parse(str(file))
        pools = participant_names(tree)
        processes = list(tree.iter(f"{{{BPMN_NS}}}process"))
        drawn = {p.get("id"): " ".join((p.get("name") or "").split()) for p in processes}
        starts = {p.get("id"): start_of(p) for p in processes}
        result = []
        for process_id in parser.get_process_ids():
            if process_id not in drawn:
                continue  # a process of a called file: its own file makes its entry
            spec = parser.get_spec(process_id)
            result.append(
                ProcessEntry(
                    id=process_id,
                    name=drawn.get(process_id) or pools.get(process_id) or process_id,
                    scope=scope,
                    file=file,
                    spec=spec,
                    subprocess_specs=parser.get_subprocess_specs(process_id),
                    start=starts[process_id],
                )
            )
        return result
    except ValidationException as err:
        problems.append(_validation_problem(file, err))
    except Exception as err:  # Spiff raises assorted errors on broken models
        problems.append(CatalogProblem(str(file), None, None, f"{type(err).__name__}: {err}"))
    return []


def _validation_problem(file: Path, err: ValidationException) -> CatalogProblem:
    """SpiffWorkflow's refusal, whole, at the element it names (its line looked up when Spiff has none)."""
    element = getattr(err, "id", None) or None
    line = getattr(err, "line_number", None) or (_line_of(file, element) if element else None)
    text = " ".join(str(getattr(err, "error_msg", "") or err).split()).rstrip(". ")
    return CatalogProblem(
        str(file),
        line,
        element,
        f"{text}; linedesk cannot run this model as drawn: change the element in the Modeler",
        getattr(err, "name", None) or None,
    )


def _line_of(file: Path, element_id: str) -> int | None:
    try:
        for element in etree.parse(str(file)).iter():
            if isinstance(element.tag, str) and element.get("id") == element_id:
                return int(element.sourceline)
    except etree.XMLSyntaxError:
        return None
    return None
