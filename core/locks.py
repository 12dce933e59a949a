"""Locks: per-key asyncio locks that disappear when nobody holds or waits on them, and a mutex held
in the store so that several linedesk processes on one Redis take turns too."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Hashable
from contextlib import asynccontextmanager

from core.clock import Clock
from core.store.base import Store


class KeyedLocks:
    def __init__(self) -> None:
        self._locks: dict[Hashable, tuple[asyncio.Lock, int]] = {}

    @asynccontextmanager
    async def hold(self, key: Hashable) -> AsyncIterator[None]:
        lock, users = self._locks.get(key, (asyncio.Lock(), 0))
        self._locks[key] = (lock, users + 1)
        try:
            async with lock:
                yield
        finally:
            lock, users = self._locks[key]
            if users <= 1:
                del self._locks[key]
            else:
                self._locks[key] = (lock, users - 1)

    def __len__(self) -> int:
        return len(self._locks)


class Lease:
    """A claim in the store kept alive while its holder works, so that a holder that dies (kill -9,
    a lost machine) frees the work for another instance within `ttl` seconds and one that lives
    keeps it however long the work takes. `lost` turns True if a renewal failed to keep it."""

    def __init__(self, store: Store, clock: Clock, key: str, ttl: float):
        self._store = store
        self._clock = clock
        self.key = key
        self.ttl = ttl
        self.lost = False
        self.owner = uuid.uuid4().hex
        self._released = False
        self._renewing: asyncio.Task[None] | None = None

    @property
    def held(self) -> bool:
        """Acquired and not yet released (the renewal may have failed since: see `lost`)."""
        return self._renewing is not None and not self._released

    async def acquire(self) -> bool:
        if self.held:
            return True
        if not await self._store.claim(self.key, self.ttl, self._clock.now(), self.owner):
            return False
        self.adopt()
        return True

    def adopt(self) -> None:
        """The claim was taken (for `owner`) by a store call that did more than claim: keep it alive."""
        self._released = False
        self._renewing = asyncio.create_task(self._renew())

    async def _renew(self) -> None:
        while not self._released:
            await asyncio.sleep(self.ttl / 3)
            if self._released:
                return
            try:
                if not await self._store.renew(self.key, self.ttl, self._clock.now(), self.owner):
                    self.lost = True
                    return
            except Exception:  # the store is away for a moment: the next round tries again
                task = asyncio.current_task()
                if task is not None and task.cancelling():  # a cancel that came back as a store error
                    return
                continue

    async def release(self) -> None:
        """Stop renewing and drop the claim."""
        await self.stop_renewing()
        await self._store.release(self.key, self.owner)

    async def stop_renewing(self) -> None:
        """Release without the store call, for a caller that drops the claim in a store call of its own.
        Never waits long for the renewal: a cancel that a store call swallowed must not wedge the holder
        (the flag ends the loop at its next turn; a late renewal cannot bring a released claim back)."""
        self._released = True
        if self._renewing is not None:
            self._renewing.cancel()
            await asyncio.wait({self._renewing}, timeout=1.0)
            self._renewing = None


class Busy(Exception):
    """The store mutex stayed held by someone else for longer than we were willing to wait."""


@asynccontextmanager
async def store_mutex(
    store: Store, clock: Clock, key: str, *, ttl: float = 30.0, wait: float = 10.0
) -> AsyncIterator[None]:
    """Hold `key` in the store: a lease renewed while held, so a crashed holder frees it within `ttl`."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + wait
    lease = Lease(store, clock, key, ttl)
    while not await lease.acquire():
        if loop.time() >= deadline:
            raise Busy(key)
        await asyncio.sleep(0.02)
    try:
        yield
    finally:
        await lease.release()
