"""The SQLite schema: numbered migrations tracked by `PRAGMA user_version`."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import TypeAlias

from core.outbox_actions import from_legacy
from core.store.sqlite.connection import InlineConnection
from core.store.sqlite.links import more_links, platform_links

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
    (8, (more_links,)),
    (
        10,  # reports (SPEC §15): a period's sessions read from one covering index, no JSON parsed
        (
            "ALTER TABLE sessions ADD COLUMN closed_at REAL",
            "ALTER TABLE sessions ADD COLUMN first_response_at REAL",
            "ALTER TABLE sessions ADD COLUMN rating INTEGER",
            "UPDATE sessions SET closed_at = json_extract(data, '$.closed_at'),"
            " first_response_at = json_extract(data, '$.first_response_at'), rating = json_extract(data, '$.rating')",
            "CREATE INDEX sessions_report ON sessions"
            " (created_at, line_id, status, assignee, closed_at, first_response_at, rating)",
        ),
    ),
)
