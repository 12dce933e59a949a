"""The serving process's WAL checkpoints, on a thread of their own (`Checkpoints`).

SQLite checkpoints by itself in the connection whose commit grows the WAL past 1,000 pages: that commit then
copies the WAL's pages into the database file and syncs it, on the event loop's thread (`InlineConnection`),
for several milliseconds. The serving process checkpoints from a thread with its own connection instead
(SQLite's documentation suggests this for applications that must not stall:
https://www.sqlite.org/wal.html#application_initiated_checkpoints). `sqlite3` lets the GIL go while SQLite
works, so the copying and the syncing run beside the loop, not in it.

A passive checkpoint never blocks the loop's writes, but under writes that never pause it hardly ever catches
the WAL's end (a commit lands while it copies), and SQLite starts the WAL over from its beginning only when
one did. So the loop's connection still checkpoints by itself, once the WAL is `wal_limit` pages long: by then
the thread has copied nearly all of it, so that checkpoint copies only the last pages, and the next write
starts the WAL over. The WAL stays bounded, as with SQLite's default, with most of the copying off the loop.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from pathlib import Path

log = logging.getLogger(__name__)

EVERY = 0.5
"""Seconds between two checkpoints."""
WAL_LIMIT = 4096
"""WAL pages (16 MiB of 4 KiB pages) past which the loop's connection checkpoints (SQLite's default: 1,000)."""


class Checkpoints:
    """Checkpoints `path`'s WAL every `every` seconds from a thread, until `stop`."""

    def __init__(self, path: Path, *, every: float = EVERY) -> None:
        self.path = path
        self.every = every
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

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
            log.error("%s: cannot open the file to checkpoint its WAL (%s); the loop does it alone", self.path, e)
            return
        try:
            while not self._stopping.wait(self.every):
                try:
                    connection.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
                except sqlite3.Error as e:
                    log.warning("%s: a WAL checkpoint failed (%s); trying again in %g s", self.path, e, self.every)
        finally:
            connection.close()
