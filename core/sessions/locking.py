"""How the session services take turns — the one locking helper they share.

Three kinds of turn, all through one set of in-process locks (`KeyedLocks`), two of them also held in the
store so that several linedesk instances on one Redis take turns too:

- a client on a line: their messages are handled one at a time (intake, outbound sessions) — in this process;
- a session: taking, transferring, assigning, marking spam, closing it — here and in the store
  (`lock:session:<n>`);
- a line's automatic assignment, one session at a time, always inside a session's turn — here and in the
  store (`lock:assign:<line>`).

A store mutex still held by someone else after its wait raises `core.locks.Busy`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager

from core.clock import Clock
from core.locks import KeyedLocks, store_mutex
from core.store.base import Store


class SessionLocks:
    def __init__(self, store: Store, clock: Clock):
        self._store = store
        self._clock = clock
        self._keyed = KeyedLocks()

    def client(self, line_id: str, client_id: str) -> AbstractAsyncContextManager[None]:
        """A client's turn on a line, in this process: their session is opened (or found) once."""
        return self._keyed.hold((line_id, client_id))

    @asynccontextmanager
    async def session(self, number: int) -> AsyncIterator[None]:
        """A session's turn, in this process and in the store."""
        async with (
            self._keyed.hold(("session", number)),
            store_mutex(self._store, self._clock, f"lock:session:{number}"),
        ):
            yield

    @asynccontextmanager
    async def line(self, line_id: str) -> AsyncIterator[None]:
        """Automatic assignment on a line, one session at a time (always taken inside a session's turn)."""
        async with (
            self._keyed.hold(("line", line_id)),
            store_mutex(self._store, self._clock, f"lock:assign:{line_id}"),
        ):
            yield

    def __len__(self) -> int:
        """Keys held or waited on in this process (tests: none are left behind)."""
        return len(self._keyed)
