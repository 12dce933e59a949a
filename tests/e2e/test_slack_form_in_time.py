"""Slack's trigger_id lives 3 s (SPEC §13): a form opens in time even when the steps before it are slow — a
"Starting…" modal opens at once with the click's trigger and becomes the form when it is ready. Over HTTP
against the Slack sandbox, which refuses a trigger_id older than 3 s (`expired_trigger_id`) as Slack does."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import web

from core.model import InstanceStatus
from sandboxes.rig import ANNA, DESK_CHANNEL, IVAN, Rig
from tests.support.bpmn import block, field, script, user_task
from tests.support.flows import open_session_with_anna_online, picker_buttons
from tests.support.rigs import MakeRig

SLOW = 4.0
"""Seconds the slow server takes to answer: longer than a trigger_id lives."""
DETAILS = user_task("Details", field("note", "string", "Note", required=True))


@pytest.fixture
async def slow_server() -> AsyncIterator[str]:
    """A CRM that answers after `SLOW` seconds; yields its base URL."""

    async def deals(request: web.Request) -> web.Response:
        await asyncio.sleep(SLOW)
        return web.json_response({"deal": 42})

    app = web.Application()
    app.router.add_route("*", "/deals", deals)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        await runner.cleanup()


async def click_process(rig: Rig, name: str) -> asyncio.Task[Any]:
    """Anna picks the named process; the click runs on in a task (not settled), so the test can watch."""
    response = await rig.slash(ANNA, "/startprocess", "1")
    buttons = [b for group in picker_buttons(response.json["blocks"]).values() for b in group]
    button = next(b for b in buttons if b["text"]["text"] == name)
    picker = rig.ephemeral(ANNA)[-1]
    click = rig.slack.click(
        rig.slack_url,
        ANNA.slack_user,
        button["action_id"],
        button["value"],
        channel_id=DESK_CHANNEL,
        message_ts=picker["ts"],
        container_ephemeral=True,
    )
    return asyncio.ensure_future(click)


async def modal_titled(rig: Rig, title: str, within: float) -> dict[str, Any]:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while loop.time() < deadline:
        modal = rig.slack.modal(ANNA.slack_user)
        if modal is not None and modal["title"]["text"] == title:
            return modal
        await asyncio.sleep(0.05)
    raise AssertionError(f"no modal {title!r} within {within} s: {rig.slack.modal(ANNA.slack_user)}")


def anna_modal(rig: Rig) -> dict[str, Any]:
    modal = rig.slack.modal(ANNA.slack_user)
    assert modal is not None, "Anna has no modal open"
    return modal


async def test_a_slow_first_step_opens_starting_then_the_form_in_the_same_view(
    make_rig: MakeRig, slow_server: str
) -> None:
    rig = await make_rig(
        (
            "slow_crm",
            "Slow CRM",
            [
                block("linedesk.http", result="answer", url=f"{slow_server}/deals"),
                DETAILS,
                block("linedesk.reply", text="=f\"Deal #{answer['deal']}: {note}\""),
            ],
        ),
        http_allow=("127.0.0.1",),
    )
    assert rig.slack.workspace.triggers.ttl == 3.0  # as Slack: the sandbox refuses an older trigger_id
    await open_session_with_anna_online(rig)
    loop = asyncio.get_running_loop()
    clicked = loop.time()
    click = await click_process(rig, "Slow CRM")

    starting = await modal_titled(rig, "Starting…", within=2.5)  # inside the trigger's 3 s
    assert loop.time() - clicked < 3.0
    assert "Slow CRM is starting for session #1" in starting["blocks"][0]["text"]["text"]
    assert starting.get("submit") is None  # nothing to submit yet

    assert (await click).status == 200
    await rig.settle()
    form = anna_modal(rig)
    assert form["id"] == starting["id"] and form["title"]["text"] == "Slow CRM"  # the same view, updated
    assert [b["block_id"] for b in form["blocks"] if b["type"] == "input"] == ["note"]
    assert [c.params.get("view_id") for c in rig.slack.calls_of("views.update")] == [starting["id"]]
    assert [(c.response or {}).get("ok") for c in rig.slack.calls_of("views.open")] == [True]
    assert "▶ Slow CRM started for session #1." in rig.ephemeral(ANNA)[-1]["text"]

    done = await rig.submit(ANNA, {"note": {"value": "20 machines"}})  # the updated view reaches linedesk
    assert done.status == 200 and done.text == ""
    assert rig.slack.modal(ANNA.slack_user) is None
    assert rig.client_chat(IVAN)[-1] == "Deal #42: 20 machines"
    assert rig.desk is not None
    [record] = await rig.desk.store.list_instances(session=1)
    assert record.status == InstanceStatus.COMPLETED


async def test_a_slow_process_with_no_form_says_so_in_the_starting_modal(make_rig: MakeRig, slow_server: str) -> None:
    rig = await make_rig(
        ("slow_note", "Slow note", [block("linedesk.http", result="answer", url=f"{slow_server}/deals")]),
        (
            "slow_fail",
            "Slow fail",
            [block("linedesk.http", result="answer", url=f"{slow_server}/deals"), script("1/0")],
        ),
        http_allow=("127.0.0.1",),
    )
    await open_session_with_anna_online(rig)
    click = await click_process(rig, "Slow note")
    starting = await modal_titled(rig, "Starting…", within=2.5)
    await click
    await rig.settle()
    note = anna_modal(rig)
    assert note["id"] == starting["id"] and note["title"]["text"] == "Slow note"
    assert "nothing for you to fill in" in note["blocks"][0]["text"]["text"]

    click = await click_process(rig, "Slow fail")
    starting = await modal_titled(rig, "Starting…", within=2.5)
    await click
    await rig.settle()
    failed = anna_modal(rig)
    assert failed["id"] == starting["id"]
    assert "✖ Slow fail failed" in failed["blocks"][0]["text"]["text"]
    assert "ZeroDivisionError" in failed["blocks"][0]["text"]["text"]


async def test_the_fast_path_opens_the_form_directly(make_rig: MakeRig) -> None:
    rig = await make_rig(("quick", "Quick", [DETAILS, block("linedesk.reply", text="Noted: {note}")]))
    await open_session_with_anna_online(rig)
    click = await click_process(rig, "Quick")
    await click
    await rig.settle()
    form = anna_modal(rig)
    assert form["title"]["text"] == "Quick" and form["callback_id"] == "task_form"
    assert len(rig.slack.calls_of("views.open")) == 1 and rig.slack.calls_of("views.update") == []
    await rig.submit(ANNA, {"note": {"value": "ok"}})
    assert rig.client_chat(IVAN)[-1] == "Noted: ok"


async def test_open_form_while_the_instance_is_busy_opens_starting_then_the_next_form(
    make_rig: MakeRig, slow_server: str
) -> None:
    """The task card's **Open form** clicked while the instance runs a slow step: the click waits for the
    instance, so a "Starting…" modal opens in time and becomes the form the instance stops at next."""
    rig = await make_rig(
        (
            "two_forms",
            "Two forms",
            [
                DETAILS,
                block("linedesk.http", result="answer", url=f"{slow_server}/deals"),
                user_task("Confirm", field("ok", "boolean", "OK", required=True)),
                block("linedesk.reply", text="=f\"Deal #{answer['deal']}: {note}\""),
            ],
        ),
        http_allow=("127.0.0.1",),
    )
    await open_session_with_anna_online(rig)
    await (await click_process(rig, "Two forms"))
    await rig.settle()
    assert rig.desk is not None
    [record] = await rig.desk.store.list_instances(session=1)
    modal = anna_modal(rig)

    submitted = asyncio.ensure_future(
        rig.slack.submit_view(rig.slack_url, ANNA.slack_user, modal["id"], {"note": {"value": "20 machines"}})
    )
    assert (await submitted).status == 200  # answered in time; the slow step goes on after the ack
    assert rig.slack.modal(ANNA.slack_user) is None
    click = asyncio.ensure_future(
        rig.slack.click(rig.slack_url, ANNA.slack_user, "task.open", record.id, channel_id=DESK_CHANNEL)
    )
    starting = await modal_titled(rig, "Starting…", within=2.5)
    assert "The form opens here" in starting["blocks"][0]["text"]["text"]
    await click
    await rig.settle()
    form = anna_modal(rig)
    assert form["id"] == starting["id"] and [b["block_id"] for b in form["blocks"] if b["type"] == "input"] == ["ok"]
    await rig.submit(ANNA, {"ok": {"value": "true"}})
    assert rig.client_chat(IVAN)[-1] == "Deal #42: 20 machines"
