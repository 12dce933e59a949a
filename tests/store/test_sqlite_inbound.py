"""SQLite remembers a handled request's (source, key) for a week (`DEDUPE_KEEP`), pruning what is older at most
once a minute (`PRUNE_EVERY`); Redis lets the keys expire by themselves (in real time, not tested here)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from core.store import SqliteStore


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SqliteStore]:
    opened = SqliteStore(tmp_path / "inbound.db")
    await opened.open()
    yield opened
    await opened.close()


async def test_a_handled_request_is_forgotten_after_a_week_and_a_pending_one_never(store: SqliteStore) -> None:
    week = 7 * 24 * 3600.0
    handled = await store.inbound_add("telegram:support", "1", {"update_id": 1}, now=1000.0)
    waiting = await store.inbound_add("telegram:support", "2", {"update_id": 2}, now=1000.0)
    assert handled is not None and waiting is not None
    await store.inbound_done(handled)
    # within the week, and a minute past it (remembered up to a minute longer, never shorter): still a duplicate
    for now in (1000.0 + week - 1, 1000.0 + week + 30):
        assert await store.inbound_add("telegram:support", "1", {"update_id": 1}, now=now) is None
    later = 1000.0 + week + 61
    assert await store.inbound_add("telegram:support", "3", {"update_id": 3}, now=later) is not None
    assert await store.inbound_add("telegram:support", "1", {"update_id": 1}, now=later + 1) is not None
    assert await store.inbound_add("telegram:support", "2", {"update_id": 2}, now=later + 2) is None  # pending
    assert [r.key for r in await store.inbound_pending()] == ["2", "3", "1"]
