"""An SQLite store serves one linedesk process (`Store.serve_alone`); a Redis store serves any number."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from core.store import SqliteStore, StoreError
from tests.support.rigs import RedisFactory


async def test_a_second_sqlite_store_serving_from_one_file_is_refused_until_the_first_closes(tmp_path: Path) -> None:
    first, second = SqliteStore(tmp_path / "one.db"), SqliteStore(tmp_path / "one.db")
    await first.open()
    await second.open()  # reading is open to anyone (check-config, reports)
    try:
        await first.serve_alone()
        await first.serve_alone()  # again: still its own
        with pytest.raises(StoreError) as refused:
            await second.serve_alone()
        assert f"linedesk serve, pid {os.getpid()} already serves from this file" in str(refused.value)
        assert "for one linedesk process" in str(refused.value)
        await first.close()
        await second.serve_alone()  # free once the first one closed
        third = SqliteStore(tmp_path / "one.db")
        await third.open()
        with pytest.raises(StoreError):
            await third.serve_alone()
        await third.close()
    finally:
        await first.close()
        await second.close()


async def test_two_sqlite_files_are_served_independently(tmp_path: Path) -> None:
    a, b = SqliteStore(tmp_path / "a.db"), SqliteStore(tmp_path / "b.db")
    for store in (a, b):
        await store.open()
        await store.serve_alone()
    assert a.one_process and b.one_process
    await a.close()
    await b.close()


async def test_redis_stores_serve_together(redis_stores: RedisFactory) -> None:
    first, second = await redis_stores(), await redis_stores()
    await first.serve_alone()
    await second.serve_alone()
    assert not first.one_process and not second.one_process
