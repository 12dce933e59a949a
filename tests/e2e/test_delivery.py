"""Inbound dedupe, restarts, both Telegram transports, and the outbox under platform failures."""

from __future__ import annotations

import asyncio
import itertools
import time
from pathlib import Path

from core.model import InstanceStatus
from sandboxes.limits import Limits
from sandboxes.rig import ANNA, IVAN, SUPPORT_TOKEN, WEBHOOK_SECRET, Rig
from tests.support.flows import open_session_with_anna_online, pick
from tests.support.rigs import PROCESSES


async def test_the_same_update_twice_makes_one_message_and_one_desk_post(rig: Rig) -> None:
    update = rig.telegram.text_update(SUPPORT_TOKEN, rig.telegram.user(IVAN.telegram_user, "Ivan"), "Hello")
    first = await rig.telegram.post_update(rig.webhook_url(), update, secret=WEBHOOK_SECRET)
    second = await rig.telegram.post_update(rig.webhook_url(), update, secret=WEBHOOK_SECRET)
    assert first[0] == second[0] == 200
    await rig.settle()
    assert rig.desk is not None
    messages = [m for m in await rig.desk.store.list_messages(1) if m.author_kind.value == "client"]
    assert [m.text for m in messages] == ["Hello"]
    assert await rig.desk_thread(1) == ["*Ivan*: Hello"]
    assert len(rig.slack.calls_of("chat.postMessage")) == 2  # the card and the one mirrored message


async def test_restart_while_waiting_on_a_form_a_client_message_and_a_timer(rig: Rig) -> None:
    await open_session_with_anna_online(rig)
    await pick(rig, "Handle request")
    assert rig.desk is not None
    [instance] = await rig.desk.store.list_instances()
    assert (instance.status, instance.waiting_for) == (InstanceStatus.WAITING, "user_task")

    await rig.restart()  # 1. waiting on a form
    assert rig.desk is not None
    submitted = await rig.submit(
        ANNA, {"phone": {"value": "555"}, "kind": {"value": "repair"}, "urgent": {"value": "false"}}
    )
    assert submitted.status == 200 and submitted.text == ""
    waiting = await rig.desk.store.get_instance(instance.id)
    assert waiting is not None and waiting.waiting_for == "client_message"
    assert rig.client_chat(IVAN)[-1] == "When would it suit you for the master to come?"

    await rig.restart()  # 2. waiting on the client's next message
    assert rig.desk is not None
    await rig.client_writes(IVAN, "Tomorrow after 10")
    timer = await rig.desk.store.get_instance(instance.id)
    assert timer is not None and timer.waiting_for == "timer" and timer.wake_at is not None
    variables = await rig.desk.processes.variables(instance.id)
    assert variables["client_message"] == variables["visit_time"] == "Tomorrow after 10"

    await rig.shutdown()  # 3. waiting on a timer that falls due while linedesk is stopped
    await asyncio.sleep(max(0.0, timer.wake_at - time.time()) + 0.2)
    restarted_at = time.monotonic()
    desk = await rig.boot()
    for _ in range(60):
        done = await desk.store.get_instance(instance.id)
        if done is not None and done.status == InstanceStatus.COMPLETED:
            break
        await asyncio.sleep(0.05)
    assert done is not None and done.status == InstanceStatus.COMPLETED
    assert time.monotonic() - restarted_at < 2.0
    await rig.settle()
    cards = [m for m in rig.bot_messages(IVAN) if m.get("text", "").startswith("Request #1:")]
    assert [(c["text"], c["edit_count"]) for c in cards] == [("Request #1: done", 2)]


async def test_an_update_stored_before_a_crash_is_handled_after_restart(rig: Rig) -> None:
    assert rig.desk is not None
    update = rig.telegram.text_update(SUPPORT_TOKEN, rig.telegram.user(IVAN.telegram_user, "Ivan"), "Hello")
    # stored (the 200 was given) but not handled: the crash came first
    await rig.desk.store.inbound_add("telegram:support", str(update["update_id"]), update, 0.0)
    await rig.restart()
    await rig.settle()
    assert rig.client_chat(IVAN) == ["Hello", "Hello! An operator will answer shortly."]
    assert await rig.desk_thread(1) == ["*Ivan*: Hello"]


async def test_webhook_is_registered_with_the_secret(rig: Rig) -> None:
    [call] = rig.telegram.calls_of("setWebhook", token=SUPPORT_TOKEN)
    assert call.params["url"] == rig.webhook_url("support")
    assert call.params["secret_token"] == WEBHOOK_SECRET
    assert "message" in call.params["allowed_updates"]


async def test_long_polling_when_there_is_no_public_url(tmp_path: Path) -> None:
    rig = Rig(tmp_path, PROCESSES, limits=Limits.off())
    original = rig.config_text
    rig.config_text = lambda: original().replace(f'public_url = "{rig.url}"', 'public_url = ""')  # type: ignore[method-assign]
    await rig.start()
    try:
        assert rig.telegram.calls_of("setWebhook") == []
        update = rig.telegram.text_update(SUPPORT_TOKEN, rig.telegram.user(IVAN.telegram_user, "Ivan"), "Polled")
        result = await rig.telegram.deliver(SUPPORT_TOKEN, update)
        assert result.via != "webhook"
        for _ in range(100):
            if rig.client_chat(IVAN)[-1:] == ["Hello! An operator will answer shortly."]:
                break
            await asyncio.sleep(0.05)
            await rig.settle()
        assert rig.client_chat(IVAN) == ["Polled", "Hello! An operator will answer shortly."]
        assert await rig.desk_thread(1) == ["*Ivan*: Polled"]
    finally:
        await rig.stop()


async def test_429_and_500_from_telegram_are_retried_and_order_is_kept(rig: Rig) -> None:
    await open_session_with_anna_online(rig)
    rig.telegram.fail("sendMessage", status=429, retry_after=0, count=2, chat_id=IVAN.telegram_user)
    rig.telegram.fail("sendMessage", status=500, count=1, chat_id=IVAN.telegram_user)
    for text in ("one", "two", "three"):
        await rig.thread_reply(ANNA, 1, text)
    await rig.settle(timeout=15)
    assert rig.client_chat(IVAN)[-3:] == ["Anna\none", "Anna\ntwo", "Anna\nthree"]
    failed = [c for c in rig.telegram.calls_of("sendMessage") if c.status != 200]
    assert len(failed) == 3


async def test_slack_429_is_honoured_and_the_card_arrives(rig: Rig) -> None:
    rig.slack.fail("chat.postMessage", status=429, retry_after=0, count=1)
    await rig.client_writes(IVAN, "Hello")
    await rig.settle(timeout=15)
    assert await rig.desk_thread(1) == ["*Ivan*: Hello"]


async def test_a_client_who_blocked_the_bot_is_marked_and_the_desk_is_told(rig: Rig) -> None:
    await open_session_with_anna_online(rig)
    rig.telegram.block_user(SUPPORT_TOKEN, IVAN.telegram_user)
    await rig.thread_reply(ANNA, 1, "Are you still there?")
    await rig.settle()
    assert rig.desk is not None
    client = await rig.desk.store.get_client("telegram:501")
    assert client is not None and client.unreachable
    assert any("blocked the bot" in text for text in await rig.desk_thread(1))


async def test_with_pacing_a_clients_chat_gets_a_short_burst_then_what_waited_merged(tmp_path: Path) -> None:
    from core.pacing import Pacer

    # the pacer's own rhythm is measured, with the sandbox's limits off: today's pacer runs at exactly the
    # sandbox's rate (burst 3, 1/s) and counts from before each request, so one send in a few arrives some
    # milliseconds early and meets a 429 (the pacing work of SPEC §13 is to keep a margin under the limits)
    rig = Rig(tmp_path, PROCESSES, pacer=Pacer(), limits=Limits.off())
    await rig.start()
    try:
        await open_session_with_anna_online(rig)
        rig.telegram.clear_calls()
        root = await rig.thread_root(1)
        for n in range(5):  # typed one after the other; each accepted before the next is typed
            await rig.slack.post_message(
                rig.slack_url, ANNA.slack_user, root["channel"], f"part {n}", thread_ts=root["ts"]
            )
            await rig.desk.inbound_idle()  # type: ignore[union-attr]
        await rig.settle(timeout=15)
        sends = [
            c
            for c in rig.telegram.calls_of("sendMessage", token=SUPPORT_TOKEN)
            if c.params.get("chat_id") == IVAN.telegram_user
        ]
        shown = [row for c in sends for row in c.params["text"].split("\n") if row.startswith("part ")]
        assert shown == [f"part {n}" for n in range(5)]  # each once, in order
        # what waited behind the chat's limit went as one message when its turn came (SPEC §13)
        assert sends[0].params["text"].endswith("part 0") and len(sends) < 5
        gaps = [later.time - earlier.time for earlier, later in itertools.pairwise(sends)]
        assert max(gaps) <= 1.5
    finally:
        await rig.stop()
