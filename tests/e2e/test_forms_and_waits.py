"""User task forms (every field type, validation, chains, assignees, auto-started tasks) and waiting
(client messages, timers) — over HTTP against the sandboxes."""

from __future__ import annotations

import asyncio
import datetime as dt

import aiohttp
import pytest

from core.autostart import RuleAuthor
from core.model import InstanceStatus
from sandboxes.rig import ANNA, CARL, DESK_CHANNEL, IVAN, Rig
from tests.support.bpmn import block, field, script, timer, user_task, wait_client
from tests.support.flows import open_session_with_anna_online, pick, run_for_ivan
from tests.support.rigs import MakeRig

ALL_FIELDS = user_task(
    "Everything",
    field("name", "string", "Name", required=True),
    field("note", "string", "Note", default="none"),
    field("amount", "long", "Amount", required=True),
    field("paid", "boolean", "Paid", default="false"),
    field("kind", "enum", "Kind", options={"repair": "Repair", "sale": "Sale"}, default="sale"),
    field("when", "date", "When"),
)


def modal_of(rig: Rig, person=ANNA) -> dict:
    modal = rig.slack.modal(person.slack_user)
    assert modal is not None, f"{person.name} has no modal open"
    return modal


async def test_every_field_type_renders_and_validates(make_rig: MakeRig) -> None:
    rig = await make_rig(
        (
            "everything",
            "Everything",
            [
                ALL_FIELDS,
                block(
                    "linedesk.reply",
                    text="={'name': name, 'note': note, 'amount': amount, 'paid': paid, 'kind': kind, 'when': when}",
                ),
            ],
        )
    )
    await run_for_ivan(rig, "Everything")
    modal = modal_of(rig)
    inputs = {b["block_id"]: b for b in modal["blocks"] if b["type"] == "input"}
    assert {k: v["element"]["type"] for k, v in inputs.items()} == {
        "name": "plain_text_input",
        "note": "plain_text_input",
        "amount": "number_input",
        "paid": "radio_buttons",
        "kind": "static_select",
        "when": "datepicker",
    }
    assert [k for k, v in inputs.items() if not v["optional"]] == ["name", "amount"]
    assert inputs["note"]["element"]["initial_value"] == "none"
    assert inputs["kind"]["element"]["initial_option"]["value"] == "sale"
    assert inputs["paid"]["element"]["initial_option"]["value"] == "false"

    bad = await rig.submit(
        ANNA,
        {
            "name": {"value": ""},
            "amount": {"value": "12.5"},
            "kind": {"value": "rent"},
            "when": {"value": "31/12/2026"},
        },
    )
    assert bad.json["response_action"] == "errors"
    assert bad.json["errors"] == {
        "name": "This field is required.",
        "amount": "Enter a whole number.",
        "kind": "Choose one of: Repair, Sale.",
        "when": "Enter a date as YYYY-MM-DD.",
    }

    good = await rig.submit(
        ANNA,
        {
            "name": {"value": "Ivan"},
            "amount": {"value": "1200"},
            "paid": {"value": "true"},
            "kind": {"value": "repair"},
            "when": {"value": "2026-12-31"},
        },
    )
    assert good.status == 200 and good.text == ""
    sent = rig.client_chat(IVAN)[-1]
    assert sent == str(
        {"name": "Ivan", "note": "none", "amount": 1200, "paid": True, "kind": "repair", "when": "2026-12-31"}
    )


async def test_a_chain_of_tasks_for_the_same_operator_continues_in_the_same_modal(make_rig: MakeRig) -> None:
    rig = await make_rig(
        (
            "two_steps",
            "Two steps",
            [
                user_task("Address", field("city", "string", required=True)),
                user_task("Time", field("hour", "long", required=True)),
                block("linedesk.reply", text="See you in {city} at {hour}:00"),
            ],
        )
    )
    await run_for_ivan(rig, "Two steps")
    first = await rig.submit(ANNA, {"city": {"value": "Kazan"}})
    assert first.json["response_action"] == "update"
    assert [b["block_id"] for b in first.json["view"]["blocks"] if b["type"] == "input"] == ["hour"]
    assert [b["block_id"] for b in modal_of(rig)["blocks"] if b["type"] == "input"] == ["hour"]
    done = await rig.submit(ANNA, {"hour": {"value": "10"}})
    assert done.text == ""
    assert rig.client_chat(IVAN)[-1] == "See you in Kazan at 10:00"


async def test_assignee_gets_the_task_and_others_are_refused(make_rig: MakeRig) -> None:
    rig = await make_rig(
        (
            "for_carl",
            "For Carl",
            [
                user_task("Approve", field("ok", "boolean", required=True), assignee="carl"),
                block("linedesk.reply", text="Approved: {ok}"),
            ],
        )
    )
    record = await run_for_ivan(rig, "For Carl")
    assert record.assignee == "carl"
    assert rig.slack.modal(ANNA.slack_user) is None  # not Anna's task: no modal for her
    card = next(t for t in await rig.desk_thread(1) if t.startswith("Task Approve"))
    assert "for Carl" in card
    assert rig.desk is not None

    await rig.click(ANNA, "task.open", record.id, channel_id=DESK_CHANNEL)
    assert "belongs to Carl" in rig.ephemeral(ANNA)[-1]["text"]
    await rig.click(CARL, "task.open", record.id, channel_id=DESK_CHANNEL)
    assert "offline" in rig.ephemeral(CARL)[-1]["text"]
    await rig.slash(CARL, "/status", "online")
    await rig.click(CARL, "task.open", record.id, channel_id=DESK_CHANNEL)
    assert modal_of(rig, CARL)["title"]["text"] == "For Carl"
    await rig.submit(CARL, {"ok": {"value": "true"}})
    assert rig.client_chat(IVAN)[-1] == "Approved: True"


async def test_auto_started_task_is_taken_from_the_card_by_an_online_operator(make_rig: MakeRig) -> None:
    rig = await make_rig(
        (
            "intake",
            "Intake",
            [
                user_task(
                    "Classify", field("topic", "enum", options={"bug": "Bug", "question": "Question"}, required=True)
                ),
                block("linedesk.reply", text="Thanks, filed as {topic}"),
            ],
        )
    )
    assert rig.desk is not None
    await rig.desk.autostart.set_rule(
        "support", "session.created", "intake", True, by=RuleAuthor("test", require_admin=False)
    )
    await rig.client_writes(IVAN, "It crashes")
    [record] = await rig.desk.store.list_instances(session=1)
    assert record.started_by == "automation" and record.trigger == "session.created"
    assert record.assignee is None and record.waiting_for == "user_task"
    root = await rig.thread_root(1)
    card = next(m for m in rig.slack.thread(root["channel"], root["ts"]) if m.get("text", "").startswith("Task "))
    button = card["blocks"][1]["elements"][0]
    assert (button["action_id"], button["text"]["text"]) == ("task.take", "Take task")
    assert "for any online operator of the line" in card["text"]

    await rig.click(ANNA, "task.take", record.id, channel_id=DESK_CHANNEL, message_ts=card["ts"])
    assert "offline" in rig.ephemeral(ANNA)[-1]["text"]
    await rig.slash(ANNA, "/status", "online")
    await rig.click(ANNA, "task.take", record.id, channel_id=DESK_CHANNEL, message_ts=card["ts"])
    taken = await rig.desk.store.get_instance(record.id)
    assert taken is not None and taken.assignee == "anna"
    assert "✋ Anna took the task of Intake" in await rig.desk_thread(1)
    await rig.slash(CARL, "/status", "online")
    await rig.click(CARL, "task.take", record.id, channel_id=DESK_CHANNEL, message_ts=card["ts"])
    assert "belongs to Anna" in rig.ephemeral(CARL)[-1]["text"]

    await rig.submit(ANNA, {"topic": {"value": "bug"}})
    assert rig.client_chat(IVAN)[-1] == "Thanks, filed as bug"


async def test_auto_started_task_goes_to_the_sessions_assignee(make_rig: MakeRig) -> None:
    rig = await make_rig(("followup", "Follow-up", [user_task("Call back", field("done", "boolean"))]))
    root = await open_session_with_anna_online(rig)
    await rig.click(ANNA, "session.take", "1", channel_id=root["channel"], message_ts=root["ts"])
    assert rig.desk is not None
    await rig.desk.autostart.set_rule(
        "support", "message.received", "followup", True, by=RuleAuthor("test", require_admin=False)
    )
    await rig.client_writes(IVAN, "Any news?")
    [record] = await rig.desk.store.list_instances(session=1)
    assert record.assignee == "anna"
    card = next(t for t in await rig.desk_thread(1) if t.startswith("Task Call back"))
    assert "for Anna" in card


async def test_waiting_for_the_client_message(make_rig: MakeRig) -> None:
    rig = await make_rig(
        (
            "ask",
            "Ask",
            [
                block("linedesk.reply", text="What is your order number?"),
                wait_client(),
                block("linedesk.reply", text="Thanks, order {client_message} noted"),
            ],
        )
    )
    record = await run_for_ivan(rig, "Ask")
    assert record.waiting_for == "client_message"
    await rig.client_writes(IVAN, "A-1234")
    assert rig.client_chat(IVAN)[-2:] == ["A-1234", "Thanks, order A-1234 noted"]
    assert "*Ivan*: A-1234" in await rig.desk_thread(1)  # operators still see it
    assert rig.desk is not None
    done = await rig.desk.store.get_instance(record.id)
    assert done is not None and done.status == InstanceStatus.COMPLETED


@pytest.mark.parametrize("event", ["session.created", "message.received"])
async def test_an_auto_started_wait_takes_the_clients_next_message_not_the_one_that_started_it(
    make_rig: MakeRig, event: str
) -> None:
    rig = await make_rig(
        (
            "ask",
            "Ask",
            [
                block("linedesk.reply", text="Which model is it?"),
                wait_client(),
                block("linedesk.reply", text="Noted: {client_message}"),
            ],
        )
    )
    assert rig.desk is not None
    await rig.desk.autostart.set_rule("support", event, "ask", True, by=RuleAuthor("test", require_admin=False))
    await rig.client_writes(IVAN, "My washing machine is broken")
    [record] = await rig.desk.store.list_instances(session=1)
    assert (record.status, record.waiting_for) == (InstanceStatus.WAITING, "client_message")
    assert rig.client_chat(IVAN)[-1] == "Which model is it?"
    await rig.desk.autostart.set_rule("support", event, "ask", False, by=RuleAuthor("test", require_admin=False))
    await rig.client_writes(IVAN, "WM-42")
    assert rig.client_chat(IVAN)[-1] == "Noted: WM-42"
    done = await rig.desk.store.get_instance(record.id)
    assert done is not None and done.status == InstanceStatus.COMPLETED


async def test_timers_with_duration_and_date_fire_within_two_seconds(make_rig: MakeRig) -> None:
    soon = (dt.datetime.now(dt.UTC) + dt.timedelta(seconds=1)).isoformat(timespec="seconds")
    rig = await make_rig(
        ("wait_a_second", "Wait a second", [timer(duration="PT1S"), block("linedesk.reply", text="A second later")]),
        ("wait_until", "Wait until", [timer(date=soon), block("linedesk.reply", text="At the set time")]),
        ("wait_past", "Past date", [timer(date="2020-01-01T00:00:00Z"), block("linedesk.reply", text="Right away")]),
    )
    record = await run_for_ivan(rig, "Wait a second")
    assert record.waiting_for == "timer" and record.wake_at is not None
    due = record.wake_at
    assert rig.desk is not None
    await pick(rig, "Wait until")
    await pick(rig, "Past date")
    assert rig.client_chat(IVAN)[-1] == "Right away"
    for _ in range(80):
        await rig.settle()
        if {"A second later", "At the set time"} <= set(rig.client_chat(IVAN)):
            break
        await asyncio.sleep(0.05)
    assert {"A second later", "At the set time"} <= set(rig.client_chat(IVAN))
    fired = await rig.desk.store.get_instance(record.id)
    assert fired is not None and fired.status == InstanceStatus.COMPLETED
    assert fired.updated_at - due < 2.0


async def test_instance_api_shows_a_failed_instance_with_its_error(make_rig: MakeRig) -> None:
    rig = await make_rig(("oops", "Oops", [script("subtotal = 10"), script("total = price * 2")]), admin_token="t0ken")
    record = await run_for_ivan(rig, "Oops")
    assert record.status == InstanceStatus.FAILED
    async with (
        aiohttp.ClientSession() as http,
        http.get(f"{rig.url}/api/instances/{record.id}", headers={"Authorization": "Bearer t0ken"}) as response,
    ):
        body = await response.json()
    assert response.status == 200
    assert body["status"] == "failed" and body["current_task"] == "step2" and body["process_id"] == "oops"
    assert "NameError" in body["error"] and "price" in body["error"]
    assert body["variables"]["subtotal"] == 10 and body["variables"]["client_name"] == "Ivan"
    assert body["running"] is False and "state" not in body
