"""Auto-start rules, items and refs (small keyed records)."""

from __future__ import annotations

import json
from typing import Any

from core.model import (
    AutostartRule,
    Item,
)
from core.record import STORED
from core.refs import RefSpace
from core.store.sqlite.connection import SqliteBase
from core.store.sqlite.intake import RULES_COUNTER


class RefsMixin(SqliteBase):
    # --- auto-start rules -------------------------------------------------------
    async def save_rule(self, rule: AutostartRule) -> None:
        async with self._tx() as db:
            await db.execute(
                "INSERT OR REPLACE INTO rules (line_id, event, data) VALUES (?, ?, ?)",
                (rule.line_id, rule.event, rule.model_dump_json()),
            )
            await self._incr(db, RULES_COUNTER)  # ClientContext.rules_version

    async def list_rules(self, line_id: str | None = None) -> list[AutostartRule]:
        if line_id is None:
            rows = await self._rows("SELECT data FROM rules ORDER BY line_id, event")
        else:
            rows = await self._rows("SELECT data FROM rules WHERE line_id = ? ORDER BY event", (line_id,))
        return [AutostartRule.model_validate_json(r[0], context=STORED) for r in rows]

    # --- items -------------------------------------------------------------
    async def create_item(self, item: Item) -> Item:
        async with self._tx() as db:
            numbered = item.model_copy(update={"number": await self._incr(db, f"item:{item.app}")})
            await db.execute(
                "INSERT INTO items (app, number, data) VALUES (?, ?, ?)",
                (numbered.app, numbered.number, numbered.model_dump_json()),
            )
        return numbered

    async def list_items(self, app: str, limit: int = 100) -> list[Item]:
        rows = await self._rows("SELECT data FROM items WHERE app = ? ORDER BY number DESC LIMIT ?", (app, limit))
        return [Item.model_validate_json(r[0], context=STORED) for r in rows]

    # --- refs -------------------------------------------------------------
    async def set_ref(self, space: RefSpace, key: str, value: dict[str, Any]) -> None:
        async with self._tx() as db:
            await db.execute(
                "INSERT OR REPLACE INTO refs (namespace, key, value) VALUES (?, ?, ?)",
                (str(space), key, json.dumps(value)),
            )

    async def get_ref(self, space: RefSpace, key: str) -> dict[str, Any] | None:
        row = await self._row("SELECT value FROM refs WHERE namespace = ? AND key = ?", (str(space), key))
        return dict(json.loads(row[0])) if row else None

    async def delete_ref(self, space: RefSpace, key: str) -> None:
        async with self._tx() as db:
            await db.execute("DELETE FROM refs WHERE namespace = ? AND key = ?", (str(space), key))
