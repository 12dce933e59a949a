"""The SQLite store's one connection: `InlineConnection` (statements on the loop's thread), the write lock
waited out with asyncio sleeps, and `SqliteBase`, which every concern's mixin builds on (see the package)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import sqlite3
from collections.abc import AsyncIterator, Iterable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, TypeVar

from core.model import (
    Message,
    OutboxEntry,
)
from core.record import STORED
from core.retry import Backoff
from core.store.base import Store, StoreError
from core.store.sqlite.checkpoints import Checkpoints

log = logging.getLogger(__name__)

Row = sqlite3.Row | tuple[Any, ...]
M = TypeVar("M", Message, OutboxEntry)


def _in(column: str, values: Sequence[str]) -> str:
    return f"{column} IN ({', '.join('?' * len(values))})"


def _with_id(model: type[M], row_id: int, data: str) -> M:
    """Rows are inserted before their id is known: the id column wins over the JSON's."""
    return model.model_validate({**json.loads(data), "id": row_id}, context=STORED)


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

    @property
    def in_transaction(self) -> bool:
        return self._connection.in_transaction

    def commit(self) -> None:
        self._connection.execute("COMMIT")

    def rollback(self) -> None:
        self._connection.execute("ROLLBACK")

    async def close(self) -> None:
        self._connection.close()


@dataclass
class _Batch:
    """The writes of one turn of the loop, committed together: `committed` is their commit's outcome."""

    committed: asyncio.Future[None]

    def fail(self, error: StoreError) -> None:
        if not self.committed.done():
            self.committed.set_exception(error)
            self.committed.exception()  # nobody may be waiting any more (cancelled callers): not an unretrieved error


class SqliteBase(Store):
    """The one connection, its write lock and the read/write helpers every concern of `SqliteStore` uses."""

    def __init__(self, path: str | Path, *, write_wait: float = WRITE_WAIT) -> None:
        self.path = Path(path).expanduser().absolute()
        self.url = f"sqlite:///{self.path}"
        self.write_wait = write_wait
        self._db: InlineConnection | None = None
        self._lock = asyncio.Lock()
        self._batch: _Batch | None = None
        self._serving: IO[str] | None = None
        """The open lock file while this process serves from the store (`serve_alone`)."""
        self._checkpoints: Checkpoints | None = None
        """The WAL's checkpoints' thread while this process serves from the store."""

    # --- plumbing -------------------------------------------------------------
    def _conn(self) -> InlineConnection:
        if self._db is None:
            raise StoreError(f"store {self.url} is not open")
        return self._db

    @asynccontextmanager
    async def _tx(self, *, wait: bool = True, savepoint: bool = True) -> AsyncIterator[InlineConnection]:
        """A write transaction in this process's open batch (one `BEGIN IMMEDIATE` … `COMMIT` shared by every
        write made in the same turn of the loop; each write after the first a savepoint), durable when this
        returns.

        Why a batch: a commit is the costly part of a write (each page the write dirtied goes to the WAL
        again), and a relayed message makes five. Writes that come in the same turn of the loop share one
        commit and the pages they both touch (the last page of a table, of an index); each caller still
        waits for that commit, so what it acknowledges is on disk, and a write that fails is rolled back
        alone (its savepoint).

        `wait=False`: the caller goes on before the commit (its writes are already seen by this process,
        and batches commit in order). Only for a write whose loss in a crash or a failed commit is made good
        by doing its work again, harmlessly: marking a handled record done (handled again, its message is
        found stored), completing a delivery (claimed again, it is looked up before it is posted again). A
        failed commit is logged. The exposure is the one a crash right after the write already had.

        `savepoint=False`: each statement of the body is harmless alone, so the write needs no savepoint of its
        own (two statements fewer): a statement that fails is undone by SQLite itself, and what the ones
        before it did stays (pruning old records, say)."""
        db = self._conn()
        async with self._lock:
            batch, first = await self._join(db)
            # the batch's first write needs no savepoint: failing, it rolls back the batch, which is only its own
            saved = savepoint and not first
            if saved:
                try:
                    await db.execute("SAVEPOINT tx")
                except sqlite3.Error as e:
                    raise StoreError(f"{self.url}: {e}") from e
            try:
                yield db
                if saved:
                    await db.execute("RELEASE tx")
            except BaseException as e:
                # also after a statement whose caller was cancelled
                with contextlib.suppress(sqlite3.Error):
                    if first:
                        self._batch = None  # its commit, planned, finds nothing to do
                        db.rollback()
                    elif saved:
                        await db.execute("ROLLBACK TO tx")
                        await db.execute("RELEASE tx")
                if isinstance(e, sqlite3.Error):
                    raise StoreError(f"{self.url}: {e}") from e
                raise
        if wait:
            await asyncio.shield(batch.committed)

    async def _join(self, db: InlineConnection) -> tuple[_Batch, bool]:
        """The open batch, or a new one (`BEGIN IMMEDIATE`) whose commit runs once the loop has run what
        is ready now (the writes of this turn join it); True when it is new."""
        batch = self._batch
        if batch is not None and not db.in_transaction:
            # SQLite rolled the batch back by itself (an I/O error, a full disk): its writes are gone
            self._batch = None
            batch.fail(StoreError(f"{self.url}: the transaction was rolled back by SQLite"))
            batch = None
        if batch is None:
            await self._begin(db)
            loop = asyncio.get_running_loop()
            batch = self._batch = _Batch(loop.create_future())
            loop.call_soon(self._commit, batch)
            return batch, True
        return batch, False

    def _commit(self, batch: _Batch) -> None:
        """Commit `batch` (a loop callback). Statements run on the loop's thread and a transaction's body
        never waits on the loop, so no write is half-way here; were one ever (`_lock` held while the batch
        is open), the commit waits for the next turn rather than commit half of it."""
        if self._batch is not batch:
            return
        if self._lock.locked():
            asyncio.get_running_loop().call_soon(self._commit, batch)
            return
        self._batch = None
        self._commit_batch(batch)

    def _commit_batch(self, batch: _Batch) -> None:
        db = self._conn()
        try:
            if not db.in_transaction:
                raise sqlite3.OperationalError("the transaction was rolled back by SQLite")
            db.commit()
        except sqlite3.Error as e:
            with contextlib.suppress(sqlite3.Error):
                db.rollback()
            log.error("%s: a commit failed (%s); the writes of that turn of the loop are rolled back", self.url, e)
            batch.fail(StoreError(f"{self.url}: {e}"))
        else:
            batch.committed.set_result(None)

    def _flush(self) -> None:
        """Commit the open batch now (closing the store)."""
        batch, self._batch = self._batch, None
        if batch is not None and self._db is not None:
            self._commit_batch(batch)

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
