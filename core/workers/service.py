"""Workers at work (SPEC §12): fetch-and-lock with long polling, complete, failure, BPMN error, extendLock, and
the look-ups. Every check runs before anything changes; a refused request is a `WorkerFault` with Camunda's
status code and changes nothing."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from core.bpmn.engine import WorkflowRun
from core.bpmn.external import worker_task
from core.clock import Clock
from core.model import InstanceStatus
from core.processes import Processes
from core.store.base import Store
from core.workers.bell import SIGNAL
from core.workers.book import TaskBook
from core.workers.records import (
    MAX_POLL_MS,
    BpmnErrorRequest,
    CompleteRequest,
    ExtendLockRequest,
    ExternalTask,
    FailureRequest,
    FetchRequest,
    FetchTopic,
    WorkerFault,
    not_found,
)
from core.workers.variables import VariableError, from_camunda

RESCAN = 15.0
"""Seconds an idle long poll waits at most before it looks at the store again by itself (a signal lost while
Redis reconnected). New tasks ring the bell (in this process, and through the store's signal in the others);
locks running out and retry timeouts are waited for to the moment."""
SCAN_LIMIT = 10_000
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class LockedTask:
    task: ExternalTask
    variables: dict[str, Any]


def _task_data(state: str, task_id: str) -> dict[str, Any]:
    """The variables the task sees (a parallel branch's own data), or the instance's."""
    run = WorkflowRun.load(state)
    task = worker_task(run.workflow, task_id)
    return dict(task.data) if task is not None else run.variables()


def _matches(topic: FetchTopic, task: ExternalTask, data: dict[str, Any] | None) -> bool:
    if topic.businessKey is not None and task.business_key != topic.businessKey:
        return False
    if topic.processDefinitionKey is not None and task.process_key != topic.processDefinitionKey:
        return False
    wanted = topic.processVariables or {}
    return data is not None and all(k in data and data[k] == v for k, v in wanted.items()) if wanted else True


class Workers:
    def __init__(self, store: Store, clock: Clock, processes: Processes):
        self._store = store
        self._clock = clock
        self._processes = processes
        self._book = TaskBook(store)
        self._listener: asyncio.Task[None] | None = None
        self._closing = False

    def _listen(self) -> None:
        """Relay the other processes' signals to this process's bell (started by the first long poll)."""
        if self._listener is None or self._listener.done():
            self._listener = asyncio.create_task(self._relay())

    async def _relay(self) -> None:
        bell = self._processes.worker_bell
        while True:
            try:
                async for origin in self._store.signals(SIGNAL):
                    if origin != bell.origin:
                        bell.ring()
            except Exception:
                log.warning("worker signals: the store's subscription broke; again in a second", exc_info=True)
                await asyncio.sleep(1.0)

    def stop_polls(self) -> None:
        """linedesk is stopping: every long poll answers now (with what it has: nothing), none waits again."""
        self._closing = True
        self._processes.worker_bell.ring()

    async def close(self) -> None:
        self.stop_polls()
        if self._listener is not None:
            self._listener.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._listener
            self._listener = None

    # --- fetch and lock -----------------------------------------------------------------------------
    async def fetch_and_lock(self, request: FetchRequest) -> list[LockedTask]:
        """Lock up to `maxTasks` tasks of the topics for the worker; with `asyncResponseTimeout`, wait (at most
        60 s) until there is one — woken by the bell, never polling in a loop."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + min(request.asyncResponseTimeout or 0, MAX_POLL_MS) / 1000
        bell = self._processes.worker_bell
        if request.asyncResponseTimeout:
            self._listen()
        while not self._closing:
            seen = bell.rings
            locked, next_free = await self._lock_some(request)
            left = deadline - loop.time()
            if locked or left <= 0 or request.maxTasks == 0 or self._closing:
                return locked
            nap = min(left, RESCAN)
            if next_free is not None:
                nap = min(nap, max(0.01, next_free - self._clock.now()))
            await bell.wait(seen, nap)
        return []

    async def tasks(self) -> AsyncIterator[ExternalTask]:
        """Every external task of a waiting instance, oldest instance first (read as iterated)."""
        for _, task_ids in await self._store.worker_waits(SCAN_LIMIT):
            for task_id in task_ids:
                task = await self._book.get(task_id)
                if task is not None:
                    yield task

    async def _lock_some(self, request: FetchRequest) -> tuple[list[LockedTask], float | None]:
        topics = {t.topicName: t for t in request.topics}
        now = self._clock.now()
        locked: list[LockedTask] = []
        next_free: float | None = None
        async for task in self.tasks():
            if len(locked) >= request.maxTasks:
                break
            topic = topics.get(task.topic)
            if topic is None:
                continue
            if not task.available(now):
                free = task.lock_expires if task.locked(now) else task.retry_at if task.retries != 0 else None
                next_free = free if next_free is None or (free is not None and free < next_free) else next_free
                continue
            data = await self._variables(task) if topic.processVariables or topic.variables != [] else None
            if not _matches(topic, task, data):
                continue
            seconds = topic.lockDuration / 1000
            if not await self._book.lock(task.id, request.workerId, seconds, now):
                continue  # another worker (or another linedesk) took it a moment ago
            task = task.model_copy(update={"worker_id": request.workerId, "lock_expires": now + seconds})
            await self._book.put(task)
            names = topic.variables
            shown = {k: v for k, v in (data or {}).items() if names is None or k in names}
            locked.append(LockedTask(task, shown))
        return locked, next_free

    async def _variables(self, task: ExternalTask) -> dict[str, Any] | None:
        record = await self._store.get_instance(task.instance_id)
        return _task_data(record.state, task.id) if record is not None and record.state else None

    # --- what a worker reports -------------------------------------------------------------------------
    async def _held(self, task_id: str, worker_id: str) -> ExternalTask:
        """The task, if `worker_id` holds its lock now; else Camunda's 404 / 400 and nothing changes."""
        task = await self._book.get(task_id)
        record = await self._store.get_instance(task.instance_id) if task is not None else None
        if task is None or record is None or task_id not in record.worker_tasks:
            raise not_found(task_id)
        if record.status != InstanceStatus.WAITING:
            raise WorkerFault(400, f"External task {task_id} cannot be changed: its instance is {record.status.value}")
        if task.worker_id != worker_id:
            holder = f"it is locked by worker '{task.worker_id}'" if task.worker_id else "it is not locked"
            raise WorkerFault(
                400,
                f"External task {task_id} cannot be handled by worker '{worker_id}': {holder}",
                "BadUserRequestException",
            )
        if not task.locked(self._clock.now()):
            raise WorkerFault(
                400, f"External task {task_id}: the lock of worker '{worker_id}' has expired", "BadUserRequestException"
            )
        return task

    async def complete(self, task_id: str, request: CompleteRequest) -> None:
        variables = _typed(request.variables, "variables")
        _typed(request.localVariables, "localVariables")  # checked; local to the task, so not kept
        task = await self._held(task_id, request.workerId)
        await self._processes.worker_complete(task, variables)
        self._processes.worker_bell.ring()

    async def bpmn_error(self, task_id: str, request: BpmnErrorRequest) -> None:
        variables = _typed(request.variables, "variables")
        task = await self._held(task_id, request.workerId)
        await self._processes.worker_bpmn_error(task, request.errorCode, request.errorMessage, variables)

    async def failure(self, task_id: str, request: FailureRequest) -> None:
        """Retries left: free again after `retryTimeout`; none: the instance fails (an incident on the desk)."""
        task = await self._held(task_id, request.workerId)
        now = self._clock.now()
        task = task.model_copy(
            update={
                "retries": request.retries,
                "error_message": request.errorMessage,
                "error_details": request.errorDetails,
                "retry_at": now + request.retryTimeout / 1000 if request.retryTimeout else None,
                "lock_expires": None,
            }
        )
        await self._book.put(task)
        await self._book.unlock(task.id, request.workerId)
        await self._store.signal(SIGNAL, self._processes.worker_bell.origin)
        if request.retries == 0:
            message = f"worker {request.workerId} failed at topic {task.topic}: {request.errorMessage or 'no message'}"
            await self._processes.worker_incident(task, message)
        self._processes.worker_bell.ring()

    async def extend_lock(self, task_id: str, request: ExtendLockRequest) -> None:
        task = await self._held(task_id, request.workerId)
        now, seconds = self._clock.now(), request.newDuration / 1000
        if not await self._book.extend(task_id, request.workerId, seconds, now):
            raise WorkerFault(400, f"External task {task_id}: the lock of worker '{request.workerId}' has expired")
        await self._book.put(task.model_copy(update={"lock_expires": now + seconds}))

    # --- looking ---------------------------------------------------------------------------------------
    async def list_tasks(self, topic: str | None, locked: bool | None, instance_id: str | None) -> list[ExternalTask]:
        now = self._clock.now()
        return [
            task
            async for task in self.tasks()
            if (topic is None or task.topic == topic)
            and (locked is None or task.locked(now) == locked)
            and (instance_id is None or task.instance_id == instance_id)
        ]


def _typed(variables: Any, what: str) -> dict[str, Any]:
    try:
        return from_camunda(variables, what)
    except VariableError as err:
        raise WorkerFault(400, str(err)) from None
