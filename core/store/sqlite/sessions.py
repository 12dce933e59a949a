"""Counters, clients, sessions, their messages and the operators' state."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from core.model import (
    Client,
    Message,
    OperatorState,
    Session,
    SessionStatus,
)
from core.record import STORED
from core.store.sqlite.connection import InlineConnection, SqliteBase, _in, _with_id


class SessionsMixin(SqliteBase):
    # --- counters -------------------------------------------------------------
    async def next_number(self, counter: str) -> int:
        async with self._tx() as db:
            return await self._incr(db, counter)

    # --- clients -------------------------------------------------------------
    async def get_client(self, client_id: str) -> Client | None:
        row = await self._row("SELECT data FROM clients WHERE id = ?", (client_id,))
        return Client.model_validate_json(row[0], context=STORED) if row else None

    async def save_client(self, client: Client) -> None:
        async with self._tx() as db:
            await db.execute(
                "INSERT OR REPLACE INTO clients (id, data) VALUES (?, ?)",
                (client.id, client.model_dump_json()),
            )

    # --- sessions -------------------------------------------------------------
    @staticmethod
    async def _put_session(db: InlineConnection, s: Session) -> None:
        """Insert or update the session's row. An update sets only the columns whose values changed: SQLite
        rewrites the entries of every index that has a column in the SET list, changed or not, and the
        sessions table has seven (the reports' covering one among them) while a client's message — the relay
        saves the session with each — changes only `quiet_since` and the JSON."""
        values = {
            "line_id": s.line_id,
            "client_id": s.client_id,
            "status": s.status.value,
            "assignee": s.assignee,
            "created_at": s.created_at,
            "quiet_since": s.quiet_since,
            "closed_at": s.closed_at,
            "first_response_at": s.first_response_at,
            "rating": s.rating,
        }
        columns = ", ".join(values)
        rows = await db.execute_fetchall(f"SELECT {columns} FROM sessions WHERE number = ?", (s.number,))
        if not rows:
            await db.execute(
                f"INSERT INTO sessions (number, {columns}, data) VALUES (?, {', '.join('?' * len(values))}, ?)",
                (s.number, *values.values(), s.model_dump_json()),
            )
            return
        changed = [column for column, old in zip(values, rows[0], strict=True) if values[column] != old]
        await db.execute(
            f"UPDATE sessions SET {''.join(f'{column} = ?, ' for column in changed)}data = ? WHERE number = ?",
            (*(values[column] for column in changed), s.model_dump_json(), s.number),
        )

    async def create_session(self, session: Session) -> Session:
        async with self._tx() as db:
            numbered = session.model_copy(update={"number": await self._incr(db, "session")})
            await self._put_session(db, numbered)
        return numbered

    async def get_session(self, number: int) -> Session | None:
        row = await self._row("SELECT data FROM sessions WHERE number = ?", (number,))
        return Session.model_validate_json(row[0], context=STORED) if row else None

    async def save_session(self, session: Session) -> None:
        async with self._tx() as db:
            await self._put_session(db, session)

    async def latest_session(self, line_id: str, client_id: str) -> Session | None:
        row = await self._row(
            "SELECT data FROM sessions WHERE line_id = ? AND client_id = ? ORDER BY number DESC LIMIT 1",
            (line_id, client_id),
        )
        return Session.model_validate_json(row[0], context=STORED) if row else None

    async def list_sessions(
        self,
        *,
        status: Sequence[SessionStatus] | None = None,
        line_id: str | None = None,
        assignee: str | None = None,
        client_id: str | None = None,
        limit: int = 100,
    ) -> list[Session]:
        clauses: list[str] = []
        params: list[Any] = []
        if status is not None:
            if not status:
                return []
            clauses.append(_in("status", status))
            params += [SessionStatus(s).value for s in status]
        for column, value in (("line_id", line_id), ("assignee", assignee), ("client_id", client_id)):
            if value is not None:
                clauses.append(f"{column} = ?")
                params.append(value)
        where = f" WHERE {' AND '.join(clauses)}" if clauses else ""
        rows = await self._rows(f"SELECT data FROM sessions{where} ORDER BY number DESC LIMIT ?", [*params, limit])
        return [Session.model_validate_json(r[0], context=STORED) for r in rows]

    async def count_active_sessions(self, operator_ids: Sequence[str]) -> dict[str, int]:
        counts = dict.fromkeys(operator_ids, 0)
        if not counts:
            return counts
        rows = await self._rows(
            f"SELECT assignee, COUNT(*) FROM sessions WHERE status = ? AND {_in('assignee', list(counts))}"
            " GROUP BY assignee",
            [SessionStatus.ACTIVE.value, *counts],
        )
        counts.update({str(r[0]): int(r[1]) for r in rows})
        return counts

    async def quiet_sessions(self, line_id: str, quiet_before: float, limit: int = 1000) -> list[Session]:
        rows = await self._rows(
            "SELECT data FROM sessions WHERE line_id = ? AND status IN ('queued', 'active') AND quiet_since <= ?"
            " ORDER BY quiet_since LIMIT ?",
            (line_id, quiet_before, limit),
        )
        return [Session.model_validate_json(r[0], context=STORED) for r in rows]

    # --- messages -------------------------------------------------------------
    async def add_message(self, message: Message) -> Message:
        async with self._tx() as db:
            cur = await db.execute(
                "INSERT INTO messages (session, created_at, data) VALUES (?, ?, ?)",
                (message.session, message.created_at, message.model_dump_json()),
            )
            assert cur.lastrowid is not None
            return message.model_copy(update={"id": cur.lastrowid})

    async def list_messages(self, session: int, limit: int = 1000) -> list[Message]:
        rows = await self._rows("SELECT id, data FROM messages WHERE session = ? ORDER BY id LIMIT ?", (session, limit))
        return [_with_id(Message, r[0], r[1]) for r in rows]

    async def get_message(self, session: int, message_id: int) -> Message | None:
        row = await self._row("SELECT id, data FROM messages WHERE id = ? AND session = ?", (message_id, session))
        return _with_id(Message, row[0], row[1]) if row else None

    async def update_message(self, message: Message) -> None:
        async with self._tx() as db:
            await db.execute(
                "UPDATE messages SET data = ? WHERE id = ? AND session = ?",
                (message.model_dump_json(), message.id, message.session),
            )

    # --- operators -------------------------------------------------------------
    async def get_operator(self, operator_id: str) -> OperatorState:
        row = await self._row("SELECT data FROM operators WHERE operator_id = ?", (operator_id,))
        return (
            OperatorState.model_validate_json(row[0], context=STORED) if row else OperatorState(operator_id=operator_id)
        )

    async def save_operator(self, state: OperatorState) -> None:
        async with self._tx() as db:
            await db.execute(
                "INSERT OR REPLACE INTO operators (operator_id, data) VALUES (?, ?)",
                (state.operator_id, state.model_dump_json()),
            )
