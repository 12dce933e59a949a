"""The Redis client of `RedisStore`: its limits, the error translation and the key/transaction helpers."""

from __future__ import annotations

import asyncio
import functools
import json
from collections import deque
from collections.abc import Awaitable, Callable, Coroutine, Iterable, Sequence
from typing import Any, ParamSpec, TypeVar, cast

import redis.asyncio as aioredis
from pydantic import BaseModel
from redis.asyncio.client import Pipeline
from redis.commands.core import AsyncScript
from redis.exceptions import RedisError, WatchError

from core.config import redact_url
from core.links import Link
from core.outbox_actions import from_legacy
from core.record import STORED
from core.store.base import Store, StoreError
from core.store.redis.batching import BatchedScript, Batcher

DEDUPE_KEEP = 7 * 24 * 3600
"""Seconds an inbound (source, key) is remembered."""
DONE_KEEP_MS = 7 * 24 * 3600 * 1000
"""Delivered outbox entries are kept this long for outbox_get, then expire."""
WATCH_RETRIES = 100
POOL_SIZE = 64
"""Connections to Redis per linedesk process."""
CALL_TIMEOUT = 10.0
"""Seconds one store call may take, waiting for a free connection included, before it fails (StoreError).
One deadline per call instead of redis-py's per-command socket timeouts: on Python 3.11 those wrap every
command sent in a task of its own (`asyncio.wait_for`), which cost about a fifth of linedesk's CPU per
relayed message (benchmarks/README.md)."""
CONNECT_TIMEOUT = 5.0


P = ParamSpec("P")
R = TypeVar("R")
M = TypeVar("M", bound=BaseModel)


def _translated(fn: Callable[P, Awaitable[R]]) -> Callable[P, Coroutine[Any, Any, R]]:
    """Redis errors become StoreError, and so does a call that outlives its store's `call_timeout` (a Redis
    that stopped answering without closing the connection)."""

    @functools.wraps(fn)
    async def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        limit = cast(RedisBase, args[0]).call_timeout
        try:
            async with asyncio.timeout(limit):
                return await fn(*args, **kwargs)
        except RedisError as e:
            raise StoreError(f"redis: {e}") from e
        except TimeoutError as e:
            raise StoreError(f"redis: no answer within {limit:g} s") from e

    return wrapper


def _typed_entry(doc: str) -> str:
    """An outbox entry's JSON with its action typed (the same JSON when it was already)."""
    entry = json.loads(doc)
    if isinstance(entry.get("action"), dict):
        return doc
    payload = entry.pop("payload", None) or {}
    action = from_legacy(str(entry.get("route", "")), str(entry.get("action", "")), payload)
    entry["action"] = action.model_dump(mode="json")
    return json.dumps(entry)


def _num(value: float) -> str:
    return repr(float(value))


class RedisBase(Store):
    """The client, the key prefix and the helpers every concern of `RedisStore` uses."""

    _claim: BatchedScript
    _release: BatchedScript
    _inbound_take: BatchedScript
    _inbound_finish_script: BatchedScript
    _put_session_script: BatchedScript
    _latest_session: BatchedScript
    _inbound_add: BatchedScript
    _renew: BatchedScript
    _outbox_extend_script: BatchedScript
    _outbox_claim: BatchedScript
    _outbox_finish: AsyncScript
    _outbox_complete_script: BatchedScript
    _client_context_script: BatchedScript
    _client_message_script: BatchedScript
    _batcher: Batcher

    def __init__(self, url: str, *, prefix: str = "linedesk:", call_timeout: float = CALL_TIMEOUT) -> None:
        self._redis_url = url
        self.call_timeout = call_timeout
        self.url = redact_url(url)
        self.prefix = prefix
        self._client: aioredis.Redis | None = None

    # --- plumbing -------------------------------------------------------------
    @property
    def _r(self) -> aioredis.Redis:
        if self._client is None:
            raise StoreError(f"store {self.url} is not open")
        return self._client

    @property
    def batches_sent(self) -> int:
        """Pipelines of batched script calls sent so far (`core.store.redis.batching`)."""
        return self._batcher.sent

    def _k(self, *parts: object) -> str:
        return self.prefix + ":".join(str(p) for p in parts)

    async def _link_in(self, pipe: Pipeline, link: Link) -> None:
        """A platform link queued in a transaction (`RedisLinks` writes it)."""
        raise NotImplementedError

    async def _transaction(
        self, watch: str, body: Callable[[Pipeline, str | None], None], *, new: bool = False
    ) -> None:
        """Run `body` in MULTI/EXEC given the current value of `watch`; retried when it changes meanwhile.
        `new`: the key cannot exist yet (a freshly numbered record), so nothing is watched."""
        if new:
            async with self._r.pipeline(transaction=True) as pipe:
                body(pipe, None)
                await pipe.execute()
            return
        for _ in range(WATCH_RETRIES):
            async with self._r.pipeline(transaction=True) as pipe:
                try:
                    await pipe.watch(watch)
                    old = cast(str | None, await pipe.get(watch))
                    pipe.multi()
                    body(pipe, old)
                    await pipe.execute()
                    return
                except WatchError:
                    continue
        raise StoreError(f"{watch} kept changing; gave up after {WATCH_RETRIES} attempts")

    @staticmethod
    def _reindex(pipe: Pipeline, member: str, score: float, old: Iterable[str], new: Iterable[str]) -> None:
        new = set(new)
        for key in set(old) - new:
            pipe.zrem(key, member)
        for key in new:
            pipe.zadd(key, {member: score})

    async def _load(self, model: type[M], keys: Sequence[str]) -> list[M | None]:
        docs = await self._r.mget(keys) if keys else []
        return [model.model_validate_json(d, context=STORED) if d is not None else None for d in docs]

    async def _newest(
        self,
        indexes: Sequence[str],
        load: Callable[[list[str]], Awaitable[Sequence[M | None]]],
        keep: Callable[[M], bool],
        limit: int,
    ) -> list[M]:
        """Walk disjoint index zsets together, highest (score, member) first, loading pages of records
        and keeping those that pass `keep`, until `limit` are found."""
        page = max(limit, 50)
        buffers: dict[str, deque[tuple[str, float]]] = {k: deque() for k in indexes}
        offsets = dict.fromkeys(indexes, 0)
        exhausted: set[str] = set()
        seen: set[str] = set()
        found: list[M] = []
        while len(found) < limit:
            batch: list[str] = []
            while len(batch) < page:
                for key in indexes:
                    if not buffers[key] and key not in exhausted:
                        rows = cast(
                            list[tuple[str, float]],
                            await self._r.zrevrange(key, offsets[key], offsets[key] + page - 1, withscores=True),
                        )
                        offsets[key] += len(rows)
                        buffers[key].extend(rows)
                        if len(rows) < page:
                            exhausted.add(key)
                live = [k for k in indexes if buffers[k]]
                if not live:
                    break
                best = max(live, key=lambda k: (buffers[k][0][1], buffers[k][0][0]))
                member = buffers[best].popleft()[0]
                if member not in seen:
                    seen.add(member)
                    batch.append(member)
            if not batch:
                break
            for record in await load(batch):
                if record is not None and keep(record):
                    found.append(record)
                    if len(found) == limit:
                        break
        return found
