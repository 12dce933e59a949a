"""BPMN pieces for the flow tests (SPEC §11 "Flow", "Start events other than none"): error and escalation
events, sub-processes, event sub-processes, call activities, business rule tasks, timer and message starts.
Built on tests/support/bpmn.py's steps; `model` writes a whole file."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from xml.sax.saxutils import quoteattr

import pytest

from core.clock import Clock
from sandboxes.limits import Limits
from sandboxes.rig import Rig
from tests.support.bpmn import HEAD, Step
from tests.support.rigs import REDIS_URL, drop_redis_prefix, redis_available

DEFINITIONS = (
    '  <bpmn:error id="Error_late" name="Too late" errorCode="E_LATE" />\n'
    '  <bpmn:error id="Error_stock" name="Out of stock" errorCode="E_STOCK" />\n'
    '  <bpmn:escalation id="Escalation_slow" name="Slow" escalationCode="SLOW" />\n'
)


def chain(prefix: str, *steps: Step) -> tuple[str, str, str]:
    """Steps wired in a row: (xml of nodes and flows, first node id, last node id)."""
    ids = [f"{prefix}_{i + 1}" for i in range(len(steps))]
    parts = []
    for index, step in enumerate(steps):
        incoming = f"<bpmn:incoming>{prefix}_f{index}</bpmn:incoming>" if index else ""
        outgoing = f"<bpmn:outgoing>{prefix}_f{index + 1}</bpmn:outgoing>" if index < len(steps) - 1 else ""
        parts.append(
            step.xml.replace("{id}", ids[index]).replace("{incoming}", incoming).replace("{outgoing}", outgoing)
        )
    for index in range(1, len(steps)):
        parts.append(
            f'<bpmn:sequenceFlow id="{prefix}_f{index}" sourceRef="{ids[index - 1]}" targetRef="{ids[index]}" />'
        )
    return "\n".join(parts), ids[0], ids[-1]


def start() -> Step:
    return Step('<bpmn:startEvent id="{id}">{outgoing}</bpmn:startEvent>')


def end(definition: str = "") -> Step:
    return Step(f'<bpmn:endEvent id="{{id}}">{{incoming}}{definition}</bpmn:endEvent>')


def error_end(error: str = "Error_late") -> Step:
    return end(f'<bpmn:errorEventDefinition errorRef="{error}" />')


def escalate(escalation: str = "Escalation_slow") -> Step:
    return Step(
        '<bpmn:intermediateThrowEvent id="{id}">{incoming}{outgoing}'
        f'<bpmn:escalationEventDefinition escalationRef="{escalation}" /></bpmn:intermediateThrowEvent>'
    )


def sub_process(name: str, *inner: Step) -> Step:
    """An embedded sub-process running `inner` between its own start and end (the last inner step may end)."""
    body, _, _ = chain("in_" + name.replace(" ", "_"), start(), *inner)
    return Step(f'<bpmn:subProcess id="{{id}}" name={quoteattr(name)}>{{incoming}}{{outgoing}}{body}</bpmn:subProcess>')


def call(called: str, ins: list[dict[str, str]], outs: list[dict[str, str]], name: str = "Call") -> Step:
    def mapping(tag: str, attrs: dict[str, str]) -> str:
        return f"<camunda:{tag} " + " ".join(f"{k}={quoteattr(v)}" for k, v in attrs.items()) + " />"

    maps = "".join(mapping("in", m) for m in ins) + "".join(mapping("out", m) for m in outs)
    return Step(
        f'<bpmn:callActivity id="{{id}}" name={quoteattr(name)} calledElement="{called}">'
        f"<bpmn:extensionElements>{maps}</bpmn:extensionElements>{{incoming}}{{outgoing}}</bpmn:callActivity>"
    )


def decide(ref: str, result: str | None = None, mapping: str | None = None, name: str = "Decide") -> Step:
    attrs = f' camunda:decisionRef="{ref}"'
    attrs += f' camunda:resultVariable="{result}"' if result else ""
    attrs += f' camunda:mapDecisionResult="{mapping}"' if mapping else ""
    return Step(
        f'<bpmn:businessRuleTask id="{{id}}" name={quoteattr(name)}{attrs}>'
        "{incoming}{outgoing}</bpmn:businessRuleTask>"
    )


def boundary(attached: str, definition: str, *then: Step, interrupting: bool = True, tag: str = "b") -> str:
    """A boundary event on `attached` and the steps it leads to (ending at their own end event)."""
    cancel = "" if interrupting else ' cancelActivity="false"'
    body, first, _ = chain(tag, *then, end())
    return (
        f'<bpmn:boundaryEvent id="{tag}_event" attachedToRef="{attached}"{cancel}>'
        f"<bpmn:outgoing>{tag}_out</bpmn:outgoing>{definition}</bpmn:boundaryEvent>\n"
        f'<bpmn:sequenceFlow id="{tag}_out" sourceRef="{tag}_event" targetRef="{first}" />\n{body}'
    )


def event_sub_process(definition: str, *then: Step, interrupting: bool = True, tag: str = "ev") -> str:
    """A sub-process with `triggeredByEvent="true"`, started by `definition`, running `then`."""
    flag = "" if interrupting else ' isInterrupting="false"'
    first = Step(f'<bpmn:startEvent id="{{id}}"{flag}>{{outgoing}}{definition}</bpmn:startEvent>')
    body, _, _ = chain(tag, first, *then, end())
    return f'<bpmn:subProcess id="{tag}_sub" triggeredByEvent="true">{body}</bpmn:subProcess>'


def model(
    pid: str, name: str, *steps: Step, extras: str = "", start_definition: str = "", definitions: str = ""
) -> str:
    """A whole file: `start → steps → end`, plus `extras` (boundary events, event sub-processes) in the process,
    and `definitions` (messages) beside the shared errors and escalations."""
    first = Step(f'<bpmn:startEvent id="{{id}}">{{outgoing}}{start_definition}</bpmn:startEvent>')
    body, _, _ = chain("main", first, *steps, end())
    return (
        HEAD
        + DEFINITIONS
        + definitions
        + f'  <bpmn:process id="{pid}" name={quoteattr(name)} isExecutable="true">\n{body}\n{extras}\n'
        + "  </bpmn:process>\n</bpmn:definitions>\n"
    )


def error_ref(error: str = "Error_late") -> str:
    return f'<bpmn:errorEventDefinition errorRef="{error}" />'


def escalation_ref(escalation: str = "Escalation_slow") -> str:
    return f'<bpmn:escalationEventDefinition escalationRef="{escalation}" />'


def timer_cycle(text: str) -> str:
    return (
        '<bpmn:timerEventDefinition><bpmn:timeCycle xsi:type="bpmn:tFormalExpression">'
        f"{text}</bpmn:timeCycle></bpmn:timerEventDefinition>"
    )


def message_start(message_id: str) -> str:
    return f'<bpmn:messageEventDefinition messageRef="{message_id}" />'


Files = dict[str, str]


@asynccontextmanager
async def flow_rig(
    tmp_path: Path,
    files: Files,
    *,
    clock: Clock | None = None,
    prepare: Callable[[Path], object] | None = None,
    store: str = "sqlite",
) -> AsyncIterator[Rig]:
    """A started rig whose catalog is `files` (relative path → text), on SQLite or a fresh Redis prefix."""
    folder = tmp_path / "processes"
    for relative, text in files.items():
        path = folder / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    if prepare is not None:
        prepare(folder)
    prefix = f"linedesk-test-{uuid.uuid4().hex[:8]}:"
    store_url = None
    if store == "redis":
        reason = await redis_available()
        if reason:
            pytest.skip(reason)
        store_url = f"{REDIS_URL}?prefix={prefix}"
    rig = Rig(tmp_path, folder, limits=Limits.off(), clock=clock, store_url=store_url)
    await rig.start()
    try:
        yield rig
    finally:
        await rig.stop()
        if store == "redis":
            await drop_redis_prefix(prefix)
