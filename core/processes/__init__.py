"""Process instances: starting them from sessions, driving them, completing their forms.

The engine (core/bpmn/engine.py) is synchronous and does no I/O; this service
loads an instance, lets the engine advance, performs the blocks it stops at, and
stores the instance after every step together with that step's outbox entries.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from typing import Any

from core.asks import ASK
from core.blocks import BlockError, Blocks, render
from core.bpmn.catalog import Catalog
from core.bpmn.engine import BlockBridge, EngineError, UserTaskView, WorkflowRun
from core.clock import Clock
from core.config import Config
from core.courier import Courier, to_desk
from core.errors import Refusal
from core.events import MessageReceived
from core.locks import Busy, KeyedLocks, store_mutex
from core.log_context import about
from core.model import (
    AuthorKind,
    InstanceRecord,
    InstanceStatus,
    OutboxEntry,
    Session,
    SessionStatus,
)
from core.operators import Operators
from core.outbox_actions import TaskCard
from core.processes.asks import AsksMixin
from core.processes.assignment import AUTOMATION, decide, names
from core.processes.control import ControlMixin, InstanceSummary
from core.processes.external import ExternalMixin
from core.processes.forms import FormsMixin, InstanceBusy, Submission
from core.processes.messages import MessagesMixin
from core.processes.schedule import Schedule
from core.store.base import Store
from core.telemetry import NO_TELEMETRY, Telemetry
from core.workers.bell import SIGNAL, Bell

log = logging.getLogger(__name__)

DOUBLE_CLICK_WINDOW = 5.0
MAX_STEPS = 10_000
INSTANCE_LOCK_TTL = 15.0
INSTANCE_LOCK_WAIT = 10.0
RESUME_EVERY = 5.0
"""Seconds between looks for running instances nobody drives (their lock ran out with their driver)."""
BLOCK_TIMEOUT = 60.0


__all__ = [
    "AUTOMATION",
    "DOUBLE_CLICK_WINDOW",
    "InstanceBusy",
    "InstanceSummary",
    "ProcessParts",
    "Processes",
    "Submission",
]


@dataclass(frozen=True)
class ProcessParts:
    """The services the process instances work with (built once, in the composition root)."""

    store: Store
    config: Config
    clock: Clock
    courier: Courier
    operators: Operators
    telemetry: Telemetry = NO_TELEMETRY


class Processes(FormsMixin, ControlMixin, AsksMixin, ExternalMixin, MessagesMixin):
    def __init__(self, parts: ProcessParts, catalog: Catalog, blocks: Blocks):
        self._store = parts.store
        self._config = parts.config
        self._telemetry = parts.telemetry
        self.catalog = catalog
        self._clock = parts.clock
        self._courier = parts.courier
        self._blocks = blocks
        self._operators = parts.operators
        self._locks = KeyedLocks()
        self._timers_running = False
        self.schedule = Schedule(self._store, self._clock, catalog, self, AUTOMATION)
        """Timer start events: processes started on schedule (`core.processes.schedule`)."""
        self.worker_bell = Bell()
        """Rung when an instance starts waiting for workers: idle long polls wake (`core.workers`)."""

    # --- starting -------------------------------------------------------------------------
    async def start_manual(
        self, session_number: int, process_id: str, operator_id: str | None, *, guard_double_click: bool = True
    ) -> InstanceRecord:
        """An operator starts a process from a session (SPEC §5). Every check runs before anything starts."""
        try:
            return await self._start_manual(
                session_number, process_id, operator_id, guard_double_click=guard_double_click
            )
        except Refusal:
            self._telemetry.process_start("manual", "refused")
            raise

    async def _start_manual(
        self, session_number: int, process_id: str, operator_id: str | None, *, guard_double_click: bool
    ) -> InstanceRecord:
        operator = self._operators.get(operator_id) if operator_id else None
        session = await self._store.get_session(session_number)
        if session is None:
            raise Refusal(f"Session #{session_number} does not exist.", "no_session")
        await self._operators.require_active(operator, session, "start processes")
        assert operator is not None
        entry = self.catalog.get(process_id)
        if entry is None:
            raise Refusal(f"There is no process {process_id!r} in the catalog.", "no_process")
        if not entry.start.manual:
            raise Refusal(
                f"“{entry.name}” is not started by hand (it has a {entry.start.kind} start event).", "no_process"
            )
        if guard_double_click and not await self._store.claim(
            f"start:{operator.id}:{session_number}:{process_id}", DOUBLE_CLICK_WINDOW, self._clock.now()
        ):
            raise Refusal(
                f"“{entry.name}” was just started for session #{session_number}; not starting it twice.", "double_click"
            )
        await self._operators.remember_session(operator.id, session_number)
        return await self._start(process_id, session, started_by=operator.id, trigger="manual")

    async def start(
        self,
        process_id: str,
        session: Session | None,
        *,
        started_by: str,
        trigger: str,
        extra: dict[str, Any] | None = None,
        business_key: str | None = None,
    ) -> InstanceRecord:
        try:
            return await self._start(
                process_id, session, started_by=started_by, trigger=trigger, extra=extra, business_key=business_key
            )
        except Refusal:
            self._telemetry.process_start(trigger, "refused")
            raise

    async def _start(
        self,
        process_id: str,
        session: Session | None,
        *,
        started_by: str,
        trigger: str,
        extra: dict[str, Any] | None = None,
        business_key: str | None = None,
    ) -> InstanceRecord:
        entry = self.catalog.get(process_id)
        if entry is None:
            raise Refusal(f"There is no process {process_id!r} in the catalog.", "no_process")
        if session is not None and session.status == SessionStatus.SPAM:
            raise Refusal(f"Session #{session.number} is marked as spam.", "spam")
        now = self._clock.now()
        data, seen_message = await self._initial_data(session, started_by, trigger)
        data.update(extra or {})
        operator = self._operators.get(started_by)
        record = InstanceRecord(
            id=uuid.uuid4().hex,
            process_id=entry.id,
            process_name=entry.name,
            session=session.number if session else None,
            line_id=session.line_id if session else (extra or {}).get("line"),
            client_id=session.client_id if session else (extra or {}).get("client"),
            business_key=str(session.number) if session else business_key,
            started_by=started_by,
            trigger=trigger,
            status=InstanceStatus.RUNNING,
            seen_message=seen_message,
            created_at=now,
            updated_at=now,
        )
        pending: list[OutboxEntry] = []
        run = WorkflowRun.new(entry, data, self._bridge(record, pending))
        who = operator.name if operator else f"automation ({trigger})"
        announce = self._courier.notice(session, f"▶ {entry.name} started by {who}") if session else []
        async with self._exclusive(record.id):
            await self._commit(record, announce, run)
            with about(session=record.session, instance=record.id):
                log.info("instance %s of %s started by %s (%s)", record.id, entry.id, started_by, trigger)
            driven = await self._drive(record, run, pending)
        self._telemetry.process_start(trigger, "failed" if driven.status == InstanceStatus.FAILED else "started")
        return driven

    async def _initial_data(self, session: Session | None, started_by: str, trigger: str) -> tuple[dict[str, Any], int]:
        """The instance's first variables (SPEC §6), and the id of the client's latest message."""
        data: dict[str, Any] = {
            "session_id": None,
            "line_id": None,
            "client_id": None,
            "client_name": None,
            "channel": None,
            "started_by": started_by,
            "trigger": trigger,
            "last_message": None,
        }
        if session is None:
            return data, 0
        client = await self._store.get_client(session.client_id)
        messages = await self._store.list_messages(session.number)
        last = next((m for m in reversed(messages) if m.author_kind == AuthorKind.CLIENT), None)
        data.update(
            session_id=session.number,
            line_id=session.line_id,
            client_id=session.client_id,
            client_name=client.name if client else None,
            channel=client.channel.value if client else None,
            last_message=last.text if last else None,
        )
        return data, last.id if last else 0

    # --- waking up: client messages and timers -------------------------------------------
    async def on_client_message(self, event: MessageReceived) -> None:
        """Deliver the session's new client message to every instance waiting for one. When the message was stored
        no instance of the session was waiting (`MessageReceived.instances_waiting`, told by the store call that
        stored it), none is looked for: one that starts waiting later waits for a later message."""
        if event.instances_waiting is False:
            return
        text = event.message.text
        waiting = await self._store.list_instances(status=[InstanceStatus.WAITING], session=event.session.number)
        if await self._typed_answer(event, waiting):
            return  # it answered a question (`linedesk.ask` with allow_text): no other wait takes it
        for candidate in waiting:
            if candidate.waiting_for != "client_message" or event.message.id <= candidate.seen_message:
                continue
            delivered = await self._drive_claimed(
                candidate.id,
                lambda r: r.waiting_for == "client_message",
                wait=True,
                before=lambda run: run.deliver_client_message(text),
            )
            if not delivered:
                log.warning("instance %s busy or done: client message not delivered to it", candidate.id)

    async def run_timers(self, interval: float = 0.5) -> None:
        """Fire due timers until stopped: within `interval` of their due time, also after a restart."""
        self._timers_running = True
        loop = asyncio.get_running_loop()
        next_resume = loop.time() + RESUME_EVERY
        while self._timers_running:
            try:
                await self.wake_due()
                await self.schedule.start_due()
                if loop.time() >= next_resume:  # an instance whose driver died (another linedesk, kill -9)
                    next_resume = loop.time() + RESUME_EVERY
                    await self.resume()
            except Exception:
                log.exception("timer pass failed")
            await asyncio.sleep(interval)

    def stop_timers(self) -> None:
        self._timers_running = False

    async def wake_due(self) -> int:
        def due(record: InstanceRecord) -> bool:
            return (
                record.status == InstanceStatus.WAITING
                and record.wake_at is not None
                and record.wake_at <= self._clock.now()
            )

        woken = [
            await self._drive_claimed(c.id, due, wait=False) for c in await self._store.due_instances(self._clock.now())
        ]
        return sum(woken)

    async def resume(self) -> int:
        """Drive instances stopped between steps (a restart, a driver that died: its lock ran out); those
        being driven are skipped by their lock. Returns how many."""
        candidates = await self._store.list_instances(status=[InstanceStatus.RUNNING], limit=10_000)
        resumed = [
            await self._drive_claimed(c.id, lambda r: r.status == InstanceStatus.RUNNING, wait=False)
            for c in candidates
        ]
        return sum(resumed)

    async def _drive_claimed(
        self,
        instance_id: str,
        ready: Callable[[InstanceRecord], bool],
        *,
        wait: bool,
        before: Callable[[WorkflowRun], None] | None = None,
    ) -> bool:
        """Claim the instance, reload it, and drive it if it is still `ready` (something else may have
        moved it meanwhile); `before` acts on the loaded run first (e.g. delivers a message)."""
        try:
            async with self._exclusive(instance_id, wait=wait):
                record = await self._store.get_instance(instance_id)
                if record is None or not ready(record):
                    return False
                pending: list[OutboxEntry] = []
                run = WorkflowRun.load(record.state, self._bridge(record, pending))
                if before is not None:
                    await asyncio.to_thread(before, run)
                await self._drive(record, run, pending)
                return True
        except InstanceBusy:
            return False

    # --- driving ----------------------------------------------------------------------------
    @asynccontextmanager
    async def _exclusive(self, instance_id: str, *, wait: bool = True) -> AsyncIterator[None]:
        """One driver per instance: a lock in this process and a mutex in the store (other processes)."""
        async with self._locks.hold(instance_id), AsyncExitStack() as stack:
            mutex = store_mutex(
                self._store,
                self._clock,
                f"lock:instance:{instance_id}",
                ttl=INSTANCE_LOCK_TTL,
                wait=INSTANCE_LOCK_WAIT if wait else 0.0,
            )
            try:
                await stack.enter_async_context(mutex)
            except Busy:
                raise InstanceBusy(instance_id) from None
            yield

    def _bridge(self, record: InstanceRecord, pending: list[OutboxEntry]) -> BlockBridge:
        """Lets script tasks (run on a worker thread) call blocks on the event loop and wait for them."""
        loop = asyncio.get_running_loop()

        def call(topic: str, args: dict[str, Any], key: str) -> Any:
            if threading.get_ident() == loop_thread:
                raise RuntimeError("blocks are called from scripts on the engine's worker thread only")
            job = self._blocks.perform(topic, args, record, f"{record.id}:{key}")
            outcome = asyncio.run_coroutine_threadsafe(job, loop).result(timeout=BLOCK_TIMEOUT)
            pending.extend(outcome.outbox)
            return outcome.result

        loop_thread = threading.get_ident()
        return call

    async def _drive(
        self, record: InstanceRecord, run: WorkflowRun, pending: list[OutboxEntry] | None = None
    ) -> InstanceRecord:
        with about(session=record.session, instance=record.id):
            return await self._drive_steps(record, run, pending)

    async def _drive_steps(
        self, record: InstanceRecord, run: WorkflowRun, pending: list[OutboxEntry] | None = None
    ) -> InstanceRecord:
        """Advance until the instance waits or ends; store it after every step with that step's effects.
        The engine runs on a worker thread so that script tasks can call blocks through the bridge."""
        if pending is None:
            pending = []
            run.attach(self._bridge(record, pending))
        for _ in range(MAX_STEPS):
            block_id: str | None = None
            try:
                await asyncio.to_thread(run.advance)
                others = run.other_manual_tasks()
                if others:
                    for task_id in others:
                        await asyncio.to_thread(run.complete, task_id, {})
                    continue
                blocks = run.ready_blocks()
                if not blocks:
                    return await self._settle(record, run, pending)
                block = next((b for b in blocks if not self._asked(record, b.task_id)), None)
                if block is None:  # only a question put already: still waiting for its answer
                    return await self._park(record, run, pending, None)
                block_id = block.bpmn_id
                args = {name: render(text, block.data) for name, text in block.inputs}
                if block.topic == ASK:
                    asked = await self._blocks.ask(args, record, block.task_id)
                    record.current_task = block.bpmn_id
                    return await self._park(record, run, [*pending, *asked.outbox], asked.ask)
                outcome = await self._blocks.perform(block.topic, args, record, f"{record.id}:{block.task_id}")
                result = {block.result_variable: outcome.result} if block.result_variable else {}
                await asyncio.to_thread(run.complete, block.task_id, result)
                pending.extend(outcome.outbox)
                record.status = InstanceStatus.RUNNING
                await self._commit(record, list(pending), run)
                pending.clear()
            except (EngineError, BlockError) as err:
                task = getattr(err, "task", None)
                where = task if isinstance(task, str) else block_id
                return await self._fail(record, run, str(err), where, pending)
        return await self._fail(
            record, run, f"the process ran {MAX_STEPS} steps without waiting: endless loop?", None, pending
        )

    async def _settle(self, record: InstanceRecord, run: WorkflowRun, outbox: list[OutboxEntry]) -> InstanceRecord:
        tasks = run.ready_user_tasks()
        wait = run.waiting()
        record.wake_at, record.worker_tasks = wait.wake_at, []
        if tasks:
            task = tasks[0]
            fresh_task = record.task_id != task.task_id
            record.status = InstanceStatus.WAITING
            record.waiting_for = "user_task"
            record.current_task = task.bpmn_id
            record.task_id = task.task_id
            session = await self._store.get_session(record.session) if record.session else None
            if fresh_task:
                decision = decide(task, record, session, self._config)
                record.assignee, record.candidates = decision.assignee, list(decision.candidates)
                record.task_note = decision.note
            if fresh_task and session is not None:
                outbox = [*outbox, *self._task_card(record, task, session)]
            await self._offer_worker_tasks(record, run)  # a parallel branch may wait for a worker meanwhile
        elif run.completed:
            record.status = InstanceStatus.COMPLETED
            record.waiting_for = record.current_task = record.task_id = record.assignee = None
            record.wake_at, record.candidates, record.task_note = None, [], None
        elif run.worker_topics():
            await self._wait_for_workers(record, run)
        else:
            record.status = InstanceStatus.WAITING
            record.waiting_for = "client_message" if wait.client_message else "timer" if wait.wake_at else "event"
            record.current_task, record.task_id, record.assignee = wait.step, None, None
            record.candidates, record.task_note = [], None
        await self._commit(record, list(outbox), run)
        outbox.clear()
        if record.worker_tasks:
            self.worker_bell.ring()
            await self._store.signal(SIGNAL, self.worker_bell.origin)
        return record

    def _task_card(self, record: InstanceRecord, task: UserTaskView | str, session: Session) -> list[OutboxEntry]:
        """A card in the session's thread/topic for the task: who it is for, and a button to open it."""
        operator = self._operators.get(record.assignee) if record.assignee else None
        return self._courier.desk_entries(
            session,
            TaskCard(
                **to_desk(session),
                instance_id=record.id,
                task=task if isinstance(task, str) else task.name,
                process=record.process_name,
                assignee_name=operator.name if operator else None,
                candidates=names(record.candidates, self._operators.get),
                note=record.task_note,
            ),
        )

    async def _fail(
        self,
        record: InstanceRecord,
        run: WorkflowRun | None,
        error: str,
        task: str | None,
        pending: list[OutboxEntry] | None = None,
    ) -> InstanceRecord:
        record.status = InstanceStatus.FAILED
        record.error = error
        record.current_task = task or record.current_task
        record.waiting_for = None
        record.wake_at = None
        with about(session=record.session, instance=record.id):
            log.warning("instance %s of %s failed: %s", record.id, record.process_id, error)
        self._telemetry.instance_failure(record.process_id)
        session = await self._store.get_session(record.session) if record.session else None
        where = f" at “{task}”" if task else ""
        notice = self._courier.notice(session, f"✖ {record.process_name} failed{where}: {error}") if session else []
        await self._commit(record, [*(pending or []), *notice], run)
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
