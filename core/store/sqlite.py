"""SQLite store: one connection in WAL mode, numbered migrations tracked by `PRAGMA user_version`.

Filtered/ordered fields are real columns; the full record is kept as JSON in `data`.
Write transactions are `BEGIN IMMEDIATE`, serialised inside this process by an asyncio.Lock, since
every coroutine shares the one connection.

Statements run on the event loop's thread (`InlineConnection`), not on a worker thread as aiosqlite
would: linedesk's statements take tens of microseconds, and handing each to a thread and back cost
about 100 µs of CPU more than the statement itself (benchmarks/README.md). A transaction therefore
never yields to the loop half-way, either. So that another process holding the file's write lock (the
admin CLI, a backup) never stalls the loop, SQLite's own busy wait is kept to a few milliseconds and a
`BEGIN IMMEDIATE` that finds the file locked is tried again after an asyncio sleep, for up to
`write_wait` seconds.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import sqlite3
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, TypeAlias, TypeVar

from core.model import (
    AutostartRule,
    Client,
    InboundRecord,
    InstanceRecord,
    InstanceStatus,
    Item,
    Message,
    OperatorState,
    OutboxEntry,
    OutboxStatus,
    Session,
    SessionStatus,
)
from core.outbox_actions import from_legacy
from core.retry import Backoff
from core.store.base import Store, StoreError
from core.store.sqlite_links import SqliteLinks, platform_links

DEDUPE_KEEP = 7 * 24 * 3600.0
"""Seconds a handled inbound request's (source, key) is remembered."""

MigrationStep: TypeAlias = "str | Callable[[InlineConnection], Awaitable[None]]"
"""An SQL statement, or a conversion in Python (run inside the migration's transaction)."""
Migration = tuple[int, tuple[MigrationStep, ...]]


async def _typed_outbox(db: InlineConnection) -> None:
    """Migration 6: an outbox entry's `action` name and `payload` dict become one typed action (its JSON,
    `kind` inside; `core.outbox_actions.from_legacy`) — pending, done and dead entries alike."""
    rows = await db.execute_fetchall("SELECT id, data FROM outbox")
    changed = []
    for row_id, data in rows:
        doc = json.loads(data)
        if isinstance(doc.get("action"), dict):
            continue  # written by this version already
        payload = doc.pop("payload", None) or {}
        doc["action"] = from_legacy(str(doc.get("route", "")), str(doc.get("action", "")), payload).model_dump(
            mode="json"
        )
        changed.append((json.dumps(doc), row_id))
    await db.executemany("UPDATE outbox SET data = ? WHERE id = ?", changed)


MIGRATIONS: tuple[Migration, ...] = (
    (
        1,
        (
            "CREATE TABLE claims (key TEXT PRIMARY KEY, expires_at REAL NOT NULL)",
            "CREATE INDEX claims_expiry ON claims (expires_at)",
            "CREATE TABLE counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL)",
            """CREATE TABLE inbound (
                id INTEGER PRIMARY KEY AUTOINCREMENT, source TEXT NOT NULL, key TEXT NOT NULL,
                done INTEGER NOT NULL DEFAULT 0, created_at REAL NOT NULL, payload TEXT NOT NULL,
                UNIQUE (source, key))""",
            "CREATE INDEX inbound_pending ON inbound (id) WHERE done = 0",
            "CREATE INDEX inbound_pending_source ON inbound (source, id) WHERE done = 0",
            "CREATE INDEX inbound_done_at ON inbound (created_at) WHERE done = 1",
            "CREATE TABLE clients (id TEXT PRIMARY KEY, data TEXT NOT NULL)",
            """CREATE TABLE sessions (
                number INTEGER PRIMARY KEY, line_id TEXT NOT NULL, client_id TEXT NOT NULL,
                status TEXT NOT NULL, assignee TEXT, created_at REAL NOT NULL, data TEXT NOT NULL)""",
            "CREATE INDEX sessions_line_client ON sessions (line_id, client_id, number)",
            "CREATE INDEX sessions_client ON sessions (client_id, number)",
            "CREATE INDEX sessions_status ON sessions (status, number)",
            "CREATE INDEX sessions_line_status ON sessions (line_id, status, number)",
            "CREATE INDEX sessions_assignee ON sessions (assignee, status, number)",
            """CREATE TABLE messages (
                id INTEGER PRIMARY KEY AUTOINCREMENT, session INTEGER NOT NULL,
                created_at REAL NOT NULL, data TEXT NOT NULL)""",
            "CREATE INDEX messages_session ON messages (session, id)",
            "CREATE TABLE operators (operator_id TEXT PRIMARY KEY, data TEXT NOT NULL)",
            """CREATE TABLE instances (
                id TEXT PRIMARY KEY, status TEXT NOT NULL, session INTEGER,
                created_at REAL NOT NULL, data TEXT NOT NULL)""",
            "CREATE INDEX instances_created ON instances (created_at, id)",
            "CREATE INDEX instances_status ON instances (status, created_at, id)",
            "CREATE INDEX instances_session ON instances (session, created_at, id)",
            """CREATE TABLE outbox (
                id INTEGER PRIMARY KEY AUTOINCREMENT, conversation TEXT NOT NULL, status TEXT NOT NULL,
                due_at REAL NOT NULL, created_at REAL NOT NULL, data TEXT NOT NULL)""",
            "CREATE INDEX outbox_pending ON outbox (conversation, id) WHERE status = 'pending'",
            "CREATE INDEX outbox_status ON outbox (status, created_at)",
            """CREATE TABLE leases (
                conversation TEXT PRIMARY KEY, entry_id INTEGER NOT NULL, expires_at REAL NOT NULL)""",
            """CREATE TABLE rules (
                line_id TEXT NOT NULL, event TEXT NOT NULL, data TEXT NOT NULL,
                PRIMARY KEY (line_id, event))""",
            """CREATE TABLE items (
                app TEXT NOT NULL, number INTEGER NOT NULL, data TEXT NOT NULL,
                PRIMARY KEY (app, number))""",
            """CREATE TABLE refs (
                namespace TEXT NOT NULL, key TEXT NOT NULL, value TEXT NOT NULL,
                PRIMARY KEY (namespace, key))""",
        ),
    ),
    (
        2,
        (
            "ALTER TABLE instances ADD COLUMN wake_at REAL",
            "CREATE INDEX instances_wake ON instances (wake_at) WHERE wake_at IS NOT NULL",
        ),
    ),
    (
        3,
        (
            "ALTER TABLE inbound ADD COLUMN conversation TEXT NOT NULL DEFAULT ''",
            "CREATE INDEX inbound_pending_conversation ON inbound (conversation, id) WHERE done = 0",
        ),
    ),
    (
        4,
        ("ALTER TABLE claims ADD COLUMN owner TEXT NOT NULL DEFAULT ''",),
    ),
    (
        5,
        (
            "ALTER TABLE sessions ADD COLUMN quiet_since REAL",
            "UPDATE sessions SET quiet_since = COALESCE(NULLIF(json_extract(data, '$.last_client_message_at'), 0),"
            " created_at)",  # as Session.quiet_since: an unset (or 0) last message counts from the opening
            "CREATE INDEX sessions_quiet ON sessions (line_id, quiet_since) WHERE status IN ('queued', 'active')",
        ),
    ),
    (6, (_typed_outbox,)),
    (7, (platform_links,)),
)

Row = sqlite3.Row | tuple[Any, ...]
M = TypeVar("M", Message, OutboxEntry)


def _in(column: str, values: Sequence[str]) -> str:
    return f"{column} IN ({', '.join('?' * len(values))})"


def _with_id(model: type[M], row_id: int, data: str) -> M:
    """Rows are inserted before their id is known: the id column wins over the JSON's."""
    return model.model_validate({**json.loads(data), "id": row_id})


WRITE_WAIT = 5.0
"""Seconds a write waits for another process's write lock on the file before it fails (StoreError)."""
BUSY_TIMEOUT_MS = 20
"""SQLite's own (blocking) busy wait per statement: short, since it would stall the event loop."""


def _locked(err: BaseException) -> bool:
    """Another connection holds the write lock (worth waiting for), as opposed to a real failure."""
    return "locked" in str(err) or "busy" in str(err)


class InlineConnection:
    """The part of aiosqlite's connection this store uses, over `sqlite3` on the calling thread."""

    def __init__(self, connection: sqlite3.Connection):
        self._connection = connection

    async def execute(self, sql: str, params: Sequence[Any] = ()) -> sqlite3.Cursor:
        return self._connection.execute(sql, params)

    async def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> sqlite3.Cursor:
        return self._connection.executemany(sql, rows)

    async def execute_fetchall(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        return self._connection.execute(sql, params).fetchall()

    async def close(self) -> None:
        self._connection.close()


class SqliteStore(SqliteLinks, Store):
    migrations: Sequence[Migration] = MIGRATIONS

    def __init__(self, path: str | Path, *, write_wait: float = WRITE_WAIT) -> None:
        self.path = Path(path).expanduser().absolute()
        self.url = f"sqlite:///{self.path}"
        self.write_wait = write_wait
        self._db: InlineConnection | None = None
        self._lock = asyncio.Lock()

    # --- plumbing -------------------------------------------------------------
    def _conn(self) -> InlineConnection:
        if self._db is None:
            raise StoreError(f"store {self.url} is not open")
        return self._db

    @asynccontextmanager
    async def _tx(self) -> AsyncIterator[InlineConnection]:
        db = self._conn()
        async with self._lock:
            await self._begin(db)
            try:
                yield db
                await db.execute("COMMIT")
            except BaseException as e:
                # also after a BEGIN whose caller was cancelled
                with contextlib.suppress(sqlite3.Error):
                    await db.execute("ROLLBACK")
                if isinstance(e, sqlite3.Error):
                    raise StoreError(f"{self.url}: {e}") from e
                raise

    async def _begin(self, db: InlineConnection) -> None:
        """BEGIN IMMEDIATE, waiting (without blocking the loop) while another process holds the write lock:
        0.002, 0.004, … 0.05 s between tries, for at most `write_wait` seconds."""
        policy = Backoff(first=0.002, cap=0.05, within=self.write_wait)
        try:
            await policy.call(sqlite3.OperationalError, lambda: db.execute("BEGIN IMMEDIATE"), when=_locked)
        except sqlite3.Error as e:
            if _locked(e):
                raise StoreError(f"{self.url}: {e} (another process held it for {self.write_wait:g} s)") from e
            raise StoreError(f"{self.url}: {e}") from e

    async def _rows(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        """A read outside the lock: it may see a write transaction of this connection in flight."""
        try:
            return list(await self._conn().execute_fetchall(sql, params))
        except sqlite3.Error as e:
            raise StoreError(f"{self.url}: {e}") from e

    async def _row(self, sql: str, params: Sequence[Any] = ()) -> Row | None:
        rows = await self._rows(sql, params)
        return rows[0] if rows else None

    @staticmethod
    async def _incr(db: InlineConnection, counter: str) -> int:
        rows = await db.execute_fetchall(
            "INSERT INTO counters (name, value) VALUES (?, 1) "
            "ON CONFLICT (name) DO UPDATE SET value = value + 1 RETURNING value",
            (counter,),
        )
        return int(next(iter(rows))[0])

    # --- lifecycle -------------------------------------------------------------
    async def open(self) -> None:
        if self._db is not None:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            db = InlineConnection(sqlite3.connect(self.path, isolation_level=None))
        except sqlite3.Error as e:
            raise StoreError(f"{self.url}: {e}") from e
        try:
            # before the connection is shared: these may not run inside another caller's transaction
            await db.execute(f"PRAGMA busy_timeout = {int(self.write_wait * 1000)}")  # once, at start: may block
            await db.execute("PRAGMA journal_mode = WAL")
            await db.execute("PRAGMA synchronous = NORMAL")
            await db.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            self._db = db
            await self._migrate()
        except BaseException as e:
            self._db = None
            await db.close()
            if isinstance(e, sqlite3.Error):
                raise StoreError(f"{self.url}: {e}") from e
            raise

    async def _migrate(self) -> None:
        for version, statements in sorted(self.migrations):
            async with self._tx() as db:
                # read inside the write transaction: two processes opening at once migrate once
                current = int(next(iter(await db.execute_fetchall("PRAGMA user_version")))[0])
                if version <= current:
                    continue
                for step in statements:
                    if isinstance(step, str):
                        await db.execute(step)
                    else:
                        await step(db)
                await db.execute(f"PRAGMA user_version = {int(version)}")

    async def schema_version(self) -> int:
        row = await self._row("PRAGMA user_version")
        return int(row[0]) if row else 0

    async def close(self) -> None:
        if self._db is not None:
            db, self._db = self._db, None
            await db.close()

    async def ping(self) -> bool:
        try:
            return await self._row("SELECT 1") is not None
        except StoreError:
            return False

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
        async with self._tx() as db:
            await db.execute("DELETE FROM inbound WHERE done = 1 AND created_at < ?", (now - DEDUPE_KEEP,))
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
        async with self._tx() as db:
            await db.execute("UPDATE inbound SET done = 1, payload = '{}' WHERE id = ?", (record.id,))
            if release is not None:
                await db.execute("DELETE FROM claims WHERE key = ? AND (? = '' OR owner = ?)", (release, owner, owner))

    # --- counters -------------------------------------------------------------
    async def next_number(self, counter: str) -> int:
        async with self._tx() as db:
            return await self._incr(db, counter)

    # --- clients -------------------------------------------------------------
    async def get_client(self, client_id: str) -> Client | None:
        row = await self._row("SELECT data FROM clients WHERE id = ?", (client_id,))
        return Client.model_validate_json(row[0]) if row else None

    async def save_client(self, client: Client) -> None:
        async with self._tx() as db:
            await db.execute(
                "INSERT OR REPLACE INTO clients (id, data) VALUES (?, ?)",
                (client.id, client.model_dump_json()),
            )

    # --- sessions -------------------------------------------------------------
    @staticmethod
    async def _put_session(db: InlineConnection, s: Session) -> None:
        await db.execute(
            "INSERT OR REPLACE INTO sessions (number, line_id, client_id, status, assignee, created_at, quiet_since,"
            " data) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (
                s.number,
                s.line_id,
                s.client_id,
                s.status.value,
                s.assignee,
                s.created_at,
                s.quiet_since,
                s.model_dump_json(),
            ),
        )

    async def create_session(self, session: Session) -> Session:
        async with self._tx() as db:
            numbered = session.model_copy(update={"number": await self._incr(db, "session")})
            await self._put_session(db, numbered)
        return numbered

    async def get_session(self, number: int) -> Session | None:
        row = await self._row("SELECT data FROM sessions WHERE number = ?", (number,))
        return Session.model_validate_json(row[0]) if row else None

    async def save_session(self, session: Session) -> None:
        async with self._tx() as db:
            await self._put_session(db, session)

    async def latest_session(self, line_id: str, client_id: str) -> Session | None:
        row = await self._row(
            "SELECT data FROM sessions WHERE line_id = ? AND client_id = ? ORDER BY number DESC LIMIT 1",
            (line_id, client_id),
        )
        return Session.model_validate_json(row[0]) if row else None

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
        return [Session.model_validate_json(r[0]) for r in rows]

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
        return [Session.model_validate_json(r[0]) for r in rows]

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
        return OperatorState.model_validate_json(row[0]) if row else OperatorState(operator_id=operator_id)

    async def save_operator(self, state: OperatorState) -> None:
        async with self._tx() as db:
            await db.execute(
                "INSERT OR REPLACE INTO operators (operator_id, data) VALUES (?, ?)",
                (state.operator_id, state.model_dump_json()),
            )

    # --- process instances -----------------------------------------------------
    async def get_instance(self, instance_id: str) -> InstanceRecord | None:
        row = await self._row("SELECT data FROM instances WHERE id = ?", (instance_id,))
        return InstanceRecord.model_validate_json(row[0]) if row else None

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
        return [InstanceRecord.model_validate_json(r[0]) for r in rows]

    async def due_instances(self, now: float, limit: int = 100) -> list[InstanceRecord]:
        rows = await self._rows(
            "SELECT data FROM instances WHERE wake_at IS NOT NULL AND wake_at <= ? ORDER BY wake_at LIMIT ?",
            (now, limit),
        )
        return [InstanceRecord.model_validate_json(r[0]) for r in rows]

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

    async def outbox_add(self, entries: Sequence[OutboxEntry]) -> list[OutboxEntry]:
        async with self._tx() as db:
            return await self._enqueue(db, entries)

    async def outbox_claim(self, now: float, lease: float, limit: int = 50) -> list[OutboxEntry]:
        async with self._tx() as db:
            rows = await db.execute_fetchall(
                """SELECT o.id, o.data FROM outbox o
                   JOIN (SELECT MIN(id) AS head FROM outbox WHERE status = 'pending' GROUP BY conversation) h
                     ON o.id = h.head
                   WHERE o.due_at <= ? AND NOT EXISTS (
                     SELECT 1 FROM leases l WHERE l.conversation = o.conversation AND l.expires_at > ?)
                   ORDER BY o.due_at, o.id LIMIT ?""",
                (now, now, limit),
            )
            entries: list[OutboxEntry] = [_with_id(OutboxEntry, r[0], r[1]) for r in rows]
            await db.executemany(
                "INSERT OR REPLACE INTO leases (conversation, entry_id, expires_at) VALUES (?, ?, ?)",
                [(e.conversation, e.id, now + lease) for e in entries],
            )
        return sorted(entries, key=lambda e: e.id)

    async def _finish(self, entry_id: int, change: Callable[[OutboxEntry], dict[str, Any]]) -> None:
        """Change a pending entry and release its lease; entries no longer pending are left alone."""
        async with self._tx() as db:
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

    async def outbox_complete(self, entry_id: int) -> None:
        await self._finish(entry_id, lambda e: {"status": OutboxStatus.DONE})

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

    # --- auto-start rules -------------------------------------------------------
    async def save_rule(self, rule: AutostartRule) -> None:
        async with self._tx() as db:
            await db.execute(
                "INSERT OR REPLACE INTO rules (line_id, event, data) VALUES (?, ?, ?)",
                (rule.line_id, rule.event, rule.model_dump_json()),
            )

    async def list_rules(self, line_id: str | None = None) -> list[AutostartRule]:
        if line_id is None:
            rows = await self._rows("SELECT data FROM rules ORDER BY line_id, event")
        else:
            rows = await self._rows("SELECT data FROM rules WHERE line_id = ? ORDER BY event", (line_id,))
        return [AutostartRule.model_validate_json(r[0]) for r in rows]

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
        return [Item.model_validate_json(r[0]) for r in rows]

    # --- refs -------------------------------------------------------------
    async def set_ref(self, namespace: str, key: str, value: dict[str, Any]) -> None:
        async with self._tx() as db:
            await db.execute(
                "INSERT OR REPLACE INTO refs (namespace, key, value) VALUES (?, ?, ?)",
                (namespace, key, json.dumps(value)),
            )

    async def get_ref(self, namespace: str, key: str) -> dict[str, Any] | None:
        row = await self._row("SELECT value FROM refs WHERE namespace = ? AND key = ?", (namespace, key))
        return dict(json.loads(row[0])) if row else None

    async def delete_ref(self, namespace: str, key: str) -> None:
        async with self._tx() as db:
            await db.execute("DELETE FROM refs WHERE namespace = ? AND key = ?", (namespace, key))
