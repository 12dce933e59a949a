"""Process instances: starting them from sessions, driving them, completing their forms.

The engine (core/bpmn/engine.py) is synchronous and does no I/O; this service
loads an instance, lets the engine advance, performs the blocks it stops at, and
stores the instance after every step together with that step's outbox entries.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass, field
from typing import Any

from core.blocks import BlockError, Blocks, render
from core.bpmn.catalog import Catalog
from core.bpmn.engine import EngineError, ScriptEffect, UserTaskView, WorkflowRun
from core.clock import Clock
from core.config import Config
from core.courier import Courier
from core.errors import Refusal
from core.forms import validate
from core.locks import KeyedLocks
from core.model import (
    AuthorKind,
    InstanceRecord,
    InstanceStatus,
    OperatorStatus,
    OutboxEntry,
    Session,
    SessionStatus,
)
from core.operators import Operators
from core.store.base import Store

log = logging.getLogger(__name__)

DOUBLE_CLICK_WINDOW = 5.0
AUTOMATION = "automation"


@dataclass
class Submission:
    """The outcome of a form submission: field errors, or the instance and its next form (if any)."""

    instance: InstanceRecord
    errors: dict[str, str] = field(default_factory=dict)
    next_task: UserTaskView | None = None


class Processes:
    def __init__(self, store: Store, config: Config, catalog: Catalog, clock: Clock, courier: Courier,
                 blocks: Blocks, operators: Operators):
        self._store = store
        self._config = config
        self.catalog = catalog
        self._clock = clock
        self._courier = courier
        self._blocks = blocks
        self._operators = operators
        self._locks = KeyedLocks()

    # --- starting -------------------------------------------------------------------------
    async def start_manual(self, session_number: int, process_id: str, operator_id: str | None,
                           *, guard_double_click: bool = True) -> InstanceRecord:
        """An operator starts a process from a session (SPEC §5). Every check runs before anything starts."""
        operator = self._operators.get(operator_id) if operator_id else None
        session = await self._store.get_session(session_number)
        if session is None:
            raise Refusal(f"Session #{session_number} does not exist.", "no_session")
        await self._operators.require_active(operator, session, "start processes")
        assert operator is not None
        entry = self.catalog.get(process_id)
        if entry is None:
            raise Refusal(f"There is no process {process_id!r} in the catalog.", "no_process")
        if guard_double_click and not await self._store.claim(
                f"start:{operator.id}:{session_number}:{process_id}", DOUBLE_CLICK_WINDOW, self._clock.now()):
            raise Refusal(f"“{entry.name}” was just started for session #{session_number}; not starting it twice.",
                          "double_click")
        await self._operators.remember_session(operator.id, session_number)
        return await self.start(process_id, session, started_by=operator.id, trigger="manual")

    async def start(self, process_id: str, session: Session | None, *, started_by: str, trigger: str,
                    extra: dict[str, Any] | None = None) -> InstanceRecord:
        entry = self.catalog.get(process_id)
        if entry is None:
            raise Refusal(f"There is no process {process_id!r} in the catalog.", "no_process")
        if session is not None and session.status == SessionStatus.SPAM:
            raise Refusal(f"Session #{session.number} is marked as spam.", "spam")
        now = self._clock.now()
        data = await self._initial_data(session, started_by, trigger)
        data.update(extra or {})
        operator = self._operators.get(started_by)
        record = InstanceRecord(
            id=uuid.uuid4().hex, process_id=entry.id, process_name=entry.name,
            session=session.number if session else None, line_id=session.line_id if session else None,
            client_id=session.client_id if session else None, started_by=started_by, trigger=trigger,
            status=InstanceStatus.RUNNING, created_at=now, updated_at=now)
        run = WorkflowRun.new(entry, data)
        record.state = run.dump()
        who = operator.name if operator else "automation"
        announce = self._courier.notice(session, f"▶ {entry.name} started by {who}") if session else []
        await self._commit(record, announce)
        log.info("instance %s of %s started by %s (%s)", record.id, entry.id, started_by, trigger)
        async with self._locks.hold(record.id):
            return await self._drive(record, run)

    async def _initial_data(self, session: Session | None, started_by: str, trigger: str) -> dict[str, Any]:
        data: dict[str, Any] = {"session_id": None, "line_id": None, "client_id": None, "client_name": None,
                                "channel": None, "started_by": started_by, "trigger": trigger,
                                "last_message": None}
        if session is None:
            return data
        client = await self._store.get_client(session.client_id)
        messages = await self._store.list_messages(session.number)
        last = next((m.text for m in reversed(messages) if m.author_kind == AuthorKind.CLIENT), None)
        data.update(session_id=session.number, line_id=session.line_id, client_id=session.client_id,
                    client_name=client.name if client else None,
                    channel=client.channel.value if client else None, last_message=last)
        return data

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

    async def submit(self, instance_id: str, task_id: str, operator_id: str | None,
                     raw: dict[str, Any]) -> Submission:
        """Complete a user task with what the operator entered; invalid fields come back as errors."""
        async with self._locks.hold(instance_id):
            record = await self._store.get_instance(instance_id)
            if record is None:
                raise Refusal("This process instance does not exist.", "no_instance")
            if record.status != InstanceStatus.WAITING:
                raise Refusal(f"“{record.process_name}” is {record.status.value}: the form is closed.", "not_waiting")
            run = WorkflowRun.load(record.state)
            task = next((t for t in run.ready_user_tasks() if t.task_id == task_id), None)
            if task is None:
                raise Refusal("This form was already submitted.", "stale_task")
            await self._check_assignee(record, operator_id)
            values, errors = validate(task.fields, raw)
            if errors:
                return Submission(instance=record, errors=errors)
            try:
                run.complete(task_id, values)
            except EngineError as err:
                return Submission(instance=await self._fail(record, run, str(err), err.task))
            record = await self._drive(record, run)
        next_task = None
        if record.status == InstanceStatus.WAITING and record.waiting_for == "user_task" \
                and record.assignee == operator_id:
            next_task = await self.open_task(record.id)
        return Submission(instance=record, next_task=next_task)

    async def _check_assignee(self, record: InstanceRecord, operator_id: str | None) -> None:
        operator = self._operators.get(operator_id) if operator_id else None
        if operator is None:
            raise Refusal("You are not a linedesk operator.", "not_operator")
        if record.assignee is not None and record.assignee != operator.id:
            owner = self._operators.get(record.assignee)
            raise Refusal(f"This task belongs to {owner.name if owner else record.assignee}.", "not_assignee")
        if record.line_id is not None and not operator.serves(record.line_id):
            raise Refusal(f"You are not an operator of line {record.line_id!r}.", "wrong_line")
        state = await self._operators.state(operator.id)
        if state.status == OperatorStatus.OFFLINE:
            raise Refusal("You are offline: type /status online first.", "offline")

    # --- driving ----------------------------------------------------------------------------
    async def resume(self) -> int:
        """After a restart: drive instances that were stopped between steps. Returns how many."""
        count = 0
        for record in await self._store.list_instances(status=[InstanceStatus.RUNNING], limit=10_000):
            async with self._locks.hold(record.id):
                fresh = await self._store.get_instance(record.id)
                if fresh is None or fresh.status != InstanceStatus.RUNNING:
                    continue
                await self._drive(fresh, WorkflowRun.load(fresh.state))
                count += 1
        return count

    async def _drive(self, record: InstanceRecord, run: WorkflowRun) -> InstanceRecord:
        """Advance until the instance waits or ends; store it after every step."""
        for _ in range(10_000):
            try:
                run.advance()
                outbox = await self._script_effects(record, run.sink.drain())
                for task_id in run.other_manual_tasks():
                    run.complete(task_id, {})
                    run.advance()
                blocks = run.ready_blocks()
                if blocks:
                    block = blocks[0]
                    args = {name: render(text, block.data) for name, text in block.inputs}
                    outcome = await self._blocks.perform(block.topic, args, record, f"{record.id}:{block.task_id}")
                    result = {block.result_variable: outcome.result} if block.result_variable else {}
                    run.complete(block.task_id, result)
                    record.status = InstanceStatus.RUNNING
                    await self._commit(record, outbox + outcome.outbox, run)
                    continue
            except (EngineError, BlockError) as err:
                task = getattr(err, "task", None)
                return await self._fail(record, run, str(err), task if isinstance(task, str) else None)
            return await self._settle(record, run, outbox)
        return await self._fail(record, run, "the process ran 10,000 steps without waiting: endless loop?", None)

    async def _settle(self, record: InstanceRecord, run: WorkflowRun, outbox: list[OutboxEntry]) -> InstanceRecord:
        tasks = run.ready_user_tasks()
        if tasks:
            task = tasks[0]
            record.status = InstanceStatus.WAITING
            record.waiting_for = "user_task"
            record.current_task = task.bpmn_id
            record.assignee = task.assignee or (record.started_by if record.started_by != AUTOMATION else None)
        elif run.completed:
            record.status = InstanceStatus.COMPLETED
            record.waiting_for = record.current_task = record.assignee = None
        else:
            record.status = InstanceStatus.WAITING
            record.waiting_for = "event"
            record.current_task = None
            record.assignee = None
        await self._commit(record, outbox, run)
        return record

    async def _script_effects(self, record: InstanceRecord, effects: list[ScriptEffect]) -> list[OutboxEntry]:
        outbox: list[OutboxEntry] = []
        for index, effect in enumerate(effects):
            outcome = await self._blocks.perform(effect.topic, effect.args, record,
                                                 f"{record.id}:script:{record.updated_at}:{index}")
            outbox += outcome.outbox
        return outbox

    async def _fail(self, record: InstanceRecord, run: WorkflowRun | None, error: str,
                    task: str | None) -> InstanceRecord:
        record.status = InstanceStatus.FAILED
        record.error = error
        record.current_task = task or record.current_task
        record.waiting_for = None
        log.warning("instance %s of %s failed: %s", record.id, record.process_id, error)
        session = await self._store.get_session(record.session) if record.session else None
        where = f" at “{task}”" if task else ""
        notice = self._courier.notice(session, f"✖ {record.process_name} failed{where}: {error}") if session else []
        await self._commit(record, notice, run)
        return record

    async def _commit(self, record: InstanceRecord, outbox: list[OutboxEntry], run: WorkflowRun | None = None) -> None:
        if run is not None:
            record.state = run.dump()
        record.updated_at = self._clock.now()
        await self._store.commit_instance(record, outbox)
        if outbox:
            self._courier.woke()

    async def variables(self, instance_id: str) -> dict[str, Any]:
        record = await self._store.get_instance(instance_id)
        if record is None or not record.state:
            return {}
        return WorkflowRun.load(record.state).variables()
