"""What check-config says about flow elements (SPEC §11 "Flow", "Start events other than none"): call
activities, business rule tasks, error and escalation events, start events other than none."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from core.bpmn.calls import ProcessIndex, call_problem
from core.bpmn.cycles import timer_problem
from core.bpmn.decisions import DecisionIndex, decision_problem
from core.bpmn.starts import ProcessStart, start_problems

BPMN_NS = "http://www.omg.org/spec/BPMN/20100524/MODEL"
_B = "{" + BPMN_NS + "}"

FLOW_ELEMENTS = frozenset(
    {
        "callActivity",
        "businessRuleTask",
        "escalationEventDefinition",
    }
)

Finding = tuple[int | None, str | None, str, str | None]
"""(line, element id, message, element name)."""


@dataclass
class FlowContext:
    """The whole catalog folder, as the flow checks of one file need it."""

    processes: ProcessIndex = field(default_factory=ProcessIndex)
    decisions: DecisionIndex = field(default_factory=DecisionIndex)

    @classmethod
    def scan(cls, root: Path, files: list[Path]) -> FlowContext:
        return cls(ProcessIndex.scan(files), DecisionIndex.scan(root))


def _finding(element: Any, problem: str) -> Finding:
    return (element.sourceline, element.get("id"), problem, " ".join((element.get("name") or "").split()) or None)


def flow_problems(process: Any, context: FlowContext) -> list[Finding]:
    findings: list[Finding] = []
    for element in process.iter(_B + "callActivity"):
        problem = call_problem(element, context.processes)
        if problem:
            findings.append(_finding(element, problem))
    for element in process.iter(_B + "businessRuleTask"):
        problem = decision_problem(element, context.decisions)
        if problem:
            findings.append(_finding(element, problem))
    for element in process.iter(_B + "subProcess"):
        problem = _event_subprocess_problem(element)
        if problem:
            findings.append(_finding(element, problem))
    for element, problem in start_problems(process, timer_problem):
        findings.append(_finding(element, problem))
    return findings


def _event_subprocess_problem(element: Any) -> str | None:
    if element.get("triggeredByEvent") != "true":
        return None
    if element.getparent().tag != _B + "process":
        return "event sub-processes run at a process's top level only: move it out of the enclosing sub-process"
    for start in element.findall(_B + "startEvent"):
        if start.find(_B + "messageEventDefinition") is not None:
            return (
                "an event sub-process with a message start is not supported (client messages go to a waiting "
                "catch event): use a message boundary event or an event-based gateway"
            )
    return None


def start_note(pid: str, start: ProcessStart) -> str | None:
    """What check-config prints (not an error) about how a process starts, if not by an operator."""
    if start.kind == "timer":
        return f"process {pid}: timer start event ({start.timer_kind} {start.timer}): starts on schedule, no session"
    if start.autostart_event:
        return f"process {pid}: message start {start.message!r}: auto-started on {start.message} on every line"
    if start.kind == "message":
        return (
            f"process {pid}: message start {start.message!r}: started only through the REST API "
            "(POST /engine-rest/message), not from a desk"
        )
    return None
