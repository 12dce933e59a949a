"""SPEC §12 starts and messages through the real client library's engine client: a start by process key (no
session; `client` + `line` let its blocks reach the client), a start by a message start event, and a message
correlated to a waiting catch event by business key (the session number) or instance id."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from core.model import InstanceStatus
from sandboxes.rig import IVAN
from tests.support.flows import run_for_ivan
from tests.support.workers import WorkerRig, in_thread, worker_rig

LEAD = "crm.lead"


@pytest.fixture(params=["sqlite", "redis"])
async def wrig(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[WorkerRig]:
    async with worker_rig(request.param, tmp_path) as stage:
        yield stage


async def _ivan(rig: WorkerRig) -> str:
    await rig.client_writes(IVAN, "Hello")
    assert rig.desk is not None
    session = await rig.desk.store.get_session(1)
    assert session is not None
    return session.client_id


async def test_start_by_key_reaches_the_client_through_its_blocks(wrig: WorkerRig) -> None:
    client_id = await _ivan(wrig)
    engine = wrig.engine_client()
    started = await in_thread(
        engine.start_process, "web_lead", {"client": client_id, "line": "support", "name": "Ivan"}, None, "web-7"
    )
    assert started["businessKey"] == "web-7" and started["ended"] is False
    record = await wrig.instance(started["id"])
    assert record.session is None and record.waiting_for == f"worker:{LEAD}" and record.trigger == "rest"
    worker = wrig.worker("crm")
    [task] = await in_thread(worker.fetch_and_lock, LEAD)
    assert task["businessKey"] == "web-7" and task["variables"]["name"]["value"] == "Ivan"
    await in_thread(worker.complete, task["id"], {"lead": 42})
    await wrig.settle()
    assert (await wrig.instance(started["id"])).status == InstanceStatus.COMPLETED
    assert "Thanks Ivan, your request is lead 42" in wrig.client_chat(IVAN)


async def test_a_message_start_event_is_started_by_its_message(wrig: WorkerRig) -> None:
    client_id = await _ivan(wrig)
    engine = wrig.engine_client()
    [result] = await in_thread(
        engine.correlate_message, "web_form", process_variables={"client": client_id, "line": "support", "name": "I"}
    )
    assert result["resultType"] == "ProcessDefinition"
    instance_id = result["processInstance"]["id"]
    status, tasks = await wrig.get("/external-task", processInstanceId=instance_id)
    assert status == 200 and [t["topicName"] for t in tasks] == [LEAD]
    status, variables = await wrig.get(f"/process-instance/{instance_id}/variables")
    assert variables["name"] == {"value": "I", "type": "String", "valueInfo": {}}


async def test_a_message_is_correlated_by_business_key_or_instance_id(wrig: WorkerRig) -> None:
    record = await run_for_ivan(wrig, "Await payment")
    assert record.status == InstanceStatus.WAITING
    engine = wrig.engine_client()
    with pytest.raises(Exception, match="received 400"):  # nothing waits for it in session #2
        await in_thread(engine.correlate_message, "payment_received", business_key="2")
    with pytest.raises(Exception, match="received 400"):
        await in_thread(engine.correlate_message, "no_such_message", business_key="1")
    assert (await wrig.instance(record.id)).status == InstanceStatus.WAITING
    [result] = await in_thread(
        engine.correlate_message, "payment_received", business_key="1", process_variables={"paid": "30 EUR"}
    )
    assert result["resultType"] == "Execution" and result["processInstance"]["id"] == record.id
    await wrig.settle()
    assert (await wrig.instance(record.id)).status == InstanceStatus.COMPLETED
    assert "Payment of 30 EUR received" in wrig.client_chat(IVAN)
    second = await run_for_ivan_again(wrig)
    status, _ = await wrig.post(
        "/message",
        {
            "messageName": "payment_received",
            "processInstanceId": second,
            "processVariables": {"paid": {"value": "5 EUR", "type": "String"}},
        },
    )
    assert status == 204
    await wrig.settle()
    assert (await wrig.instance(second)).status == InstanceStatus.COMPLETED
    assert "Payment of 5 EUR received" in wrig.client_chat(IVAN)


async def run_for_ivan_again(rig: WorkerRig) -> str:
    """A second "Await payment" on session #1 (started over REST with the session number as business key)."""
    started = await in_thread(rig.engine_client().start_process, "await_payment", {}, None, "1")
    record = await rig.instance(started["id"])
    assert record.session == 1 and record.status == InstanceStatus.WAITING
    return record.id
