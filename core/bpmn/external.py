"""What the engine does for workers and integrations (SPEC §12): the external tasks a run waits on, a BPMN error
thrown at one of them, and a message delivered to the catch events waiting for it. Synchronous, no I/O."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from SpiffWorkflow.bpmn import BpmnEvent
from SpiffWorkflow.bpmn.specs.event_definitions.item_aware_event import ErrorEventDefinition
from SpiffWorkflow.bpmn.workflow import BpmnWorkflow
from SpiffWorkflow.camunda.specs.event_definitions import MessageEventDefinition
from SpiffWorkflow.task import Task
from SpiffWorkflow.util.task import TaskState

from core.bpmn.checks import BLOCK_PREFIX
from core.bpmn.specs import BlockTask

MESSAGE_VARIABLES = "message_variables"
"""The variable a correlated message's `processVariables` also arrive in, as one object."""


@dataclass(frozen=True)
class WorkerTask:
    """A ready external task that no linedesk block serves: it waits for a worker."""

    task_id: str
    activity_id: str
    name: str
    topic: str


def _topic(task: Task) -> str:
    extensions = getattr(task.task_spec, "extensions", None) or {}
    attrs = extensions.get("linedesk", {})
    return str(attrs.get("topic", "")) if isinstance(attrs, dict) else ""


def worker_tasks(workflow: BpmnWorkflow) -> list[WorkerTask]:
    return [
        WorkerTask(str(t.id), t.task_spec.bpmn_id, t.task_spec.bpmn_name or t.task_spec.bpmn_id, _topic(t))
        for t in workflow.get_tasks(state=TaskState.READY, manual=True)
        if isinstance(t.task_spec, BlockTask) and not _topic(t).startswith(BLOCK_PREFIX)
    ]


def worker_task(workflow: BpmnWorkflow, task_id: str) -> Task | None:
    for task in workflow.get_tasks(state=TaskState.READY, manual=True):
        if str(task.id) == task_id and isinstance(task.task_spec, BlockTask):
            return task
    return None


def throw_bpmn_error(workflow: BpmnWorkflow, task: Task, code: str, message: str | None, data: dict[str, Any]) -> None:
    """A worker's `bpmnError`: thrown at the task, as Camunda does — an error boundary event of the task (or of an
    enclosing sub-process, or an error event sub-process) with that code, or none, catches it; uncaught, the
    next `advance` fails the instance with the code (core/bpmn/thrown.py)."""
    task.data.update(data)
    payload = {**task.data, "errorCode": code, "errorMessage": message}
    definition = ErrorEventDefinition(code, code=code)
    workflow.top_workflow.catch(BpmnEvent(definition, payload=payload, target=task.workflow))


def _message_waiters(workflow: BpmnWorkflow, name: str) -> list[Task]:
    return [
        task
        for task in workflow.get_tasks(state=TaskState.WAITING)
        if isinstance(getattr(task.task_spec, "event_definition", None), MessageEventDefinition)
        and task.task_spec.event_definition.name == name
    ]


def waits_for_message(workflow: BpmnWorkflow, name: str) -> int:
    """How many catch events of the run wait for message `name`."""
    return len(_message_waiters(workflow, name))


def deliver_message(workflow: BpmnWorkflow, name: str, variables: dict[str, Any], every: bool) -> int:
    """The message to the first catch event waiting for it (`every`: to all); its variables into the data."""
    waiters = _message_waiters(workflow, name)
    if not every:
        waiters = waiters[:1]
    for task in waiters:
        definition = task.task_spec.event_definition
        event = BpmnEvent(definition, payload={"payload": dict(variables), "result_var": MESSAGE_VARIABLES})
        task.data.update(variables)
        task.task_spec.catch(task, event)
        task.task_spec._update(task)
    return len(waiters)
