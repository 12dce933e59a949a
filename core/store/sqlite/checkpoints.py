"""The serving process's WAL checkpoints, on a thread of their own (`Checkpoints`).

SQLite checkpoints by itself in the connection whose commit grows the WAL past 1,000 pages: that commit then
copies the WAL's pages into the database file and syncs it, on the event loop's thread (`InlineConnection`),
for several milliseconds. The serving process checkpoints from a thread with its own connection instead
(SQLite's documentation suggests this for applications that must not stall:
https://www.sqlite.org/wal.html#application_initiated_checkpoints). `sqlite3` lets the GIL go while SQLite
works, so the copying and the syncing run beside the loop, not in it.

A passive checkpoint never blocks the loop's writes, but under writes that never pause it hardly ever catches
the WAL's end (a commit lands while it copies), and SQLite starts the WAL over from its beginning only once
one did. So past `wal_limit` pages the thread asks for a restarting checkpoint: it waits for the write in
progress, holds new writes off while it copies the last pages and syncs (the loop's writes wait for it as for
another process's: at most 20 ms in SQLite's busy wait, then asyncio sleeps, `SqliteBase._begin`), and lets the
WAL start over. Should the thread fall behind all the same (it needs the GIL to start a checkpoint, and a loop
that never waits holds it), the loop's connection checkpoints by itself past four times `wal_limit`, as SQLite
does by default: a brake.

The WAL file is not cut back when the WAL starts over (SQLite overwrites it from its beginning): it stays as
long as it ever grew, tens of MiB after a burst, 256 MiB at worst. Cutting it back (`journal_size_limit`) was
tried and not kept: the commits that then grew the file again waited for the file system behind the thread's
syncs, up to 130 ms on the loop (`benchmarks/README.md`, "The WAL checkpoint off the loop").
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from pathlib import Path

log = logging.getLogger(__name__)

EVERY = 0.5
"""Seconds between two checkpoints."""
WAL_LIMIT = 16_384
"""WAL pages (64 MiB of 4 KiB pages) past which the thread's checkpoint starts the WAL over: each time, the
loop's writes wait for it a moment."""
BRAKE = 4
"""The loop's connection checkpoints by itself past this many times `WAL_LIMIT` (SQLite's default: 1,000 pages)."""
RESTART_WAIT_MS = 10
"""How long a restarting checkpoint waits for a moment between the loop's writes (SQLite's busy wait, on the
thread) before it gives up until the next time: while it waits, the loop's brake cannot checkpoint."""


class Checkpoints:
    """Checkpoints `path`'s WAL every `every` seconds from a thread, until `stop`; starts it over past `wal_limit`
    pages."""

    def __init__(self, path: Path, *, every: float = EVERY, wal_limit: int = WAL_LIMIT) -> None:
        self.path = path
        self.every = every
        self.wal_limit = wal_limit
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._behind = False
        """The last restart found no moment between the loop's writes (said once, not every `every` seconds)."""

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="linedesk-sqlite-checkpoints", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        """Stop the thread (after the checkpoint it may be running). The WAL's rest is checkpointed when the
        store's connection, the file's last, closes."""
        thread, self._thread = self._thread, None
        if thread is not None:
            self._stopping.set()
            thread.join()

    def _run(self) -> None:
        try:
            connection = sqlite3.connect(self.path, isolation_level=None)
        except sqlite3.Error as e:
            log.error("%s: cannot open the file to checkpoint its WAL (%s): the loop's brake does", self.path, e)
            return
        try:
            connection.execute(f"PRAGMA busy_timeout = {RESTART_WAIT_MS}")
            while not self._stopping.wait(self.every):
                self._checkpoint(connection)
        except sqlite3.Error as e:
            log.error("%s: the WAL's checkpoints stopped (%s): the loop's brake does them", self.path, e)
        finally:
            connection.close()

    def _checkpoint(self, connection: sqlite3.Connection) -> None:
        try:
            _, pages, _ = connection.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
            if pages > self.wal_limit:
                busy, pages, _ = connection.execute("PRAGMA wal_checkpoint(RESTART)").fetchone()
                if busy and not self._behind:
                    log.warning("%s: the WAL is %d pages long and could not start over yet", self.path, pages)
                elif not busy and self._behind:
                    log.info("%s: the WAL started over", self.path)
                self._behind = bool(busy)
        except sqlite3.Error as e:
            log.warning("%s: a WAL checkpoint failed (%s); trying again in %g s", self.path, e, self.every)
