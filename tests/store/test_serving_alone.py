"""An SQLite store serves one linedesk process (`Store.serve_alone`); a Redis store serves any number."""

from __future__ import annotations

import asyncio
import os
import threading
from pathlib import Path

import pytest

from core.store import SqliteStore, StoreError
from tests.support.rigs import RedisFactory


async def test_a_second_sqlite_store_serving_from_one_file_is_refused_until_the_first_closes(tmp_path: Path) -> None:
    first, second = SqliteStore(tmp_path / "one.db"), SqliteStore(tmp_path / "one.db")
    await first.open()
    await second.open()  # reading is open to anyone (check-config, reports)
    try:
        await first.serve_alone()
        await first.serve_alone()  # again: still its own
        with pytest.raises(StoreError) as refused:
            await second.serve_alone()
        assert f"linedesk serve, pid {os.getpid()} already serves from this file" in str(refused.value)
        assert "for one linedesk process" in str(refused.value)
        await first.close()
        await second.serve_alone()  # free once the first one closed
        third = SqliteStore(tmp_path / "one.db")
        await third.open()
        with pytest.raises(StoreError):
            await third.serve_alone()
        await third.close()
    finally:
        await first.close()
        await second.close()


async def test_two_sqlite_files_are_served_independently(tmp_path: Path) -> None:
    a, b = SqliteStore(tmp_path / "a.db"), SqliteStore(tmp_path / "b.db")
    for store in (a, b):
        await store.open()
        await store.serve_alone()
    assert a.one_process and b.one_process
    await a.close()
    await b.close()


async def test_redis_stores_serve_together(redis_stores: RedisFactory) -> None:
    first, second = await redis_stores(), await redis_stores()
    await first.serve_alone()
    await second.serve_alone()
    assert not first.one_process and not second.one_process


def wal_pages(path: Path) -> int:
    """The WAL file's length in pages: it is not shortened when SQLite starts it over, so this is the most it
    held so far."""
    wal = path.with_name(path.name + "-wal")
    return wal.stat().st_size // 4096 if wal.exists() else 0


def checkpoints_running() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "linedesk-sqlite-checkpoints"]


async def serving(path: Path, *, every: float, wal_limit: int) -> SqliteStore:
    store = SqliteStore(path)
    store.checkpoint_every, store.wal_limit = every, wal_limit
    await store.open()
    await store.serve_alone()
    return store


BODY = "x" * 3000
"""A stored request's payload of most of a page: a write adds about eight pages to the WAL (its indexes too)."""


async def test_the_serving_store_copies_its_wal_into_the_file_from_a_thread_of_its_own(tmp_path: Path) -> None:
    path = tmp_path / "quiet.db"
    store = await serving(path, every=0.02, wal_limit=1000)
    try:
        assert (await store._rows("PRAGMA wal_autocheckpoint"))[0][0] == 4000  # the loop's own: only a brake
        assert len(checkpoints_running()) == 1
        before = path.stat().st_size
        for n in range(50):  # about 400 pages
            assert await store.inbound_add("telegram:support", str(n), {"text": BODY}, now=1.0) is not None
        await asyncio.sleep(0.2)
        assert path.stat().st_size > before + 50 * 3000  # the thread copied the WAL's pages into the file
    finally:
        await store.close()
    assert not checkpoints_running()
    assert not path.with_name("quiet.db-wal").exists()  # the last connection's close checkpointed the rest
    reopened = SqliteStore(path)
    await reopened.open()
    assert len(await reopened.inbound_pending(limit=5000)) == 50
    await reopened.close()


async def largest_wal(store: SqliteStore, writes: int, pause: float | None) -> int:
    """Store `writes` requests, each its own commit, `pause` seconds apart (None: the loop never waits); the
    most pages the WAL held meanwhile. Every request is read back."""
    largest = 0
    for n in range(writes):
        assert await store.inbound_add("telegram:support", str(n), {"text": BODY}, now=1.0) is not None
        largest = max(largest, wal_pages(store.path))
        if pause is not None:
            await asyncio.sleep(pause)
    assert len(await store.inbound_pending(limit=writes + 1)) == writes
    return largest


async def test_the_serving_store_starts_its_wal_over_under_steady_writes(tmp_path: Path) -> None:
    store = await serving(tmp_path / "steady.db", every=0.02, wal_limit=300)
    try:
        # about 5,000 pages, some 400 writes a second: a passive checkpoint seldom catches the WAL's end (a commit
        # lands while it copies); the thread's restarting checkpoint does, well before the loop's brake (1,200)
        assert await largest_wal(store, 600, pause=0.002) < 1000
    finally:
        await store.close()


async def test_the_serving_stores_wal_stays_bounded_under_writes_that_never_pause(tmp_path: Path) -> None:
    store = await serving(tmp_path / "busy.db", every=0.02, wal_limit=300)
    try:
        # about 25,000 pages: the thread hardly gets the GIL and finds no moment between the writes to start the
        # WAL over; the loop's brake (1,200 pages) does (a commit's checkpoint gives way while the thread's runs,
        # a later commit's tries again), so the WAL stays a fraction of what was written (measured: 1,600-3,300)
        assert await largest_wal(store, 3000, pause=None) < 8000
    finally:
        await store.close()


async def test_a_store_opened_without_serving_checkpoints_as_sqlite_does(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "cli.db")  # check-config, reports: no thread of their own
    await store.open()
    assert (await store._rows("PRAGMA wal_autocheckpoint"))[0][0] == 1000
    assert not checkpoints_running()
    await store.close()
