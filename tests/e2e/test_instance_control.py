"""Control of a session's instances from the desks and the admin API (SPEC §11): the list, Cancel,
Reassign, Retry — over HTTP against the sandboxes."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import aiohttp

from adapters.telegram.desk.control import InstanceAction
from core.model import InstanceStatus
from sandboxes.rig import ANNA, BORIS, CARL, DESK_CHANNEL, IVAN, Person, Rig
from tests.support import telegram_desk as tg
from tests.support.bpmn import block, field, script, timer, user_task, write_process
from tests.support.flows import run_for_ivan
from tests.support.rigs import MakeRig

TOKEN = "s3cret-admin-token"
APPROVE = (
    "approve",
    "Approve",
    [
        user_task("Approve", field("ok", "boolean", required=True), assignee="${initiator}"),
        block("linedesk.reply", text="Approved: {ok}"),
    ],
)


def buttons(entry: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {e["text"]["text"]: e for b in entry.get("blocks") or [] if b["type"] == "actions" for e in b["elements"]}


def shown(entry: dict[str, Any]) -> str:
    return " ".join(b["text"]["text"] for b in entry.get("blocks") or [] if b["type"] == "section")


async def open_list(rig: Rig, person: Person = ANNA) -> dict[str, Any]:
    """`person` clicks **Processes** on session #1's card; returns the list they are shown."""
    root = await rig.thread_root(1)
    await rig.click(person, "session.processes", "1", channel_id=DESK_CHANNEL, message_ts=root["ts"])
    return rig.ephemeral(person)[-1]


async def press(rig: Rig, person: Person, entry: dict[str, Any], text: str) -> None:
    chosen = buttons(entry)[text]
    await rig.click(
        person,
        chosen["action_id"],
        chosen["value"],
        channel_id=DESK_CHANNEL,
        message_ts=entry["ts"],
        container_ephemeral=True,
    )


async def instance(rig: Rig) -> Any:
    assert rig.desk is not None
    [record] = await rig.desk.store.list_instances(session=1)
    return record


async def test_slack_reassign_gives_the_task_to_another_operator_of_the_line(make_rig: MakeRig) -> None:
    rig = await make_rig(APPROVE)
    record = await run_for_ivan(rig, "Approve")
    assert record.assignee == "anna"
    listed = await open_list(rig)
    assert "*Approve* · waiting for a task (Anna) · step “Approve”" in shown(listed)
    assert list(buttons(listed)) == ["Cancel", "Reassign…"]
    await press(rig, ANNA, listed, "Reassign…")
    picker = rig.ephemeral(ANNA)[-1]
    assert list(buttons(picker)) == ["Carl"], "Boris is not on Support; Anna has it already"
    await press(rig, ANNA, picker, "Carl")
    assert (await instance(rig)).assignee == "carl"
    thread = await rig.desk_thread(1)
    assert "↪ Anna gave the task “Approve” of Approve to Carl" in thread
    assert thread[-1].startswith("Task Approve (for Carl")

    await rig.slash(CARL, "/status", "online")
    await rig.click(ANNA, "task.open", record.id, channel_id=DESK_CHANNEL)
    assert "belongs to Carl" in rig.ephemeral(ANNA)[-1]["text"]
    await rig.click(CARL, "task.open", record.id, channel_id=DESK_CHANNEL)
    await rig.submit(CARL, {"ok": {"value": "true"}})
    assert rig.client_chat(IVAN)[-1] == "Approved: True"


async def test_slack_cancel_ends_the_instance_and_closes_its_task(make_rig: MakeRig) -> None:
    rig = await make_rig(APPROVE)
    record = await run_for_ivan(rig, "Approve")
    listed = await open_list(rig)
    await press(rig, ANNA, listed, "Cancel")
    done = await instance(rig)
    assert done.status == InstanceStatus.CANCELLED and done.assignee is None and done.wake_at is None
    assert "■ Approve cancelled by Anna; its task “Approve” is closed" in await rig.desk_thread(1)
    await rig.click(ANNA, "task.open", record.id, channel_id=DESK_CHANNEL)
    assert "has no open task" in rig.ephemeral(ANNA)[-1]["text"]
    again = await open_list(rig)
    assert "*Approve* · cancelled" in shown(again) and buttons(again) == {}


async def test_slack_tampered_and_foreign_values_are_refused(make_rig: MakeRig) -> None:
    rig = await make_rig(APPROVE)
    record = await run_for_ivan(rig, "Approve")
    for action, value in [
        ("instance.cancel", "1:not-an-instance"),
        ("instance.cancel", f"2:{record.id}"),  # the instance is not session #2's
        ("instance.retry", f"1:{'0' * 32}"),
        ("instance.reassign_to:x", f"1:{record.id}:../etc"),
    ]:
        await rig.click(ANNA, action, value, channel_id=DESK_CHANNEL, container_ephemeral=True)
        assert rig.ephemeral(ANNA)[-1]["text"] == "Not done: This button is not valid (stale or tampered with)."
    await rig.click(ANNA, "instance.reassign_to:boris", f"1:{record.id}:boris", channel_id=DESK_CHANNEL)
    assert rig.ephemeral(ANNA)[-1]["text"] == "Not done: 'boris' is not an operator of this line."
    await rig.click(BORIS, "instance.cancel", f"1:{record.id}", channel_id=DESK_CHANNEL)
    assert "not an operator of line 'support'" in rig.ephemeral(BORIS)[-1]["text"]
    await rig.click(CARL, "instance.cancel", f"1:{record.id}", channel_id=DESK_CHANNEL)
    assert "offline" in rig.ephemeral(CARL)[-1]["text"]
    await rig.click(ANNA, "instance.retry", f"1:{record.id}", channel_id=DESK_CHANNEL)
    assert rig.ephemeral(ANNA)[-1]["text"] == "Not done: “Approve” is waiting: nothing to retry."
    assert (await instance(rig)).status == InstanceStatus.WAITING


async def test_retry_of_a_failed_script_runs_the_fixed_script_and_the_api_lists_the_instances(
    make_rig: MakeRig, tmp_path: Path
) -> None:
    broken = ("fragile", "Fragile", [script("total = price * 2"), block("linedesk.reply", text="Total {total}")])
    rig = await make_rig(broken, admin_token=TOKEN)
    record = await run_for_ivan(rig, "Fragile")
    assert record.status == InstanceStatus.FAILED and "price" in (record.error or "")
    async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {TOKEN}"}) as http:
        async with http.get(f"{rig.url}/api/sessions/1/instances") as response:
            assert response.status == 200
            body = await response.json()
        async with http.get(f"{rig.url}/api/sessions/1/instances", headers={"Authorization": "Bearer no"}) as denied:
            assert denied.status == 401
        async with http.get(f"{rig.url}/api/sessions/99/instances") as missing:
            assert missing.status == 404
    [listed] = body["instances"]
    assert listed["id"] == record.id and listed["status"] == "failed" and listed["step"] == "Script"
    assert listed["state"].startswith("failed: ") and "price" in listed["state"]

    write_process(tmp_path / "processes", "fragile.bpmn", "fragile", "Fragile", script("total = 21 * 2"), broken[2][1])
    listed_slack = await open_list(rig)
    assert list(buttons(listed_slack)) == ["Retry"]
    await press(rig, ANNA, listed_slack, "Retry")
    done = await instance(rig)
    assert done.status == InstanceStatus.COMPLETED, done.error
    assert rig.client_chat(IVAN)[-1] == "Total 42"
    assert any(
        t.startswith("↻ Anna retries Fragile from “Script” (the step as the catalog file has it now)")
        for t in await rig.desk_thread(1)
    )


# --- the Telegram desk -------------------------------------------------------------------------------
async def telegram_approve(rig: Rig) -> Any:
    await tg.session_with_anna_online(rig)
    await tg.writes(rig, ANNA, "/startprocess")
    await tg.click(rig, ANNA, await tg.picker(rig), "Approve")
    return await instance(rig)


async def test_telegram_reassign_and_cancel_from_the_topic(make_rig: MakeRig) -> None:
    rig = await make_rig(APPROVE)
    record = await telegram_approve(rig)
    assert record.assignee == "anna"
    await tg.click(rig, ANNA, await tg.card(rig), "Processes")
    listed = await tg.last(rig, "⚙ Processes of session #1")
    assert "1. Approve · waiting for a task (Anna) · step “Approve”" in listed["text"]
    assert list(tg.buttons(listed)) == ["Cancel 1", "Reassign 1"]
    await tg.click(rig, ANNA, listed, "Reassign 1")
    menu = await tg.last(rig, "↪ Give the task of Approve to:")
    assert list(tg.buttons(menu)) == ["Carl"]
    answered = await tg.click(rig, ANNA, menu, "Carl")
    assert answered["text"] == "The task is now Carl's."
    assert (await instance(rig)).assignee == "carl"
    texts = await tg.topic_texts(rig)
    assert "↪ Anna gave the task “Approve” of Approve to Carl" in texts
    assert any(t.startswith("📝 Approve · Approve — for Carl") for t in texts)
    await tg.writes(rig, ANNA, "yes")  # Anna's form in the topic was hers: it closes now
    assert (await tg.topic_texts(rig))[-1].startswith("This form was already submitted, or its task is closed")
    assert (await instance(rig)).status == InstanceStatus.WAITING

    await tg.writes(rig, ANNA, "/processes")
    again = await tg.last(rig, "⚙ Processes of session #1")
    assert "waiting for a task (Carl)" in again["text"]
    await tg.click(rig, ANNA, again, "Cancel 1")
    assert (await instance(rig)).status == InstanceStatus.CANCELLED
    assert "■ Approve cancelled by Anna; its task “Approve” is closed" in await tg.topic_texts(rig)
    await tg.writes(rig, ANNA, "/processes")
    assert "1. Approve · cancelled" in (await tg.last(rig, "⚙ Processes of session #1"))["text"]


async def test_telegram_tampered_instance_buttons_are_refused(make_rig: MakeRig) -> None:
    rig = await make_rig(APPROVE)
    record = await telegram_approve(rig)
    card = await tg.card(rig)
    for data in [
        InstanceAction(action="c", session=1, instance="0" * 32).pack(),
        InstanceAction(action="c", session=2, instance=record.id).pack(),
        InstanceAction(action="a", session=1, instance=record.id, to="nobody").pack(),
        InstanceAction(action="z", session=1, instance=record.id).pack(),
    ]:
        answered = await tg.press(rig, ANNA, card, data)
        assert answered["text"] == "Not done: This button is not valid (stale or tampered with).", data
    answered = await tg.press(rig, CARL, card, InstanceAction(action="c", session=1, instance=record.id).pack())
    assert "offline" in answered["text"]
    assert (await instance(rig)).status == InstanceStatus.WAITING


async def test_slash_processes_lists_and_cancel_drops_a_waiting_timer(make_rig: MakeRig) -> None:
    rig = await make_rig(("later", "Later", [timer(duration="PT1S"), block("linedesk.reply", text="Later!")]))
    record = await run_for_ivan(rig, "Later")
    assert record.waiting_for == "timer" and record.wake_at is not None
    response = await rig.slash(ANNA, "/processes", "1")
    assert "*Later* · waiting for a timer · step “Timer”" in shown(response.json)
    await rig.click(
        ANNA,
        "instance.cancel",
        buttons(response.json)["Cancel"]["value"],
        channel_id=DESK_CHANNEL,
        container_ephemeral=True,
    )
    done = await instance(rig)
    assert done.status == InstanceStatus.CANCELLED and done.wake_at is None
    assert rig.desk is not None
    assert await rig.desk.store.due_instances(done.created_at + 3600) == []
    await asyncio.sleep(1.5)
    assert "Later!" not in rig.client_chat(IVAN)
    assert (await instance(rig)).status == InstanceStatus.CANCELLED
    assert "■ Later cancelled by Anna" in await rig.desk_thread(1)
    empty = await rig.slash(ANNA, "/processes", "x")
    assert empty.text == "Use `/processes N` for the processes of session #N."
