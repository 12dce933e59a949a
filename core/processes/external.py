"""`Processes`' worker half (SPEC §12): an instance waiting for workers on external topics, and what a worker's
complete, BPMN error or last failure does to it — always through the driving half (one driver per instance,
every step stored with its effects)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from core.bpmn.engine import EngineError, WorkflowRun
from core.bpmn.external import throw_bpmn_error, worker_task, worker_tasks
from core.clock import Clock
from core.model import InstanceRecord, InstanceStatus, OutboxEntry
from core.processes.forms import InstanceBusy
from core.processes.halves import DrivingHalf
from core.workers.bell import Bell
from core.workers.book import TaskBook
from core.workers.records import ExternalTask, WorkerFault, not_found

RESUME_FAILED = "ProcessEngineException"


class ExternalMixin(DrivingHalf):
    _clock: Clock
    worker_bell: Bell

    @property
    def task_book(self) -> TaskBook:
        return TaskBook(self._store)

    async def _wait_for_workers(self, record: InstanceRecord, run: WorkflowRun) -> None:
        """The run waits at external tasks no block serves: each gets its record (a task failed for good gets a
        fresh one: this is a Retry from the desk)."""
        tasks = worker_tasks(run.workflow)
        record.status = InstanceStatus.WAITING
        record.waiting_for = "worker:" + ", ".join(dict.fromkeys(t.topic for t in tasks))
        record.current_task, record.task_id, record.assignee = tasks[0].activity_id, None, None
        record.candidates, record.task_note = [], None
        await self._offer_worker_tasks(record, run)

    async def _offer_worker_tasks(self, record: InstanceRecord, run: WorkflowRun) -> None:
        """The run's external tasks go to workers, also while it waits for something else beside them (a user
        task on a parallel branch)."""
        tasks = worker_tasks(run.workflow)
        record.worker_tasks = [t.task_id for t in tasks]
        book, now = self.task_book, self._clock.now()
        for task in tasks:
            known = await book.get(task.task_id)
            if known is None or known.retries == 0:
                await book.put(
                    ExternalTask(
                        id=task.task_id,
                        instance_id=record.id,
                        topic=task.topic,
                        activity_id=task.activity_id,
                        process_key=record.process_id,
                        business_key=record.business_key,
                        created_at=now,
                    )
                )

    async def worker_complete(self, task: ExternalTask, variables: dict[str, Any]) -> None:
        """A worker completed the task: its variables go into the instance, which moves on."""

        def complete(run: WorkflowRun) -> None:
            run.complete(task.id, variables)

        await self._worker_step(task, complete)

    async def worker_bpmn_error(
        self, task: ExternalTask, code: str, message: str | None, variables: dict[str, Any]
    ) -> None:
        """A worker's BPMN error, thrown at the task: a boundary event catches it, or the instance fails."""

        def throw(run: WorkflowRun) -> None:
            found = worker_task(run.workflow, task.id)
            assert found is not None
            throw_bpmn_error(run.workflow, found, code, message, variables)

        await self._worker_step(task, throw)

    async def worker_incident(self, task: ExternalTask, message: str) -> None:
        """A failure with no retries left: the instance is failed, shown on the desk with **Retry**."""

        async def fail(record: InstanceRecord) -> None:
            await self._fail(record, None, message, task.activity_id)

        await self._with_waiting(task, fail)

    async def _worker_step(self, task: ExternalTask, act: Callable[[WorkflowRun], None]) -> None:
        async def step(record: InstanceRecord) -> None:
            pending: list[OutboxEntry] = []
            run = WorkflowRun.load(record.state, self._bridge(record, pending))
            if worker_task(run.workflow, task.id) is None:
                raise not_found(task.id)
            try:
                await asyncio.to_thread(act, run)
            except EngineError as err:
                await self._fail(record, run, str(err), task.activity_id, pending)
                return
            record.status = InstanceStatus.RUNNING
            await self._drive(record, run, pending)
            await self.task_book.drop([task.id])

        await self._with_waiting(task, step)

    async def _with_waiting(self, task: ExternalTask, act: Callable[[InstanceRecord], Awaitable[None]]) -> None:
        """Hold the task's instance and act on it if it still waits on the task; else 404 (cancelled, moved on)."""
        try:
            async with self._exclusive(task.instance_id):
                record = await self._store.get_instance(task.instance_id)
                if record is None or record.status != InstanceStatus.WAITING or task.id not in record.worker_tasks:
                    raise not_found(task.id)
                await act(record)
        except InstanceBusy:
            raise WorkerFault(500, f"the process instance of task {task.id} is busy: retry", RESUME_FAILED) from None
