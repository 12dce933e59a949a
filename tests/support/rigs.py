"""Stages for the tests: the processes folder, the test Redis and the rig fixtures (`rig`, `any_store_rig`,
`make_rig`, re-exported by the e2e and security conftests), `store_rig` and `MakeRig`."""

from __future__ import annotations

import os
import sqlite3
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest

from core.store.base import Store
from core.store.redis import RedisStore
from core.store.sqlite import InlineConnection, SqliteStore
from sandboxes.limits import Limits
from sandboxes.rig import Rig
from tests.support.bpmn import Step, write_process

ROOT = Path(__file__).resolve().parents[2]
PROCESSES = ROOT / "processes"
REDIS_URL = os.environ.get("LINEDESK_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
RedisFactory = Callable[[], Awaitable[RedisStore]]
"""The `redis_stores` fixture (tests/store/conftest.py): opens RedisStores sharing one fresh prefix."""


class FailingCommit(InlineConnection):
    """The SQLite store's connection whose COMMIT fails, as on a disk I/O error."""

    def commit(self) -> None:
        raise sqlite3.OperationalError("disk I/O error")


async def redis_available() -> str | None:
    import redis.asyncio as redis

    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1)
    try:
        await client.ping()
        return None
    except Exception as err:
        return f"no Redis at {REDIS_URL}: {err}"
    finally:
        await client.aclose()


@pytest.fixture
async def rig(tmp_path: Path) -> AsyncIterator[Rig]:
    stage = Rig(tmp_path, PROCESSES, limits=Limits.off())
    await stage.start()
    try:
        yield stage
    finally:
        await stage.stop()


async def drop_redis_prefix(prefix: str) -> None:
    """Delete every key of a test's Redis prefix."""
    import redis.asyncio as redis

    client = redis.Redis.from_url(REDIS_URL)
    try:
        keys = [key async for key in client.scan_iter(match=f"{prefix}*", count=1000)]
        for start in range(0, len(keys), 1000):
            await client.delete(*keys[start : start + 1000])
    finally:
        await client.aclose()


@asynccontextmanager
async def store_rig(
    store: str, tmp_path: Path, processes: Path = PROCESSES, limits: Limits | None = None, **options: Any
) -> AsyncIterator[Rig]:
    """A started rig on SQLite or on a fresh Redis key prefix (removed afterwards); skips without Redis.
    `processes`: the process folder (default: the repository's); the platforms' limits are off unless `limits`
    are given."""
    store_url = None
    prefix = f"linedesk-test-{uuid.uuid4().hex[:8]}:"
    if store == "redis":
        reason = await redis_available()
        if reason:
            pytest.skip(reason)
        store_url = f"{REDIS_URL}?prefix={prefix}"
    stage = Rig(
        tmp_path, processes, store_url=store_url, limits=limits if limits is not None else Limits.off(), **options
    )
    await stage.start()
    try:
        yield stage
    finally:
        await stage.stop()
        if store == "redis":
            await drop_redis_prefix(prefix)


@pytest.fixture(params=["sqlite", "redis"])
async def any_store_rig(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Rig]:
    async with store_rig(request.param, tmp_path) as stage:
        yield stage


MakeRig = Callable[..., Awaitable[Rig]]


@pytest.fixture
async def make_rig(tmp_path: Path) -> AsyncIterator[MakeRig]:
    rigs: list[Rig] = []

    async def make(
        *processes: tuple[str, str, list[Step]],
        http_allow: tuple[str, ...] = (),
        admin_token: str = "",
        files: dict[str, str] | None = None,
    ) -> Rig:
        """A rig on `processes` (id, name, steps) and other `files` of the process folder (path → text)."""
        folder = tmp_path / "processes"
        for pid, name, steps in processes:
            write_process(folder, f"{pid}.bpmn", pid, name, *steps)
        for relative, text in (files or {}).items():
            (folder / relative).parent.mkdir(parents=True, exist_ok=True)
            (folder / relative).write_text(text, encoding="utf-8")
        rig = Rig(tmp_path, folder, http_allow=http_allow, admin_token=admin_token, limits=Limits.off())
        await rig.start()
        rigs.append(rig)
        return rig

    yield make
    for rig in rigs:
        await rig.stop()


async def open_test_store(tmp_path: Path, kind: str) -> Store:
    """A store of `kind` (\"sqlite\" in `tmp_path`, or \"redis\" under a fresh prefix); skips without one."""
    store: Store = (
        SqliteStore(tmp_path / "outbox.db")
        if kind == "sqlite"
        else RedisStore(REDIS_URL, prefix=f"linedesk-test:{uuid.uuid4().hex}:")
    )
    try:
        await store.open()
    except Exception as err:
        pytest.skip(f"no store: {err}")
    return store


async def close_test_store(store: Store, kind: str) -> None:
    if isinstance(store, RedisStore):
        await drop_redis_prefix(store.prefix)
    await store.close()
