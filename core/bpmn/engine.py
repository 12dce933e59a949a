"""The synchronous engine: one SpiffWorkflow run, advanced until it needs the outside world.

Nothing here does I/O. A run stops at user tasks (forms for operators) and block
tasks (performed by the async block runner in core/processes.py); script tasks run
inline and their block calls are collected as effects. The script engine is
attached anew after every load (SpiffWorkflow does not serialise it).
"""

from __future__ import annotations

import datetime as dt
from collections import ChainMap
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from SpiffWorkflow.bpmn import BpmnEvent
from SpiffWorkflow.bpmn.exceptions import WorkflowTaskException
from SpiffWorkflow.bpmn.script_engine import PythonScriptEngine, TaskDataEnvironment
from SpiffWorkflow.bpmn.serializer import BpmnWorkflowSerializer
from SpiffWorkflow.bpmn.workflow import BpmnWorkflow
from SpiffWorkflow.camunda.specs.event_definitions import MessageEventDefinition as CamundaMessageEventDefinition
from SpiffWorkflow.camunda.specs.user_task import UserTask
from SpiffWorkflow.exceptions import SpiffWorkflowException
from SpiffWorkflow.task import Task
from SpiffWorkflow.util.task import TaskState

from core.bpmn import juel
from core.bpmn.catalog import ProcessEntry
from core.bpmn.checks import BLOCK_PREFIX
from core.bpmn.event_subs import has_event_subprocesses, settle_event_subprocesses
from core.bpmn.form_fields import FormField, field_from_dict
from core.bpmn.specs import BlockTask, is_start_form, make_serializer
from core.bpmn.thrown import uncaught_error

__all__ = ["BlockCall", "EngineError", "FormField", "UserTaskView", "WaitState", "WorkflowRun"]


class EngineError(Exception):
    """A process cannot go on: script error, missing variable, bad model. Fails the instance."""

    def __init__(self, message: str, task: str | None = None):
        super().__init__(message)
        self.task = task


@dataclass(frozen=True)
class UserTaskView:
    task_id: str
    bpmn_id: str
    name: str
    fields: tuple[FormField, ...]
    assignee: str | None
    data: dict[str, Any]
    candidate_users: tuple[str, ...] = ()
    candidate_groups: tuple[str, ...] = ()
    due_date: Any = None
    """`camunda:dueDate`, evaluated (JUEL) or as written."""


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
    step: str | None = None
    """bpmn id of the event (or task) the run waits at."""


class JuelEnvironment(TaskDataEnvironment):
    """Expressions with `${…}` / `#{…}` are JUEL (Camunda's), evaluated without Python; the rest is Python."""

    def evaluate(self, expression: str, context: dict[str, Any], external_context: dict[str, Any] | None = None) -> Any:
        if juel.is_juel(expression):
            return juel.evaluate(expression, ChainMap(context, external_context or {}))
        return super().evaluate(expression, context, external_context)


class LinedeskScriptEngine(PythonScriptEngine):
    """Scripts may call the blocks as functions; each call goes through the bridge with a key
    that is stable across replays (the script task's id and the call's position). Conditions,
    timers and other expressions written as JUEL are evaluated as JUEL."""

    def __init__(self, bridge: BlockBridge | None):
        self._bridge = bridge
        self._task_id = ""
        self._calls = 0
        super().__init__(environment=JuelEnvironment({"datetime": dt, **self._functions()}))

    def evaluate(self, task: Task, expression: str, external_context: Any = None) -> Any:
        try:
            return super().evaluate(task, expression, external_context)
        except WorkflowTaskException as err:
            cause = err.__cause__ or err.__context__
            if isinstance(cause, juel.JuelError):  # its message names the expression and the variable
                raise WorkflowTaskException(str(cause), task=task, exception=cause) from cause
            raise

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
        data = {**data, **_initiators(entry, data)}
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
        waiting = [t for t in self.workflow.get_tasks(state=TaskState.WAITING) if getattr(t.task_spec, "bpmn_id", None)]
        step = str(waiting[-1].task_spec.bpmn_id) if waiting else None
        return WaitState(client_message=client_message, wake_at=wake_at, step=step)

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
            if isinstance(task.task_spec, BlockTask) and str(_attrs(task).get("topic", "")).startswith(BLOCK_PREFIX):
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

    def worker_topics(self) -> list[tuple[str, str]]:
        """(task id, topic) of ready external tasks that no linedesk block serves: they wait for a worker (§12)."""
        return [
            (task.task_spec.bpmn_id, str(_attrs(task).get("topic", "")))
            for task in self._ready_manual()
            if isinstance(task.task_spec, BlockTask) and not str(_attrs(task).get("topic", "")).startswith(BLOCK_PREFIX)
        ]

    def ready_user_tasks(self) -> list[UserTaskView]:
        views = []
        for task in self._ready_manual():
            if isinstance(task.task_spec, UserTask) or is_start_form(task.task_spec):
                views.append(
                    UserTaskView(
                        task_id=str(task.id),
                        bpmn_id=task.task_spec.bpmn_id,
                        name=task.task_spec.bpmn_name or _start_name(task),
                        fields=tuple(_form_fields(task.task_spec)),
                        data=task.data,
                        **_people(task),
                    )
                )
        return views

    def other_manual_tasks(self) -> list[str]:
        """Manual tasks linedesk has no UI for (bpmn:manualTask, bpmn:task): completed as they come."""
        return [
            str(t.id)
            for t in self._ready_manual()
            if not isinstance(t.task_spec, (BlockTask, UserTask)) and not is_start_form(t.task_spec)
        ]

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


def resolve(text: str | None, data: Mapping[str, Any], task: str | None = None) -> Any:
    """A Camunda attribute's value (`camunda:assignee`, `dueDate`, …): a JUEL text evaluated over the
    instance data, any other text as written. An error fails the instance (EngineError)."""
    if text is None or not juel.is_juel(text):
        return text
    try:
        return juel.evaluate(text, data)
    except juel.JuelError as err:
        raise EngineError(str(err), task) from err


def resolve_names(text: str | None, data: Mapping[str, Any], task: str | None = None) -> tuple[str, ...]:
    """`camunda:candidateUsers` / `candidateGroups`: a comma-separated list, or an expression giving a
    list or such a text."""
    value = resolve(text, data, task)
    if value is None:
        return ()
    items = value if isinstance(value, (list, tuple, set, frozenset)) else juel.to_text(value).split(",")
    return tuple(name for name in (juel.to_text(item).strip() for item in items) if name)


def _people(task: Task) -> dict[str, Any]:
    """Who does a user task and by when, resolved over the task's data."""
    attrs, bpmn_id = _attrs(task), task.task_spec.bpmn_id
    starter = task.data.get("started_by")  # `${initiator}` / `${starter}` work without camunda:initiator
    data = ChainMap(task.data, {"initiator": starter, "starter": starter})
    assignee = resolve(attrs.get("assignee"), data, bpmn_id)
    return {
        "assignee": juel.to_text(assignee) or None,
        "candidate_users": resolve_names(attrs.get("candidateUsers"), data, bpmn_id),
        "candidate_groups": resolve_names(attrs.get("candidateGroups"), data, bpmn_id),
        "due_date": resolve(attrs.get("dueDate"), data, bpmn_id),
    }


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


def _start_name(task: Task) -> str:
    if is_start_form(task.task_spec):
        return "Start form"
    return str(task.task_spec.bpmn_id)


def _initiators(entry: ProcessEntry, data: dict[str, Any]) -> dict[str, Any]:
    """`camunda:initiator="x"` on a start event: `x` is the starting operator's id (`automation` for auto-starts)."""
    found: dict[str, Any] = {}
    for spec in entry.spec.task_specs.values():
        extensions = getattr(spec, "extensions", None) or {}
        name = (extensions.get("linedesk") or {}).get("initiator")
        if name:
            found[str(name)] = data.get("started_by")
    return found


def _form_fields(spec: Any) -> list[FormField]:
    """The form's fields as parsed by linedesk; instances stored before that read Spiff's formData."""
    extensions = getattr(spec, "extensions", None) or {}
    stored = (extensions.get("linedesk") or {}).get("form")
    if isinstance(stored, list):
        return [field_from_dict(item) for item in stored if isinstance(item, dict)]
    if not isinstance(spec, UserTask):
        return []
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
    message = str(err.args[0]) if err.args and err.args[0] else type(err).__name__  # str() adds the notes
    lines = [message.splitlines()[0]]
    for note in getattr(err, "notes", None) or getattr(err, "__notes__", None) or []:
        lines.append(str(note))
    return " — ".join(lines)
