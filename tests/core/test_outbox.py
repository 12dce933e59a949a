"""The outbox worker with a real SQLite store: order, retries, backoff, dead letters."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Sequence
from pathlib import Path

import pytest

from core.clock import ManualClock, SystemClock
from core.errors import DeliveryError
from core.model import OutboxEntry, OutboxStatus
from core.outbox import OutboxSettings, OutboxWorker
from core.outbox_actions import Notice
from core.store.sqlite import SqliteStore
from tests.support.rigs import close_test_store, open_test_store


class Recorder:
    """A deliverer that records what reached it and fails as told (the platform's side of the outbox)."""

    def __init__(self) -> None:
        self.delivered: list[str] = []
        self.failures: list[DeliveryError | Exception] = []

    async def deliver(self, entry: OutboxEntry, merged: Sequence[OutboxEntry] = ()) -> None:
        if self.failures:
            raise self.failures.pop(0)
        assert isinstance(entry.action, Notice)
        self.delivered.append(entry.action.text)


@pytest.fixture
async def store(tmp_path: Path):
    store = SqliteStore(tmp_path / "outbox.db")
    await store.open()
    yield store
    await store.close()


def entry(text: str, conversation: str = "chat:1") -> OutboxEntry:
    return OutboxEntry(conversation=conversation, route="test", action=Notice(session=1, line_id="support", text=text))


async def test_order_is_kept_through_retries(store: SqliteStore) -> None:
    clock = ManualClock()
    worker = OutboxWorker(store, clock, rng=random.Random(1))
    recorder = Recorder()
    worker.register("test", recorder)
    await store.outbox_add([entry("one"), entry("two"), entry("other", "chat:2")])
    recorder.failures = [DeliveryError("flood", retry_after=30)]
    await worker.run_once()
    assert recorder.delivered == ["other"]  # chat:1's head failed; chat:2 is not held up
    await worker.run_once()
    assert recorder.delivered == ["other"]  # not due yet: retry_after honoured
    clock.advance(30)
    await worker.drain()
    assert recorder.delivered == ["other", "one", "two"]


async def test_transient_errors_back_off_exponentially_with_jitter(store: SqliteStore) -> None:
    worker = OutboxWorker(store, ManualClock(), OutboxSettings(base_backoff=1, max_backoff=60), rng=random.Random(7))
    delays = [worker.backoff(attempt) for attempt in range(8)]
    for attempt, delay in enumerate(delays):
        ceiling = min(60, 2**attempt)
        assert ceiling / 2 <= delay <= ceiling
    assert delays[-1] > delays[0]


async def test_unexpected_exceptions_are_retried_not_lost(store: SqliteStore) -> None:
    clock = ManualClock()
    worker = OutboxWorker(store, clock)
    recorder = Recorder()
    worker.register("test", recorder)
    [stored] = await store.outbox_add([entry("hello")])
    recorder.failures = [RuntimeError("boom")]
    await worker.run_once()
    again = await store.outbox_get(stored.id)
    assert again is not None and again.status == OutboxStatus.PENDING and again.attempts == 1
    assert "boom" in (again.last_error or "")
    clock.advance(600)
    await worker.drain()
    assert recorder.delivered == ["hello"]


async def test_permanent_errors_go_to_the_dead_letter_handlers(store: SqliteStore) -> None:
    worker = OutboxWorker(store, ManualClock())
    recorder = Recorder()
    worker.register("test", recorder)
    dead: list[tuple[str, str | None]] = []

    async def on_dead(item: OutboxEntry, err: DeliveryError) -> None:
        assert isinstance(item.action, Notice)
        dead.append((item.action.text, err.reason))

    worker.on_dead(on_dead)
    [first, _] = await store.outbox_add([entry("blocked"), entry("next")])
    recorder.failures = [DeliveryError("bot was blocked", permanent=True, reason="blocked")]
    await worker.drain()
    assert dead == [("blocked", "blocked")]
    assert recorder.delivered == ["next"]
    killed = await store.outbox_get(first.id)
    assert killed is not None and killed.status == OutboxStatus.DEAD


async def test_an_entry_for_an_unknown_route_is_reported_not_stuck(store: SqliteStore) -> None:
    worker = OutboxWorker(store, ManualClock())
    [stored] = await store.outbox_add([entry("lost?")])
    await worker.drain()
    dead = await store.outbox_get(stored.id)
    assert dead is not None and dead.status == OutboxStatus.DEAD and "no deliverer" in (dead.last_error or "")


class Slow(Recorder):
    """A platform that takes `seconds` per message (or a paced conversation waiting its turn)."""

    def __init__(self, seconds: float) -> None:
        super().__init__()
        self.seconds = seconds

    async def deliver(self, entry: OutboxEntry, merged: Sequence[OutboxEntry] = ()) -> None:
        await asyncio.sleep(self.seconds)
        await super().deliver(entry)


@pytest.mark.parametrize("store_kind", ["sqlite", "redis"])
async def test_a_delivery_longer_than_its_lease_stays_with_its_worker(tmp_path: Path, store_kind: str) -> None:
    """Two workers (two linedesk instances) on one store: the lease of a slow delivery is renewed while it goes
    on, so the other worker never takes the conversation over and nothing is sent twice."""
    store = await open_test_store(tmp_path, store_kind)
    try:
        clock = SystemClock()
        first, second = Slow(1.2), Slow(0.0)
        one = OutboxWorker(store, clock, OutboxSettings(lease=0.3, poll_interval=0.02))
        two = OutboxWorker(store, clock, OutboxSettings(lease=0.3, poll_interval=0.02))
        one.register("test", first)
        two.register("test", second)
        await store.outbox_add([entry("slow")])
        running = asyncio.create_task(one.run())
        await asyncio.sleep(0.1)  # the first worker has claimed it
        other = asyncio.create_task(two.run())
        await asyncio.sleep(1.5)
        one.stop()
        two.stop()
        await asyncio.gather(running, other)
        assert first.delivered == ["slow"] and second.delivered == []
        assert (await store.outbox_stats(clock.now()))["pending"] == 0
    finally:
        await close_test_store(store, store_kind)


@pytest.mark.parametrize("store_kind", ["sqlite", "redis"])
async def test_a_dead_workers_conversation_is_taken_over_after_its_lease(tmp_path: Path, store_kind: str) -> None:
    store = await open_test_store(tmp_path, store_kind)
    try:
        clock = SystemClock()
        await store.outbox_add([entry("one"), entry("two")])
        assert len(await store.outbox_claim(clock.now(), lease=0.5)) == 1  # a worker claimed "one", then died
        survivor = OutboxWorker(store, clock, OutboxSettings(lease=0.5, poll_interval=0.02))
        recorder = Recorder()
        survivor.register("test", recorder)
        running = asyncio.create_task(survivor.run())
        await asyncio.sleep(0.3)
        assert recorder.delivered == []  # the dead worker's lease still holds
        await asyncio.sleep(0.6)
        survivor.stop()
        await running
        assert recorder.delivered == ["one", "two"]
    finally:
        await close_test_store(store, store_kind)
