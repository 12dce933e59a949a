"""The Slack desk end to end: **Start process** from the message shortcut and from `/startprocess` alone,
big catalogs as menus, and how linedesk behaves when Slack refuses, limits, retries or is slow (SPEC §5, §8).

Config errors are retried after a minute: these tests move linedesk's clock instead of waiting
(`shifted_rig`), and watch the outbox without `settle()`, which waits for entries that are not due yet.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest

import bots.app
from adapters.slack.desk import NOT_A_THREAD, SHORTCUT
from core.clock import SystemClock
from core.model import InstanceStatus, OperatorStatus
from sandboxes.limits import Limits
from sandboxes.rig import ANNA, BORIS, BOT_TOKEN, DESK_CHANNEL, IVAN, OLGA, STRANGER, SUPPORT_TOKEN, Person, Rig
from sandboxes.slack import SlackChannel
from tests.support.bpmn import block, field, user_task, write_process
from tests.support.flows import open_session_with_anna_online, picker_buttons
from tests.support.platform_checks import BlockKitLimits
from tests.support.rigs import PROCESSES, MakeRig
from tests.support.slack_desk import home_text


class ShiftedClock(SystemClock):
    """The system clock, moved forward by hand: retries a minute away happen at once."""

    def __init__(self) -> None:
        self.offset = 0.0

    def now(self) -> float:
        return time.time() + self.offset


@pytest.fixture
async def shifted_rig(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[tuple[Rig, ShiftedClock]]:
    clock = ShiftedClock()
    monkeypatch.setattr(bots.app, "SystemClock", lambda: clock)
    rig = Rig(tmp_path, PROCESSES, limits=Limits.off())
    await rig.start()
    try:
        yield rig, clock
    finally:
        rig.slack.clear_failures()
        await rig.stop()


# --- helpers ------------------------------------------------------------------------------------
async def eventually(check: Callable[[], Awaitable[bool] | bool], what: str, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if isinstance(result, Awaitable):
            result = await result
        if result:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.02)


async def readyz(rig: Rig) -> tuple[int, dict[str, Any]]:
    async with aiohttp.ClientSession() as http, http.get(f"{rig.url}/readyz") as response:
        return response.status, await response.json()


async def client_writes_unsettled(rig: Rig, person: Person, text: str) -> None:
    """A Telegram client writes; unlike `rig.client_writes`, nothing waits for the outbox to empty."""
    update = rig.telegram.text_update(SUPPORT_TOKEN, rig.telegram.user(person.telegram_user, person.name), text)
    result = await rig.telegram.deliver(SUPPORT_TOKEN, update)
    assert result.status == 200


def refused(rig: Rig, method: str, error: str) -> list[Any]:
    return [c for c in rig.slack.calls_of(method) if (c.response or {}).get("error") == error]


async def listeners_done(rig: Rig) -> None:
    assert rig.desk is not None
    await rig.desk.inbound_idle()


async def retry_now(rig: Rig, clock: ShiftedClock, seconds: float = 61.0) -> None:
    """A minute later: the outbox retries what a config error held back."""
    assert rig.desk is not None
    clock.offset += seconds
    rig.desk.outbox.wake()
    await rig.settle()


async def shortcut(rig: Rig, person: Person, message_ts: str, channel: str = DESK_CHANNEL) -> Any:
    response = await rig.slack.shortcut(rig.slack_url, person.slack_user, SHORTCUT, channel, message_ts)
    await rig.settle()
    return response


async def click_process(rig: Rig, person: Person, entry: dict[str, Any], name: str) -> None:
    """Click the process `name` on the picker shown to `person` as the ephemeral `entry`."""
    buttons = [b for group in picker_buttons(entry["blocks"]).values() for b in group]
    button = next(b for b in buttons if b["text"]["text"] == name)
    await rig.click(
        person,
        button["action_id"],
        button["value"],
        channel_id=DESK_CHANNEL,
        message_ts=entry["ts"],
        container_ephemeral=True,
    )


# --- Start process from the message shortcut ----------------------------------------------------
async def test_the_shortcut_on_a_thread_message_shows_the_picker_there_and_a_click_starts_the_process(rig: Rig) -> None:
    root = await open_session_with_anna_online(rig)
    [mirrored] = rig.slack.thread(root["channel"], root["ts"])  # Ivan's message in the session's thread

    response = await shortcut(rig, ANNA, mirrored["ts"])
    assert response.status == 200 and response.elapsed < 1.0

    [call] = rig.slack.calls_of("chat.postEphemeral")
    assert (call.params["channel"], call.params["user"], call.params["thread_ts"]) == (
        DESK_CHANNEL,
        ANNA.slack_user,
        root["ts"],
    )
    picker = rig.ephemeral(ANNA)[-1]
    assert picker["source"] == "chat.postEphemeral" and picker["thread_ts"] == root["ts"]
    groups = picker_buttons(picker["blocks"])
    assert list(groups) == ["Company", "Sales", "Sales · Leads"]
    assert "session *#1* · Ivan" in picker["blocks"][0]["text"]["text"]
    assert rig.ephemeral(BORIS) == [], "only Anna sees it"

    await click_process(rig, ANNA, picker, "Handle request")
    assert rig.desk is not None
    [instance] = await rig.desk.store.list_instances()
    assert (instance.process_id, instance.session, instance.started_by) == ("handle_request", 1, "anna")
    assert "▶ Handle request started by Anna" in await rig.desk_thread(1)
    modal = rig.slack.modal(ANNA.slack_user)
    assert modal is not None and modal["title"]["text"] == "Handle request"
    assert rig.ephemeral(ANNA)[-1]["text"] == "▶ Handle request started for session #1."


async def test_the_shortcut_on_the_sessions_card_works_too(rig: Rig) -> None:
    root = await open_session_with_anna_online(rig)
    await shortcut(rig, ANNA, root["ts"])
    picker = rig.ephemeral(ANNA)[-1]
    assert picker["thread_ts"] == root["ts"] and "Handle request" in str(picker["blocks"])


async def test_the_shortcut_outside_a_session_thread_is_refused_with_the_reason(rig: Rig) -> None:
    await open_session_with_anna_online(rig)
    rig.slack.add_channel("C0RANDOM", "random")
    for channel, thread_ts in ((DESK_CHANNEL, None), ("C0RANDOM", None)):
        await rig.slack.post_message(
            rig.slack_url, ANNA.slack_user, channel, "a message of its own", thread_ts=thread_ts
        )
        message = rig.slack.channel_messages(channel)[-1]
        await shortcut(rig, ANNA, message["ts"], channel)
        answer = rig.ephemeral(ANNA)[-1]
        assert (answer["text"], answer["source"], answer["channel"]) == (NOT_A_THREAD, "response_url", channel)
        assert "blocks" not in answer
    other = rig.slack.channel_messages("C0RANDOM")[-1]  # a reply in a thread that is no session's
    await rig.slack.post_message(rig.slack_url, ANNA.slack_user, "C0RANDOM", "reply", thread_ts=other["ts"])
    reply = rig.slack.thread("C0RANDOM", other["ts"])[-1]
    await shortcut(rig, ANNA, reply["ts"], "C0RANDOM")
    assert rig.ephemeral(ANNA)[-1]["text"] == NOT_A_THREAD
    assert rig.slack.calls_of("chat.postEphemeral") == []
    assert rig.desk is not None and await rig.desk.store.list_instances() == []


async def test_the_shortcut_refuses_offline_operators_and_strangers_in_the_thread(rig: Rig) -> None:
    await rig.client_writes(IVAN, "Hello")
    root = await rig.thread_root(1)
    await shortcut(rig, ANNA, root["ts"])  # Anna is offline
    answer = rig.ephemeral(ANNA)[-1]
    assert answer["text"] == "You are offline: you cannot start processes. Type /status online first."
    assert answer["thread_ts"] == root["ts"] and "blocks" not in answer
    await shortcut(rig, STRANGER, root["ts"])
    assert rig.ephemeral(STRANGER)[-1]["text"] == "You are not a linedesk operator."
    await rig.slash(BORIS, "/status", "online")
    await shortcut(rig, BORIS, root["ts"])  # Boris serves Sales only
    assert rig.ephemeral(BORIS)[-1]["text"] == "You are not an operator of line 'support'."
    assert rig.desk is not None and await rig.desk.store.list_instances() == []


# --- /startprocess alone ---------------------------------------------------------------------------
async def test_startprocess_alone_without_a_last_session_lists_the_active_sessions(rig: Rig) -> None:
    await rig.client_writes(IVAN, "Hello")
    await rig.client_writes(OLGA, "Hi there")
    await rig.slash(ANNA, "/status", "online")
    for number in (1, 2):
        root = await rig.thread_root(number)
        await rig.click(ANNA, "session.take", str(number), channel_id=root["channel"], message_ts=root["ts"])
    root = await rig.thread_root(2)
    await rig.click(ANNA, "session.close", "2", channel_id=root["channel"], message_ts=root["ts"])
    assert rig.desk is not None
    assert (await rig.desk.operators.state("anna")).last_session == 2  # the last one she took, now closed

    response = await rig.slash(ANNA, "/startprocess")
    assert response.json["text"] == "Which session?"
    listing = rig.ephemeral(ANNA)[-1]
    [buttons] = [b["elements"] for b in listing["blocks"] if b["type"] == "actions"]
    assert [(b["text"]["text"], b["value"]) for b in buttons] == [("#1 Ivan", "1")]

    await rig.click(
        ANNA, buttons[0]["action_id"], "1", channel_id=DESK_CHANNEL, message_ts=listing["ts"], container_ephemeral=True
    )
    picker = rig.ephemeral(ANNA)[-1]
    assert picker["ts"] == listing["ts"], "the picker replaces the list"
    assert list(picker_buttons(picker["blocks"])) == ["Company", "Sales", "Sales · Leads"]
    await click_process(rig, ANNA, picker, "Handle request")
    [instance] = await rig.desk.store.list_instances()
    assert (instance.session, instance.process_id, instance.status) == (1, "handle_request", InstanceStatus.WAITING)
    assert "▶ Handle request started by Anna" in await rig.desk_thread(1)


async def test_startprocess_alone_with_no_active_session_says_so(rig: Rig) -> None:
    await rig.slash(ANNA, "/status", "online")
    response = await rig.slash(ANNA, "/startprocess")
    assert response.json["text"] == "You have no active sessions."
    assert "/startprocess N" in rig.ephemeral(ANNA)[-1]["blocks"][0]["text"]["text"]


# --- big catalogs -----------------------------------------------------------------------------------
async def test_thirty_processes_in_a_scope_are_a_menu_with_option_groups_and_a_choice_starts_one(
    make_rig: MakeRig,
) -> None:
    processes = [
        (
            f"p{n:02}",
            f"Process {n:02}",
            [
                user_task("Details", field("note", "string", "Note")),
                block("linedesk.reply", text=f"Noted for {n:02}: {{note}}"),
            ],
        )
        for n in range(1, 31)
    ]
    rig = await make_rig(*processes)
    await open_session_with_anna_online(rig)
    response = await rig.slash(ANNA, "/startprocess", "1")
    blocks = response.json["blocks"]
    assert [b["type"] for b in blocks] == ["section", "header", "actions"]
    assert blocks[1]["text"]["text"] == "Company"
    [menu] = blocks[2]["elements"]
    assert menu["type"] == "static_select" and "options" not in menu
    options = [o for group in menu["option_groups"] for o in group["options"]]
    assert [o["text"]["text"] for o in options] == [f"Process {n:02}" for n in range(1, 31)]
    assert BlockKitLimits().message(response.json) == []

    chosen = options[16]
    picker = rig.ephemeral(ANNA)[-1]
    await rig.click(
        ANNA,
        menu["action_id"],
        chosen["value"],
        channel_id=DESK_CHANNEL,
        message_ts=picker["ts"],
        container_ephemeral=True,
        selected_option=chosen,
    )
    assert rig.desk is not None
    [instance] = await rig.desk.store.list_instances()
    assert (instance.process_id, instance.started_by) == ("p17", "anna")
    modal = rig.slack.modal(ANNA.slack_user)
    assert modal is not None and modal["title"]["text"] == "Process 17"
    await rig.submit(ANNA, {"note": {"value": "call back at 5"}})
    assert rig.client_chat(IVAN)[-1] == "Noted for 17: call back at 5"


async def test_more_scopes_than_a_message_holds_are_shown_as_menus(tmp_path: Path) -> None:
    folder = tmp_path / "processes"
    for n in range(30):
        write_process(
            folder,
            f"Section {n:02}/s{n:02}.bpmn",
            f"s{n:02}",
            f"Step {n:02}",
            block("linedesk.reply", text=f"from section {n:02}"),
        )
    rig = Rig(tmp_path, folder, limits=Limits.off())
    await rig.start()
    try:
        await open_session_with_anna_online(rig)
        response = await rig.slash(ANNA, "/startprocess", "1")
        blocks = response.json["blocks"]
        assert len(blocks) <= 50 and BlockKitLimits().message(response.json) == []
        menus = [e for b in blocks if b["type"] == "actions" for e in b["elements"]]
        assert [m["placeholder"]["text"] for m in menus] == [f"Section {n:02}: choose a process" for n in range(30)]
        menu = menus[29]
        chosen = menu["option_groups"][0]["options"][0]
        picker = rig.ephemeral(ANNA)[-1]
        await rig.click(
            ANNA,
            menu["action_id"],
            chosen["value"],
            channel_id=DESK_CHANNEL,
            message_ts=picker["ts"],
            container_ephemeral=True,
            selected_option=chosen,
        )
        assert rig.client_chat(IVAN)[-1] == "from section 29"
    finally:
        await rig.stop()


# --- Slack refuses: degraded until fixed ---------------------------------------------------------------
async def test_not_in_channel_degrades_readyz_tells_admins_in_the_home_and_delivers_after_the_fix(
    shifted_rig: tuple[Rig, ShiftedClock],
) -> None:
    rig, clock = shifted_rig
    desk: SlackChannel = rig.slack.workspace.channels[DESK_CHANNEL]
    desk.is_member = False  # the app was never invited to the desk channel
    await client_writes_unsettled(rig, IVAN, "Hello")
    await eventually(lambda: bool(refused(rig, "chat.postMessage", "not_in_channel")), "the refused card")

    status, body = await readyz(rig)
    assert status == 503 and body["ok"] is False and body["store"] is True
    [problem] = body["problems"]
    assert problem["component"] == f"slack:{DESK_CHANNEL}"
    assert "not_in_channel" in problem["problem"] and "/invite @linedesk" in problem["problem"]

    await rig.slack.open_home(rig.slack_url, ANNA.slack_user)  # Anna is an admin
    await rig.slack.open_home(rig.slack_url, BORIS.slack_user)
    await listeners_done(rig)
    anna = home_text(rig.slack.home(ANNA.slack_user))
    assert "Problems" in anna and "not_in_channel" in anna and "invite the app to the desk channel" in anna
    assert "Problems" not in home_text(rig.slack.home(BORIS.slack_user))
    assert rig.slack.channel_messages(DESK_CHANNEL) == []

    desk.is_member = True  # /invite @linedesk
    await retry_now(rig, clock)
    assert await rig.desk_thread(1) == ["*Ivan*: Hello"]
    assert await readyz(rig) == (200, {"ok": True, "store": True, "started": True})
    await rig.slack.open_home(rig.slack_url, ANNA.slack_user)
    await rig.settle()
    anna = home_text(rig.slack.home(ANNA.slack_user))
    assert "not_in_channel" not in anna and "None: Slack accepts everything" in anna


def _revoke_token(rig: Rig) -> Callable[[], None]:
    rig.slack.bot_token = "xoxb-rotated-elsewhere"

    def fix() -> None:
        rig.slack.bot_token = BOT_TOKEN

    return fix


def _drop_scope(rig: Rig) -> Callable[[], None]:
    rig.slack.fail("chat.postMessage", error="missing_scope", count=-1)
    return rig.slack.clear_failures


def _delete_channel(rig: Rig) -> Callable[[], None]:
    channel = rig.slack.workspace.channels.pop(DESK_CHANNEL)

    def fix() -> None:
        rig.slack.workspace.channels[DESK_CHANNEL] = channel

    return fix


@pytest.mark.parametrize(
    ("error", "breaks", "fix_text"),
    [
        ("invalid_auth", _revoke_token, "check slack.bot_token"),
        ("missing_scope", _drop_scope, "reinstall the app from slack-manifest.yml"),
        ("channel_not_found", _delete_channel, "check slack_desk_channel"),
    ],
)
async def test_config_errors_degrade_readyz_until_a_delivery_succeeds(
    shifted_rig: tuple[Rig, ShiftedClock], error: str, breaks: Callable[[Rig], Callable[[], None]], fix_text: str
) -> None:
    rig, clock = shifted_rig
    fix = breaks(rig)
    await client_writes_unsettled(rig, IVAN, "Hello")
    await eventually(lambda: bool(refused(rig, "chat.postMessage", error)), f"a card refused with {error}")
    status, body = await readyz(rig)
    assert status == 503
    [problem] = body["problems"]
    assert error in problem["problem"] and fix_text in problem["problem"]
    if error == "missing_scope":
        assert "needed: chat:write" in problem["problem"]
    clock.offset += 30  # not yet: config errors are retried after a minute
    assert rig.desk is not None
    rig.desk.outbox.wake()
    await asyncio.sleep(0.2)
    assert len(refused(rig, "chat.postMessage", error)) == 1

    fix()
    await retry_now(rig, clock, 31)
    assert await rig.desk_thread(1) == ["*Ivan*: Hello"]
    assert (await readyz(rig))[0] == 200


async def test_slack_429_retry_after_is_honoured_and_is_no_problem_to_fix(
    shifted_rig: tuple[Rig, ShiftedClock],
) -> None:
    rig, clock = shifted_rig
    rig.slack.fail("chat.postMessage", status=429, retry_after=30, count=1)
    await client_writes_unsettled(rig, IVAN, "Hello")
    await eventually(lambda: any(c.status == 429 for c in rig.slack.calls_of("chat.postMessage")), "the 429")
    assert (await readyz(rig))[0] == 200, "a rate limit degrades nothing"

    assert rig.desk is not None
    clock.offset += 29
    rig.desk.outbox.wake()
    await asyncio.sleep(0.3)
    assert len(rig.slack.calls_of("chat.postMessage")) == 1, "not retried before Retry-After"
    await retry_now(rig, clock, 2)
    assert await rig.desk_thread(1) == ["*Ivan*: Hello"]
    assert [c.status for c in rig.slack.calls_of("chat.postMessage")] == [429, 200, 200]


# --- inbound: retries and slow Slack ---------------------------------------------------------------------
async def test_a_retried_event_is_handled_once(any_store_rig: Rig) -> None:
    rig = any_store_rig
    root = await open_session_with_anna_online(rig)
    body, content_type = rig.slack.payloads.message_event(
        ANNA.slack_user, DESK_CHANNEL, "Only once, please", thread_ts=root["ts"]
    )
    first = await rig.slack.send(rig.slack_url, body, content_type)
    await rig.settle()
    retries = [
        await rig.slack.send(rig.slack_url, body, content_type, retry_num=n, retry_reason="http_timeout")
        for n in (1, 2)
    ]
    await rig.settle()
    assert [r.status for r in (first, *retries)] == [200, 200, 200]
    assert [t for t in rig.client_chat(IVAN) if t.endswith("Only once, please")] == [rig.client_chat(IVAN)[-1]]
    assert rig.desk is not None and rig.desk.slack is not None
    operator_messages = [m for m in await rig.desk.store.list_messages(1) if m.text == "Only once, please"]
    assert len(operator_messages) == 1

    other, _ = rig.slack.payloads.message_event(ANNA.slack_user, DESK_CHANNEL, "A new event", thread_ts=root["ts"])
    await rig.slack.send(rig.slack_url, other, content_type)
    await rig.settle()
    assert rig.client_chat(IVAN)[-1].endswith("A new event"), "other events still go through"


async def test_acks_are_fast_while_the_web_api_is_slow(rig: Rig) -> None:
    await rig.client_writes(IVAN, "Hello")
    root = await rig.thread_root(1)
    await rig.shutdown()
    rig.slack.fail("*", delay=3.0, count=-1)  # every Web API call, auth.test included, hangs 3 s
    await rig.boot()
    try:
        response = await rig.slack.post_slash(rig.slack_url, "/startprocess", "", ANNA.slack_user, DESK_CHANNEL)
        assert response.status == 200 and response.elapsed < 1.0
        assert response.json["text"] == "You have no active sessions."
        response = await rig.slack.post_slash(rig.slack_url, "/status", "online", ANNA.slack_user, DESK_CHANNEL)
        assert response.status == 200 and response.elapsed < 1.0
        response = await rig.slack.post_slash(rig.slack_url, "/startprocess", "1", ANNA.slack_user, DESK_CHANNEL)
        assert response.status == 200 and response.elapsed < 1.0 and "blocks" in response.json
        started = time.perf_counter()
        response = await rig.slack.shortcut(rig.slack_url, ANNA.slack_user, SHORTCUT, DESK_CHANNEL, root["ts"])
        assert response.status == 200 and time.perf_counter() - started < 1.0  # postEphemeral hangs after the ack
        response = await rig.slack.open_home(rig.slack_url, ANNA.slack_user)
        assert response.status == 200 and response.elapsed < 1.0  # views.publish hangs after the ack
        rig.slack.clear_failures()
        await rig.settle()
        assert rig.ephemeral(ANNA)[-1]["source"] == "chat.postEphemeral"
        assert "Anna · online" in home_text(rig.slack.home(ANNA.slack_user))
        assert rig.desk is not None
        assert (await rig.desk.operators.state("anna")).status == OperatorStatus.ONLINE
    finally:
        rig.slack.clear_failures()


# --- the Block Kit checker itself (tests/support/platform_checks.py) ----------------------------------------------
def test_the_block_kit_checker_finds_what_slack_refuses() -> None:
    limits = BlockKitLimits()

    def plain(text: str) -> dict[str, Any]:
        return {"type": "plain_text", "text": text}

    button = {"type": "button", "action_id": "a" * 256, "text": plain("b" * 76), "value": "v" * 2001}
    options = [{"text": plain(f"o{n}"), "value": str(n)} for n in range(101)]
    message = {
        "text": "x",
        "blocks": [
            {"type": "header", "text": plain("h" * 151)},
            {"type": "section", "block_id": "i" * 256, "text": {"type": "mrkdwn", "text": "s" * 3001}},
            {"type": "actions", "elements": [button] + [{"type": "button", "text": plain("ok"), "value": "1"}] * 25},
            {
                "type": "actions",
                "elements": [
                    {
                        "type": "static_select",
                        "action_id": "menu",
                        "option_groups": [{"label": plain("group"), "options": options}],
                    }
                ],
            },
        ],
    }
    found = "\n".join(limits.message(message))
    for problem in (
        "(header).text is 151 characters",
        ".block_id is 256 characters",
        "(section).text is 3001",
        "has 26 elements, Slack allows 25",
        "(button).action_id is 256",
        "(button).text is 76",
        "(button).value is 2001",
        "option_groups[0] has 101 options",
    ):
        assert problem in found, problem
    assert limits.message({"blocks": [{"type": "divider"}] * 51}) == ["blocks has 51 blocks, Slack allows 50"]

    modal = {
        "type": "modal",
        "title": plain("t" * 25),
        "callback_id": "c" * 256,
        "private_metadata": "not json",
        "blocks": [{"type": "divider"}] * 101,
    }
    found = "\n".join(limits.view(modal))
    for problem in (
        "view.title is 25 characters",
        "view.callback_id is 256",
        "private_metadata is not JSON",
        "view.blocks has 101 blocks, Slack allows 100",
    ):
        assert problem in found, problem
    assert limits.view({"type": "home", "blocks": [], "private_metadata": '{"i": 1}'}) == []
