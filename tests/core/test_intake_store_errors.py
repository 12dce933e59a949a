"""The intake keeps track of a chat's lease across a store error: a lease taken just before the store
failed is taken again at once by its owner (not waited out as if another instance held it) and not left
renewing."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from core.clock import SystemClock
from core.intake import Intake
from core.model import InboundRecord
from core.store.base import StoreError
from core.store.sqlite import SqliteStore


class TakeAnswerLostOnce(SqliteStore):
    """A real store whose first take of a chat's lease is done but its answer lost, as when Redis goes
    away right after it ran the take. Shared like a Redis store (`one_process` off), so that the intake takes
    the chat's lease in the store."""

    one_process = False
    failed = False

    async def inbound_take(self, *args: Any, **kwargs: Any) -> list[InboundRecord] | None:
        taken = await super().inbound_take(*args, **kwargs)
        if not self.failed:
            self.failed = True
            raise StoreError("connection lost")
        return taken


async def test_a_store_error_right_after_the_lease_was_taken_does_not_wedge_the_chat(tmp_path: Path) -> None:
    store = TakeAnswerLostOnce(tmp_path / "intake.db")
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
        await asyncio.wait_for(intake.idle(), 2)  # well under the 3 s lease
        assert store.failed
        assert handled == ["first", "second"]
        assert await store.inbound_pending() == []
        # the lease was let go, not left renewing: the chat is free for the next holder at once
        assert await store.claim("inbound:telegram:support:501", 3.0, clock.now())
    finally:
        await store.close()
