"""Instances seen from a desk: an instance's open user task, taking it, submitting its form."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

from core.bpmn.engine import EngineError, UserTaskView, WorkflowRun
from core.config import OperatorConfig
from core.errors import Refusal
from core.forms import validate
from core.model import (
    InstanceRecord,
    InstanceStatus,
    OperatorStatus,
    OutboxEntry,
)
from core.processes.assignment import names
from core.processes.halves import DrivingHalf


class InstanceBusy(Exception):
    """Another driver (in this process or another linedesk instance) holds the instance."""


@dataclass
class Submission:
    """The outcome of a form submission: field errors, or the instance and its next form (if any)."""

    instance: InstanceRecord
    errors: dict[str, str] = field(default_factory=dict)
    next_task: UserTaskView | None = None


class FormsMixin(DrivingHalf):
    """`Processes`' form half: it reads instances and hands completed tasks to the driving half."""

    # --- forms ----------------------------------------------------------------------------
    async def get(self, instance_id: str) -> InstanceRecord | None:
        return await self._store.get_instance(instance_id)

    async def open_task(self, instance_id: str) -> UserTaskView | None:
        """The user task the instance waits on, if any (to render its form)."""
        record = await self._store.get_instance(instance_id)
        if record is None or record.status != InstanceStatus.WAITING:
            return None
        tasks = WorkflowRun.load(record.state).ready_user_tasks()
        return tasks[0] if tasks else None

    async def claim_task(self, instance_id: str, operator_id: str | None) -> tuple[InstanceRecord, UserTaskView]:
        """**Take task** / **Open form**: an unassigned task becomes the operator's; their own opens again."""
        operator = self._operators.get(operator_id) if operator_id else None
        try:
            async with self._exclusive(instance_id):
                record = await self._store.get_instance(instance_id)
                if record is None:
                    raise Refusal("This process instance does not exist.", "no_instance")
                if record.status != InstanceStatus.WAITING or record.waiting_for != "user_task":
                    raise Refusal(f"“{record.process_name}” has no open task now.", "no_task")
                await self._check_operator(record, operator)
                assert operator is not None
                if record.assignee is None and record.candidates and operator.id not in record.candidates:
                    who = ", ".join(names(record.candidates, self._operators.get))
                    raise Refusal(f"This task is for {who}: only they may take it.", "not_candidate")
                if record.assignee is None:
                    record.assignee = operator.id
                    session = await self._store.get_session(record.session) if record.session else None
                    notice = (
                        self._courier.notice(session, f"✋ {operator.name} took the task of {record.process_name}")
                        if session
                        else []
                    )
                    await self._commit(record, notice)
                elif record.assignee != operator.id:
                    owner = self._operators.get(record.assignee)
                    raise Refusal(f"This task belongs to {owner.name if owner else record.assignee}.", "not_assignee")
        except InstanceBusy:
            raise Refusal("The process is busy; try again in a moment.", "busy") from None
        task = await self.open_task(instance_id)
        if task is None:
            raise Refusal("The task was completed meanwhile.", "stale_task")
        return record, task

    async def submit(self, instance_id: str, task_id: str, operator_id: str | None, raw: dict[str, Any]) -> Submission:
        """Complete a user task with what the operator entered; invalid fields come back as errors."""
        try:
            async with self._exclusive(instance_id):
                record = await self._submit(instance_id, task_id, operator_id, raw)
        except InstanceBusy:
            raise Refusal("The process is busy; try again in a moment.", "busy") from None
        if isinstance(record, Submission):
            return record
        next_task = None
        if (
            record.status == InstanceStatus.WAITING
            and record.waiting_for == "user_task"
            and record.assignee == operator_id
        ):
            next_task = await self.open_task(record.id)
        return Submission(instance=record, next_task=next_task)

    async def _submit(
        self, instance_id: str, task_id: str, operator_id: str | None, raw: dict[str, Any]
    ) -> InstanceRecord | Submission:
        record = await self._store.get_instance(instance_id)
        if record is None:
            raise Refusal("This process instance does not exist.", "no_instance")
        if record.status != InstanceStatus.WAITING:
            raise Refusal(f"“{record.process_name}” is {record.status.value}: the form is closed.", "not_waiting")
        pending: list[OutboxEntry] = []
        run = WorkflowRun.load(record.state, self._bridge(record, pending))
        task = next((t for t in run.ready_user_tasks() if t.task_id == task_id), None)
        if task is None:
            raise Refusal("This form was already submitted.", "stale_task")
        await self._check_assignee(record, operator_id)
        values, errors = await asyncio.to_thread(validate, task.fields, raw)  # a form's pattern runs off the loop
        if errors:
            return Submission(instance=record, errors=errors)
        try:
            await asyncio.to_thread(run.complete, task_id, values)
        except EngineError as err:
            return Submission(instance=await self._fail(record, run, str(err), err.task))
        return await self._drive(record, run, pending)

    async def _check_assignee(self, record: InstanceRecord, operator_id: str | None) -> None:
        operator = self._operators.get(operator_id) if operator_id else None
        if operator is not None and record.assignee is not None and record.assignee != operator.id:
            owner = self._operators.get(record.assignee)
            raise Refusal(f"This task belongs to {owner.name if owner else record.assignee}.", "not_assignee")
        if record.assignee is None:
            raise Refusal("Take the task first.", "not_assignee")
        await self._check_operator(record, operator)

    async def _check_operator(self, record: InstanceRecord, operator: OperatorConfig | None) -> None:
        if operator is None:
            raise Refusal("You are not a linedesk operator.", "not_operator")
        if record.line_id is not None and not operator.serves(record.line_id):
            raise Refusal(f"You are not an operator of line {record.line_id!r}.", "wrong_line")
        state = await self._operators.state(operator.id)
        if state.status == OperatorStatus.OFFLINE:
            raise Refusal("You are offline: type /status online first.", "offline")
