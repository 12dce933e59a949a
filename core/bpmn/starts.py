"""Start events other than none (SPEC §11): how a catalog process is started.

- A timer start event (`timeCycle` `R[n]/[start]/period` or a cron expression, `timeDate`) starts the process
  on schedule with no session (core/processes/schedule.py).
- A message start event named like an auto-start event (`session.created`, `message.received`,
  `session.closed`) acts as that auto-start rule on every line (core/autostart.py); any other message start
  is started only through the REST API of §12.
- Signal start events are refused by check-config.

At run time the top-level start event's definition is dropped (linedesk starts the instance when the timer is
due or the event happens, so the instance begins as if from a none start event).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

BPMN_NS = "http://www.omg.org/spec/BPMN/20100524/MODEL"
AUTOSTART_EVENTS = (
    "session.created",
    "message.received",
    "session.closed",
    "session.rated",
    "session.assigned",
)
_B = "{" + BPMN_NS + "}"


@dataclass(frozen=True)
class ProcessStart:
    kind: str = "none"
    """"none", "timer" or "message"."""
    timer_kind: str | None = None
    """"timeCycle" or "timeDate"."""
    timer: str | None = None
    message: str | None = None
    element: str | None = None

    @property
    def manual(self) -> bool:
        """Started by an operator from a session (the process picker)."""
        return self.kind == "none"

    @property
    def autostart_event(self) -> str | None:
        return self.message if self.kind == "message" and self.message in AUTOSTART_EVENTS else None


def top_start_events(process: Any) -> list[Any]:
    return [child for child in process if child.tag == _B + "startEvent"]


def _message_name(root: Any, ref: str | None) -> str | None:
    for message in root.iter(_B + "message"):
        if message.get("id") == ref:
            return str(message.get("name") or ref)
    return ref


def start_of(process: Any) -> ProcessStart:
    """How the process starts, from its (single) top-level start event."""
    events = top_start_events(process)
    if len(events) != 1:
        return ProcessStart()
    event = events[0]
    timer = event.find(_B + "timerEventDefinition")
    if timer is not None:
        for kind in ("timeCycle", "timeDate", "timeDuration"):
            node = timer.find(_B + kind)
            if node is not None:
                return ProcessStart("timer", kind, (node.text or "").strip(), element=event.get("id"))
        return ProcessStart("timer", None, None, element=event.get("id"))
    message = event.find(_B + "messageEventDefinition")
    if message is not None:
        name = _message_name(process.getroottree().getroot(), message.get("messageRef"))
        return ProcessStart("message", message=name, element=event.get("id"))
    return ProcessStart(element=event.get("id"))


def plain_start_events(bpmn: Any) -> None:
    """Drop timer and message definitions of top-level start events (linedesk itself starts those)."""
    for process in bpmn.iter(_B + "process"):
        for event in top_start_events(process):
            for tag in ("timerEventDefinition", "messageEventDefinition"):
                for definition in event.findall(_B + tag):
                    event.remove(definition)


def start_problems(process: Any, valid_timer: Any) -> list[tuple[Any, str]]:
    """(element, message) for start events linedesk cannot run; `valid_timer(kind, text)` names a bad timer."""
    problems: list[tuple[Any, str]] = []
    # signal start events: refused by core/bpmn/checks.py with the other §11 refusals
    events = top_start_events(process)
    if len(events) > 1:
        ids = ", ".join(str(e.get("id")) for e in events)
        problems.append((events[1], f"one start event per process is supported (found {ids})"))
        return problems
    for tag in ("errorEventDefinition", "escalationEventDefinition", "conditionalEventDefinition"):
        if events and events[0].find(_B + tag) is not None:
            kind = tag.removesuffix("EventDefinition")
            advice = "start the process with a none, timer or message start event"
            problems.append((events[0], f"{kind} start events belong in event sub-processes: {advice}"))
    start = start_of(process)
    if start.kind == "timer":
        if start.timer_kind not in ("timeCycle", "timeDate") or not start.timer:
            problems.append((events[0], "a timer start event needs a timeCycle or a timeDate"))
        else:
            error = valid_timer(start.timer_kind, start.timer)
            if error:
                problems.append((events[0], error))
    return problems
