"""Connecting (a blocking pool, the scripts registered), the layout's upgrades, closing, pinging."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, cast

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from core.model import (
    SessionStatus,
)
from core.store.base import StoreError
from core.store.redis.batching import Batcher
from core.store.redis.connection import (
    CONNECT_TIMEOUT,
    POOL_SIZE,
    RedisBase,
    _translated,
    _typed_entry,
)
from core.store.redis.intake import CLIENT_CONTEXT, CLIENT_MESSAGE
from core.store.redis.scripts import (
    _CLAIM,
    _INBOUND_ADD,
    _INBOUND_FINISH,
    _INBOUND_TAKE,
    _LATEST_SESSION,
    _OUTBOX_CLAIM,
    _OUTBOX_COMPLETE,
    _OUTBOX_EXTEND,
    _OUTBOX_FINISH,
    _PUT_SESSION,
    _QUIET_BACKFILL,
    _RELEASE,
    _RENEW,
    _REPLACE_UNCHANGED,
)


class LifecycleMixin(RedisBase):
    if TYPE_CHECKING:  # in RedisLinks (links.py), the other mixin that the store is made of

        async def _platform_links(self, client: aioredis.Redis, version: int) -> None: ...

        async def _more_links(self, client: aioredis.Redis, version: int) -> None: ...

        async def _reports_index(self, client: aioredis.Redis, version: int) -> None: ...

    # --- lifecycle -------------------------------------------------------------
    @_translated
    async def open(self) -> None:
        if self._client is not None:
            return
        # A blocking pool: under a burst (webhooks, intake tasks, 256 deliveries in flight) a command waits
        # for a free connection instead of failing with "Too many connections" (redis-py's default pool
        # holds 100 and raises beyond that, which became 503s at the webhook).
        pool = aioredis.BlockingConnectionPool.from_url(
            self._redis_url,
            decode_responses=True,
            max_connections=POOL_SIZE,
            timeout=None,
            socket_timeout=None,
            socket_connect_timeout=CONNECT_TIMEOUT,
        )
        client = aioredis.Redis.from_pool(pool)  # the client owns the pool: aclose() closes it
        try:
            await client.ping()
        except BaseException as e:
            await client.aclose()
            if isinstance(e, RedisError):  # a wrong password, no server there, …: one line naming it
                raise StoreError(f"{self.url}: {e}") from e
            raise
        self._client = client
        self._batcher = Batcher(client, self.call_timeout)
        batched = self._batcher.script
        self._claim = batched(_CLAIM)
        self._release = batched(_RELEASE)
        self._inbound_take = batched(_INBOUND_TAKE)
        self._inbound_finish_script = batched(_INBOUND_FINISH)
        self._put_session_script = batched(_PUT_SESSION)
        self._latest_session = batched(_LATEST_SESSION)
        self._inbound_add = batched(_INBOUND_ADD)
        self._renew = batched(_RENEW)
        self._outbox_extend_script = batched(_OUTBOX_EXTEND)
        self._outbox_claim = batched(_OUTBOX_CLAIM)
        self._outbox_finish = client.register_script(_OUTBOX_FINISH)  # also queued in transactions (client=pipe)
        self._outbox_complete_script = batched(_OUTBOX_COMPLETE)
        self._client_context_script = batched(CLIENT_CONTEXT)
        self._client_message_script = batched(CLIENT_MESSAGE)
        await self._upgrade(client)

    async def _upgrade(self, client: aioredis.Redis) -> None:
        """Bring data written by an older linedesk up to this one's layout (numbered like SQLite's migrations)."""
        version = int(await client.get(self._k("schema")) or 0)
        if version < 1:  # the sessions' quiet index
            backfill = client.register_script(_QUIET_BACKFILL)
            await backfill(
                keys=[self._k("sessions", "status", s.value) for s in (SessionStatus.QUEUED, SessionStatus.ACTIVE)],
                args=[self.prefix],
            )
            await client.set(self._k("schema"), 1)
        if version < 2:
            await self._typed_outbox(client)
            await client.set(self._k("schema"), 2)
        await self._platform_links(client, version)  # 3: platform links (links.py)
        await self._more_links(client, version)  # 4: messages, their copies and status cards as links
        await self._reports_index(client, version)  # 6: sessions by when they opened (reports.py)

    async def _typed_outbox(self, client: aioredis.Redis, batch: int = 500) -> None:
        """Upgrade 2: an outbox entry's `action` name and `payload` dict become one typed action (its JSON,
        `kind` inside; `core.outbox_actions.from_legacy`) — pending, done (their expiry kept) and dead entries
        alike. Entries are numbered 1 … seq:outbox; a delivered one may have expired already."""
        replace = client.register_script(_REPLACE_UNCHANGED)
        last = int(await client.get(self._k("seq", "outbox")) or 0)
        for first in range(1, last + 1, batch):
            keys = [self._k("outbox", "entry", i) for i in range(first, min(first + batch, last + 1))]
            docs = cast(list[str | None], await client.mget(keys))
            for key, doc in zip(keys, docs, strict=True):
                while doc is not None and not await replace(keys=[key], args=[doc, _typed_entry(doc)]):
                    doc = cast(
                        str | None, await client.get(key)
                    )  # changed meanwhile (another linedesk delivering it): again

    async def close(self) -> None:
        if self._client is not None:
            client, self._client = self._client, None
            await self._batcher.close()
            await client.aclose()

    async def ping(self) -> bool:
        try:
            async with asyncio.timeout(min(self.call_timeout, CONNECT_TIMEOUT)):
                return bool(await self._r.ping())
        except (RedisError, StoreError, OSError, TimeoutError):
            return False
