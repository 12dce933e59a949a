"""Process instances and the outbox (an instance's commit enqueues its outbox entries)."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from core.links import Link
from core.model import (
    InstanceRecord,
    InstanceStatus,
    OutboxEntry,
    OutboxStatus,
)
from core.record import STORED
from core.store.sqlite.connection import InlineConnection, SqliteBase, _in, _with_id
from core.store.sqlite.links import write_link


class OutboxMixin(SqliteBase):
    # --- process instances -----------------------------------------------------
    async def get_instance(self, instance_id: str) -> InstanceRecord | None:
        row = await self._row("SELECT data FROM instances WHERE id = ?", (instance_id,))
        return InstanceRecord.model_validate_json(row[0], context=STORED) if row else None

    async def list_instances(
        self,
        *,
        status: Sequence[InstanceStatus] | None = None,
        session: int | None = None,
        limit: int = 100,
    ) -> list[InstanceRecord]:
        clauses: list[str] = []
        params: list[Any] = []
        if status is not None:
            if not status:
                return []
            clauses.append(_in("status", status))
            params += [InstanceStatus(s).value for s in status]
        if session is not None:
            clauses.append("session = ?")
            params.append(session)
        where = f" WHERE {' AND '.join(clauses)}" if clauses else ""
        rows = await self._rows(
            f"SELECT data FROM instances{where} ORDER BY created_at DESC, id DESC LIMIT ?", [*params, limit]
        )
        return [InstanceRecord.model_validate_json(r[0], context=STORED) for r in rows]

    async def worker_waits(self, limit: int = 10_000) -> list[tuple[str, list[str]]]:
        rows = await self._rows(
            "SELECT id, json_extract(data, '$.worker_tasks') FROM instances WHERE status = ?"
            " AND json_array_length(data, '$.worker_tasks') > 0 ORDER BY created_at, id LIMIT ?",
            (InstanceStatus.WAITING.value, limit),
        )
        return [(str(r[0]), [str(t) for t in json.loads(r[1])]) for r in rows]

    async def due_instances(self, now: float, limit: int = 100) -> list[InstanceRecord]:
        rows = await self._rows(
            "SELECT data FROM instances WHERE wake_at IS NOT NULL AND wake_at <= ? ORDER BY wake_at LIMIT ?",
            (now, limit),
        )
        return [InstanceRecord.model_validate_json(r[0], context=STORED) for r in rows]

    async def commit_instance(self, instance: InstanceRecord, outbox: Sequence[OutboxEntry] = ()) -> list[OutboxEntry]:
        async with self._tx() as db:
            await db.execute(
                "INSERT OR REPLACE INTO instances (id, status, session, created_at, wake_at, data)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                (
                    instance.id,
                    instance.status.value,
                    instance.session,
                    instance.created_at,
                    instance.wake_at if instance.status == InstanceStatus.WAITING else None,
                    instance.model_dump_json(),
                ),
            )
            return await self._enqueue(db, outbox)

    # --- outbox -------------------------------------------------------------
    @staticmethod
    async def _enqueue(db: InlineConnection, entries: Iterable[OutboxEntry]) -> list[OutboxEntry]:
        added: list[OutboxEntry] = []
        for entry in entries:
            e = entry.model_copy(update={"status": OutboxStatus.PENDING})
            cur = await db.execute(
                "INSERT INTO outbox (conversation, status, due_at, created_at, data) VALUES (?, ?, ?, ?, ?)",
                (e.conversation, e.status.value, e.due_at, e.created_at, e.model_dump_json()),
            )
            assert cur.lastrowid is not None
            e.id = cur.lastrowid
            added.append(e)
        return added

    async def outbox_add(self, entries: Sequence[OutboxEntry], links: Sequence[Link] = ()) -> list[OutboxEntry]:
        async with self._tx() as db:
            for link in links:
                await write_link(db, link)
            return await self._enqueue(db, entries)

    async def outbox_claim(self, now: float, lease: float, limit: int = 50) -> list[OutboxEntry]:
        async with self._tx() as db:
            rows = await db.execute_fetchall(
                """SELECT o.id, o.data, EXISTS (
                     SELECT 1 FROM leases l WHERE l.conversation = o.conversation AND l.entry_id = o.id)
                   FROM outbox o
                   JOIN (SELECT MIN(id) AS head FROM outbox WHERE status = 'pending' GROUP BY conversation) h
                     ON o.id = h.head
                   WHERE o.due_at <= ? AND NOT EXISTS (
                     SELECT 1 FROM leases l WHERE l.conversation = o.conversation AND l.expires_at > ?)
                   ORDER BY o.due_at, o.id LIMIT ?""",
                (now, now, limit),
            )
            # a lease of its own that ran out (a finished delivery removes its lease): it was taken before
            entries: list[OutboxEntry] = [
                _with_id(OutboxEntry, r[0], r[1]).model_copy(update={"retaken": bool(r[2])}) for r in rows
            ]
            await db.executemany(
                "INSERT OR REPLACE INTO leases (conversation, entry_id, expires_at) VALUES (?, ?, ?)",
                [(e.conversation, e.id, now + lease) for e in entries],
            )
        return sorted(entries, key=lambda e: e.id)

    async def outbox_followers(self, entry: OutboxEntry, limit: int) -> list[OutboxEntry]:
        rows = await self._rows(
            """SELECT id, data FROM outbox WHERE conversation = ? AND status = 'pending' AND id > ?
               ORDER BY id LIMIT ?""",
            (entry.conversation, entry.id, limit),
        )
        return [_with_id(OutboxEntry, r[0], r[1]) for r in rows]

    async def _finish(
        self, entry_id: int, change: Callable[[OutboxEntry], dict[str, Any]], links: Sequence[Link] = ()
    ) -> None:
        """Change a pending entry and release its lease; entries no longer pending are left alone. `links` are
        written in the same transaction either way."""
        async with self._tx() as db:
            for link in links:
                await write_link(db, link)
            rows = list(await db.execute_fetchall("SELECT data FROM outbox WHERE id = ?", (entry_id,)))
            if not rows:
                return
            entry = _with_id(OutboxEntry, entry_id, rows[0][0])
            if entry.status != OutboxStatus.PENDING:
                return
            new = entry.model_copy(update=change(entry))
            await db.execute(
                "UPDATE outbox SET status = ?, due_at = ?, data = ? WHERE id = ?",
                (new.status.value, new.due_at, new.model_dump_json(), entry_id),
            )
            await db.execute(
                "DELETE FROM leases WHERE conversation = ? AND entry_id = ?", (entry.conversation, entry_id)
            )

    async def outbox_extend(self, entry_ids: Sequence[int], now: float, until: float) -> None:
        if not entry_ids:
            return
        async with self._tx() as db:
            await db.executemany(
                "UPDATE leases SET expires_at = MAX(expires_at, ?) WHERE entry_id = ? AND expires_at > ?",
                [(until, entry_id, now) for entry_id in entry_ids],
            )

    async def outbox_complete(self, entry_id: int, links: Sequence[Link] = ()) -> None:
        """Done, in SQL: the entry's JSON is not read into a model and written back (a delivery's last step, once
        per relayed message); an entry no longer pending is left alone, its links written either way. Not waiting
        for the commit (`_tx`): were it lost, the entry is claimed again as `retaken`."""
        async with self._tx(wait=False) as db:
            for link in links:
                await write_link(db, link)
            rows = await db.execute_fetchall(
                "UPDATE outbox SET status = ?, data = json_set(data, '$.status', ?) "
                "WHERE id = ? AND status = ? RETURNING conversation",
                (OutboxStatus.DONE.value, OutboxStatus.DONE.value, entry_id, OutboxStatus.PENDING.value),
            )
            for (conversation,) in rows:
                await db.execute("DELETE FROM leases WHERE conversation = ? AND entry_id = ?", (conversation, entry_id))

    async def outbox_reschedule(self, entry_id: int, due_at: float, error: str) -> None:
        await self._finish(entry_id, lambda e: {"due_at": due_at, "last_error": error, "attempts": e.attempts + 1})

    async def outbox_kill(self, entry_id: int, error: str) -> None:
        await self._finish(entry_id, lambda e: {"status": OutboxStatus.DEAD, "last_error": error})

    async def outbox_get(self, entry_id: int) -> OutboxEntry | None:
        row = await self._row("SELECT data FROM outbox WHERE id = ?", (entry_id,))
        return _with_id(OutboxEntry, entry_id, row[0]) if row else None

    async def outbox_stats(self, now: float) -> dict[str, float]:
        pending = await self._row("SELECT COUNT(*), MIN(created_at), MIN(due_at) FROM outbox WHERE status = 'pending'")
        dead = await self._row("SELECT COUNT(*) FROM outbox WHERE status = 'dead'")
        count, oldest, next_due = pending if pending else (0, None, None)
        return {
            "pending": float(count),
            "dead": float(dead[0] if dead else 0),
            "oldest_age": max(0.0, now - oldest) if oldest is not None else 0.0,
            "next_due": float(next_due) if next_due is not None else 0.0,
        }
