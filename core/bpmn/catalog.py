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

from core.bpmn.flow_checks import FLOW_ELEMENTS, FlowContext, flow_problems, start_note
from core.bpmn.specs import LinedeskParser
from core.bpmn.starts import ProcessStart, start_of

BPMN_NS = "http://www.omg.org/spec/BPMN/20100524/MODEL"
CAMUNDA_NS = "http://camunda.org/schema/1.0/bpmn"

SUPPORTED_ELEMENTS = frozenset(
    {
        "startEvent",
        "endEvent",
        "userTask",
        "serviceTask",
        "scriptTask",
        "task",
        "manualTask",
        "exclusiveGateway",
        "parallelGateway",
        "inclusiveGateway",
        "eventBasedGateway",
        "intermediateCatchEvent",
        "intermediateThrowEvent",
        "boundaryEvent",
        "subProcess",
        "sequenceFlow",
        "messageFlow",
        "association",
        "textAnnotation",
        "documentation",
        "extensionElements",
        "incoming",
        "outgoing",
        "conditionExpression",
        "script",
        "timerEventDefinition",
        "messageEventDefinition",
        "errorEventDefinition",
        "terminateEventDefinition",
        "signalEventDefinition",
        "timeDuration",
        "timeDate",
        "timeCycle",
        "laneSet",
        "lane",
        "flowNodeRef",
        "dataObject",
        "dataObjectReference",
        "property",
        "multiInstanceLoopCharacteristics",
        "loopCardinality",
        "completionCondition",
    }
    | FLOW_ELEMENTS
)


@dataclass(frozen=True)
class CatalogProblem:
    file: str
    line: int | None
    element: str | None
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        element = f" [{self.element}]" if self.element else ""
        return f"{where}:{element} {self.message}"


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
        notes: Iterable[str] = (),
    ):
        self.root = root
        self._entries = {entry.id: entry for entry in entries}
        self.problems = list(problems)
        self.notes = list(notes)
        """Not errors: what check-config tells about processes not started by operators."""

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
    if not root.is_dir():
        return Catalog(root, [], [CatalogProblem(str(root), None, None, "process folder does not exist")])
    seen: dict[str, Path] = {}
    files = sorted(root.rglob("*.bpmn"))
    context = FlowContext.scan(root, files)
    problems.extend(CatalogProblem(*found) for found in context.decisions.problems)
    notes: list[str] = []
    for file in files:
        scope = scope_of(root, file)
        if scope is None:
            problems.append(
                CatalogProblem(str(file), None, None, "too deep: use processes/<section>/<app>/*.bpmn at most")
            )
            continue
        file_problems = check_file(file, blocks, context)
        problems.extend(file_problems)
        if file_problems:
            continue
        for entry in _parse_file(file, scope, problems, context):
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
            note = start_note(entry.id, entry.start)
            if note:
                notes.append(f"{file}: {note}")
    return Catalog(root, entries, problems, notes)


def _parse_file(file: Path, scope: Scope, problems: list[CatalogProblem], context: FlowContext) -> list[ProcessEntry]:
    parser = LinedeskParser()
    try:
        context.decisions.add_to(parser)
        for other in context.processes.dependencies(file):
            parser.add_bpmn_file(str(other))
        parser.add_bpmn_file(str(file))
        starts = {p.get("id"): start_of(p) for p in etree.parse(str(file)).getroot().iter(f"{{{BPMN_NS}}}process")}
        result = []
        for process_id in parser.get_process_ids():
            if process_id not in starts:
                continue  # a process of a called file: its own file makes its entry
            spec = parser.get_spec(process_id)
            result.append(
                ProcessEntry(
                    id=process_id,
                    name=spec.description or process_id,
                    scope=scope,
                    file=file,
                    spec=spec,
                    subprocess_specs=parser.get_subprocess_specs(process_id),
                    start=starts[process_id],
                )
            )
        return result
    except ValidationException as err:
        problems.append(
            CatalogProblem(
                str(file),
                getattr(err, "line_number", None) or None,
                getattr(err, "id", None) or None,
                str(err).splitlines()[0],
            )
        )
    except Exception as err:  # Spiff raises assorted errors on broken models
        problems.append(CatalogProblem(str(file), None, None, f"{type(err).__name__}: {err}"))
    return []


def check_file(file: Path, blocks: frozenset[str], context: FlowContext | None = None) -> list[CatalogProblem]:
    """What Spiff would accept but linedesk cannot run: unsupported elements, service tasks
    that are not linedesk blocks."""
    try:
        tree = etree.parse(str(file))
    except etree.XMLSyntaxError as err:
        return [CatalogProblem(str(file), err.lineno, None, f"not valid XML: {err.msg}")]
    problems: list[CatalogProblem] = []
    processes = tree.findall(f"{{{BPMN_NS}}}process")
    if not processes:
        problems.append(CatalogProblem(str(file), None, None, "no bpmn:process in the file"))
    for process in processes:
        if process.get("isExecutable") != "true":
            problems.append(
                CatalogProblem(
                    str(file),
                    process.sourceline,
                    process.get("id"),
                    'process is not executable (set isExecutable="true")',
                )
            )
        for element in process.iter():
            if not isinstance(element.tag, str) or not element.tag.startswith(f"{{{BPMN_NS}}}"):
                continue
            local = etree.QName(element).localname
            if element is process:
                continue
            if local not in SUPPORTED_ELEMENTS:
                problems.append(
                    CatalogProblem(
                        str(file), element.sourceline, element.get("id"), f"unsupported element bpmn:{local}"
                    )
                )
            elif local == "serviceTask":
                problems.extend(_check_service_task(file, element, blocks))
        if context is not None:
            problems.extend(CatalogProblem(str(file), *found) for found in flow_problems(process, context))
    return problems


def _check_service_task(file: Path, element: Any, blocks: frozenset[str]) -> list[CatalogProblem]:
    kind = element.get(f"{{{CAMUNDA_NS}}}type")
    topic = element.get(f"{{{CAMUNDA_NS}}}topic")
    where = (str(file), element.sourceline, element.get("id"))
    if kind != "external" or not topic:
        return [CatalogProblem(*where, 'service task must be camunda:type="external" with a camunda:topic')]
    if topic not in blocks:
        return [CatalogProblem(*where, f"unknown block {topic!r} (known: {', '.join(sorted(blocks))})")]
    return []


def _line_of(file: Path, element_id: str) -> int | None:
    try:
        for element in etree.parse(str(file)).iter():
            if isinstance(element.tag, str) and element.get("id") == element_id:
                return int(element.sourceline)
    except etree.XMLSyntaxError:
        return None
    return None
