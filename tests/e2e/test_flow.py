"""Flow as drawn (SPEC §11 "Flow"): error and escalation events, event sub-processes, call activities,
business rule tasks on DMN tables — each process started by Anna from Ivan's session over HTTP."""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import Callable
from pathlib import Path

from core.model import InstanceStatus
from sandboxes.rig import IVAN, Rig
from tests.support.bpmn import block, script, wait_client
from tests.support.flow_bpmn import (
    boundary,
    call,
    decide,
    error_end,
    error_ref,
    escalate,
    escalation_ref,
    event_sub_process,
    flow_rig,
    model,
    sub_process,
)
from tests.support.flows import pick, run_for_ivan

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "flow"


async def test_an_error_end_in_a_subprocess_is_caught_by_its_boundary_and_an_escalation_alongside(
    tmp_path: Path,
) -> None:
    guarded = model(
        "guarded",
        "Guarded work",
        sub_process("Work", block("linedesk.reply", text="Working on it"), escalate(), error_end()),
        block("linedesk.reply", text="Done normally"),
        extras=boundary("main_2", error_ref(), block("linedesk.reply", text="Sorry, too late"), tag="late")
        + boundary(
            "main_2",
            escalation_ref(),
            block("linedesk.reply", text="Escalated to a supervisor"),
            interrupting=False,
            tag="slow",
        ),
    )
    async with flow_rig(tmp_path, {"guarded.bpmn": guarded}) as rig:
        record = await run_for_ivan(rig, "Guarded work")
        assert rig.desk is not None
        done = await rig.desk.store.get_instance(record.id)
        assert done is not None and done.status == InstanceStatus.COMPLETED, done and done.error
        chat = rig.client_chat(IVAN)
        assert chat[-3] == "Working on it"  # both boundary paths become ready in the same engine step
        assert sorted(chat[-2:]) == ["Escalated to a supervisor", "Sorry, too late"]
        assert "Done normally" not in chat


async def test_an_error_event_sub_process_handles_an_error_thrown_below_it(tmp_path: Path) -> None:
    stock = model(
        "stock",
        "Check stock",
        sub_process("Look up", block("linedesk.reply", text="Looking it up"), error_end("Error_stock")),
        block("linedesk.reply", text="In stock"),
        extras=event_sub_process(error_ref("Error_stock"), block("linedesk.reply", text="Out of stock, sorry")),
    )
    async with flow_rig(tmp_path, {"stock.bpmn": stock}) as rig:
        record = await run_for_ivan(rig, "Check stock")
        assert rig.desk is not None
        done = await rig.desk.store.get_instance(record.id)
        assert done is not None and done.status == InstanceStatus.COMPLETED, done and done.error
        assert rig.client_chat(IVAN)[-2:] == ["Looking it up", "Out of stock, sorry"]
        assert "In stock" not in rig.client_chat(IVAN)


async def test_an_uncaught_error_fails_the_instance_with_its_code_on_the_desk(tmp_path: Path) -> None:
    loose = model(
        "loose",
        "Loose end",
        block("linedesk.reply", text="Checking"),
        sub_process("Fails", error_end("Error_stock")),
        block("linedesk.reply", text="Never said"),
    )
    async with flow_rig(tmp_path, {"loose.bpmn": loose}) as rig:
        record = await run_for_ivan(rig, "Loose end")
        assert rig.desk is not None
        failed = await rig.desk.store.get_instance(record.id)
        assert failed is not None and failed.status == InstanceStatus.FAILED
        assert "BPMN error E_STOCK “Out of stock” was not caught" in (failed.error or "")
        thread = await rig.desk_thread(1)
        assert any(t.startswith("✖ Loose end failed") and "E_STOCK" in t for t in thread), thread
        topic = [m.get("text", "") for m in await rig.topic(1)]
        assert any("Loose end failed" in t and "E_STOCK" in t for t in topic), topic
        assert "Never said" not in rig.client_chat(IVAN)


async def test_a_call_activity_runs_the_child_in_the_same_session_with_in_and_out_mappings(tmp_path: Path) -> None:
    parent = model(
        "order",
        "Order",
        script("amount = 21\ncustomer = {'level': 'gold'}\nsecret = 'parent only'"),
        call(
            "confirm",
            [{"source": "amount", "target": "total"}, {"sourceExpression": "${customer.level}", "target": "level"}],
            [{"source": "answer", "target": "confirmation"}],
            name="Confirm",
        ),
        block("linedesk.reply", text="Back in the order: {confirmation}, amount still {amount}"),
    )
    child = model(
        "confirm",
        "Confirm with the client",
        block("linedesk.reply", text="{client_name}, confirm {total} for your {level} account?"),
        wait_client(),
        script("answer = client_message.lower()\nsaw_secret = 'secret' in globals()\nleak = 1"),
        block("linedesk.reply", text="=f'Noted: {answer} (saw the secret: {saw_secret})'"),
    )
    async with flow_rig(tmp_path, {"order.bpmn": parent, "sales/confirm.bpmn": child}) as rig:
        record = await run_for_ivan(rig, "Order")
        assert rig.desk is not None
        assert record.status == InstanceStatus.WAITING and record.waiting_for == "client_message"
        assert rig.client_chat(IVAN)[-1] == "Ivan, confirm 21 for your gold account?"
        await rig.client_writes(IVAN, "YES")
        await rig.settle()
        done = await rig.desk.store.get_instance(record.id)
        assert done is not None and done.status == InstanceStatus.COMPLETED, done and done.error
        assert rig.client_chat(IVAN)[-2:] == [
            "Noted: yes (saw the secret: False)",
            "Back in the order: yes, amount still 21",
        ]
        variables = await rig.desk.processes.variables(record.id)
        assert variables["confirmation"] == "yes" and "leak" not in variables and "answer" not in variables
        assert len(await rig.desk.store.list_instances(session=1)) == 1  # one instance, the child inside it


async def test_a_business_rule_task_decides_with_a_dmn_table(tmp_path: Path) -> None:
    priced = model(
        "priced",
        "Price it",
        script("customer = {'level': 'gold'}\namount = 500\nurgent = True"),
        decide("discount", "discount", "singleResult", name="Discount"),
        decide("channels", "channels", "collectEntries", name="Channels"),
        decide("discount", "rows", None, name="All rows"),
        block("linedesk.reply", text="=f\"{discount['percent']}% ({discount['note']}) via {', '.join(channels)}\""),
        script("customer = {'level': 'silver'}\namount = 5"),
        decide("discount", "other", "singleResult", name="Discount again"),
        block("linedesk.reply", text="=f\"{other['percent']}% for {customer['level']}, rows {len(rows)}\""),
    )
    async with flow_rig(
        tmp_path,
        {"priced.bpmn": priced},
        prepare=lambda folder: shutil.copy(FIXTURES / "discount.dmn", folder / "discount.dmn"),
    ) as rig:
        record = await run_for_ivan(rig, "Price it")
        assert rig.desk is not None
        done = await rig.desk.store.get_instance(record.id)
        assert done is not None and done.status == InstanceStatus.COMPLETED, done and done.error
        assert rig.client_chat(IVAN)[-2:] == ["10% (gold) via email, phone", "0% for silver, rows 1"]


async def test_a_decision_that_breaks_its_hit_policy_fails_the_instance_naming_the_task(tmp_path: Path) -> None:
    strict = model(
        "strict",
        "Strict",
        script("urgent = True"),
        decide("channels", "one", "singleEntry", name="One channel"),
    )
    async with flow_rig(
        tmp_path,
        {"strict.bpmn": strict},
        prepare=lambda folder: shutil.copy(FIXTURES / "discount.dmn", folder / "rules.dmn"),
    ) as rig:
        record = await run_for_ivan(rig, "Strict")
        assert record.status == InstanceStatus.FAILED
        assert "singleEntry needs at most one matching rule, 2 matched" in (record.error or "")
        assert "One channel" in (record.error or "")
        await pick(rig, "Strict")  # the catalog still offers it: a run-time outcome, not a model error


async def _until(rig: Rig, condition: Callable[[], bool], seconds: float = 4.0) -> None:
    for _ in range(int(seconds / 0.05)):
        await rig.settle()
        if condition():
            return
        await asyncio.sleep(0.05)
    raise AssertionError("the condition did not hold in time")


async def test_timer_event_sub_processes_remind_or_interrupt_a_waiting_process(tmp_path: Path) -> None:
    one_second = "<bpmn:timerEventDefinition><bpmn:timeDuration>PT1S</bpmn:timeDuration></bpmn:timerEventDefinition>"
    remind = model(
        "remind",
        "Remind",
        wait_client(),
        block("linedesk.reply", text="Thanks for answering"),
        extras=event_sub_process(one_second, block("linedesk.reply", text="Still there?"), interrupting=False),
    )
    give_up = model(
        "give_up",
        "Give up",
        wait_client(),
        block("linedesk.reply", text="Never sent"),
        extras=event_sub_process(one_second, block("linedesk.reply", text="We stop waiting, write any time")),
    )
    async with flow_rig(tmp_path, {"remind.bpmn": remind, "give_up.bpmn": give_up}) as rig:
        record = await run_for_ivan(rig, "Remind")
        assert rig.desk is not None
        assert record.waiting_for == "client_message" and record.wake_at is not None
        await _until(rig, lambda: "Still there?" in rig.client_chat(IVAN))
        await rig.client_writes(IVAN, "yes, here")
        await _until(rig, lambda: rig.client_chat(IVAN)[-1] == "Thanks for answering")
        done = await rig.desk.store.get_instance(record.id)
        assert done is not None and done.status == InstanceStatus.COMPLETED, done and done.error

        await pick(rig, "Give up")
        await _until(rig, lambda: rig.client_chat(IVAN)[-1] == "We stop waiting, write any time")
        [stopped] = [r for r in await rig.desk.store.list_instances(session=1) if r.process_id == "give_up"]
        assert stopped.status == InstanceStatus.COMPLETED, stopped.error
        await rig.client_writes(IVAN, "late answer")
        await rig.settle()
        assert "Never sent" not in rig.client_chat(IVAN)


async def test_an_error_ending_the_called_process_is_caught_on_the_call_activity(tmp_path: Path) -> None:
    parent = model(
        "buy",
        "Buy",
        script("item = 'at noon'"),
        call("reserve", [{"variables": "all"}], [{"variables": "all"}], name="Reserve"),
        block("linedesk.reply", text="Reserved"),
        extras=boundary("main_3", error_ref("Error_stock"), block("linedesk.reply", text="Sold out: {why}")),
    )
    child = model("reserve", "Reserve", script("why = 'last one went ' + item"), error_end("Error_stock"))
    async with flow_rig(tmp_path, {"buy.bpmn": parent, "reserve.bpmn": child}) as rig:
        record = await run_for_ivan(rig, "Buy")
        assert rig.desk is not None
        done = await rig.desk.store.get_instance(record.id)
        assert done is not None and done.status == InstanceStatus.COMPLETED, done and done.error
        assert rig.client_chat(IVAN)[-1] == "Sold out: last one went at noon"
        assert "Reserved" not in rig.client_chat(IVAN)
