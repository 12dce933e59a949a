"""Opening (pragmas, then the migrations), closing and pinging the SQLite file."""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Sequence
from types import ModuleType
from typing import IO

from core.store.base import StoreError
from core.store.sqlite import checkpoints
from core.store.sqlite.checkpoints import Checkpoints
from core.store.sqlite.connection import BUSY_TIMEOUT_MS, InlineConnection, SqliteBase
from core.store.sqlite.migrations import MIGRATIONS, Migration

fcntl: ModuleType | None
try:
    import fcntl
except ImportError:  # not on Windows: the store is then not guarded against a second process
    fcntl = None


class LifecycleMixin(SqliteBase):
    migrations: Sequence[Migration] = MIGRATIONS
    checkpoint_every: float = checkpoints.EVERY
    """Seconds between the serving process's WAL checkpoints (`serve_alone`)."""
    wal_limit: int = checkpoints.WAL_LIMIT
    """WAL pages past which the serving process's checkpoint starts the WAL over (`Checkpoints`)."""

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
        if self._checkpoints is not None:
            self._checkpoints.stop()
            self._checkpoints = None
        if self._db is not None:
            self._flush()
            db, self._db = self._db, None
            await db.close()
        if self._serving is not None:
            self._serving.close()  # the lock goes with the file descriptor
            self._serving = None

    async def serve_alone(self) -> None:
        """An exclusive `flock` on `<file>.serving`, held until `close` (the kernel drops it with a killed
        process); other commands (`check-config`, reports) open the file without it. Then the WAL's checkpoints
        leave the loop's thread for `Checkpoints`' own."""
        if self._serving is None and fcntl is not None:
            self._serving = self._hold_serving_lock(fcntl)
        if self._checkpoints is None:
            try:
                # the loop's own checkpoint only as a brake, were the thread to fall behind the writes
                await self._conn().execute(f"PRAGMA wal_autocheckpoint = {checkpoints.BRAKE * self.wal_limit}")
            except sqlite3.Error as e:
                raise StoreError(f"{self.url}: {e}") from e
            self._checkpoints = Checkpoints(self.path, every=self.checkpoint_every, wal_limit=self.wal_limit)
            self._checkpoints.start()

    def _hold_serving_lock(self, fcntl: ModuleType) -> IO[str]:
        path = self.path.with_name(self.path.name + ".serving")
        try:
            held = path.open("a+")
        except OSError as e:
            raise StoreError(f"{self.url}: cannot open {path.name} to serve alone: {e}") from e
        try:
            fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            held.seek(0)
            holder = held.read().strip() or "another process"
            held.close()
            raise StoreError(
                f"{self.url}: {holder} already serves from this file; an SQLite store is for one linedesk "
                "process (several instances share a Redis store)"
            ) from None
        held.seek(0)
        held.truncate()
        held.write(f"linedesk serve, pid {os.getpid()}")
        held.flush()
        return held

    async def ping(self) -> bool:
        try:
            return await self._row("SELECT 1") is not None
        except StoreError:
            return False
