"""Control of instances from the desk (SPEC §11): list a session's instances, Cancel, Reassign, Retry.

Every action is re-checked here — the operator (known, online, of the instance's line), the instance
(exists, in a state the action applies to), the target operator — and announced in the session's thread/topic.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from SpiffWorkflow.util.task import TaskState

from core.blocks import BLOCKS
from core.bpmn.catalog import Catalog, load_catalog
from core.bpmn.engine import WorkflowRun
from core.clock import Clock
from core.config import OperatorConfig
from core.errors import Refusal
from core.model import InstanceRecord, InstanceStatus, OperatorStatus, OutboxEntry, Session
from core.processes.forms import InstanceBusy
from core.processes.halves import DrivingHalf
from core.workers.book import TaskBook
from core.workers.words import worker_words

ACTIVE = (InstanceStatus.RUNNING, InstanceStatus.WAITING)
LIST_LIMIT = 50


@dataclass(frozen=True)
class InstanceSummary:
    """One instance as the desk and the admin API show it."""

    id: str
    process: str
    status: str
    state: str
    """In words: running, waiting for the client / a timer / a worker on topic X / a task (for …), failed: …"""
    step: str | None
    assignee: str | None
    error: str | None
    started_by: str
    created_at: float

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "process": self.process,
            "status": self.status,
            "state": self.state,
            "step": self.step,
            "assignee": self.assignee,
            "error": self.error,
            "started_by": self.started_by,
            "created_at": self.created_at,
        }


def state_words(record: InstanceRecord, assignee_name: str | None) -> str:
    waiting = record.waiting_for or ""
    if record.status == InstanceStatus.WAITING:
        if waiting == "user_task":
            return f"waiting for a task ({assignee_name or 'unassigned'})"
        if waiting == "client_message":
            return "waiting for the client"
        if waiting == "timer":
            return "waiting for a timer"
        if waiting.startswith("ask:"):
            return "waiting for the client's answer"
        if waiting.startswith("worker:"):
            return f"waiting for a worker on topic {waiting.removeprefix('worker:')}"
        return "waiting for an event"
    if record.status == InstanceStatus.FAILED:
        return f"failed: {record.error or 'unknown error'}"
    if record.status == InstanceStatus.COMPLETED:
        return "done"
    return record.status.value


class ControlMixin(DrivingHalf):
    """`Processes`' control half: what an operator does to an instance from the desk."""

    catalog: Catalog
    _clock: Clock

    # --- looking ----------------------------------------------------------------------------
    async def session_instances(self, number: int) -> list[InstanceSummary]:
        """Every instance of session #number (newest first), with its state and current step."""
        records = await self._store.list_instances(session=number, limit=LIST_LIMIT)
        ordered = sorted(records, key=lambda r: (-r.created_at, r.id))
        return [await worker_words(self._store, r, self.summary(r), self._clock.now()) for r in ordered]

    def summary(self, record: InstanceRecord) -> InstanceSummary:
        owner = self._operators.get(record.assignee) if record.assignee else None
        return InstanceSummary(
            id=record.id,
            process=record.process_name or record.process_id,
            status=record.status.value,
            state=state_words(record, owner.name if owner else None),
            step=self._step_name(record),
            assignee=record.assignee,
            error=record.error,
            started_by=record.started_by,
            created_at=record.created_at,
        )

    def _step_name(self, record: InstanceRecord) -> str | None:
        if record.current_task is None or record.status == InstanceStatus.COMPLETED:
            return None
        entry = self.catalog.get(record.process_id)
        spec = entry.spec.task_specs.get(record.current_task) if entry else None
        return str(getattr(spec, "bpmn_name", None) or record.current_task)

    # --- acting -----------------------------------------------------------------------------
    async def cancel(self, instance_id: str, operator_id: str | None) -> InstanceRecord:
        """**Cancel**: the instance ends as `cancelled`; its timers and its task go."""
        async with self._controlled(instance_id, operator_id, ACTIVE, "cancel") as (record, operator, session):
            task = self._step_name(record) if record.waiting_for == "user_task" else None
            record.status = InstanceStatus.CANCELLED
            record.waiting_for = record.task_id = record.assignee = record.task_note = None
            record.wake_at, record.candidates = None, []
            released, record.worker_tasks = record.worker_tasks, []
            closed = f"; its task “{task}” is closed" if task else ""
            text = f"■ {record.process_name} cancelled by {operator.name}{closed}"
            await self._commit(record, self._courier.notice(session, text) if session else [])
            await TaskBook(self._store).drop(released)  # a worker holding one gets 404 from now on
            return record

    async def reassign(self, instance_id: str, operator_id: str | None, target_id: str) -> InstanceRecord:
        """**Reassign** the instance's open task to another operator of its line."""
        async with self._controlled(instance_id, operator_id, (InstanceStatus.WAITING,), "reassign") as (
            record,
            operator,
            session,
        ):
            if record.waiting_for != "user_task":
                raise Refusal(f"“{record.process_name}” has no open task to reassign.", "no_task")
            target = self._operators.get(target_id)
            if target is None or (record.line_id is not None and not target.serves(record.line_id)):
                raise Refusal(f"{target_id!r} is not an operator of this line.", "wrong_target")
            if target.id == record.assignee:
                raise Refusal(f"The task is already {target.name}'s.", "same_target")
            task = self._step_name(record) or "task"
            record.assignee, record.candidates = target.id, []
            record.task_note = f"reassigned by {operator.name}"
            outbox: list[OutboxEntry] = []
            if session is not None:
                text = f"↪ {operator.name} gave the task “{task}” of {record.process_name} to {target.name}"
                outbox = [*self._courier.notice(session, text), *self._task_card(record, task, session)]
            await self._commit(record, outbox)
            return record

    async def retry(self, instance_id: str, operator_id: str | None) -> InstanceRecord:
        """**Retry** a failed instance from its failed step — with the catalog file's current spec of that step
        (a fixed script, a block's fixed inputs) when the file still has it; otherwise the step as it was."""
        async with self._controlled(instance_id, operator_id, (InstanceStatus.FAILED,), "retry") as (
            record,
            operator,
            session,
        ):
            pending: list[OutboxEntry] = []
            run = WorkflowRun.load(record.state, self._bridge(record, pending))
            fresh = await asyncio.to_thread(load_catalog, self.catalog.root, BLOCKS)
            how = reset_failed(run, fresh, record.process_id)
            step = record.current_task
            record.status, record.error = InstanceStatus.RUNNING, None
            where = f" from “{self._step_name(record) or step}”" if step else ""
            text = f"↻ {operator.name} retries {record.process_name}{where} ({how})"
            pending.extend(self._courier.notice(session, text) if session else [])
            return await self._drive(record, run, pending)

    @asynccontextmanager
    async def _controlled(
        self, instance_id: str, operator_id: str | None, statuses: Sequence[InstanceStatus], verb: str
    ) -> AsyncIterator[tuple[InstanceRecord, OperatorConfig, Session | None]]:
        """The instance held exclusively and checked for the action: (record, operator, session)."""
        try:
            async with self._exclusive(instance_id):
                yield await self._load_checked(instance_id, operator_id, statuses, verb)
        except InstanceBusy:
            raise Refusal("The process is busy; try again in a moment.", "busy") from None

    async def _load_checked(
        self, instance_id: str, operator_id: str | None, statuses: Sequence[InstanceStatus], verb: str
    ) -> tuple[InstanceRecord, OperatorConfig, Session | None]:
        record = await self._store.get_instance(instance_id)
        if record is None:
            raise Refusal("This process instance does not exist.", "no_instance")
        operator = self._operators.get(operator_id) if operator_id else None
        if operator is None:
            raise Refusal("You are not a linedesk operator.", "not_operator")
        if record.line_id is not None and not operator.serves(record.line_id):
            raise Refusal(f"You are not an operator of line {record.line_id!r}.", "wrong_line")
        if record.line_id is None and not operator.admin:
            raise Refusal("Only admins control instances that belong to no line.", "not_admin")
        if (await self._operators.state(operator.id)).status == OperatorStatus.OFFLINE:
            raise Refusal("You are offline: type /status online first.", "offline")
        if record.status not in statuses:
            raise Refusal(f"“{record.process_name}” is {record.status.value}: nothing to {verb}.", "wrong_state")
        session = await self._store.get_session(record.session) if record.session else None
        return record, operator, session


def reset_failed(run: WorkflowRun, catalog: Catalog, process_id: str) -> str:
    """Make the failed step runnable again; says how: with the catalog's current spec, or as it was."""
    failed = list(run.workflow.get_tasks(state=TaskState.ERROR))
    if not failed:
        return "the step as it was"
    task = failed[0]
    entry = catalog.get(process_id)
    specs = [entry.spec, *entry.subprocess_specs.values()] if entry else []
    current = next((s.task_specs[task.task_spec.name] for s in specs if task.task_spec.name in s.task_specs), None)
    how = "the step as it was: the catalog file no longer has it"
    if current is not None and type(current) is type(task.task_spec):
        for attribute in ("script", "extensions", "condition"):
            if hasattr(current, attribute):
                setattr(task.task_spec, attribute, getattr(current, attribute))
        how = "the step as the catalog file has it now"
    run.workflow.reset_from_task_id(task.id)
    return how
