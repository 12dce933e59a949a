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
        renewing = lease._renewing
        loop = asyncio.get_running_loop()
        started = loop.time()
        await lease.release()
        assert loop.time() - started < 1.5
        assert renewing is not None and renewing.done()
        assert await store.claim(lease.key, 0.3, clock.now())  # free for the next holder at once
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
        renewing = lease._renewing
        assert renewing is not None

        stop = asyncio.Event()

        async def stubborn() -> None:  # what a swallowed cancel looks like from release()'s side
            while not stop.is_set():
                try:
                    await asyncio.wait_for(stop.wait(), 10)
                except (asyncio.CancelledError, TimeoutError):
                    continue

        renewing.cancel()
        stuck = asyncio.create_task(stubborn())
        lease._renewing = stuck
        loop = asyncio.get_running_loop()
        started = loop.time()
        await lease.release()
        assert loop.time() - started < 1.5
        stop.set()
        await asyncio.gather(stuck, return_exceptions=True)
    finally:
        await store.close()
