"""The bell idle long polls wait on: rung when an external task appears or becomes free in this process, so
that a waiting worker costs nothing until then (no busy loop)."""

from __future__ import annotations

import asyncio
import contextlib
import uuid

SIGNAL = "external-tasks"
"""The store signal (`Store.signal`) that tells the other linedesk processes on one Redis to ring theirs."""


class Bell:
    def __init__(self) -> None:
        self._rung = asyncio.Event()
        self.rings = 0
        """How often it was rung: a poll that reads it before looking misses no ring after that."""
        self.origin = uuid.uuid4().hex
        """This process's name in the signals it sends (its own signals come back to it: not rung twice)."""

    def ring(self) -> None:
        self.rings += 1
        self._rung.set()
        self._rung = asyncio.Event()

    async def wait(self, seen: int, timeout: float) -> None:
        """Until rung after `seen` rings, at most `timeout` seconds."""
        if self.rings != seen or timeout <= 0:
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._rung.wait(), timeout)
