"""SQLite's WAL checkpoints run on a worker thread, not inside a commit on the event loop's thread (where
SQLite's automatic checkpoint wrote and fsynced the database: the relay's intermittent stall, finding 11)."""

from __future__ import annotations

import threading
from pathlib import Path

from core.store import SqliteStore
from core.store.sqlite.connection import CHECKPOINT_EVERY


def size_of(path: Path) -> int:
    return path.stat().st_size


async def test_sqlite_checkpoints_on_a_worker_thread_and_the_wal_starts_over(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "store.db")
    await store.open()
    threads: list[int] = []
    checkpoint = store._checkpoint_now

    def watched() -> None:
        threads.append(threading.get_ident())
        checkpoint()

    store._checkpoint_now = watched  # type: ignore[method-assign]
    try:
        assert await store._row("PRAGMA wal_autocheckpoint") == (0,)
        wal = Path(f"{store.path}-wal")
        sizes = []
        for _ in range(4):
            for _ in range(CHECKPOINT_EVERY):
                await store.next_number("n")
            running = store._checkpointing
            assert running is not None
            await running
            sizes.append(size_of(wal))
        assert len(threads) == 4 and threading.get_ident() not in threads
        assert max(sizes) == sizes[0], f"the WAL starts over after each checkpoint: {sizes}"
        assert await store.next_number("n") == 4 * CHECKPOINT_EVERY + 1
    finally:
        await store.close()
    assert store._checkpointer is None
