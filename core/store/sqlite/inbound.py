"""Claims (dedupe, leases) and the inbound queue."""

from __future__ import annotations

import json
import math
from typing import Any

from core.model import (
    InboundRecord,
)
from core.store.sqlite.connection import SqliteBase

DEDUPE_KEEP = 7 * 24 * 3600.0
"""Seconds a handled inbound request's (source, key) is remembered."""
PRUNE_EVERY = 60.0
"""Seconds (of the callers' clock) between two prunings of what is past `DEDUPE_KEEP`: a statement fewer for
nearly every stored request; a request is then remembered up to this much longer, never shorter."""


class InboundMixin(SqliteBase):
    _pruned_at = -math.inf

    # --- dedupe and claims --------------------------------------------------------
    async def claim(self, key: str, ttl: float, now: float, owner: str = "") -> bool:
        async with self._tx() as db:
            await db.execute("DELETE FROM claims WHERE expires_at <= ?", (now,))
            cur = await db.execute(
                "INSERT OR IGNORE INTO claims (key, expires_at, owner) VALUES (?, ?, ?)", (key, now + ttl, owner)
            )
            return cur.rowcount == 1

    async def release(self, key: str, owner: str = "") -> None:
        async with self._tx() as db:
            await db.execute("DELETE FROM claims WHERE key = ? AND (? = '' OR owner = ?)", (key, owner, owner))

    async def renew(self, key: str, ttl: float, now: float, owner: str = "") -> bool:
        async with self._tx() as db:
            cur = await db.execute(
                "UPDATE claims SET expires_at = ? WHERE key = ? AND expires_at > ? AND (? = '' OR owner = ?)",
                (now + ttl, key, now, owner, owner),
            )
            return cur.rowcount == 1

    # --- inbound -------------------------------------------------------------
    async def inbound_add(
        self, source: str, key: str, payload: dict[str, Any], now: float, conversation: str = ""
    ) -> int | None:
        async with self._tx(savepoint=False) as db:  # a prune and an INSERT OR IGNORE: each harmless alone
            if not self._pruned_at <= now < self._pruned_at + PRUNE_EVERY:
                await db.execute("DELETE FROM inbound WHERE done = 1 AND created_at < ?", (now - DEDUPE_KEEP,))
                self._pruned_at = now
            cur = await db.execute(
                "INSERT OR IGNORE INTO inbound (source, key, created_at, payload, conversation) VALUES (?, ?, ?, ?, ?)",
                (source, key, now, json.dumps(payload), conversation),
            )
            return cur.lastrowid if cur.rowcount == 1 else None

    async def inbound_pending(
        self, source: str | None = None, limit: int = 100, *, conversation: str | None = None
    ) -> list[InboundRecord]:
        where, params = "done = 0", list[Any]()
        if source is not None:
            where, params = where + " AND source = ?", [*params, source]
        if conversation is not None:
            where, params = where + " AND conversation = ?", [*params, conversation]
        rows = await self._rows(
            f"SELECT id, source, key, payload, created_at, conversation FROM inbound WHERE {where} ORDER BY id LIMIT ?",
            [*params, limit],
        )
        return [
            InboundRecord(id=r[0], source=r[1], key=r[2], payload=json.loads(r[3]), created_at=r[4], conversation=r[5])
            for r in rows
        ]

    async def inbound_done(self, inbound_id: int) -> None:
        async with self._tx() as db:
            # the row stays as the dedupe memory; its payload is no longer needed
            await db.execute("UPDATE inbound SET done = 1, payload = '{}' WHERE id = ?", (inbound_id,))

    async def inbound_is_pending(self, inbound_id: int) -> bool:
        row = await self._row("SELECT done FROM inbound WHERE id = ?", (inbound_id,))
        return row is not None and row[0] == 0

    async def inbound_take(
        self, conversation: str, lease: str, ttl: float, now: float, owner: str, limit: int = 100
    ) -> list[InboundRecord] | None:
        async with self._tx() as db:
            await db.execute(
                "DELETE FROM claims WHERE key = ? AND (expires_at <= ? OR (? != '' AND owner = ?))",
                (lease, now, owner, owner),
            )
            cur = await db.execute(
                "INSERT OR IGNORE INTO claims (key, expires_at, owner) VALUES (?, ?, ?)", (lease, now + ttl, owner)
            )
            if cur.rowcount != 1:
                return None
            rows = await db.execute_fetchall(
                "SELECT id, source, key, payload, created_at, conversation FROM inbound "
                "WHERE done = 0 AND conversation = ? ORDER BY id LIMIT ?",
                (conversation, limit),
            )
        return [
            InboundRecord(id=r[0], source=r[1], key=r[2], payload=json.loads(r[3]), created_at=r[4], conversation=r[5])
            for r in rows
        ]

    async def inbound_finish(self, record: InboundRecord, *, release: str | None = None, owner: str = "") -> None:
        """Not waiting for the commit (`_tx`): were it lost, the record is handled again, as after a crash between
        its handling and this call (a client's message is then found stored, a click already counted). No
        savepoint: marking done and dropping the lease are each harmless alone."""
        async with self._tx(wait=False, savepoint=False) as db:
            await db.execute("UPDATE inbound SET done = 1, payload = '{}' WHERE id = ?", (record.id,))
            if release is not None:
                await db.execute("DELETE FROM claims WHERE key = ? AND (? = '' OR owner = ?)", (release, owner, owner))
