"""SPEC §12 through HTTP with the real `camunda-external-task-client-python3`: fetch-and-lock, complete with typed
variables, failures and retries, BPMN errors, lock expiry and extension, refusals — on both stores."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from camunda.external_task.external_task_worker import ExternalTaskWorker

from core.model import InstanceStatus
from sandboxes.rig import ANNA, DESK_CHANNEL, IVAN
from tests.support.flows import run_for_ivan
from tests.support.workers import WORKER_TOKEN, WorkerRig, in_thread, worker_rig

CHARGE = "payments.charge"


@pytest.fixture(params=["sqlite", "redis"])
async def wrig(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[WorkerRig]:
    async with worker_rig(request.param, tmp_path) as stage:
        yield stage


async def _charge_for_ivan(rig: WorkerRig) -> str:
    record = await run_for_ivan(rig, "Charge card")
    assert record.status == InstanceStatus.WAITING and record.waiting_for == f"worker:{CHARGE}"
    return record.id


async def test_fetch_lock_and_complete_with_typed_variables(wrig: WorkerRig) -> None:
    instance_id = await _charge_for_ivan(wrig)
    worker = wrig.worker("worker-1")
    [task] = await in_thread(worker.fetch_and_lock, CHARGE)
    assert task["topicName"] == CHARGE and task["workerId"] == "worker-1"
    assert task["processInstanceId"] == instance_id and task["businessKey"] == "1"
    assert task["activityId"] == "charge" and task["processDefinitionKey"] == "charge_card"
    assert task["variables"]["session_id"] == {"value": 1, "type": "Integer", "valueInfo": {}}
    assert task["variables"]["client_name"]["type"] == "String"
    assert await in_thread(worker.fetch_and_lock, CHARGE) == []  # locked: nobody gets it twice
    listed = await wrig.slash(ANNA, "/processes", "1")  # the desk's list of the session's instances
    shown = " ".join(b["text"]["text"] for b in listed.json["blocks"] if b["type"] == "section")
    assert "locked by worker worker-1 until" in shown and f"(topic {CHARGE})" in shown
    typed = {
        "amount": {"value": "30 EUR", "type": "String"},
        "receipt": {"value": 7, "type": "Integer"},
        "big": {"value": 2**40, "type": "Long"},
        "ratio": {"value": 0.5, "type": "Double"},
        "ok": {"value": True, "type": "Boolean"},
        "when": {"value": "2026-12-03T13:00:00.000+0000", "type": "Date"},
        "doc": {"value": '{"a": [1, 2]}', "type": "Json"},
        "nothing": {"value": None, "type": "Null"},
    }
    assert await in_thread(worker.complete, task["id"], typed) is True
    await wrig.settle()
    record = await wrig.instance(instance_id)
    assert record.status == InstanceStatus.COMPLETED, (record.status, record.error)
    assert "Charged 30 EUR, receipt 7" in wrig.client_chat(IVAN)
    status, variables = await wrig.get(f"/process-instance/{instance_id}/variables")
    assert status == 200
    assert variables["big"]["type"] == "Long" and variables["ratio"] == {
        "value": 0.5,
        "type": "Double",
        "valueInfo": {},
    }
    assert variables["when"]["value"] == "2026-12-03T13:00:00.000+0000" and variables["when"]["type"] == "Date"
    assert variables["doc"]["type"] == "Json" and variables["nothing"]["type"] == "Null"
    assert variables["ok"]["value"] is True
    status, body = await wrig.get(f"/process-instance/{instance_id}")
    assert status == 200 and body["ended"] is True and body["businessKey"] == "1"


async def test_variables_filters(wrig: WorkerRig) -> None:
    await _charge_for_ivan(wrig)
    worker = wrig.worker("filtering")
    assert await in_thread(worker.fetch_and_lock, CHARGE, {"client_name": "Nobody"}) == []
    [task] = await in_thread(worker.fetch_and_lock, CHARGE, {"client_name": "Ivan"}, ["session_id"])
    assert set(task["variables"]) == {"session_id"}


async def test_failure_with_retries_then_success(wrig: WorkerRig) -> None:
    instance_id = await _charge_for_ivan(wrig)
    worker = wrig.worker("flaky")
    [task] = await in_thread(worker.fetch_and_lock, CHARGE)
    assert await in_thread(worker.failure, task["id"], "bank timeout", "trace…", 2, 1500) is True
    listed = await wrig.slash(ANNA, "/processes", "1")
    shown = " ".join(b["text"]["text"] for b in listed.json["blocks"] if b["type"] == "section")
    assert f"waiting for a worker on topic {CHARGE}" in shown
    assert "worker flaky failed: bank timeout" in shown and "2 retries left" in shown
    assert await in_thread(worker.fetch_and_lock, CHARGE) == []  # not before retryTimeout
    await asyncio.sleep(1.7)
    [again] = await in_thread(worker.fetch_and_lock, CHARGE)
    assert again["id"] == task["id"] and again["retries"] == 2 and again["errorMessage"] == "bank timeout"
    await in_thread(worker.complete, again["id"], {"amount": "5", "receipt": 1})
    await wrig.settle()
    assert (await wrig.instance(instance_id)).status == InstanceStatus.COMPLETED


async def test_retries_exhausted_fail_the_instance_and_retry_brings_the_task_back(wrig: WorkerRig) -> None:
    instance_id = await _charge_for_ivan(wrig)
    worker = wrig.worker("broken")
    [task] = await in_thread(worker.fetch_and_lock, CHARGE)
    await in_thread(worker.failure, task["id"], "card service down", None, 0, 0)
    await wrig.settle()
    record = await wrig.instance(instance_id)
    assert record.status == InstanceStatus.FAILED and "card service down" in (record.error or "")
    assert any("failed" in t and "card service down" in t for t in await wrig.desk_thread(1))
    assert await in_thread(worker.fetch_and_lock, CHARGE) == []
    await wrig.click(ANNA, "instance.retry", f"1:{instance_id}", channel_id=DESK_CHANNEL)
    record = await wrig.instance(instance_id)
    assert record.status == InstanceStatus.WAITING, (record.status, record.error)
    [fresh] = await in_thread(worker.fetch_and_lock, CHARGE)
    assert fresh["retries"] is None and fresh["errorMessage"] is None
    await in_thread(worker.complete, fresh["id"], {"amount": "1", "receipt": 2})
    await wrig.settle()
    assert (await wrig.instance(instance_id)).status == InstanceStatus.COMPLETED


async def test_bpmn_error_is_caught_by_the_boundary_event(wrig: WorkerRig) -> None:
    instance_id = await _charge_for_ivan(wrig)
    worker = wrig.worker("strict")
    [task] = await in_thread(worker.fetch_and_lock, CHARGE)
    assert await in_thread(worker.bpmn_failure, task["id"], "card_declined", "declined", {"reason": "expired"})
    await wrig.settle()
    record = await wrig.instance(instance_id)
    assert record.status == InstanceStatus.COMPLETED, (record.status, record.error)
    assert "Your card was declined: expired" in wrig.client_chat(IVAN)
    status, body = await wrig.post(f"/external-task/{task['id']}/complete", {"workerId": "strict"})
    assert status == 404 and body["type"] == "InvalidRequestException"


async def test_uncaught_bpmn_error_fails_the_instance_with_its_code(wrig: WorkerRig) -> None:
    instance_id = await _charge_for_ivan(wrig)
    worker = wrig.worker("strict")
    [task] = await in_thread(worker.fetch_and_lock, CHARGE)
    await in_thread(worker.bpmn_failure, task["id"], "fraud_suspected", "no")
    await wrig.settle()
    record = await wrig.instance(instance_id)
    assert record.status == InstanceStatus.FAILED and "fraud_suspected" in (record.error or "")
    assert any("fraud_suspected" in t for t in await wrig.desk_thread(1))


async def test_the_readme_worker_serves_a_topic(wrig: WorkerRig) -> None:
    """The ten-line worker of docs/drafts/workers.md, with the library's ExternalTaskWorker."""
    instance_id = await _charge_for_ivan(wrig)

    def charge(task: Any) -> Any:
        receipt = f"R-{task.get_task_id()[:8]}"  # … call the payment provider here …
        return task.complete({"receipt": receipt, "charged": True, "amount": "12 EUR"})

    config = {"auth_bearer": {"access_token": WORKER_TOKEN}, "lockDuration": 30_000, "asyncResponseTimeout": 0}
    worker = ExternalTaskWorker("payments-1", wrig.engine, config)
    await in_thread(worker.fetch_and_execute, CHARGE, charge)
    await wrig.settle()
    record = await wrig.instance(instance_id)
    assert record.status == InstanceStatus.COMPLETED, (record.status, record.error)
    assert any(text.startswith("Charged 12 EUR, receipt R-") for text in wrig.client_chat(IVAN))
    status, instances = await wrig.get("/external-task")
    assert status == 200 and instances == []


async def test_a_worker_serves_a_parallel_branch_while_a_user_task_waits(wrig: WorkerRig) -> None:
    record = await run_for_ivan(wrig, "Review and ship")
    assert record.waiting_for == "user_task" and wrig.slack.modal(ANNA.slack_user) is not None
    worker = wrig.worker("labels")
    [task] = await in_thread(worker.fetch_and_lock, "shipping.label")
    assert task["activityId"] == "label" and task["processInstanceId"] == record.id
    await in_thread(worker.complete, task["id"], {"label": "L-1"})
    await wrig.settle()
    middle = await wrig.instance(record.id)
    assert middle.status == InstanceStatus.WAITING and middle.waiting_for == "user_task" and middle.worker_tasks == []
    await wrig.submit(ANNA, {})
    record = await wrig.instance(record.id)
    assert record.status == InstanceStatus.COMPLETED, (record.status, record.error)
    status, variables = await wrig.get(f"/process-instance/{record.id}/variables")
    assert status == 200 and variables["label"]["value"] == "L-1"
