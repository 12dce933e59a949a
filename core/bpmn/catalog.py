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

from core.bpmn import juel
from core.bpmn.camunda_forms import FormIndex, check_forms
from core.bpmn.specs import LinedeskParser

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


@dataclass
class ScopeGroup:
    scope: Scope
    processes: list[ProcessEntry]


class Catalog:
    def __init__(self, root: Path, entries: Iterable[ProcessEntry], problems: Iterable[CatalogProblem]):
        self.root = root
        self._entries = {entry.id: entry for entry in entries}
        self.problems = list(problems)

    def __contains__(self, process_id: object) -> bool:
        return process_id in self._entries

    def __iter__(self) -> Iterator[ProcessEntry]:
        return iter(self._entries.values())

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, process_id: str) -> ProcessEntry | None:
        return self._entries.get(process_id)

    def grouped(self) -> list[ScopeGroup]:
        """Company first, then each section, then each app; processes by name within a scope."""
        groups: dict[Scope, list[ProcessEntry]] = {}
        for entry in self._entries.values():
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
    forms = FormIndex.scan(root)
    for file in sorted(root.rglob("*.bpmn")):
        scope = scope_of(root, file)
        if scope is None:
            problems.append(
                CatalogProblem(str(file), None, None, "too deep: use processes/<section>/<app>/*.bpmn at most")
            )
            continue
        file_problems = check_file(file, blocks) + _form_problems(file, forms)
        problems.extend(file_problems)
        if file_problems:
            continue
        for entry in _parse_file(file, scope, problems, forms):
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
    return Catalog(root, entries, problems)


def _form_problems(file: Path, forms: FormIndex) -> list[CatalogProblem]:
    """Forms linedesk cannot show: a missing `.form`, an unknown form id, embedded/app formKeys."""
    return [CatalogProblem(str(file), line, element, message) for line, element, message in check_forms(file, forms)]


def _parse_file(
    file: Path, scope: Scope, problems: list[CatalogProblem], forms: FormIndex | None = None
) -> list[ProcessEntry]:
    parser = LinedeskParser(forms)
    try:
        parser.add_bpmn_file(str(file))
        result = []
        for process_id in parser.get_process_ids():
            spec = parser.get_spec(process_id)
            result.append(
                ProcessEntry(
                    id=process_id,
                    name=spec.description or process_id,
                    scope=scope,
                    file=file,
                    spec=spec,
                    subprocess_specs=parser.get_subprocess_specs(process_id),
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


def check_file(file: Path, blocks: frozenset[str]) -> list[CatalogProblem]:
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
        problems.extend(check_expressions(file, process))
    return problems


JUEL_TEXTS = {
    "conditionExpression": "condition",
    "condition": "condition",
    "completionCondition": "completion condition",
    "loopCardinality": "loop cardinality",
    "timeDuration": "timer",
    "timeDate": "timer",
    "timeCycle": "timer",
    "inputParameter": "input parameter",
    "outputParameter": "output parameter",
}
JUEL_ATTRIBUTES = ("assignee", "candidateUsers", "candidateGroups", "dueDate", "followUpDate")
"""camunda: attributes that may hold JUEL (`camunda:expression` too, on a sequence flow: a condition)."""


def check_expressions(file: Path, process: Any) -> list[CatalogProblem]:
    """Every JUEL text of a process parsed: a syntax error is named with the element that holds it."""
    problems: list[CatalogProblem] = []
    for element in process.iter():
        if not isinstance(element.tag, str):
            continue
        local = etree.QName(element).localname
        found: list[tuple[str, str]] = []
        if local in JUEL_TEXTS and element.text and not element.text.lstrip().startswith("="):
            label = JUEL_TEXTS[local]
            found.append((f"{label} {element.get('name')!r}" if element.get("name") else label, element.text))
        found.extend(
            (f"camunda:{name}", element.get(f"{{{CAMUNDA_NS}}}{name}") or "")
            for name in ((*JUEL_ATTRIBUTES, "expression") if local == "sequenceFlow" else JUEL_ATTRIBUTES)
            if element.get(f"{{{CAMUNDA_NS}}}{name}")
        )
        for what, text in found:
            error = juel.check(text) if juel.is_juel(text) else None
            if error:
                owner = _owner(element)
                name = owner.get("name")
                where = f"{what} of “{name}”" if name else what
                problems.append(CatalogProblem(str(file), element.sourceline, owner.get("id"), f"{where}: {error}"))
    return problems


def _owner(element: Any) -> Any:
    """The nearest element with an id: the flow, task or event an expression belongs to."""
    node = element
    while node is not None and node.get("id") is None:
        node = node.getparent()
    return element if node is None else node


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
