"""The delivery outbox: every message to a platform leaves through here.

Entries are stored before anything is sent (by the courier, or atomically with an
instance step). The worker claims the head entry of each conversation, hands it to
the deliverer registered for its route, and completes, reschedules (429, 5xx,
timeouts: backoff with jitter, `retry_after` honoured) or kills it (permanent
errors, reported through `on_dead`). Per-conversation order holds because only a
conversation's head is ever claimable.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import random
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from core.clock import Clock
from core.errors import DeliveryError
from core.links import Link
from core.log_context import about
from core.model import OutboxEntry
from core.pacing import Draw, Pacer
from core.store.base import Store, steadily
from core.telemetry import NO_TELEMETRY, Telemetry

log = logging.getLogger(__name__)


class Deliverer(Protocol):
    async def deliver(self, entry: OutboxEntry, merged: Sequence[OutboxEntry] = ()) -> Sequence[Link] | None:
        """Perform the entry (and `merged`, the entries queued behind it that its route's `Merge` let join it,
        in one go); raise DeliveryError on failure (anything else counts as transient). Returns the links the
        delivery made on the platform (a message's desk copy), if any: they are written in the same store call
        that completes the delivery (`Store.outbox_complete`)."""


PaceKeys = Callable[[OutboxEntry], Sequence[Draw] | Awaitable[Sequence[Draw]]]
"""The pacing buckets an entry's first platform call draws from, most specific first, e.g.
[Draw("telegram.chat", "<bot>:501"), Draw("telegram.bot", "<bot>")]: its turn is waited for before it is
delivered. A coroutine where the bucket is found in the store (the Slack channel a session's thread is in);
a failure to find them is a failed delivery, retried like one."""

Merge = Callable[[OutboxEntry, OutboxEntry], bool]
"""Whether a later entry of the same conversation may be delivered together with the head when the head had to
wait for its turn (e.g. mirrored messages that waited behind a desk's limit go out as one post; a desk that
keeps up posts each message as itself)."""

MERGE_LIMIT = 50
"""Entries merged into one delivery, at most."""
FOLLOWER_CHECK = 0.5
"""Seconds between looks for a post queued behind a patient entry (`OutboxWorker._turn`)."""


DeadHandler = Callable[[OutboxEntry, DeliveryError], Awaitable[None]]


@dataclass(frozen=True)
class OutboxSettings:
    """The worker's timings and sizes."""

    lease: float = 60.0
    """Seconds a claimed entry stays this worker's (renewed every third of it while it is delivered)."""
    poll_interval: float = 0.2
    """Seconds between looks at the store when nothing woke the worker."""
    batch: int = 64
    """Entries claimed at once, at most."""
    concurrency: int = 256
    """Deliveries in flight, at most."""
    base_backoff: float = 0.5
    max_backoff: float = 300.0
    """A failed delivery waits min(max_backoff, base_backoff · 2^attempts) seconds, jittered down to half of it."""


class OutboxWorker:
    def __init__(
        self,
        store: Store,
        clock: Clock,
        settings: OutboxSettings | None = None,
        *,
        rng: random.Random | None = None,
        pacer: Pacer | None = None,
        telemetry: Telemetry = NO_TELEMETRY,
    ):
        self._telemetry = telemetry
        self._store = store
        self._clock = clock
        self._deliverers: dict[str, Deliverer] = {}
        self._pace_keys: dict[str, PaceKeys] = {}
        self._merges: dict[str, Merge] = {}
        self._pacer = pacer or Pacer.unlimited()
        self._dead_handlers: list[DeadHandler] = []
        settings = settings or OutboxSettings()
        self._lease = settings.lease
        self._poll = settings.poll_interval
        self._batch = settings.batch
        self._concurrency = settings.concurrency
        self._inflight: set[asyncio.Task[None]] = set()
        self._leased: dict[int, int] = {}
        """Entries being delivered (id → how many deliveries of it run here), whose leases the heartbeat renews."""
        self._base_backoff = settings.base_backoff
        self._max_backoff = settings.max_backoff
        self._rng = rng or random.Random()
        self._wakeup = asyncio.Event()
        self._stopping = False
        self.delivered = 0
        self.retried = 0
        self.killed = 0
        self.merged = 0

    def register(
        self, route: str, deliverer: Deliverer, pace: PaceKeys | None = None, merge: Merge | None = None
    ) -> None:
        self._deliverers[route] = deliverer
        if pace is not None:
            self._pace_keys[route] = pace
        if merge is not None:
            self._merges[route] = merge

    def on_dead(self, handler: DeadHandler) -> None:
        self._dead_handlers.append(handler)

    @property
    def busy(self) -> bool:
        """Deliveries under way in the background worker."""
        return bool(self._inflight)

    def wake(self) -> None:
        self._wakeup.set()

    def stop(self) -> None:
        self._stopping = True
        self._wakeup.set()

    async def run(self) -> None:
        """Deliver until stopped, up to `concurrency` conversations at once: a conversation that waits
        (pacing, a slow platform) never holds up the others; its lease keeps it ours meanwhile."""
        self._stopping = False
        inflight = self._inflight

        def finished(task: asyncio.Task[None]) -> None:
            inflight.discard(task)
            self._wakeup.set()

        heartbeat = asyncio.create_task(self._heartbeat())
        try:
            while not self._stopping:
                room = self._concurrency - len(inflight)
                claimed: list[OutboxEntry] = []
                if room > 0:
                    try:
                        claimed = await self._store.outbox_claim(self._clock.now(), self._lease, min(room, self._batch))
                    except Exception:
                        log.exception("outbox claim failed; retrying")
                for entry in claimed:
                    task = asyncio.create_task(self._deliver(entry))
                    inflight.add(task)
                    task.add_done_callback(finished)
                if not claimed and not self._stopping:
                    self._wakeup.clear()
                    try:
                        await asyncio.wait_for(self._wakeup.wait(), timeout=self._poll)
                    except TimeoutError:
                        pass
        finally:
            await self._wind_down(inflight)
            heartbeat.cancel()
            await asyncio.gather(heartbeat, return_exceptions=True)

    async def _heartbeat(self) -> None:
        """Renew the leases of deliveries under way (a paced or slow one may take longer than a lease),
        so that only a worker that stopped answering loses its conversations to another instance."""
        while True:
            await asyncio.sleep(self._lease / 3)
            if not self._leased:
                continue
            now = self._clock.now()
            try:
                await self._store.outbox_extend(list(self._leased), now, now + self._lease)
            except Exception:
                log.warning("outbox leases not renewed (store unavailable); trying again", exc_info=True)

    async def _wind_down(self, inflight: set[asyncio.Task[None]], grace: float = 5.0) -> None:
        """At stop: let deliveries under way finish for a moment, then cancel the rest. A cancelled entry
        keeps its lease until it runs out and is delivered again then (at least once, never lost)."""
        if not inflight:
            return
        _, unfinished = await asyncio.wait(set(inflight), timeout=grace)
        for task in unfinished:
            task.cancel()
        await asyncio.gather(*unfinished, return_exceptions=True)

    async def run_once(self) -> int:
        """Claim one batch (one head entry per conversation) and deliver it concurrently."""
        entries = await self._store.outbox_claim(self._clock.now(), self._lease, self._batch)
        if entries:
            await asyncio.gather(*(self._deliver(entry) for entry in entries))
        return len(entries)

    async def drain(self, timeout: float = 10.0) -> None:
        """Deliver until nothing is due (tests and the demo)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while loop.time() < deadline:
            if await self.run_once() == 0:
                return
        raise TimeoutError("outbox did not drain")

    async def _deliver(self, entry: OutboxEntry) -> None:
        self._leased[entry.id] = self._leased.get(entry.id, 0) + 1
        try:
            with about(session=entry.action.session):
                await self._deliver_leased(entry)
        except Exception:
            log.exception(
                "outbox entry %s: its result was not recorded (store unavailable?); it goes again "
                "once its lease runs out",
                entry.id,
            )
        finally:
            left = self._leased.pop(entry.id, 1) - 1
            if left:
                self._leased[entry.id] = left

    async def _deliver_leased(self, entry: OutboxEntry) -> None:
        deliverer = self._deliverers.get(entry.route)
        if deliverer is None:
            await self._kill(entry, DeliveryError(f"no deliverer for route {entry.route!r}", permanent=True))
            return
        pace = self._pace_keys.get(entry.route)
        try:
            draws = pace(entry) if pace else ()
            if inspect.isawaitable(draws):
                draws = await draws
            waited = await self._turn(entry, draws)
            # what waited behind a limit joins it — but not a retaken entry's: what its earlier delivery (before a
            # crash) took along is unknown, and a deliverer that finds that earlier post would drop the newcomers
            merged = await self._merged(entry) if waited and not entry.retaken else []
            links = list(await deliverer.deliver(entry, merged) or ())
        except DeliveryError as err:
            if err.permanent:
                await self._kill(entry, err)
            else:
                await self._retry(entry, err, err.retry_after)
            return
        except Exception as err:
            log.exception("deliverer %s raised on entry %s", entry.route, entry.id)
            await self._retry(entry, DeliveryError(f"{type(err).__name__}: {err}"), None)
            return
        # the followers before the head, whose completion releases the conversation; the links with the first
        for n, done in enumerate([*merged, entry]):
            await steadily(self._store.outbox_complete, done.id, links if n == 0 else ())
        self.delivered += 1 + len(merged)
        self.merged += len(merged)
        for _ in range(1 + len(merged)):
            self._telemetry.delivery(entry.route, "delivered")

    async def _turn(self, entry: OutboxEntry, draws: Sequence[Draw]) -> bool:
        """Wait for the entry's turn. A patient entry (`Draw.patient`) is hurried once its conversation has a
        post queued behind it that will go with it: that post must not wait for the entry's patience."""
        if not any(d.patient for d in draws):
            return await self._pacer.reserve(draws)
        hurry = asyncio.Event()

        async def watch() -> None:
            try:
                # a look into the store (another instance may have queued the post): nothing to wait on instead
                while not await self._merged(entry):  # noqa: ASYNC110
                    await asyncio.sleep(FOLLOWER_CHECK)
            except Exception:  # the store did not answer: the entry is just patient the whole while
                log.warning("outbox entry %s: could not look for posts behind it", entry.id, exc_info=True)
                return
            hurry.set()

        watcher = asyncio.create_task(watch())
        try:
            return await self._pacer.reserve(draws, hurry)
        finally:
            watcher.cancel()

    async def _merged(self, entry: OutboxEntry) -> list[OutboxEntry]:
        """The run of entries queued right behind `entry`, due now, that its route merges into it."""
        merge = self._merges.get(entry.route)
        if merge is None:
            return []
        run: list[OutboxEntry] = []
        now = self._clock.now()
        for follower in await self._store.outbox_followers(entry, MERGE_LIMIT):
            if follower.due_at > now or not merge(entry, follower):
                break  # never past one that waits: the conversation's order holds
            run.append(follower)
        return run

    def backoff(self, attempts: int) -> float:
        """Exponential backoff with equal jitter: a random delay in [delay/2, delay]."""
        delay = min(self._max_backoff, self._base_backoff * (2 ** min(attempts, 20)))
        return delay / 2 + self._rng.random() * delay / 2

    async def _retry(self, entry: OutboxEntry, err: DeliveryError, retry_after: float | None) -> None:
        delay = retry_after if retry_after is not None else self.backoff(entry.attempts)
        log.warning("delivery of %s #%s failed (%s); retrying in %.1fs", entry.route, entry.id, err, delay)
        await steadily(self._store.outbox_reschedule, entry.id, self._clock.now() + delay, str(err))
        self.retried += 1
        self._telemetry.delivery(entry.route, "retried")

    async def _kill(self, entry: OutboxEntry, err: DeliveryError) -> None:
        log.error("delivery of %s #%s failed for good: %s", entry.route, entry.id, err)
        await steadily(self._store.outbox_kill, entry.id, str(err))
        self.killed += 1
        self._telemetry.delivery(entry.route, "dead")
        for handler in self._dead_handlers:
            try:
                await handler(entry, err)
            except Exception:
                log.exception("dead-letter handler failed for entry %s", entry.id)
