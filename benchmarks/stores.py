"""The benchmarks' stores: a SQLite file in the run's folder, or a unique prefix on the benchmark Redis
(`LINEDESK_BENCH_REDIS`), deleted afterwards."""

from __future__ import annotations

import os
import uuid
from pathlib import Path

REDIS_URL = os.environ.get("LINEDESK_BENCH_REDIS", "redis://127.0.0.1:6379/15")
"""The benchmark Redis (a unique prefix per run, deleted afterwards)."""

# --- stores -------------------------------------------------------------------------------------------------


def sqlite_url(workdir: Path, name: str = "linedesk") -> str:
    return f"sqlite:///{workdir / (name + '.db')}"


def redis_prefix() -> str:
    return f"bench-{uuid.uuid4().hex[:10]}:"


REDIS_POOL = int(os.environ.get("LINEDESK_BENCH_REDIS_POOL", "0"))
"""`max_connections` to put in the store URL (redis-py reads it from the query, and it wins over linedesk's
own pool size); 0 leaves the URL as linedesk's users write it. Before linedesk's blocking pool (72bdf7e) the
runs needed 4096 here: redis-py 8's pool allowed 100 connections and then failed ("Too many connections")."""


def redis_url(prefix: str, pool: int | None = None) -> str:
    pool = REDIS_POOL if pool is None else pool
    query = f"max_connections={pool}&prefix={prefix}" if pool else f"prefix={prefix}"
    return f"{REDIS_URL}{'&' if '?' in REDIS_URL else '?'}{query}"


async def redis_cleanup(prefix: str) -> int:
    """Delete every key under `prefix`; returns how many went."""
    import redis.asyncio as aioredis

    client = aioredis.Redis.from_url(REDIS_URL)
    deleted = 0
    try:
        batch: list[bytes] = []
        async for key in client.scan_iter(match=f"{prefix}*", count=1000):
            batch.append(key)
            if len(batch) >= 1000:
                deleted += await client.delete(*batch)
                batch.clear()
        if batch:
            deleted += await client.delete(*batch)
    finally:
        await client.aclose()
    return deleted


async def redis_cpu_seconds() -> float:
    """Redis server CPU time so far (INFO cpu), 0 when it does not answer."""
    import redis.asyncio as aioredis

    client = aioredis.Redis.from_url(REDIS_URL)
    try:
        info = await client.info("cpu")
        return float(info.get("used_cpu_user", 0.0)) + float(info.get("used_cpu_sys", 0.0))
    except Exception:
        return 0.0
    finally:
        await client.aclose()


async def redis_answers() -> bool:
    import redis.asyncio as aioredis

    client = aioredis.Redis.from_url(REDIS_URL, socket_connect_timeout=1)
    try:
        return bool(await client.ping())
    except Exception:
        return False
    finally:
        await client.aclose()
