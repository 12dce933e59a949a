"""Locks: per-key asyncio locks that disappear when nobody holds or waits on them, and a mutex held
in the store so that several linedesk processes on one Redis take turns too."""

from __future__ import annotations

import asyncio
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


class Busy(Exception):
    """The store mutex stayed held by someone else for longer than we were willing to wait."""


@asynccontextmanager
async def store_mutex(store: Store, clock: Clock, key: str, *, ttl: float = 30.0,
                      wait: float = 10.0) -> AsyncIterator[None]:
    """Hold `key` in the store (a claim with a ttl, so a crashed holder cannot block forever)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + wait
    while not await store.claim(key, ttl, clock.now()):
        if loop.time() >= deadline:
            raise Busy(key)
        await asyncio.sleep(0.02)
    try:
        yield
    finally:
        await store.release(key)
