"""The synchronous engine: one SpiffWorkflow run, advanced until it needs the outside world.

Nothing here does I/O. A run stops at user tasks (forms for operators) and block
tasks (performed by the async block runner in core/processes.py); script tasks run
inline and their block calls are collected as effects. The script engine is
attached anew after every load (SpiffWorkflow does not serialise it).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from SpiffWorkflow.bpmn import BpmnEvent
from SpiffWorkflow.bpmn.script_engine import PythonScriptEngine, TaskDataEnvironment
from SpiffWorkflow.bpmn.serializer import BpmnWorkflowSerializer
from SpiffWorkflow.bpmn.workflow import BpmnWorkflow
from SpiffWorkflow.camunda.specs.event_definitions import MessageEventDefinition as CamundaMessageEventDefinition
from SpiffWorkflow.camunda.specs.user_task import UserTask
from SpiffWorkflow.exceptions import SpiffWorkflowException
from SpiffWorkflow.task import Task
from SpiffWorkflow.util.task import TaskState

from core.bpmn.catalog import ProcessEntry
from core.bpmn.event_subs import has_event_subprocesses, settle_event_subprocesses
from core.bpmn.specs import BlockTask, make_serializer
from core.bpmn.thrown import uncaught_error


class EngineError(Exception):
    """A process cannot go on: script error, missing variable, bad model. Fails the instance."""

    def __init__(self, message: str, task: str | None = None):
        super().__init__(message)
        self.task = task


@dataclass(frozen=True)
class FormField:
    id: str
    label: str
    type: str
    """"string", "long", "boolean", "enum" or "date"."""
    default: str | None = None
    required: bool = False
    options: tuple[tuple[str, str], ...] = ()
    """(id, name) of an enum's values."""


@dataclass(frozen=True)
class UserTaskView:
    task_id: str
    bpmn_id: str
    name: str
    fields: tuple[FormField, ...]
    assignee: str | None
    data: dict[str, Any]


@dataclass(frozen=True)
class BlockCall:
    task_id: str
    bpmn_id: str
    name: str
    topic: str
    inputs: tuple[tuple[str, str], ...]
    result_variable: str | None
    data: dict[str, Any]


BlockBridge = Callable[[str, dict[str, Any], str], Any]
"""Performs a block called from a script: (topic, args, task key) → the block's result."""

CLIENT_MESSAGE = "client_message"
TIMER_EVENTS = frozenset({"TimeDateEventDefinition", "DurationTimerEventDefinition", "CycleTimerEventDefinition"})


@dataclass(frozen=True)
class WaitState:
    client_message: bool = False
    wake_at: float | None = None


class LinedeskScriptEngine(PythonScriptEngine):
    """Scripts may call the blocks as functions; each call goes through the bridge with a key
    that is stable across replays (the script task's id and the call's position)."""

    def __init__(self, bridge: BlockBridge | None):
        self._bridge = bridge
        self._task_id = ""
        self._calls = 0
        super().__init__(environment=TaskDataEnvironment({"datetime": dt, **self._functions()}))

    def execute(self, task: Task, script: str, external_context: Any = None) -> Any:
        self._task_id, self._calls = str(task.id), 0
        return super().execute(task, script, external_context)

    def _call(self, topic: str, args: dict[str, Any]) -> Any:
        if self._bridge is None:
            raise RuntimeError(f"{topic} cannot run here (no block runner attached)")
        self._calls += 1
        return self._bridge(topic, args, f"{self._task_id}:{self._calls}")

    def _functions(self) -> dict[str, Callable[..., Any]]:
        def reply(text: str) -> Any:
            return self._call("linedesk.reply", {"text": str(text)})

        def initiative(text: str, client: str | None = None, line: str | None = None) -> Any:
            args: dict[str, Any] = {"text": str(text)}
            if client is not None:
                args["client"] = client
            if line is not None:
                args["line"] = line
            return self._call("linedesk.initiative", args)

        def status(text: str) -> Any:
            return self._call("linedesk.status", {"text": str(text)})

        def create_item(app: str, **fields: Any) -> Any:
            return self._call("linedesk.create_item", {"app": app, **fields})

        def close_session() -> Any:
            return self._call("linedesk.close_session", {})

        return {
            "reply": reply,
            "initiative": initiative,
            "status": status,
            "create_item": create_item,
            "close_session": close_session,
        }


class WorkflowRun:
    """One instance's workflow, loaded and ready to advance."""

    def __init__(self, workflow: BpmnWorkflow, serializer: BpmnWorkflowSerializer):
        self.workflow = workflow
        self._serializer = serializer

    @classmethod
    def new(cls, entry: ProcessEntry, data: dict[str, Any], bridge: BlockBridge | None = None) -> WorkflowRun:
        workflow = BpmnWorkflow(entry.spec, entry.subprocess_specs, script_engine=LinedeskScriptEngine(bridge))
        for task in workflow.get_tasks(state=TaskState.READY):
            task.data.update(data)
        return cls(workflow, make_serializer())

    @classmethod
    def load(cls, state: str, bridge: BlockBridge | None = None) -> WorkflowRun:
        serializer = make_serializer()
        workflow = serializer.deserialize_json(state)
        workflow.script_engine = LinedeskScriptEngine(bridge)
        return cls(workflow, serializer)

    def attach(self, bridge: BlockBridge | None) -> None:
        self.workflow.script_engine = LinedeskScriptEngine(bridge)

    def dump(self) -> str:
        return str(self._serializer.serialize_json(self.workflow))

    @property
    def completed(self) -> bool:
        return bool(self.workflow.completed)

    def advance(self) -> None:
        """Run every engine task (gateways, scripts, events) until only manual tasks wait."""
        try:
            settle = _settle_flow(self.workflow)
            self.workflow.do_engine_steps(did_complete_task=settle)
            # do_engine_steps refreshes due timers only at its end: run what they released
            for _ in range(1000):
                settle(None)
                if not self.workflow.get_tasks(state=TaskState.READY, manual=False):
                    break
                self.workflow.do_engine_steps(did_complete_task=settle)
        except SpiffWorkflowException as err:
            raise EngineError(_describe(err), _failed_task(err)) from err
        except Exception as err:
            raise EngineError(f"{type(err).__name__}: {err}") from err
        error = uncaught_error(self.workflow)
        if error:
            raise EngineError(error)

    def waiting(self) -> WaitState:
        """What the run waits on besides manual tasks: the client's next message, a timer."""
        client_message = False
        wake_at: float | None = None
        for event in self.workflow.waiting_events():
            if event.event_type.endswith("MessageEventDefinition") and event.name == CLIENT_MESSAGE:
                client_message = True
            elif event.event_type in TIMER_EVENTS and isinstance(event.value, str):
                try:
                    due = dt.datetime.fromisoformat(event.value).timestamp()
                except ValueError:
                    continue
                wake_at = due if wake_at is None else min(wake_at, due)
        return WaitState(client_message=client_message, wake_at=wake_at)

    def deliver_client_message(self, text: str) -> None:
        """The session's next client message, into variable `client_message`."""
        definition = CamundaMessageEventDefinition(CLIENT_MESSAGE)
        self.workflow.catch(BpmnEvent(definition, payload={"payload": text, "result_var": CLIENT_MESSAGE}))

    def variables(self) -> dict[str, Any]:
        """The instance's data as a user would read it: the latest completed task's, or the end's."""
        if self.workflow.completed:
            return dict(self.workflow.data)
        ready = self.workflow.get_tasks(state=TaskState.READY)
        if ready:
            return dict(ready[0].data)
        done = self.workflow.get_tasks(state=TaskState.COMPLETED)
        return dict(done[-1].data) if done else dict(self.workflow.data)

    def _ready_manual(self) -> list[Task]:
        return list(self.workflow.get_tasks(state=TaskState.READY, manual=True))

    def ready_blocks(self) -> list[BlockCall]:
        calls = []
        for task in self._ready_manual():
            if isinstance(task.task_spec, BlockTask):
                attrs = _attrs(task)
                calls.append(
                    BlockCall(
                        task_id=str(task.id),
                        bpmn_id=task.task_spec.bpmn_id,
                        name=task.task_spec.bpmn_name or task.task_spec.bpmn_id,
                        topic=attrs.get("topic", ""),
                        inputs=tuple((str(n), str(t)) for n, t in attrs.get("inputs", [])),
                        result_variable=attrs.get("resultVariable") or None,
                        data=task.data,
                    )
                )
        return calls

    def ready_user_tasks(self) -> list[UserTaskView]:
        views = []
        for task in self._ready_manual():
            if isinstance(task.task_spec, UserTask):
                views.append(
                    UserTaskView(
                        task_id=str(task.id),
                        bpmn_id=task.task_spec.bpmn_id,
                        name=task.task_spec.bpmn_name or task.task_spec.bpmn_id,
                        fields=tuple(_form_fields(task.task_spec)),
                        assignee=_attrs(task).get("assignee") or None,
                        data=task.data,
                    )
                )
        return views

    def other_manual_tasks(self) -> list[str]:
        """Manual tasks linedesk has no UI for (bpmn:manualTask, bpmn:task): completed as they come."""
        return [str(t.id) for t in self._ready_manual() if not isinstance(t.task_spec, (BlockTask, UserTask))]

    def complete(self, task_id: str, data: dict[str, Any]) -> None:
        task = self._task(task_id)
        task.data.update(data)
        try:
            task.run()
        except SpiffWorkflowException as err:
            raise EngineError(_describe(err), task.task_spec.bpmn_id) from err

    def _task(self, task_id: str) -> Task:
        for task in self._ready_manual():
            if str(task.id) == task_id:
                return task
        raise KeyError(task_id)


def _settle_flow(workflow: BpmnWorkflow) -> Callable[[Task | None], None]:
    """Event sub-processes' interruptions (core/bpmn/event_subs.py), after every task — a no-op for the
    (most) processes that have none."""
    if not has_event_subprocesses(workflow):
        return lambda task: None

    def settle(task: Task | None) -> None:
        settle_event_subprocesses(workflow)

    return settle


def _attrs(task: Task) -> dict[str, Any]:
    extensions = getattr(task.task_spec, "extensions", None) or {}
    attrs = extensions.get("linedesk", {})
    return attrs if isinstance(attrs, dict) else {}


def _form_fields(spec: UserTask) -> list[FormField]:
    fields = []
    for field_ in spec.form.fields:
        options = tuple((o.id, o.name or o.id) for o in getattr(field_, "options", []) or [])
        fields.append(
            FormField(
                id=field_.id,
                label=field_.label or field_.id,
                type=field_.type or "string",
                default=field_.default_value or None,
                required=_required(field_),
                options=options,
            )
        )
    return fields


def _required(field_: Any) -> bool:
    """`<camunda:constraint name="required"/>` has no config; Spiff's has_validation() misses it."""
    return any(v.name == "required" and v.config not in ("false", "False") for v in field_.validation)


def _failed_task(err: SpiffWorkflowException) -> str | None:
    task = getattr(err, "task", None)
    spec = getattr(task, "task_spec", None) or getattr(err, "task_spec", None)
    bpmn_id = getattr(spec, "bpmn_id", None)
    return str(bpmn_id) if bpmn_id else None


def _describe(err: SpiffWorkflowException) -> str:
    lines = [str(err).splitlines()[0] if str(err) else type(err).__name__]
    for note in getattr(err, "notes", None) or getattr(err, "__notes__", None) or []:
        lines.append(str(note))
    return " — ".join(lines)
