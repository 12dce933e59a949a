"""Auto-start rules, items and refs (small keyed records)."""

from __future__ import annotations

import json
from typing import Any, cast

from core.model import (
    AutostartRule,
    Item,
)
from core.record import STORED
from core.refs import RefSpace
from core.store.redis.connection import (
    RedisBase,
    _translated,
)


class RefsMixin(RedisBase):
    # --- auto-start rules -------------------------------------------------------
    @_translated
    async def save_rule(self, rule: AutostartRule) -> None:
        async with self._r.pipeline(transaction=True) as pipe:
            pipe.hset(self._k("rules"), json.dumps([rule.line_id, rule.event]), rule.model_dump_json())
            pipe.incr(self._k("rules", "version"))  # ClientContext.rules_version
            await pipe.execute()

    @_translated
    async def list_rules(self, line_id: str | None = None) -> list[AutostartRule]:
        rules = [AutostartRule.model_validate_json(d, context=STORED) for d in await self._r.hvals(self._k("rules"))]
        return sorted((r for r in rules if line_id is None or r.line_id == line_id), key=lambda r: (r.line_id, r.event))

    # --- items -------------------------------------------------------------
    @_translated
    async def create_item(self, item: Item) -> Item:
        numbered = item.model_copy(update={"number": await self.next_number(f"item:{item.app}")})
        await self._r.zadd(self._k("items", item.app), {numbered.model_dump_json(): numbered.number})
        return numbered

    @_translated
    async def list_items(self, app: str, limit: int = 100) -> list[Item]:
        if limit <= 0:
            return []
        docs = cast(list[str], await self._r.zrevrange(self._k("items", app), 0, limit - 1))
        return [Item.model_validate_json(d, context=STORED) for d in docs]

    # --- refs -------------------------------------------------------------
    @_translated
    async def set_ref(self, space: RefSpace, key: str, value: dict[str, Any]) -> None:
        await self._r.hset(self._k("ref", str(space)), key, json.dumps(value))

    @_translated
    async def get_ref(self, space: RefSpace, key: str) -> dict[str, Any] | None:
        doc = await self._r.hget(self._k("ref", str(space)), key)
        return dict(json.loads(doc)) if doc is not None else None

    @_translated
    async def delete_ref(self, space: RefSpace, key: str) -> None:
        await self._r.hdel(self._k("ref", str(space)), key)
