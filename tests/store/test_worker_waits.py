"""`Store.worker_waits` on every store (SPEC §12): the waiting instances with external tasks for workers, oldest
first, kept by each instance's commit; an instance that moves on, fails or is cancelled leaves it. Also the
store signals that wake idle long polls in another process on one Redis."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable

from core.model import InstanceRecord, InstanceStatus
from core.store import RedisStore, Store

RedisFactory = Callable[[], Awaitable[RedisStore]]


def an_instance(instance_id: str, created_at: float, **kw: object) -> InstanceRecord:
    return InstanceRecord.model_validate(
        {"id": instance_id, "process_id": "p", "created_at": created_at, "status": InstanceStatus.WAITING, **kw}
    )


async def test_worker_waits_lists_waiting_instances_with_external_tasks_oldest_first(store: Store) -> None:
    await store.commit_instance(an_instance("b", 2.0, worker_tasks=["t2", "t3"], waiting_for="worker:x"))
    await store.commit_instance(an_instance("a", 1.0, worker_tasks=["t1"], waiting_for="worker:x"))
    await store.commit_instance(an_instance("c", 0.5, waiting_for="user_task"))
    assert await store.worker_waits() == [("a", ["t1"]), ("b", ["t2", "t3"])]
    assert await store.worker_waits(limit=1) == [("a", ["t1"])]
    await store.commit_instance(an_instance("a", 1.0, worker_tasks=[], status=InstanceStatus.COMPLETED))
    await store.commit_instance(an_instance("b", 2.0, worker_tasks=["t2"], status=InstanceStatus.FAILED))
    assert await store.worker_waits() == []


async def test_signals_reach_every_process_on_one_redis(redis_stores: RedisFactory) -> None:
    first, second = await redis_stores(), await redis_stores()
    heard: list[str] = []
    ready = asyncio.Event()

    async def listen() -> None:
        iterator = second.signals("external-tasks")
        ready.set()
        async for payload in iterator:
            heard.append(payload)
            return

    listening = asyncio.create_task(listen())
    await ready.wait()
    for _ in range(50):  # the subscription is made on the first iteration: signal until it is heard
        await first.signal("external-tasks", "from-first")
        await asyncio.sleep(0.05)
        if heard:
            break
    with contextlib.suppress(asyncio.CancelledError):
        await asyncio.wait_for(listening, 2)
    assert heard == ["from-first"]
