"""Inbound platform events: stored before they are acknowledged, then handled once — by whichever
linedesk instance holds the record's lease — in arrival order per conversation.

Each platform adapter registers a handler for its source prefix ("telegram:", "slack") and a key
that says which records must not overtake each other (a Telegram chat, a Slack thread). A record is
handled under its conversation's lease in the store (`inbound:<conversation>`), renewed while the
handler runs, so two instances never work on one chat at once; a sweep picks up what an instance that
died (or this one, before a restart) stored but did not finish, once its lease has run out. A store
that stops answering is waited out in place; a handler that raises keeps its record for the next
sweep, up to `max_attempts` times.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from tenacity import RetryCallState

from core.clock import Clock
from core.locks import KeyedLocks, Lease
from core.model import InboundRecord, without_lone_surrogates
from core.retry import Backoff, error, next_wait
from core.store.base import Store, StoreError, steadily
from core.telemetry import NO_TELEMETRY, Telemetry

log = logging.getLogger(__name__)

Handler = Callable[[InboundRecord], Awaitable[None]]
OrderKey = Callable[[InboundRecord], str]
"""The conversation a record belongs to (e.g. "telegram:support:501"): its records are handled in order."""

LEASE_POLL = 0.05
"""Seconds between tries for a chat's lease held by another instance."""
OLDER_SCAN = 1000
STORE_RETRIES = 8
STORE_BACKOFF = 0.25
STORE_BACKOFF_MAX = 5.0
TAKE_BACKOFF = Backoff(first=2 * STORE_BACKOFF, cap=STORE_BACKOFF_MAX, attempts=STORE_RETRIES)
"""The store failing while a chat's lease is taken: 0.5, 1, 2, 4, 5, 5, 5 s; after the 8th failure the record
is left for the sweep (failures count across the polls for a lease held elsewhere)."""
HANDLE_BACKOFF = Backoff(first=STORE_BACKOFF, cap=STORE_BACKOFF_MAX, attempts=STORE_RETRIES)
"""The store failing while a record is handled or marked done: 0.25, 0.5, 1, 2, 4, 5, 5 s, then left for the sweep."""


@dataclass(frozen=True)
class _Source:
    prefix: str
    handle: Handler
    order_key: OrderKey


class Intake:
    def __init__(
        self,
        store: Store,
        clock: Clock,
        *,
        lease: float = 15.0,
        max_attempts: int = 5,
        telemetry: Telemetry = NO_TELEMETRY,
    ):
        self._telemetry = telemetry
        self._store = store
        self._clock = clock
        self._lease = lease
        self._max_attempts = max_attempts
        self._sources: list[_Source] = []
        self._order = KeyedLocks()
        self._tasks: set[asyncio.Task[None]] = set()
        self._scheduled: set[int] = set()
        self._failures: dict[int, int] = {}

    def register(self, prefix: str, handle: Handler, order_key: OrderKey) -> None:
        self._sources.append(_Source(prefix, handle, order_key))

    def _source(self, record: InboundRecord) -> _Source | None:
        return next((s for s in self._sources if record.source.startswith(s.prefix)), None)

    async def accept(self, source: str, key: str, payload: dict[str, object]) -> bool:
        """Store the event (the caller acknowledges the platform after this returns) and handle it in the
        background. False for a duplicate delivery (its source and key were stored before)."""
        now = self._clock.now()
        key, payload = without_lone_surrogates(key), without_lone_surrogates(payload)
        record = InboundRecord(source=source, key=key, payload=payload, created_at=now)
        registered = self._source(record)
        conversation = registered.order_key(record) if registered is not None else ""
        record_id = await self._store.inbound_add(source, key, payload, now, conversation)
        if record_id is None:
            self._telemetry.inbound_event(source, "duplicate")
            log.info("%s event %s delivered again: acknowledged, not handled twice", source, key)
            return False
        self._schedule(record.model_copy(update={"id": record_id, "conversation": conversation}))
        return True

    def _schedule(self, record: InboundRecord) -> None:
        if record.id in self._scheduled:
            return
        self._scheduled.add(record.id)
        task = asyncio.create_task(self._handle(record))
        self._tasks.add(task)

        def finished(done: asyncio.Task[None]) -> None:
            self._tasks.discard(done)
            self._scheduled.discard(record.id)

        task.add_done_callback(finished)

    async def _handle(self, record: InboundRecord) -> None:
        """Handle `record` holding its conversation's lease — in this process and in the store, so that no two
        instances work on one chat at once. The chat's records stored before it and not yet handled (left by
        an instance that died, or stored a moment earlier through another instance) go first: order is kept."""
        source = self._source(record)
        if source is None:
            return
        key = source.order_key(record)
        async with self._order.hold(key):
            if self._store.one_process:  # no other process on the store: the lock above is the chat's lease
                for one in await self._take_chat(None, record, key) or []:
                    await self._handle_one(one, source, None)
                return
            lease = Lease(self._store, self._clock, f"inbound:{key}", self._lease)
            try:
                todo = await self._take_chat(lease, record, key) or []
                for n, one in enumerate(todo):
                    await self._handle_one(one, source, lease if n == len(todo) - 1 else None)
            finally:
                if lease.held:
                    try:
                        await lease.release()
                    except StoreError:
                        log.warning("inbound lease %s not released (it runs out by itself)", lease.key)

    async def _take_chat(self, lease: Lease | None, record: InboundRecord, key: str) -> list[InboundRecord] | None:
        """Hold the chat's lease (None: a store for one process, no lease) and list what to handle under it:
        the chat's pending records up to this one, oldest first — `record` itself unless it was handled
        meanwhile. One store call in the common case. None when the instance holding the chat handled the
        record meanwhile, or the store stayed away (the record is left for the sweep)."""

        def again(state: RetryCallState) -> None:
            log.warning(
                "%s event %s: the store did not answer (%s); trying again", record.source, record.key, error(state)
            )

        try:
            return await TAKE_BACKOFF.call(
                StoreError, lambda: self._take_when_free(lease, record, key), before_sleep=again
            )
        except StoreError:
            log.error("%s event %s: the store stayed away; left for the sweep", record.source, record.key)
            return None

    async def _take_when_free(self, lease: Lease | None, record: InboundRecord, key: str) -> list[InboundRecord] | None:
        """`_take_chat` without the store errors: waits while another instance holds the chat."""
        while True:
            pending: list[InboundRecord] | None
            if lease is None:
                pending = await self._store.inbound_pending(limit=OLDER_SCAN, conversation=key)
            else:
                pending = await self._store.inbound_take(
                    key, lease.key, lease.ttl, self._clock.now(), lease.owner, OLDER_SCAN
                )
            if pending is not None:
                if lease is not None and not lease.held:
                    lease.adopt()
                todo = [r for r in pending if r.id <= record.id]
                if record.conversation != key and await self._store.inbound_is_pending(record.id):
                    todo.append(record)  # stored before conversations were recorded: not in the index
                return todo
            if not await self._store.inbound_is_pending(record.id):
                return None
            await asyncio.sleep(LEASE_POLL)

    async def _handle_one(self, record: InboundRecord, source: _Source, last: Lease | None) -> None:
        """Handle one record under its chat's lease (listed as pending when the lease was taken); the store
        going away for a moment is waited out here (the chat's later records wait too, so their order
        holds). The chat's `last` record drops the lease in the same store call that marks it done."""

        def again(state: RetryCallState) -> None:
            log.warning(
                "%s event %s: the store did not answer (%s); trying again in %.1fs",
                record.source,
                record.key,
                error(state),
                next_wait(state),
            )

        tried = False

        async def once() -> None:
            nonlocal tried
            if tried and not await self._store.inbound_is_pending(record.id):
                return  # done after all: the store answered the last try, its answer was lost
            tried = True
            await self._handle_and_finish(record, source, last)

        try:
            await HANDLE_BACKOFF.call(StoreError, once, before_sleep=again)
        except StoreError:
            log.error("%s event %s: the store stayed away; left for the sweep", record.source, record.key)

    async def _handle_and_finish(self, record: InboundRecord, source: _Source, last: Lease | None) -> None:
        """One try of `_handle_one`; a StoreError goes to its caller, which tries again."""
        try:
            await source.handle(record)
        except StoreError:
            raise
        except Exception:
            if not self._failed(record):
                return
        else:
            self._telemetry.inbound_event(record.source, "handled")
            self._failures.pop(record.id, None)
        if last is None:
            await steadily(self._store.inbound_finish, record)
        else:
            await last.stop_renewing()
            await steadily(self._store.inbound_finish, record, release=last.key, owner=last.owner)

    def _failed(self, record: InboundRecord) -> bool:
        """Count a failure; True once the record has failed too often and is given up (logged)."""
        attempts = self._failures.get(record.id, 0) + 1
        self._failures[record.id] = attempts
        if attempts < self._max_attempts:
            self._telemetry.inbound_event(record.source, "retried")
            log.exception(
                "%s event %s failed (attempt %s of %s); kept for the next sweep",
                record.source,
                record.key,
                attempts,
                self._max_attempts,
            )
            return False
        self._telemetry.inbound_event(record.source, "failed")
        log.exception(
            "%s event %s failed %s times; given up: %s", record.source, record.key, attempts, str(record.payload)[:500]
        )
        return True

    async def sweep(self, limit: int = 1000) -> int:
        """Schedule every stored record not being handled here; records another live instance is
        handling are skipped by their lease. Returns how many were scheduled."""
        count = 0
        for record in await self._store.inbound_pending(limit=limit):
            if record.id not in self._scheduled and self._source(record) is not None:
                self._schedule(record)
                count += 1
        return count

    async def run_sweeps(self, interval: float) -> None:
        """Sweep every `interval` seconds until cancelled."""
        while True:
            await asyncio.sleep(interval)
            try:
                await self.sweep()
            except Exception:
                log.exception("inbound sweep failed; trying again in %.0fs", interval)

    @property
    def busy(self) -> bool:
        return bool(self._tasks)

    async def idle(self) -> None:
        """Wait until every scheduled record has been handled (tests, the demo, shutdown)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)
