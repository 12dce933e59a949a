from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import redis.asyncio as aioredis

from core.store import RedisStore, SqliteStore, Store, StoreError
from tests.support.rigs import REDIS_URL, RedisFactory


@pytest.fixture
async def redis_stores() -> AsyncIterator[RedisFactory]:
    """Opens RedisStores that share one fresh prefix (like several linedesk processes on one Redis);
    deletes every key under it afterwards. Skips when no Redis answers."""
    prefix = f"linedesk-test:{uuid.uuid4().hex}:"
    opened: list[RedisStore] = []

    async def make() -> RedisStore:
        store = RedisStore(REDIS_URL, prefix=prefix)
        try:
            await store.open()
        except StoreError as e:  # Redis away or refusing us; a bug in open() fails the test instead
            pytest.skip(f"no Redis at {REDIS_URL}: {e}")
        opened.append(store)
        return store

    yield make
    for store in opened:
        await store.close()
    if opened:
        client = aioredis.from_url(REDIS_URL)
        try:
            keys = [k async for k in client.scan_iter(match=f"{prefix}*", count=1000)]
            if keys:
                await client.delete(*keys)
        finally:
            await client.aclose()


@pytest.fixture(params=["sqlite", "redis"])
async def store(request: pytest.FixtureRequest, tmp_path: Path, redis_stores: RedisFactory) -> AsyncIterator[Store]:
    if request.param == "sqlite":
        sqlite = SqliteStore(tmp_path / "store.db")
        await sqlite.open()
        yield sqlite
        await sqlite.close()
    else:
        yield await redis_stores()
