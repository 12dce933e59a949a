"""Event sub-processes (`triggeredByEvent="true"`) as Camunda 7 runs them (SPEC §11 "Flow").

SpiffWorkflow starts an event sub-process of the process when its error, escalation or message is thrown,
and runs a timer one as a branch waiting from the start. What it leaves out, done here after every task:
- an *interrupting* event sub-process (the default) cancels the rest of its process once its start event
  has fired (the error, escalation, message or timer happened);
- when the process's own flow has ended, event sub-processes still waiting for their event are cancelled,
  so the instance completes;
- the event sub-process sees the process's variables as they are when it starts (Spiff gives it the start's).
Event sub-processes run at a process's top level (check-config refuses them inside a sub-process).
"""

from __future__ import annotations

from typing import Any

from SpiffWorkflow.bpmn.parser.event_parsers import (
    CONDITIONAL_EVENT_XPATH,
    ERROR_EVENT_XPATH,
    ESCALATION_EVENT_XPATH,
    MESSAGE_EVENT_XPATH,
    SIGNAL_EVENT_XPATH,
    TIMER_EVENT_XPATH,
)
from SpiffWorkflow.bpmn.parser.task_parsers import SubprocessParser
from SpiffWorkflow.bpmn.specs.defaults import EventSubprocess, StartEvent
from SpiffWorkflow.camunda.parser.event_parsers import CamundaStartEventParser
from SpiffWorkflow.camunda.parser.task_spec import SubWorkflowParser
from SpiffWorkflow.task import Task
from SpiffWorkflow.util.task import TaskState

BPMN_NS = "http://www.omg.org/spec/BPMN/20100524/MODEL"


class LinedeskEventSubprocess(EventSubprocess):
    @property
    def interrupting(self) -> bool:
        return bool((getattr(self, "extensions", None) or {}).get("linedesk", {}).get("interrupting", True))

    def copy_data(self, my_task: Task, subworkflow: Any) -> None:
        latest = my_task.workflow.last_task
        source = latest.data if latest is not None else my_task.data
        start = subworkflow.get_next_task(spec_name="Start")
        start.set_data(**dict(source))


class EventSubprocessAwareParser(SubWorkflowParser):
    """An embedded sub-process, or an event sub-process, which Spiff's Camunda parser would run as an
    ordinary sub-process."""

    def create_task(self) -> Any:
        spec = SubprocessParser.get_subprocess_spec(self)
        event = self.node.get("triggeredByEvent") == "true"
        cls = LinedeskEventSubprocess if event else self.spec_class
        return cls(self.spec, self.bpmn_id, subworkflow_spec=spec, **self.bpmn_attributes)

    def parse_extensions(self, node: Any = None) -> dict[str, Any]:
        extensions: dict[str, Any] = super().parse_extensions(node)
        starts = self.node.findall(f"{{{BPMN_NS}}}startEvent")
        extensions["linedesk"] = {"interrupting": all(s.get("isInterrupting", "true") == "true" for s in starts)}
        return extensions


class EventStartParser(CamundaStartEventParser):
    """Start events, with the error and escalation starts of event sub-processes (Spiff reads those as none)."""

    def create_task(self) -> Any:
        definition = self.get_event_definition(
            [
                MESSAGE_EVENT_XPATH,
                SIGNAL_EVENT_XPATH,
                TIMER_EVENT_XPATH,
                CONDITIONAL_EVENT_XPATH,
                ERROR_EVENT_XPATH,
                ESCALATION_EVENT_XPATH,
            ]
        )
        task = self._create_task(definition)
        self.spec.start.connect(task)
        return task


def _fired(task: Task) -> bool:
    """Has the event sub-process's start event happened?"""
    sub = task.workflow.top_workflow.subprocesses.get(task.id)
    if sub is None:
        return False
    live = TaskState.READY | TaskState.STARTED | TaskState.COMPLETED
    return any(t.has_state(live) for t in sub.get_tasks(spec_class=StartEvent))


def settle_event_subprocesses(workflow: Any) -> None:
    """Interrupt for fired interrupting event sub-processes; drop waiting ones once the flow has ended; end
    the process when an event sub-process was the last thing running in it."""
    subs = list(workflow.get_tasks(spec_class=LinedeskEventSubprocess))
    events = [t for t in subs if t.workflow is workflow and t.state in (TaskState.READY, TaskState.STARTED)]
    for task in events:
        if task.task_spec.interrupting and not task.internal_data.get("interrupted") and _fired(task):
            task.internal_data["interrupted"] = True
            for sibling in list(task.parent.children if task.parent else []):
                if sibling is not task:
                    sibling.cancel()
    busy = [t for t in workflow.tasks.values() if t.has_state(TaskState.NOT_FINISHED_MASK)]
    waiting = [t for t in events if not _fired(t)]
    if waiting and all(t in waiting or t.task_spec.name == "End" for t in busy):
        for task in waiting:
            task.cancel()
        busy = [t for t in workflow.tasks.values() if t.has_state(TaskState.NOT_FINISHED_MASK)]
    done = [t for t in subs if t.workflow is workflow and t.state == TaskState.COMPLETED and not t.children]
    if done and not busy and not workflow.completed:
        workflow._mark_complete(done[-1])


def has_event_subprocesses(workflow: Any) -> bool:
    specs = [workflow.spec, *workflow.subprocess_specs.values()]
    return any(isinstance(ts, LinedeskEventSubprocess) for spec in specs for ts in spec.task_specs.values())
