"""Workers against linedesk (SPEC §12): a rig on the worker processes (tests/fixtures/workers) with a worker
token, the real `camunda-external-task-client-python3` clients pointed at it (synchronous: run in a thread),
and plain HTTP for what the library does not send."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, TypeVar

import aiohttp
import pytest
from camunda.client.engine_client import EngineClient
from camunda.client.external_task_client import ExternalTaskClient

from core.config import Config, load_config
from core.model import InstanceRecord
from sandboxes.limits import Limits
from sandboxes.rig import Rig
from tests.support.rigs import REDIS_URL, drop_redis_prefix, redis_available

WORKER_PROCESSES = Path(__file__).resolve().parents[1] / "fixtures" / "workers"
WORKER_TOKEN = "worker-sandbox-token"
ADMIN_TOKEN = "admin-sandbox-token"
T = TypeVar("T")


class WorkerRig(Rig):
    """A rig whose linedesk has LINEDESK_WORKER_TOKEN and LINEDESK_ADMIN_TOKEN set."""

    def load_config(self) -> Config:
        return load_config(
            self.config_path(), environ={"LINEDESK_ADMIN_TOKEN": ADMIN_TOKEN, "LINEDESK_WORKER_TOKEN": WORKER_TOKEN}
        )

    @property
    def engine(self) -> str:
        return f"{self.url}/engine-rest"

    def worker(self, worker_id: str, **config: Any) -> ExternalTaskClient:
        """The real external task client, as a team's worker would configure it (short polls for tests)."""
        settings = {
            "auth_bearer": {"access_token": WORKER_TOKEN},
            "asyncResponseTimeout": 0,
            "lockDuration": 10_000,
            **config,
        }
        return ExternalTaskClient(worker_id, self.engine, settings)

    def engine_client(self) -> EngineClient:
        return EngineClient(self.engine, {"auth_bearer": {"access_token": WORKER_TOKEN}})

    async def post(self, path: str, body: Any, token: str | None = WORKER_TOKEN) -> tuple[int, Any]:
        """Plain HTTP: (status, JSON body or None)."""
        headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
        data = body if isinstance(body, (bytes, str)) else None
        async with (
            aiohttp.ClientSession() as http,
            http.post(f"{self.engine}{path}", json=None if data is not None else body, data=data, headers=headers) as r,
        ):
            return r.status, (await r.json(content_type=None)) if r.status != 204 else None

    async def get(self, path: str, token: str | None = WORKER_TOKEN, **params: str) -> tuple[int, Any]:
        headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
        async with (
            aiohttp.ClientSession() as http,
            http.get(f"{self.engine}{path}", params=params, headers=headers) as r,
        ):
            return r.status, await r.json(content_type=None)

    async def instance(self, instance_id: str) -> InstanceRecord:
        assert self.desk is not None
        record = await self.desk.store.get_instance(instance_id)
        assert record is not None
        return record


async def in_thread(call: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """The client library is synchronous (requests): it runs beside the server's event loop."""
    return await asyncio.to_thread(call, *args, **kwargs)


@asynccontextmanager
async def worker_rig(store: str, tmp_path: Path, prefix: str | None = None, **options: Any) -> AsyncIterator[WorkerRig]:
    """A started worker rig on SQLite or on a Redis key prefix (`prefix`: shared with another rig; else a fresh
    one, removed afterwards); skips without Redis."""
    store_url = None
    own = prefix is None
    prefix = prefix or f"linedesk-test-{uuid.uuid4().hex[:8]}:"
    if store == "redis":
        reason = await redis_available()
        if reason:
            pytest.skip(reason)
        store_url = f"{REDIS_URL}?prefix={prefix}"
    await asyncio.to_thread(tmp_path.mkdir, parents=True, exist_ok=True)
    stage = WorkerRig(tmp_path, WORKER_PROCESSES, store_url=store_url, limits=Limits.off(), **options)
    await stage.start()
    try:
        yield stage
    finally:
        await stage.stop()
        if store == "redis" and own:
            await drop_redis_prefix(prefix)
