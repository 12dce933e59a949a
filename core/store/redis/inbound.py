"""Claims (dedupe, leases) and the inbound queue."""

from __future__ import annotations

import json
import math
from typing import Any, cast

from core.model import (
    InboundRecord,
)
from core.record import STORED
from core.store.redis.connection import (
    DEDUPE_KEEP,
    RedisBase,
    _num,
    _translated,
)


class InboundMixin(RedisBase):
    # --- dedupe and claims --------------------------------------------------------
    @_translated
    async def claim(self, key: str, ttl: float, now: float, owner: str = "") -> bool:
        px = max(1, math.ceil(ttl * 1000))
        return bool(await self._claim(keys=[self._k("claim", key)], args=[_num(now), _num(now + ttl), px, owner]))

    @_translated
    async def release(self, key: str, owner: str = "") -> None:
        await self._release(keys=[self._k("claim", key)], args=[owner])

    @_translated
    async def renew(self, key: str, ttl: float, now: float, owner: str = "") -> bool:
        px = max(1, math.ceil(ttl * 1000))
        return bool(await self._renew(keys=[self._k("claim", key)], args=[_num(now), _num(now + ttl), px, owner]))

    # --- inbound -------------------------------------------------------------
    @_translated
    async def inbound_add(
        self, source: str, key: str, payload: dict[str, Any], now: float, conversation: str = ""
    ) -> int | None:
        record = InboundRecord(source=source, key=key, payload=payload, created_at=now, conversation=conversation)
        keys = [
            self._k("inbound", "seen", json.dumps([source, key])),
            self._k("seq", "inbound"),
            self._k("inbound", "pending"),
            self._k("inbound", "pending", source),
            self._k("inbound", "conversation", conversation),
        ]
        new_id = int(
            await self._inbound_add(keys=keys, args=[DEDUPE_KEEP, self._k("inbound", ""), record.model_dump_json()])
        )
        return new_id if new_id > 0 else None

    @_translated
    async def inbound_pending(
        self, source: str | None = None, limit: int = 100, *, conversation: str | None = None
    ) -> list[InboundRecord]:
        index = self._k("inbound", "pending") if source is None else self._k("inbound", "pending", source)
        if conversation is not None:  # a conversation's records come from one source
            index = self._k("inbound", "conversation", conversation)
        ids = [int(i) for i in cast(list[str], await self._r.zrange(index, 0, limit - 1))] if limit > 0 else []
        records = await self._load(InboundRecord, [self._k("inbound", i) for i in ids])
        return [
            r.model_copy(update={"id": i})
            for i, r in zip(ids, records, strict=True)
            if r is not None and (source is None or r.source == source)
        ]

    @_translated
    async def inbound_is_pending(self, inbound_id: int) -> bool:
        return await self._r.zscore(self._k("inbound", "pending"), inbound_id) is not None

    @_translated
    async def inbound_done(self, inbound_id: int) -> None:
        doc = await self._r.get(self._k("inbound", inbound_id))
        if doc is None:
            return
        await self._inbound_finish(
            InboundRecord.model_validate_json(doc, context=STORED).model_copy(update={"id": inbound_id})
        )

    @_translated
    async def inbound_take(
        self, conversation: str, lease: str, ttl: float, now: float, owner: str, limit: int = 100
    ) -> list[InboundRecord] | None:
        px = max(1, math.ceil(ttl * 1000))
        taken = await self._inbound_take(
            keys=[self._k("claim", lease), self._k("inbound", "conversation", conversation)],
            args=[_num(now), _num(now + ttl), px, owner, max(1, limit), self._k("inbound", "")],
        )
        if not taken:
            return None
        ids, docs = taken
        return [
            InboundRecord.model_validate_json(doc, context=STORED).model_copy(update={"id": int(i)})
            for i, doc in zip(ids, docs, strict=True)
            if doc
        ]

    @_translated
    async def inbound_finish(self, record: InboundRecord, *, release: str | None = None, owner: str = "") -> None:
        await self._inbound_finish(record, release, owner)

    async def _inbound_finish(self, record: InboundRecord, release: str | None = None, owner: str = "") -> None:
        keys = [
            self._k("inbound", "pending"),
            self._k("inbound", "pending", record.source),
            self._k("inbound", "conversation", record.conversation),
            self._k("inbound", record.id),
        ]
        if release is not None:
            keys.append(self._k("claim", release))
        await self._inbound_finish_script(keys=keys, args=[record.id, owner])
