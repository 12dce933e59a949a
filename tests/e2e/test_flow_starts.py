"""Start events other than none (SPEC §11): timer starts on schedule with no session (a ManualClock moves
time), message starts named like auto-start events — over HTTP against the sandboxes."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from core.autostart import RuleAuthor
from core.clock import ManualClock
from core.model import InstanceRecord, InstanceStatus
from core.processes.schedule import Schedule
from sandboxes.rig import ANNA, IVAN, Rig
from tests.support.bpmn import Step, block, wait_client
from tests.support.flow_bpmn import flow_rig, message_start, model, timer_cycle
from tests.support.flows import open_session_with_anna_online, picker_buttons

HOUR = 3600.0
GREETING = "Hello! An operator will answer shortly."


def timer_model(pid: str, name: str, cycle: str, *steps: Step) -> str:
    return model(pid, name, *steps, start_definition=timer_cycle(cycle))


async def _instances(rig: Rig, process_id: str) -> list[InstanceRecord]:
    assert rig.desk is not None
    return [r for r in await rig.desk.store.list_instances(limit=1000) if r.process_id == process_id]


async def _tick(rig: Rig, clock: ManualClock, seconds: float) -> int:
    clock.advance(seconds)
    assert rig.desk is not None
    started = await rig.desk.processes.schedule.start_due()
    await rig.settle()
    return started


@pytest.mark.parametrize("store", ["sqlite", "redis"])
async def test_a_timer_start_runs_on_schedule_once_per_due_time_and_survives_a_restart(
    tmp_path: Path, store: str
) -> None:
    clock = ManualClock(time.time())
    files = {
        "nudge.bpmn": timer_model(
            "nudge",
            "Hourly nudge",
            "R/PT1H",
            block("linedesk.initiative", text="Your hourly nudge", client="telegram:501", line="support"),
        ),
        "speak.bpmn": timer_model("speak", "Speaks to nobody", "R/PT1H", block("linedesk.reply", text="Hi?")),
    }
    async with flow_rig(tmp_path, files, clock=clock, store=store) as rig:
        await rig.client_writes(IVAN, "Hello")  # the client must have written once for an initiative message
        assert rig.desk is not None
        assert await rig.desk.processes.schedule.start_due() == 0  # first sight: due in an hour
        assert await _tick(rig, clock, HOUR - 5) == 0
        await _tick(rig, clock, 10)  # started by this call or by linedesk's own timer loop, once either way
        [first] = await _instances(rig, "nudge")
        assert first.status == InstanceStatus.COMPLETED and first.session is None and first.trigger == "timer"
        assert rig.client_chat(IVAN).count("Your hourly nudge") == 1

        # a second linedesk on the same store sees the same due time: its claim fails, nothing starts twice
        other = Schedule(rig.desk.store, clock, rig.desk.catalog, rig.desk.processes, "automation")
        assert await other.start_due() == 0

        [speak] = await _instances(rig, "speak")
        assert speak.status == InstanceStatus.FAILED
        assert "no session (started by a timer" in (speak.error or "")
        assert "use linedesk.initiative with a client and a line" in (speak.error or "")

        await rig.restart()
        assert await rig.desk.processes.schedule.start_due() == 0  # the schedule was kept: not due again yet
        await _tick(rig, clock, HOUR)
        assert len(await _instances(rig, "nudge")) == 2
        assert rig.client_chat(IVAN).count("Your hourly nudge") == 2

        # down for three hours: the missed time starts it once, then the schedule goes on from now
        await rig.shutdown()
        clock.advance(3 * HOUR)
        await rig.boot()
        await _tick(rig, clock, 1)
        await _tick(rig, clock, 1)
        assert len(await _instances(rig, "nudge")) == 3


async def test_timer_start_processes_are_not_offered_to_operators(tmp_path: Path) -> None:
    files = {
        "nightly.bpmn": timer_model("nightly", "Nightly report", "0 0 2 * * ?", block("linedesk.status", text="x")),
        "hello.bpmn": model("hello", "Say hello", block("linedesk.reply", text="Hello!")),
    }
    async with flow_rig(tmp_path, files) as rig:
        await open_session_with_anna_online(rig)
        response = await rig.slash(ANNA, "/startprocess", "1")
        names = [b["text"]["text"] for group in picker_buttons(response.json["blocks"]).values() for b in group]
        assert names == ["Say hello"]
        assert rig.desk is not None
        due = await rig.desk.processes.schedule.next_due(rig.desk.catalog.get("nightly"))  # type: ignore[arg-type]
        assert due is not None and time.gmtime(due).tm_hour == 2 and time.gmtime(due).tm_min == 0


async def test_a_message_start_named_session_created_acts_as_the_autostart_rule(tmp_path: Path) -> None:
    definitions = (
        '  <bpmn:message id="Message_created" name="session.created" />\n'
        '  <bpmn:message id="Message_order" name="order.placed" />\n'
    )
    files = {
        "welcome.bpmn": model(
            "welcome",
            "Welcome",
            block("linedesk.reply", text="Welcome, {client_name}! What is your order number?"),
            wait_client(),
            block("linedesk.reply", text="Thanks, looking up {client_message}"),
            start_definition=message_start("Message_created"),
            definitions=definitions,
        ),
        "orders.bpmn": model(
            "orders",
            "Order placed",
            block("linedesk.reply", text="Order!"),
            start_definition=message_start("Message_order"),
            definitions=definitions,
        ),
        "hello.bpmn": model("hello", "Say hello", block("linedesk.reply", text="Hello!")),
    }
    async with flow_rig(tmp_path, files) as rig:
        assert rig.desk is not None
        # the line's own rule names the same process: it still starts once
        await rig.desk.autostart.set_rule(
            "support", "session.created", "welcome", False, by=RuleAuthor("test", require_admin=False)
        )
        await rig.client_writes(IVAN, "Hi there")
        [record] = await rig.desk.store.list_instances(session=1)
        assert record.process_id == "welcome" and record.trigger == "session.created"
        assert record.started_by == "automation"
        assert rig.client_chat(IVAN)[-1] == "Welcome, Ivan! What is your order number?"
        await rig.client_writes(IVAN, "A-17")
        await rig.settle()
        assert rig.client_chat(IVAN)[-1] == "Thanks, looking up A-17"
        assert [r.process_id for r in await rig.desk.store.list_instances(session=1)] == ["welcome"]

        await rig.slash(ANNA, "/status", "online")
        response = await rig.slash(ANNA, "/startprocess", "1")
        names = [b["text"]["text"] for group in picker_buttons(response.json["blocks"]).values() for b in group]
        assert names == ["Say hello"]  # neither message start is offered by hand
        assert GREETING in rig.client_chat(IVAN)
