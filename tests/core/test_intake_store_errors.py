"""The intake keeps track of a chat's lease across a store error: a lease taken just before the store
failed is neither claimed again (it would find it held by itself and wait for ever) nor left renewing."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from core.clock import SystemClock
from core.intake import Intake
from core.model import InboundRecord
from core.store.base import StoreError
from core.store.sqlite import SqliteStore


class PendingFailsOnce(SqliteStore):
    """A real store whose first read of a chat's pending records fails, as when Redis goes away right after
    the lease was claimed."""

    failed = False

    async def inbound_pending(self, *args: Any, **kwargs: Any) -> list[InboundRecord]:
        if kwargs.get("conversation") and not self.failed:
            self.failed = True
            raise StoreError("connection lost")
        return await super().inbound_pending(*args, **kwargs)


async def test_a_store_error_right_after_the_lease_was_taken_does_not_wedge_the_chat(tmp_path: Path) -> None:
    store = PendingFailsOnce(tmp_path / "intake.db")
    await store.open()
    clock = SystemClock()
    intake = Intake(store, clock, lease=3.0)
    handled: list[str] = []

    async def handle(record: InboundRecord) -> None:
        handled.append(str(record.payload["text"]))

    intake.register("telegram:", handle, lambda record: "telegram:support:501")
    try:
        assert await intake.accept("telegram:support", "1", {"text": "first"})
        assert await intake.accept("telegram:support", "2", {"text": "second"})
        await asyncio.wait_for(intake.idle(), 5)
        assert store.failed
        assert handled == ["first", "second"]
        assert await store.inbound_pending() == []
        # the lease was let go, not left renewing: the chat is free for the next holder at once
        assert await store.claim("inbound:telegram:support:501", 3.0, clock.now())
    finally:
        await store.close()
