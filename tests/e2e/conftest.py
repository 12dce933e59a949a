from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest

from bots.rig import Rig
from tests.bpmn import Step, write_process

ROOT = Path(__file__).resolve().parents[2]
PROCESSES = ROOT / "processes"
REDIS_URL = os.environ.get("LINEDESK_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")


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
    stage = Rig(tmp_path, PROCESSES)
    await stage.start()
    try:
        yield stage
    finally:
        await stage.stop()


@pytest.fixture(params=["sqlite", "redis"])
async def any_store_rig(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Rig]:
    store_url = None
    prefix = f"linedesk-test-{uuid.uuid4().hex[:8]}:"
    if request.param == "redis":
        reason = await redis_available()
        if reason:
            pytest.skip(reason)
        store_url = f"{REDIS_URL}?prefix={prefix}"
    stage = Rig(tmp_path, PROCESSES, store_url=store_url)
    await stage.start()
    try:
        yield stage
    finally:
        await stage.stop()
        if request.param == "redis":
            import redis.asyncio as redis

            client = redis.Redis.from_url(REDIS_URL)
            keys = [key async for key in client.scan_iter(match=f"{prefix}*")]
            if keys:
                await client.delete(*keys)
            await client.aclose()


MakeRig = Callable[..., Awaitable[Rig]]


@pytest.fixture
async def make_rig(tmp_path: Path) -> AsyncIterator[MakeRig]:
    rigs: list[Rig] = []

    async def make(*processes: tuple[str, str, list[Step]], http_allow: tuple[str, ...] = (),
                   admin_token: str = "") -> Rig:
        folder = tmp_path / "processes"
        for pid, name, steps in processes:
            write_process(folder, f"{pid}.bpmn", pid, name, *steps)
        rig = Rig(tmp_path, folder, http_allow=http_allow, admin_token=admin_token)
        await rig.start()
        rigs.append(rig)
        return rig

    yield make
    for rig in rigs:
        await rig.stop()


