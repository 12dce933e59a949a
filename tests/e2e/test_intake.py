"""Inbound events are stored, then handled once: what an instance that died left behind is taken over
once its lease runs out, an event handled before a crash is not handled twice, and a store that does not
answer gets a retryable error instead of a lost event (SPEC §8)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from core.model import InboundRecord
from sandboxes.rig import ANNA, IVAN, SUPPORT_TOKEN, WEBHOOK_SECRET, Rig
from tests.support.rigs import store_rig

LEASE = 1.0


@pytest.fixture(params=["sqlite", "redis"])
async def lease_rig(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Rig]:
    """A rig whose claimed work is taken over one second after its holder stops renewing it."""
    async with store_rig(request.param, tmp_path, lease=LEASE) as rig:
        yield rig


def update(rig: Rig, text: str) -> dict[str, Any]:
    """Ivan's message to the support bot, as Telegram sends it (the sandbox knows the chat)."""
    return dict(rig.telegram.text_update(SUPPORT_TOKEN, rig.telegram.user(IVAN.telegram_user, IVAN.name), text))


async def eventually(check: Callable[[], Awaitable[bool]], what: str, timeout: float = 8.0) -> float:
    """Seconds until `check` holds."""
    loop = asyncio.get_running_loop()
    start = loop.time()
    while not await check():
        if loop.time() - start > timeout:
            raise AssertionError(f"{what}: not within {timeout}s")
        await asyncio.sleep(0.05)
    return loop.time() - start


async def test_an_update_a_dead_instance_stored_is_handled_once_its_lease_runs_out(tmp_path: Path) -> None:
    """Several instances share a Redis store; an SQLite store is served by one process (the next test)."""
    async with store_rig("redis", tmp_path, lease=LEASE) as rig:
        await _left_by_a_dead_instance(rig)


async def test_an_update_the_last_run_left_in_sqlite_is_handled_by_the_first_sweep(tmp_path: Path) -> None:
    """One process serves an SQLite file: what the last run stored and did not handle has no lease to wait
    out, even when that run died after taking the chat in the store, as an older linedesk did."""
    async with store_rig("sqlite", tmp_path, lease=60.0) as rig:
        assert rig.desk is not None and rig.desk.store.one_process
        store, clock = rig.desk.store, rig.desk.clock
        left = update(rig, "Left behind")
        record = await store.inbound_add("telegram:support", str(left["update_id"]), left, clock.now())
        assert record is not None
        assert await store.claim(f"inbound:telegram:support:{IVAN.telegram_user}", 60.0, clock.now())
        await rig.desk.intake.sweep()
        await rig.settle()
        assert await rig.desk_thread(1) == ["*Ivan*: Left behind"]
        assert not await store.inbound_is_pending(record)


async def _left_by_a_dead_instance(rig: Rig) -> None:
    assert rig.desk is not None
    store, clock = rig.desk.store, rig.desk.clock
    # another linedesk stored the update, answered Telegram 200, took the lease and died (kill -9)
    left = update(rig, "Left behind")
    record = await store.inbound_add("telegram:support", str(left["update_id"]), left, clock.now())
    assert record is not None and await store.claim(
        f"inbound:telegram:support:{IVAN.telegram_user}", LEASE, clock.now()
    )
    await rig.desk.intake.sweep()  # the chat's lease still holds: the update waits for it
    await asyncio.sleep(LEASE / 3)
    assert await store.list_sessions() == []

    waited = await eventually(lambda: _has_session(rig), "the sweep takes the update over")
    await rig.settle()
    assert waited <= LEASE + max(1.0, LEASE / 3) + 1.0
    assert await rig.desk_thread(1) == ["*Ivan*: Left behind"]
    assert not await store.inbound_is_pending(record)


async def _has_session(rig: Rig) -> bool:
    assert rig.desk is not None
    return bool(await rig.desk.store.list_sessions())


async def test_a_message_handled_before_a_crash_is_not_sent_twice(lease_rig: Rig) -> None:
    """The crash came after the message was stored and its deliveries queued, before the update was marked
    done: handled again, it finds the message already there (by its Telegram id) and sends nothing more."""
    rig = lease_rig
    assert rig.desk is not None
    first = update(rig, "Only once")
    assert await rig.telegram.deliver(SUPPORT_TOKEN, first)
    await rig.settle()
    posted = len(rig.slack.calls_of("chat.postMessage"))
    assert await rig.desk.intake.accept("telegram:support", str(first["update_id"] + 1000), dict(first))
    await rig.settle()
    assert await rig.desk_thread(1) == ["*Ivan*: Only once"]
    assert [m.text for m in await rig.desk.store.list_messages(1)].count("Only once") == 1
    assert len(rig.slack.calls_of("chat.postMessage")) == posted


async def test_a_slack_event_is_stored_acked_and_handled_from_the_store(lease_rig: Rig) -> None:
    rig = lease_rig
    assert rig.desk is not None
    await rig.client_writes(IVAN, "Hello")
    await rig.slash(ANNA, "/status", "online")
    root = await rig.thread_root(1)
    await rig.click(ANNA, "session.take", "1", channel_id=root["channel"], message_ts=root["ts"])

    # a thread reply Slack delivered to an instance that stored it and died before handling it
    body, _ = rig.slack.payloads.message_event(
        ANNA.slack_user, root["channel"], "Answer from the store", thread_ts=root["ts"], event_id="EvLEFT01"
    )
    record = await rig.desk.store.inbound_add("slack", "EvLEFT01", json.loads(body), rig.desk.clock.now())
    chat = f"inbound:slack:{root['channel']}:{root['ts']}"
    assert record is not None and await rig.desk.store.claim(chat, LEASE, rig.desk.clock.now())
    await eventually(lambda: _client_got(rig, "Answer from the store"), "the stored Slack event is handled")
    await rig.settle()

    # Slack retries the same event: acknowledged, not handled again
    response = await rig.slack.send(rig.slack_url, body, "application/json", retry_num=1, retry_reason="timeout")
    await rig.settle()
    assert response.status == 200
    assert [m for m in rig.client_chat(IVAN) if m.endswith("Answer from the store")] == ["Anna\nAnswer from the store"]


async def _client_got(rig: Rig, text: str) -> bool:
    return any(m.endswith(text) for m in rig.client_chat(IVAN))


async def test_a_store_that_does_not_answer_gets_a_retryable_error_and_loses_nothing(rig: Rig) -> None:
    """Telegram and Slack deliver again what was not acknowledged: a 503 while the store is away, then the
    same update and event are taken once it is back."""
    assert rig.desk is not None
    away = update(rig, "While the store was away")
    body, content_type = rig.slack.payloads.event(
        {"type": "app_home_opened", "user": ANNA.slack_user, "channel": "D0ANNA", "tab": "home"}, event_id="EvAWAY01"
    )
    await rig.desk.store.close()
    try:
        telegram, _ = await rig.telegram.post_update(rig.webhook_url(), away, secret=WEBHOOK_SECRET)
        slack = await rig.slack.send(rig.slack_url, body, content_type)
    finally:
        await rig.desk.store.open()
    assert telegram == 503 and slack.status == 503

    assert (await rig.telegram.post_update(rig.webhook_url(), away, secret=WEBHOOK_SECRET))[0] == 200
    assert (await rig.slack.send(rig.slack_url, body, content_type, retry_num=1)).status == 200
    await rig.settle()
    assert await rig.desk_thread(1) == ["*Ivan*: While the store was away"]
    assert rig.slack.home(ANNA.slack_user) is not None


async def test_an_event_that_keeps_failing_is_retried_then_given_up_and_logged(
    rig: Rig, caplog: pytest.LogCaptureFixture
) -> None:
    """A handler that raises keeps its event for the next sweep; after five attempts it is given up, with
    its payload in the log (a bug to fix, not an event to retry forever)."""
    assert rig.desk is not None
    intake = rig.desk.intake
    failures: list[int] = []

    async def broken(record: InboundRecord) -> None:
        failures.append(record.id)
        raise RuntimeError("a bug in a handler")

    intake.register("broken:", broken, lambda record: f"broken:{record.key}")
    assert await intake.accept("broken:test", "1", {"what": "poison"})
    for _ in range(6):
        await intake.idle()
        await intake.sweep()
    await intake.idle()
    assert len(failures) == 5
    assert await rig.desk.store.inbound_pending(source="broken:test") == []
    assert "failed 5 times; given up" in caplog.text and "poison" in caplog.text
