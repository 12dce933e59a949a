"""SPEC §12 locks and refusals through HTTP: lock expiry hands a task to the next worker, extendLock, no task to two
workers (also across two linedesk instances on one Redis), long polling, Cancel, a restart with tasks locked and
unlocked, and every bad request refused with Camunda's status and nothing changed."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from core.model import InstanceStatus
from sandboxes.rig import ANNA, DESK_CHANNEL
from tests.support.flows import run_for_ivan
from tests.support.workers import ADMIN_TOKEN, WorkerRig, in_thread, worker_rig

CHARGE = "payments.charge"
LEAD = "crm.lead"


@pytest.fixture(params=["sqlite", "redis"])
async def wrig(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[WorkerRig]:
    async with worker_rig(request.param, tmp_path) as stage:
        yield stage


async def _leads(rig: WorkerRig, count: int) -> list[str]:
    """`count` instances of "Web lead" started by key over REST (no session), each waiting on topic crm.lead."""
    client = rig.engine_client()
    started = [await in_thread(client.start_process, "web_lead", {"name": f"n{n}"}) for n in range(count)]
    return [s["id"] for s in started]


async def test_an_expired_lock_hands_the_task_to_the_next_worker(wrig: WorkerRig) -> None:
    record = await run_for_ivan(wrig, "Charge card")
    slow, fast = wrig.worker("slow", lockDuration=1500), wrig.worker("fast")
    [task] = await in_thread(slow.fetch_and_lock, CHARGE)
    assert await in_thread(fast.fetch_and_lock, CHARGE) == []
    await asyncio.sleep(1.7)
    [again] = await in_thread(fast.fetch_and_lock, CHARGE)
    assert again["id"] == task["id"] and again["workerId"] == "fast"
    status, body = await wrig.post(f"/external-task/{task['id']}/complete", {"workerId": "slow"})
    assert status == 400 and "locked by worker 'fast'" in body["message"]
    assert (await wrig.instance(record.id)).status == InstanceStatus.WAITING
    await in_thread(fast.complete, again["id"], {"amount": "1", "receipt": 1})
    await wrig.settle()
    assert (await wrig.instance(record.id)).status == InstanceStatus.COMPLETED


async def test_extend_lock_keeps_the_task(wrig: WorkerRig) -> None:
    await run_for_ivan(wrig, "Charge card")
    holder, other = wrig.worker("holder", lockDuration=1500), wrig.worker("other")
    [task] = await in_thread(holder.fetch_and_lock, CHARGE)
    status, _ = await wrig.post(f"/external-task/{task['id']}/extendLock", {"workerId": "holder", "newDuration": 5000})
    assert status == 204
    status, body = await wrig.post(f"/external-task/{task['id']}/extendLock", {"workerId": "other", "newDuration": 9})
    assert status == 400 and body["type"] == "BadUserRequestException"
    await asyncio.sleep(1.7)
    assert await in_thread(other.fetch_and_lock, CHARGE) == []
    status, [shown] = await wrig.get("/external-task", topicName=CHARGE, locked="true")
    assert status == 200 and shown["workerId"] == "holder"


async def test_two_workers_never_get_the_same_task(wrig: WorkerRig) -> None:
    ids = await _leads(wrig, 12)
    workers = [wrig.worker(f"w{n}", maxTasks=3) for n in range(4)]
    got: list[dict[str, Any]] = []
    for _ in range(3):
        rounds = await asyncio.gather(*(in_thread(w.fetch_and_lock, LEAD) for w in workers))
        got.extend(task for tasks in rounds for task in tasks)
    assert len(got) == 12 and len({t["id"] for t in got}) == 12
    assert {t["processInstanceId"] for t in got} == set(ids)


async def test_two_linedesk_instances_on_one_redis_never_hand_a_task_twice(tmp_path: Path) -> None:
    prefix = f"linedesk-test-{uuid.uuid4().hex[:8]}:"
    async with (
        worker_rig("redis", tmp_path / "a", prefix=prefix) as first,
        worker_rig("redis", tmp_path / "b", prefix=prefix) as second,
    ):
        await _leads(first, 10)
        workers = [rig.worker(f"{rig.port}-{n}", maxTasks=2) for rig in (first, second) for n in range(3)]
        got: list[dict[str, Any]] = []
        for _ in range(3):
            rounds = await asyncio.gather(*(in_thread(w.fetch_and_lock, LEAD) for w in workers))
            got.extend(task for tasks in rounds for task in tasks)
        assert len(got) == 10 and len({t["id"] for t in got}) == 10
        for task in got:  # each completes on either linedesk
            done = await second.post(f"/external-task/{task['id']}/complete", {"workerId": task["workerId"]})
            assert done[0] == 204, done
        status, left = await first.get("/external-task", topicName=LEAD)
        assert status == 200 and left == []


async def test_long_polling_answers_as_soon_as_a_task_appears(wrig: WorkerRig) -> None:
    waiting = wrig.worker("patient", asyncResponseTimeout=20_000)
    poll = asyncio.create_task(in_thread(waiting.fetch_and_lock, LEAD))
    await asyncio.sleep(0.5)
    assert not poll.done()
    started = time.perf_counter()
    [instance_id] = await _leads(wrig, 1)
    [task] = await asyncio.wait_for(poll, 5)
    assert task["processInstanceId"] == instance_id and time.perf_counter() - started < 2
    empty = wrig.worker("brief", asyncResponseTimeout=300)
    started = time.perf_counter()
    assert await in_thread(empty.fetch_and_lock, "nobody.serves") == []
    assert 0.25 < time.perf_counter() - started < 3


async def test_cancel_releases_the_task(wrig: WorkerRig) -> None:
    record = await run_for_ivan(wrig, "Charge card")
    worker = wrig.worker("busy")
    [task] = await in_thread(worker.fetch_and_lock, CHARGE)
    await wrig.click(ANNA, "instance.cancel", f"1:{record.id}", channel_id=DESK_CHANNEL)
    assert (await wrig.instance(record.id)).status == InstanceStatus.CANCELLED
    status, body = await wrig.post(f"/external-task/{task['id']}/complete", {"workerId": "busy"})
    assert status == 404 and body["type"] == "InvalidRequestException"
    assert (await wrig.get("/external-task"))[1] == []


async def test_a_restart_keeps_tasks_and_honours_locks(wrig: WorkerRig) -> None:
    ids = await _leads(wrig, 2)
    holder = wrig.worker("holder", lockDuration=60_000)
    [held] = await in_thread(holder.fetch_and_lock, LEAD)
    await wrig.restart()
    other = wrig.worker("other", maxTasks=5)
    [free] = await in_thread(other.fetch_and_lock, LEAD)
    assert free["id"] != held["id"]  # the lock taken before the restart still holds
    assert await in_thread(holder.complete, held["id"], {"lead": 1}) is True
    assert await in_thread(other.complete, free["id"], {"lead": 2}) is True
    await wrig.settle()
    for instance_id in ids:
        record = await wrig.instance(instance_id)
        assert record.status == InstanceStatus.FAILED  # the initiative has no client: failed, shown as such
        assert "initiative needs a client" in (record.error or "")


async def test_refusals_change_nothing(wrig: WorkerRig) -> None:
    record = await run_for_ivan(wrig, "Charge card")
    worker = wrig.worker("rightful")
    [task] = await in_thread(worker.fetch_and_lock, CHARGE)
    path = f"/external-task/{task['id']}"
    for token in (None, "wrong", ""):
        status, body = await wrig.post(f"{path}/complete", {"workerId": "rightful"}, token=token)
        assert status == 401 and body["type"] == "AuthenticationException"
    assert (await wrig.get("/external-task", token=None))[0] == 401
    assert (await wrig.get("/external-task", token=ADMIN_TOKEN))[0] == 200  # the admin token opens it too
    status, body = await wrig.post(f"{path}/complete", {"workerId": "intruder"})
    assert status == 400 and "locked by worker 'rightful'" in body["message"]
    status, body = await wrig.post("/external-task/no-such-task/complete", {"workerId": "rightful"})
    assert status == 404 and body["message"] == "External task with id no-such-task does not exist"
    malformed: list[Any] = [
        b"{not json",
        b"[]",
        {"variables": {}},
        {"workerId": "rightful", "variables": {"x": {"value": "nine", "type": "Integer"}}},
        {"workerId": "rightful", "variables": {"x": {"value": 1, "type": "Bytes"}}},
        {"workerId": "rightful", "variables": {"x": 3}},
        {"workerId": 7},
    ]
    for bad in malformed:
        status, body = await wrig.post(f"{path}/complete", bad)
        assert status == 400 and body["type"] == "InvalidRequestException", (bad, body)
    requests: list[tuple[str, Any]] = [
        ("/external-task/fetchAndLock", {"workerId": "w", "maxTasks": -1, "topics": []}),
        ("/external-task/fetchAndLock", {"workerId": "w", "maxTasks": 1, "topics": [{"topicName": "t"}]}),
        (f"{path}/failure", {"workerId": "rightful", "retries": "two"}),
        (f"{path}/extendLock", {"workerId": "rightful", "newDuration": 0}),
        (f"{path}/bpmnError", {"workerId": "rightful"}),
        ("/process-definition/key/charge_card/start", {"variables": {"line": {"value": "nowhere"}}}),
        ("/message", {"messageName": ""}),
    ]
    for route, bad in requests:
        status, body = await wrig.post(route, bad)
        assert status == 400 and body["type"] == "InvalidRequestException", (route, bad, body)
    assert (await wrig.post("/process-definition/key/nothing/start", {}))[0] == 404
    assert (await wrig.get("/process-instance/nothing"))[0] == 404
    still = await wrig.instance(record.id)
    assert still.status == InstanceStatus.WAITING and still.worker_tasks == [task["id"]]
    [shown] = (await wrig.get("/external-task", processInstanceId=record.id))[1]
    assert shown["workerId"] == "rightful" and shown["retries"] is None
    assert await in_thread(worker.complete, task["id"], {"amount": "3", "receipt": 3}) is True


async def test_a_long_poll_on_one_linedesk_wakes_for_a_task_made_on_the_other(tmp_path: Path) -> None:
    prefix = f"linedesk-test-{uuid.uuid4().hex[:8]}:"
    async with (
        worker_rig("redis", tmp_path / "a", prefix=prefix) as first,
        worker_rig("redis", tmp_path / "b", prefix=prefix) as second,
    ):
        waiting = first.worker("patient", asyncResponseTimeout=30_000)
        poll = asyncio.create_task(in_thread(waiting.fetch_and_lock, LEAD))
        await asyncio.sleep(0.5)
        started = time.perf_counter()
        [instance_id] = await _leads(second, 1)
        [task] = await asyncio.wait_for(poll, 10)
        assert task["processInstanceId"] == instance_id and time.perf_counter() - started < 3


async def test_stopping_linedesk_answers_the_long_polls_at_once(wrig: WorkerRig) -> None:
    waiting = wrig.worker("patient", asyncResponseTimeout=60_000)
    poll = asyncio.create_task(in_thread(waiting.fetch_and_lock, LEAD))
    await asyncio.sleep(0.5)
    started = time.perf_counter()
    await wrig.shutdown()
    assert await asyncio.wait_for(poll, 10) == []
    assert time.perf_counter() - started < 5
    await wrig.boot()
