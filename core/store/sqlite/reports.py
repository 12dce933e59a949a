"""What reports read (SPEC §15): sessions and instances of a period, straight from columns (migration 10
adds a session's closing, first response and rating as columns and one index covering them), without
validating each record's JSON."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Sequence
from typing import Any

from core.model import InstanceStatus, SessionStatus
from core.store.base import InstanceFacts, SessionFacts, StoreError
from core.store.sqlite.connection import Row, SqliteBase

STATUSES = {status.value: status for status in SessionStatus}


class ReportsMixin(SqliteBase):
    async def _read_apart(self, sql: str, params: Sequence[Any]) -> list[Row]:
        """A long read on a connection of its own, on a worker thread: the store's connection serves the event
        loop's thread, which a report of 100,000 rows would hold for a quarter of a second (WAL: readers do
        not wait for writers)."""

        def read() -> list[Row]:
            db = sqlite3.connect(self.path, timeout=5)
            try:
                return list(db.execute(sql, params).fetchall())
            finally:
                db.close()

        try:
            return await asyncio.to_thread(read)
        except sqlite3.Error as e:
            raise StoreError(f"{self.url}: {e}") from e

    async def report_sessions(self, line_id: str | None, since: float, until: float) -> list[SessionFacts]:
        where, params = _window("created_at", line_id, "line_id", since, until)
        rows = await self._read_apart(  # from the covering index `sessions_report` alone (migration 10)
            "SELECT number, line_id, status, assignee, created_at, closed_at, first_response_at, rating"
            f" FROM sessions INDEXED BY sessions_report WHERE {where} ORDER BY created_at",
            params,
        )
        # the columns' affinities give floats, ints and NULLs already: only the status is looked up
        return [
            SessionFacts(number, line, STATUSES[status], assignee, created, closed, first, rating)
            for number, line, status, assignee, created, closed, first, rating in rows
        ]

    async def report_instances(self, line_id: str | None, since: float, until: float) -> list[InstanceFacts]:
        where, params = _window("created_at", line_id, "json_extract(data, '$.line_id')", since, until)
        rows = await self._read_apart(
            "SELECT json_extract(data, '$.line_id'), json_extract(data, '$.trigger'), status, created_at"
            f" FROM instances WHERE {where} ORDER BY created_at, id",
            params,
        )
        return [
            InstanceFacts(line_id=line, trigger=str(trigger or "manual"), status=InstanceStatus(status), created_at=at)
            for line, trigger, status, at in rows
        ]


def _window(column: str, line_id: str | None, line_column: str, since: float, until: float) -> tuple[str, list[Any]]:
    where = f"{column} >= ? AND {column} < ?"
    params: list[Any] = [since, until]
    if line_id is not None:
        where = f"{where} AND {line_column} = ?"
        params.append(line_id)
    return where, params
