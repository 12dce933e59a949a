"""SQLite store: one connection in WAL mode, numbered migrations tracked by `PRAGMA user_version`.

Filtered/ordered fields are real columns; the full record is kept as JSON in `data`.
Write transactions are savepoints in a `BEGIN IMMEDIATE` batch, serialised inside this process by an
asyncio.Lock, since every coroutine shares the one connection; the writes of one turn of the event loop
share the batch's `COMMIT` (group commit: `SqliteBase._tx`), and each caller waits for it.

Statements run on the event loop's thread (`InlineConnection`), not on a worker thread as aiosqlite
would: linedesk's statements take tens of microseconds, and handing each to a thread and back cost
about 100 µs of CPU more than the statement itself (benchmarks/README.md). A transaction therefore
never yields to the loop half-way, either. So that another process holding the file's write lock (the
admin CLI, a backup) never stalls the loop, SQLite's own busy wait is kept to a few milliseconds and a
`BEGIN IMMEDIATE` that finds the file locked is tried again after an asyncio sleep, for up to
`write_wait` seconds.
"""

from __future__ import annotations

from core.store.sqlite.connection import BUSY_TIMEOUT_MS, WRITE_WAIT, InlineConnection, Row, SqliteBase
from core.store.sqlite.desks import SqliteDesks
from core.store.sqlite.inbound import DEDUPE_KEEP, InboundMixin
from core.store.sqlite.intake import ClientMessagesMixin
from core.store.sqlite.lifecycle import LifecycleMixin
from core.store.sqlite.links import SqliteLinks
from core.store.sqlite.migrations import MIGRATIONS, Migration, MigrationStep
from core.store.sqlite.refs import RefsMixin
from core.store.sqlite.reports import ReportsMixin

__all__ = [
    "BUSY_TIMEOUT_MS",
    "DEDUPE_KEEP",
    "MIGRATIONS",
    "WRITE_WAIT",
    "InlineConnection",
    "Migration",
    "MigrationStep",
    "Row",
    "SqliteBase",
    "SqliteStore",
]


class SqliteStore(SqliteDesks, SqliteLinks, LifecycleMixin, InboundMixin, ClientMessagesMixin, RefsMixin, ReportsMixin):
    """The SQLite store, one mixin per concern over `SqliteBase`'s connection (see the modules)."""

    one_process = True
