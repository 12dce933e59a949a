"""The external tasks in the store: their records (refs) and their locks (claims, atomic in both stores and
across linedesk instances on one Redis)."""

from __future__ import annotations

from collections.abc import Iterable

from core.refs import RefSpace
from core.store.base import Store
from core.workers.records import ExternalTask


def lock_key(task_id: str) -> str:
    return f"external-task:{task_id}"


class TaskBook:
    def __init__(self, store: Store):
        self._store = store

    async def get(self, task_id: str) -> ExternalTask | None:
        found = await self._store.get_ref(RefSpace.EXTERNAL_TASK, task_id)
        return ExternalTask.model_validate(found) if found is not None else None

    async def put(self, task: ExternalTask) -> None:
        await self._store.set_ref(RefSpace.EXTERNAL_TASK, task.id, task.model_dump(mode="json"))

    async def lock(self, task_id: str, worker_id: str, seconds: float, now: float) -> bool:
        """Take the task's lock for the worker: False when another worker (or this one) holds it."""
        return await self._store.claim(lock_key(task_id), seconds, now, worker_id)

    async def extend(self, task_id: str, worker_id: str, seconds: float, now: float) -> bool:
        return await self._store.renew(lock_key(task_id), seconds, now, worker_id)

    async def unlock(self, task_id: str, worker_id: str = "") -> None:
        await self._store.release(lock_key(task_id), worker_id)

    async def drop(self, task_ids: Iterable[str]) -> None:
        """The tasks are gone (completed, thrown, cancelled): their records and locks go too."""
        for task_id in task_ids:
            await self._store.delete_ref(RefSpace.EXTERNAL_TASK, task_id)
            await self.unlock(task_id)
