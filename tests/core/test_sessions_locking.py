"""The session services' one locking helper (`core.sessions.locking`)."""

from __future__ import annotations

import asyncio

from core.sessions import SessionLocks
from tests.support.sessions_kit import Kit


async def test_a_sessions_turn_is_held_here_and_in_the_store(kit: Kit) -> None:
    locks = SessionLocks(kit.store, kit.clock)
    order: list[str] = []

    async def turn(name: str, number: int) -> None:
        async with locks.session(number):
            order.append(f"{name} in")
            await asyncio.sleep(0.05)
            order.append(f"{name} out")

    async with locks.session(1):
        # another linedesk instance cannot take it meanwhile
        assert not await kit.store.claim("lock:session:1", 30.0, kit.clock.now(), "someone-else")
        waiting = asyncio.create_task(turn("second", 1))
        other = asyncio.create_task(turn("other session", 2))
        await asyncio.wait_for(other, 5)  # another session is not held up
        assert "second in" not in order
    await asyncio.wait_for(waiting, 5)
    assert order == ["other session in", "other session out", "second in", "second out"]
    assert len(locks) == 0  # nothing is left behind
    assert await kit.store.claim("lock:session:1", 30.0, kit.clock.now(), "someone-else")


async def test_a_clients_turn_and_a_lines_turn(kit: Kit) -> None:
    locks = SessionLocks(kit.store, kit.clock)
    async with locks.client("support", "telegram:501"):
        assert len(locks) == 1
        async with locks.line("support"):
            assert not await kit.store.claim("lock:assign:support", 30.0, kit.clock.now(), "someone-else")
    assert len(locks) == 0
