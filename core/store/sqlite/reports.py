"""What reports read (SPEC §15): sessions and instances of a period, straight from indexed columns and
`json_extract`, without validating each record's JSON (migration 10 adds the indexes)."""

from __future__ import annotations

from typing import Any

from core.model import InstanceStatus, SessionStatus
from core.store.base import InstanceFacts, SessionFacts
from core.store.sqlite.connection import SqliteBase


class ReportsMixin(SqliteBase):
    async def report_sessions(self, line_id: str | None, since: float, until: float) -> list[SessionFacts]:
        where, params = _window("created_at", line_id, "line_id", since, until)
        rows = await self._rows(
            "SELECT number, line_id, status, assignee, created_at, json_extract(data, '$.closed_at'),"
            " json_extract(data, '$.first_response_at'), json_extract(data, '$.rating')"
            f" FROM sessions WHERE {where} ORDER BY created_at, number",
            params,
        )
        return [
            SessionFacts(
                number=int(number),
                line_id=str(line),
                status=SessionStatus(status),
                assignee=assignee,
                created_at=float(created),
                closed_at=_float(closed),
                first_response_at=_float(first),
                rating=int(rating) if rating is not None else None,
            )
            for number, line, status, assignee, created, closed, first, rating in rows
        ]

    async def report_instances(self, line_id: str | None, since: float, until: float) -> list[InstanceFacts]:
        where, params = _window("created_at", line_id, "json_extract(data, '$.line_id')", since, until)
        rows = await self._rows(
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
        where = f"{line_column} = ? AND {where}"
        params.insert(0, line_id)
    return where, params


def _float(value: object) -> float | None:
    return float(value) if isinstance(value, int | float) else None
