"""The SQLite store's group commit: the writes made in one turn of the loop share one `COMMIT`, each caller
returns only once its write is on disk (but for the two writes that do not wait for it: marking a handled
record done and completing a delivery), and a write that fails is rolled back alone."""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from core.model import Channel, Client
from core.store import SqliteStore, StoreError
from core.store.sqlite import InlineConnection
from tests.support.rigs import FailingCommit


class CountingCommits(InlineConnection):
    """The real connection, counting its commits."""

    def __init__(self, connection: sqlite3.Connection) -> None:
        super().__init__(connection)
        self.commits = 0

    def commit(self) -> None:
        self.commits += 1
        super().commit()


def client(n: int) -> Client:
    return Client(id=f"telegram:{n}", channel=Channel.TELEGRAM, external_id=str(n), chat_id=str(n), name=f"Client {n}")


def stored_clients(path: Path) -> set[str]:
    """What another connection (another process) reads from the file."""
    with sqlite3.connect(path) as other:
        return {row[0] for row in other.execute("SELECT id FROM clients")}


async def opened(path: Path) -> SqliteStore:
    store = SqliteStore(path)
    await store.open()
    return store


def swap(store: SqliteStore, connection: type[InlineConnection]) -> InlineConnection:
    healthy = store._db
    assert healthy is not None
    store._db = connection(healthy._connection)
    return healthy


async def test_writes_of_one_turn_share_a_commit_and_are_on_disk_when_they_return(tmp_path: Path) -> None:
    store = await opened(tmp_path / "a.db")
    try:
        swap(store, CountingCommits)
        counting = store._db
        assert isinstance(counting, CountingCommits)

        async def save(n: int) -> set[str]:
            await store.save_client(client(n))
            return stored_clients(tmp_path / "a.db")  # read at once, before any other write returns

        seen = await asyncio.gather(*(save(n) for n in range(50)))
        for n, ids in enumerate(seen):
            assert f"telegram:{n}" in ids
        assert stored_clients(tmp_path / "a.db") == {f"telegram:{n}" for n in range(50)}
        assert counting.commits == 1

        for n in range(50, 53):  # one after the other: one commit each
            await store.save_client(client(n))
        assert counting.commits == 4
    finally:
        await store.close()


async def test_a_write_that_fails_is_rolled_back_alone(tmp_path: Path) -> None:
    store = await opened(tmp_path / "b.db")
    try:

        async def failing() -> None:
            async with store._tx() as db:
                await db.execute("INSERT INTO clients (id, data) VALUES ('half', '{}')")
                raise RuntimeError("the write's own code failed")

        results = await asyncio.gather(
            store.save_client(client(1)), failing(), store.save_client(client(2)), return_exceptions=True
        )
        assert results[0] is None and results[2] is None
        assert isinstance(results[1], RuntimeError)
        assert stored_clients(tmp_path / "b.db") == {"telegram:1", "telegram:2"}

        # the failing write first in its turn (it began the batch), then others
        results = await asyncio.gather(
            failing(), store.save_client(client(4)), store.save_client(client(5)), return_exceptions=True
        )
        assert isinstance(results[0], RuntimeError) and results[1:] == [None, None]
        assert stored_clients(tmp_path / "b.db") == {"telegram:1", "telegram:2", "telegram:4", "telegram:5"}
        with pytest.raises(RuntimeError):  # alone in its turn
            await failing()
        assert "half" not in stored_clients(tmp_path / "b.db")

        mixed = await asyncio.gather(
            store.save_client(client(3)),
            store.next_number("x"),
            store._rows("SELECT nothing FROM nowhere"),  # a read: not part of the batch
            return_exceptions=True,
        )
        assert mixed[1] == 1 and isinstance(mixed[2], StoreError)
        assert await store.get_client("telegram:3") == client(3)
        assert "half" not in stored_clients(tmp_path / "b.db")
    finally:
        await store.close()


async def test_a_commit_that_fails_fails_every_write_of_its_turn_and_keeps_none(tmp_path: Path) -> None:
    store = await opened(tmp_path / "c.db")
    try:
        healthy = swap(store, FailingCommit)
        results = await asyncio.gather(*(store.save_client(client(n)) for n in range(5)), return_exceptions=True)
        assert all(isinstance(r, StoreError) and "disk I/O error" in str(r) for r in results)
        store._db = healthy
        assert stored_clients(tmp_path / "c.db") == set()
        assert await store.get_client("telegram:0") is None  # rolled back on this connection too
        await store.save_client(client(9))  # the store goes on
        assert stored_clients(tmp_path / "c.db") == {"telegram:9"}
    finally:
        await store.close()


async def test_a_caller_cancelled_while_its_commit_is_pending_leaves_the_others_committed(tmp_path: Path) -> None:
    store = await opened(tmp_path / "d.db")
    try:
        first = asyncio.create_task(store.save_client(client(1)))
        second = asyncio.create_task(store.save_client(client(2)))
        await asyncio.sleep(0)  # both are in the batch now, waiting for its commit
        first.cancel()
        await second
        with pytest.raises(asyncio.CancelledError):
            await first
        # the cancelled caller's write was already part of the batch: it is committed, like a write whose
        # answer was lost — the caller cannot tell, as with any store
        assert stored_clients(tmp_path / "d.db") == {"telegram:1", "telegram:2"}
    finally:
        await store.close()


async def test_closing_commits_what_is_pending(tmp_path: Path) -> None:
    store = await opened(tmp_path / "e.db")
    pending = asyncio.create_task(store.save_client(client(1)))
    await asyncio.sleep(0)  # written, its commit not run yet
    await store.close()
    await pending
    assert stored_clients(tmp_path / "e.db") == {"telegram:1"}


def done_on_disk(path: Path, record: int) -> bool:
    with sqlite3.connect(path) as other:
        return bool(other.execute("SELECT done FROM inbound WHERE id = ?", (record,)).fetchone()[0])


async def test_marking_a_record_done_does_not_wait_for_its_commit_and_a_failed_commit_is_logged(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "f.db"
    store = await opened(path)
    try:
        ids = [await store.inbound_add("telegram:support", str(n), {"update_id": n}, now=1.0) for n in (1, 2)]
        first, second = [r for r in await store.inbound_pending() if r.id in ids]
        await store.inbound_finish(first)
        assert not await store.inbound_is_pending(first.id)  # this process sees it at once
        assert not done_on_disk(path, first.id)  # the commit is the turn's last step
        await asyncio.sleep(0)
        assert done_on_disk(path, first.id)

        healthy = swap(store, FailingCommit)
        with caplog.at_level(logging.ERROR, logger="core.store.sqlite.connection"):
            await store.inbound_finish(second)  # returns: the caller does not wait
            await asyncio.sleep(0)
        store._db = healthy
        assert "a commit failed (disk I/O error)" in caplog.text
        # lost: still pending, on disk and here, so the next sweep handles it again
        assert not done_on_disk(path, second.id)
        assert [r.id for r in await store.inbound_pending()] == [second.id]
    finally:
        await store.close()


class FailingInboundInsert(InlineConnection):
    """The real connection, whose inserts into the inbound table fail (as on a full disk)."""

    async def execute(self, sql: str, params: Sequence[Any] = ()) -> sqlite3.Cursor:
        if sql.startswith("INSERT OR IGNORE INTO inbound"):
            raise sqlite3.OperationalError("database or disk is full")
        return await super().execute(sql, params)


async def test_a_write_without_a_savepoint_that_fails_leaves_the_others_of_its_turn(tmp_path: Path) -> None:
    """Storing a request takes no savepoint (its statements are each harmless alone): failing in a batch that
    other writes opened, it fails alone and is not stored, and the others are."""
    path = tmp_path / "g.db"
    store = await opened(path)
    try:
        healthy = swap(store, FailingInboundInsert)
        saved, added = await asyncio.gather(
            store.save_client(client(1)),  # opens the turn's batch
            store.inbound_add("telegram:support", "7", {"update_id": 7}, now=1.0),
            return_exceptions=True,
        )
        store._db = healthy
        assert saved is None
        assert isinstance(added, StoreError) and "disk is full" in str(added)
        assert stored_clients(path) == {"telegram:1"}
        assert await store.inbound_pending() == []
        assert await store.inbound_add("telegram:support", "7", {"update_id": 7}, now=2.0) is not None  # goes on
    finally:
        await store.close()
