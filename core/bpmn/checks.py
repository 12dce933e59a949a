"""What `linedesk check-config` says about one BPMN file (SPEC §11).

A file is OK only if linedesk can run it as drawn. Everything else is a problem naming the
file, the line, the element's id and name, and what to do instead. What the Modeler always
writes (annotations, groups, data objects and stores, lanes, documentation…) is accepted and
ignored; non-executable pools of a collaboration are skipped. Notes are not problems: they say
how an accepted process will be started or served (message starts, external worker topics).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lxml import etree

from core.asks import ASK, static_problems
from core.bpmn import juel

BPMN_NS = "http://www.omg.org/spec/BPMN/20100524/MODEL"
CAMUNDA_NS = "http://camunda.org/schema/1.0/bpmn"
_B = "{" + BPMN_NS + "}"
_C = "{" + CAMUNDA_NS + "}"

AUTOSTART_EVENTS = frozenset(
    {"session.created", "message.received", "session.closed", "session.rated", "session.assigned"}
)
"""Message names a message start event may carry to act as an automatic start rule (§5, §11)."""

BLOCK_PREFIX = "linedesk."
CLIENT_MESSAGE = "client_message"
"""The message an intermediate catch event waits on for the client's next message (§6)."""

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
        "multiInstanceLoopCharacteristics",
        "loopCardinality",
        "completionCondition",
        "extensionElements",
        "callActivity",
        "businessRuleTask",
        "escalationEventDefinition",
    }
)
"""BPMN elements linedesk runs (call activities, decisions and escalations: `core/bpmn/flow_checks.py` checks them
further)."""

TOLERATED_ELEMENTS = frozenset(
    {
        "documentation",
        "textAnnotation",
        "text",
        "association",
        "group",
        "dataObject",
        "dataObjectReference",
        "dataStoreReference",
        "dataState",
        "dataInputAssociation",
        "dataOutputAssociation",
        "sourceRef",
        "targetRef",
        "transformation",
        "assignment",
        "from",
        "to",
        "laneSet",
        "lane",
        "childLaneSet",
        "flowNodeRef",
        "property",
    }
)
"""What the Modeler writes that does not change how a process runs: accepted and ignored."""

IGNORED_WHEN_PARSING = frozenset(
    {
        "textAnnotation",
        "association",
        "group",
        "dataObject",
        "dataObjectReference",
        "dataStoreReference",
        "dataInputAssociation",
        "dataOutputAssociation",
        "property",
    }
)
"""Tolerated elements removed before SpiffWorkflow reads the file (it would try to run them)."""

_UNSUPPORTED_HINTS = {
    "sendTask": 'use a service task with camunda:topic="linedesk.reply" or an external topic (§12)',
    "receiveTask": "use an intermediate message catch event (message client_message) to wait for the client",
    "complexGateway": "use exclusive, inclusive or parallel gateways",
    "transaction": "draw it as an ordinary sub-process",
    "adHocSubProcess": "draw it as an ordinary sub-process",
    "conditionalEventDefinition": "conditional events do not exist in linedesk: use a gateway after a wait",
    "compensateEventDefinition": "compensation does not exist in linedesk: draw the undo steps explicitly",
    "cancelEventDefinition": "cancel events need transactions: use an error end event",
    "linkEventDefinition": "connect the flows directly",
    "standardLoopCharacteristics": "use a multi-instance marker or a loop back through a gateway",
}


@dataclass(frozen=True)
class CatalogProblem:
    file: str
    line: int | None
    element: str | None
    message: str
    name: str | None = None
    """The element's name as drawn, when it has one."""

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        element = f" [{self.element}]" if self.element else ""
        named = f' "{self.name}"' if self.name else ""
        return f"{where}:{element}{named} {self.message}"


@dataclass
class FileReport:
    problems: list[CatalogProblem] = field(default_factory=list)
    notes: list[CatalogProblem] = field(default_factory=list)


def _problem(file: Path, element: Any, message: str) -> CatalogProblem:
    name = " ".join((element.get("name") or "").split()) or None
    return CatalogProblem(str(file), element.sourceline, element.get("id"), message, name)


def _local(element: Any) -> str | None:
    if not isinstance(element.tag, str) or not element.tag.startswith(_B):
        return None
    return str(etree.QName(element).localname)


def executable_processes(tree: Any) -> list[Any]:
    return [p for p in tree.getroot().iter(_B + "process") if p.get("isExecutable", "true") == "true"]


def participant_names(tree: Any) -> dict[str, str]:
    """Process id → the name of the pool (participant) that shows it."""
    names: dict[str, str] = {}
    for participant in tree.getroot().iter(_B + "participant"):
        ref, name = participant.get("processRef"), participant.get("name")
        if ref and name:
            names[ref] = name.strip()
    return names


def check_file(file: Path, blocks: frozenset[str]) -> list[CatalogProblem]:
    """The problems of one file (empty: linedesk runs it as drawn)."""
    return inspect_file(file, blocks).problems


def inspect_file(file: Path, blocks: frozenset[str]) -> FileReport:
    report = FileReport()
    try:
        tree = etree.parse(str(file))
    except etree.XMLSyntaxError as err:
        report.problems.append(
            CatalogProblem(
                str(file), err.lineno, None, f"not valid XML: {err.msg}; save the file again from the Modeler"
            )
        )
        return report
    processes = executable_processes(tree)
    if not processes:
        every = list(tree.getroot().iter(_B + "process"))
        anchor = every[0] if every else tree.getroot()
        hint = (
            'no executable process: tick "Executable" on the pool (isExecutable="true") of the process to run'
            if every
            else "no bpmn:process in the file: draw a process (a pool) in the Modeler"
        )
        report.problems.append(_problem(file, anchor, hint))
        return report
    messages = {m.get("id"): (m.get("name") or "") for m in tree.getroot().iter(_B + "message")}
    for process in processes:
        for child in process:
            _walk(file, child, blocks, messages, report)
        _check_flows(file, process, report)
        report.problems.extend(check_expressions(file, process))
        report.notes.extend(template_notes(file, process))
    return report


_GATEWAYS = frozenset({"exclusiveGateway", "parallelGateway", "inclusiveGateway", "eventBasedGateway"})


def _check_flows(file: Path, process: Any, report: FileReport) -> None:
    """Flows that lead nowhere and gateways that lead nowhere: Spiff would fail on them at run time or
    with a misleading message."""
    ids = {e.get("id") for e in process.iter() if isinstance(e.tag, str) and e.get("id")}
    sources: set[str | None] = set()
    for flow in process.iter(_B + "sequenceFlow"):
        sources.add(flow.get("sourceRef"))
        missing = [r for r in ("sourceRef", "targetRef") if flow.get(r) not in ids]
        if missing:
            what = ", ".join(f"{r}={flow.get(r)!r}" for r in missing)
            report.problems.append(
                _problem(file, flow, f"sequence flow to no element of this process ({what}): connect it again")
            )
    for element in process.iter():
        if _local(element) in _GATEWAYS and element.get("id") not in sources:
            report.problems.append(
                _problem(file, element, "gateway without an outgoing flow: connect it to the next step or an end event")
            )


def _walk(
    file: Path, element: Any, blocks: frozenset[str], messages: dict[str | None, str], report: FileReport
) -> None:
    """Check an element, then its children unless the element itself was refused."""
    before = len(report.problems)
    _check_element(file, element, blocks, messages, report)
    if len(report.problems) == before or _local(element) in SUPPORTED_ELEMENTS:
        for child in element:
            _walk(file, child, blocks, messages, report)


def _check_element(
    file: Path, element: Any, blocks: frozenset[str], messages: dict[str | None, str], report: FileReport
) -> None:
    local = _local(element)
    if local is None:
        if isinstance(element.tag, str) and element.tag.startswith(_C):
            _check_camunda_extension(file, element, report)
        return
    if local in TOLERATED_ELEMENTS:
        return
    if local not in SUPPORTED_ELEMENTS:
        hint = _UNSUPPORTED_HINTS.get(local, "linedesk cannot run it: remove it or draw the step with supported ones")
        report.problems.append(_problem(file, _owner(element), f"unsupported element bpmn:{local}: {hint}"))
        return
    if local == "serviceTask":
        _check_service_task(file, element, blocks, report)
    elif local == "scriptTask":
        _check_script_task(file, element, report)
    elif local in ("intermediateCatchEvent", "boundaryEvent"):
        _check_message_catch(file, element, messages, report)
    elif local == "startEvent":  # forms (formKey, formRef) are checked with the form index: camunda_forms.py
        _check_start_event(file, element, messages, report)
    elif local == "errorEventDefinition":
        _check_error_variables(file, element, report)


def _check_error_variables(file: Path, element: Any, report: FileReport) -> None:
    """`camunda:errorCodeVariable` / `errorMessageVariable` on a catching error event: not set by linedesk, so a
    model reading them would fail later — refused here, with the way out."""
    named = [name for name in ("errorCodeVariable", "errorMessageVariable") if element.get(_C + name)]
    if named:
        report.problems.append(
            _problem(
                file,
                element.getparent(),  # the event, which has the name
                f"camunda:{' and camunda:'.join(named)} on an error event: linedesk does not set them; catch each "
                "error code with a boundary event of its own (errorRef) and set the variable in a Python script "
                "task on its path",
            )
        )


def _owner(element: Any) -> Any:
    """An event definition is reported at its event (which has the id and the name)."""
    if element.get("id") is None and element.getparent() is not None and element.getparent().get("id"):
        return element.getparent()
    return element


JAVA_HINT = 'Java has no place here: use an external topic (camunda:type="external", §12) or a linedesk.* block'
SCRIPT_HINT = "rewrite it in Python or as an external task (§12)"
FORM_HINT = "linedesk cannot show it: use generated fields (formData) or a Camunda Form (.form)"


def _check_service_task(file: Path, element: Any, blocks: frozenset[str], report: FileReport) -> None:
    java = [a for a in ("class", "delegateExpression", "expression") if element.get(_C + a)]
    if java:
        report.problems.append(_problem(file, element, f"service task with camunda:{java[0]}: {JAVA_HINT}"))
        return
    if element.find(f"{_B}extensionElements/{_C}connector") is not None:
        report.problems.append(_problem(file, element, f"service task with a camunda:connector: {JAVA_HINT}"))
        return
    topic = element.get(_C + "topic")
    if element.get(_C + "type") != "external" or not topic:
        report.problems.append(
            _problem(
                file,
                element,
                'service task without an implementation: set camunda:type="external" and a camunda:topic '
                "(a linedesk.* block or a topic of your external workers, §12)",
            )
        )
        return
    if topic.startswith(BLOCK_PREFIX) and topic not in blocks:
        known = ", ".join(sorted(blocks))
        report.problems.append(_problem(file, element, f"unknown block {topic!r}: use one of {known}"))
    elif topic == ASK:
        params = element.findall(f"{_B}extensionElements/{_C}inputOutput/{_C}inputParameter")
        inputs = {str(p.get("name")): "".join(p.itertext()) for p in params}
        report.problems += [_problem(file, element, problem) for problem in static_problems(inputs)]
    elif not topic.startswith(BLOCK_PREFIX):
        report.notes.append(_problem(file, element, f"served by external workers: topic {topic}"))


def _check_script_task(file: Path, element: Any, report: FileReport) -> None:
    script_format = (element.get("scriptFormat") or "python").strip()
    if script_format.lower() != "python":
        report.problems.append(_problem(file, element, f"script in {script_format}: {SCRIPT_HINT}"))
    elif element.get(_C + "resource") or not (element.findtext(_B + "script") or "").strip():
        report.problems.append(
            _problem(file, element, "script task without a script: write the Python script inside the task")
        )


def _check_start_event(file: Path, element: Any, messages: dict[str | None, str], report: FileReport) -> None:
    if element.find(_B + "signalEventDefinition") is not None:
        report.problems.append(
            _problem(file, element, "signal start event: use a none start, a timer start or a message start (§12)")
        )
        return
    definition = element.find(_B + "messageEventDefinition")
    if definition is None or _local(element.getparent()) == "subProcess":
        return  # an event sub-process's start is not a way to start the process
    name = messages.get(definition.get("messageRef"), "")
    if name not in AUTOSTART_EVENTS:
        shown = name or definition.get("messageRef") or "(no message)"
        report.notes.append(_problem(file, element, f"message start {shown!r}: started through REST (§12)"))


def _check_message_catch(file: Path, element: Any, messages: dict[str | None, str], report: FileReport) -> None:
    definition = element.find(_B + "messageEventDefinition")
    if definition is None:
        return
    name = messages.get(definition.get("messageRef"), "")
    if name != CLIENT_MESSAGE:
        shown = name or definition.get("messageRef") or "(no message)"
        report.notes.append(
            _problem(file, element, f"message catch {shown!r}: waits for POST /engine-rest/message (§12)")
        )


def _check_camunda_extension(file: Path, element: Any, report: FileReport) -> None:
    local = etree.QName(element).localname
    if local == "inputOutput":
        owner = _owner_of_extension(element)
        if _local(owner) != "serviceTask":
            report.problems.append(
                _problem(
                    file,
                    owner,
                    f"camunda:inputOutput on a {_local(owner)} is not applied here: "
                    "set the variables in a Python script task",
                )
            )
        return
    if local == "script" and etree.QName(element.getparent()).localname in ("inputParameter", "outputParameter"):
        script_format = (element.get("scriptFormat") or "").strip()
        if script_format.lower() != "python":
            owner = _owner_of_extension(element)
            report.problems.append(_problem(file, owner, f"parameter script in {script_format}: {SCRIPT_HINT}"))
        return
    if local not in ("executionListener", "taskListener"):
        return
    owner = _owner_of_extension(element)
    java = [a for a in ("class", "delegateExpression", "expression") if element.get(a)]
    if java:
        report.problems.append(_problem(file, owner, f"camunda:{local} with {java[0]}: {JAVA_HINT}"))
        return
    script = element.find(_C + "script")
    script_format = script.get("scriptFormat") if script is not None else None
    what = f"a {script_format} script" if script_format else "a script"
    report.problems.append(
        _problem(file, owner, f"camunda:{local} with {what}: listeners do not run here; draw a Python script task")
    )


def _owner_of_extension(element: Any) -> Any:
    node = element
    while node is not None and node.get("id") is None:
        node = node.getparent()
    return node if node is not None else element


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
                owner = _owner_of_extension(element)
                name = " ".join((owner.get("name") or "").split())
                where = f"{what} of “{name}”" if name else what
                problems.append(CatalogProblem(str(file), element.sourceline, owner.get("id"), f"{where}: {error}"))
    return problems


_OLD_TEMPLATE = re.compile(r"#\{([A-Za-z_][A-Za-z0-9_]*)\}")


def template_notes(file: Path, process: Any) -> list[CatalogProblem]:
    """An input parameter that reads like the older `{name}` templates after a '#' ("Request #{request_no}"):
    `#{…}` is JUEL, as in Camunda, so the '#' is not shown. Noted, since it runs, with the way to keep it."""
    notes: list[CatalogProblem] = []
    for element in process.iter(f"{{{CAMUNDA_NS}}}inputParameter"):
        text = element.text or ""
        old = _OLD_TEMPLATE.search(text)
        if old is None or text.strip() == old.group(0) or text.lstrip().startswith("="):
            continue
        owner = _owner_of_extension(element)
        notes.append(
            CatalogProblem(
                str(file),
                element.sourceline,
                owner.get("id"),
                f"input {element.get('name')!r}: {old.group(0)} is a JUEL expression (the value alone, no '#'); "
                f"to show '#' before the value write #${{{old.group(1)}}}",
                " ".join((owner.get("name") or "").split()) or None,
            )
        )
    return notes
