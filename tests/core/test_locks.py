"""Leases held in a real store: renewed while held, free at once when released, never wedging the holder."""

from __future__ import annotations

import asyncio
from pathlib import Path

from core.clock import SystemClock
from core.locks import Lease
from core.store.sqlite import SqliteStore


async def test_a_lease_is_renewed_while_held_and_free_when_released(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "locks.db")
    await store.open()
    try:
        clock = SystemClock()
        lease = Lease(store, clock, "inbound:telegram:support:501", ttl=0.3)
        assert await lease.acquire()
        await asyncio.sleep(0.7)  # past two ttls: only renewals keep it
        assert not await store.claim(lease.key, 0.3, clock.now()) and not lease.lost
        loop = asyncio.get_running_loop()
        started = loop.time()
        await lease.release()
        assert loop.time() - started < 1.5
        assert await store.claim(lease.key, 5.0, clock.now(), "next")  # free for the next holder at once
        await asyncio.sleep(0.3)  # no renewal comes after the release to take it back
        assert not await store.renew(lease.key, 0.3, clock.now(), lease.owner)
        assert await store.renew(lease.key, 5.0, clock.now(), "next")  # still the next holder's
    finally:
        await store.close()


async def test_release_does_not_wait_for_a_renewal_that_ignores_its_cancel(tmp_path: Path) -> None:
    """A renewal whose cancel was swallowed (a store call that turned it into an error) stops by the released
    flag; release() returns within a second instead of waiting for it forever."""
    store = SqliteStore(tmp_path / "locks.db")
    await store.open()
    try:
        lease = Lease(store, SystemClock(), "lock:instance:1", ttl=0.3)
        assert await lease.acquire()

        stop = asyncio.Event()

        async def stubborn() -> None:  # what a swallowed cancel looks like from release()'s side
            while not stop.is_set():
                try:
                    await asyncio.wait_for(stop.wait(), 10)
                except (asyncio.CancelledError, TimeoutError):
                    continue

        stuck = asyncio.create_task(stubborn())
        lease._renewing = stuck  # a renewal under way, as if its time had come
        loop = asyncio.get_running_loop()
        started = loop.time()
        await lease.release()
        assert loop.time() - started < 1.5
        stop.set()
        await asyncio.gather(stuck, return_exceptions=True)
    finally:
        await store.close()


async def test_a_lease_dropped_before_its_renewal_leaves_nothing_behind(tmp_path: Path) -> None:
    """The per-message path: most leases are dropped within milliseconds, long before a renewal is due."""
    store = SqliteStore(tmp_path / "locks.db")
    await store.open()
    try:
        clock = SystemClock()
        tasks_before = len(asyncio.all_tasks())
        lease = Lease(store, clock, "inbound:telegram:support:502", ttl=0.3)
        assert await lease.acquire()
        assert len(asyncio.all_tasks()) == tasks_before  # a timer waits for the renewal, not a task
        await lease.release()
        assert not lease.held
        await asyncio.sleep(0.2)  # past the renewal's time: nothing renews the released claim
        assert await store.claim(lease.key, 0.3, clock.now())
    finally:
        await store.close()
