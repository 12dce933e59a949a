"""Pacing: keep each platform's send rate under its limits before it answers 429.

A bucket is one limit of one platform on one thing: a Telegram private chat (about 1 message/s, short
bursts), a Telegram group (20/min, all forum topics together), a Telegram bot (30/s), a Slack channel's posts
(about 1/s), Slack's `chat.update` (about 50/min per workspace), ephemerals and modals (their own tiers).
Each is a sliding window — at most `count` sends in any `per` seconds — so no burst ever exceeds what the
platform's own window allows (a token bucket lets a full burst through and then refills, which a platform
counting per minute answers with 429).

Where the windows are kept is the store's choice (`Windows`): in memory for one process, in Redis for
several instances on one Redis, so that two instances share one budget instead of each sending its own.

Two levels use one `Pacer`:
- every platform call draws from its buckets (`spend`, in the adapters' HTTP layer: aiogram's request
  middleware, an aiohttp client middleware for Slack), so every call is counted — a topic and its card are
  two sends;
- the outbox waits its turn before it delivers an entry (`reserve`): it takes the first call's share in
  advance, in arrival order per bucket (fair across conversations), and merges what waited meanwhile; the
  call that follows spends the reservation instead of drawing again.

A 429 pauses the whole bucket it belongs to (`pause`): every conversation waiting on that group, channel or
bot waits, so one flood answer is not followed by a burst of others.
"""

from __future__ import annotations

import asyncio
import heapq
import time
from asyncio import FIRST_COMPLETED
from collections import OrderedDict, deque
from collections.abc import Callable, Iterable, Mapping
from contextvars import ContextVar
from dataclasses import dataclass, replace
from typing import Any, Protocol


@dataclass(frozen=True)
class Rate:
    count: int
    per: float
    """seconds: at most `count` sends in any `per` seconds"""
    burst: int = 0
    """0: a sliding window (the limit a platform counts per minute). n > 0: a token bucket of n sends refilled
    at count/per a second (the platform's "about 1/s with short bursts"), kept as its next free time (GCRA)."""
    spacing: float = 0.0
    """A sliding window's: once it holds three quarters of its count, at least `spacing` seconds between the
    outbox's deliveries that are not urgent. A window that a backlog keeps full frees its places in the pattern
    it filled them (20 sends in the first seconds of a minute, then none for the rest of it: every waiting
    session served once a minute, in bursts); spaced, the backlog goes out evenly and each session's turn comes
    round as often as the limit allows. A quiet bucket still takes a burst of three quarters of its count at
    once; new sessions' topics and cards (urgent) and an operator's own calls (a form's questions) whatever room
    the window has."""

    def admit(self, free_at: float, now: float, cost: int) -> tuple[float, float]:
        """A token bucket's answer for `cost` sends at `now`, given when it is next free (`free_at`): (0, the new
        free time) when they may go, else (seconds to wait, `free_at` unchanged)."""
        interval = self.per / self.count
        cost = min(cost, self.burst)
        after = max(free_at, now) + cost * interval
        over = after - now - self.burst * interval
        return (0.0, after) if over <= 0 else (max(over, 0.001), free_at)


@dataclass(frozen=True)
class Draw:
    """`cost` sends from the bucket `kind` of `key` (e.g. TELEGRAM_GROUP of "<bot id>:<chat id>")."""

    kind: str
    key: str
    cost: int = 1
    urgent: bool = False
    """Goes ahead of the waiters that are not (a new session's topic and card before the mirror backlog)."""
    patient: bool = False
    """Goes behind every waiter that is not, for up to `PATIENCE` seconds: a send that may wait for a free
    moment of the bucket (the notice of a card action, which the card already shows: it takes a send nobody
    else wanted, or — its session's next messages queued behind it meanwhile — goes out merged with them,
    so that at a load at the platform's limit it adds no post of its own)."""

    @property
    def bucket(self) -> str:
        return f"{self.kind}:{self.key}"


TELEGRAM_CHAT = "telegram.chat"
TELEGRAM_GROUP = "telegram.group"
TELEGRAM_BOT = "telegram.bot"
SLACK_CHANNEL = "slack.channel"
SLACK_UPDATE = "slack.update"
SLACK_EPHEMERAL = "slack.ephemeral"
SLACK_VIEWS = "slack.views"
SLACK_WORKSPACE = "workspace"
"""The key of Slack's per-workspace buckets: linedesk serves one workspace."""

PATIENCE = 30.0
"""Seconds a patient waiter lets others go first before it queues like anyone else (a bucket never free)."""

PLATFORM_RATES: Mapping[str, Rate] = {
    # "about 1/s, short bursts" (a token bucket of 3 on the platform's side): the full 1/s, with a burst one
    # short of the platform's, so that its bucket always has a send to spare for arrival jitter
    TELEGRAM_CHAT: Rate(1, 1.0, burst=2),
    # the platform's own window: a send counts from its answer on (`Windows.landed`), never before the
    # platform counted it; a backlog goes out a little faster than 1 per 3 s (the window still holds it to 20)
    TELEGRAM_GROUP: Rate(20, 60.0, spacing=2.9),
    TELEGRAM_BOT: Rate(25, 1.1),
    SLACK_CHANNEL: Rate(1, 1.0, burst=2),
    SLACK_UPDATE: Rate(45, 61.0),
    SLACK_EPHEMERAL: Rate(90, 61.0),
    SLACK_VIEWS: Rate(90, 61.0),
}


class Windows(Protocol):
    """The recent sends of each bucket, wherever they are kept."""

    async def take(self, bucket: str, rate: Rate, cost: int, spare: Rate | None = None) -> float:
        """Record `cost` sends now if the window has room (0.0); else record nothing and say how many
        seconds until it would have (a paused bucket: until the pause ends). `spare`: only a send the load
        does not need — in a sliding window, no more than `spare.count` sends in the last `spare.per` seconds
        (the bucket's recent pace below its limit); in a token bucket, the bucket full for `spare.per`
        seconds already (a refill nobody used)."""

    async def landed(self, bucket: str, rate: Rate, cost: int) -> None:
        """A call of `cost` sends has been answered (or failed): a sliding window's sends count from when they
        left until then, and from now on — the platform counted them when they arrived, which is no later
        than now, so a window reckoned from the answers never admits a send the platform's window would not,
        whatever the network's delay, and needs no margin for it. The oldest sends still on their way are
        moved (with several calls in flight, the i-th answer moves the i-th oldest: as many sends counted
        from each moment on as the platform counts). Token buckets keep no sends: nothing to do."""

    async def pause(self, bucket: str, seconds: float) -> None:
        """Nothing more from `bucket` for `seconds` (the platform said so)."""


class MemoryWindows:
    """Windows in this process: enough for one linedesk instance."""

    def __init__(self, now: Callable[[], float] = time.monotonic, *, max_buckets: int = 50_000):
        self._now = now
        self._sends: OrderedDict[str, deque[float]] = OrderedDict()
        self._leaving: dict[str, deque[float]] = {}
        """bucket → when its sends still on their way left (each also in `_sends`), oldest first"""
        self._free_at: OrderedDict[str, float] = OrderedDict()
        self._paused: dict[str, float] = {}
        self._max_buckets = max_buckets

    async def take(self, bucket: str, rate: Rate, cost: int, spare: Rate | None = None) -> float:
        now = self._now()
        paused = self._paused.get(bucket, 0.0) - now
        if paused > 0:
            return paused
        self._paused.pop(bucket, None)
        if rate.burst:
            free_at = self._free_at.get(bucket, now - (spare.per if spare else 0.0))
            if spare is not None and free_at > now - spare.per:
                return max(free_at + spare.per - now, 0.001)
            wait, self._free_at[bucket] = rate.admit(free_at, now, cost)
            self._free_at.move_to_end(bucket)
            if len(self._free_at) > self._max_buckets:
                self._free_at.popitem(last=False)
            return wait
        sends = self._sends.get(bucket)
        if sends is None:
            sends = self._sends[bucket] = deque()
            if len(self._sends) > self._max_buckets:
                gone, _ = self._sends.popitem(last=False)  # the least recently used: its window is long past
                self._leaving.pop(gone, None)
        else:
            self._sends.move_to_end(bucket)
        while sends and sends[0] <= now - rate.per:
            sends.popleft()
        leaving = self._leaving.get(bucket)
        while leaving and leaving[0] <= now - rate.per:
            leaving.popleft()
        cost = min(cost, rate.count)  # more than a window holds goes out when the window is empty
        over = len(sends) + cost - rate.count
        if over > 0:
            return max(sends[over - 1] + rate.per - now, 0.001)
        if rate.spacing and sends and 4 * len(sends) >= 3 * rate.count:
            gap = sends[-1] + rate.spacing - now
            if gap > 0:
                return max(gap, 0.001)
        if spare is not None:
            recent = [at for at in sends if at > now - spare.per]
            over = len(recent) + cost - spare.count
            if over > 0 and recent:  # (more than `spare` allows at all: not a reason to wait)
                return max(recent[min(over, len(recent)) - 1] + spare.per - now, 0.001)
        sends.extend([now] * cost)
        self._leaving.setdefault(bucket, deque()).extend([now] * cost)
        return 0.0

    async def landed(self, bucket: str, rate: Rate, cost: int) -> None:
        sends, leaving = self._sends.get(bucket), self._leaving.get(bucket)
        if rate.burst or sends is None or not leaving:
            return
        now = self._now()
        for _ in range(min(cost, len(leaving))):
            left = leaving.popleft()
            try:
                sends.remove(left)
            except ValueError:
                continue  # out of the window already
            sends.append(now)  # now is no earlier than any send recorded: the deque stays in order

    async def pause(self, bucket: str, seconds: float) -> None:
        self._paused[bucket] = max(self._paused.get(bucket, 0.0), self._now() + seconds)


_CREDIT: ContextVar[dict[str, int] | None] = ContextVar("linedesk_pacing_credit", default=None)
"""Sends the outbox reserved for the delivery running in this task: bucket → how many are left."""


class Pacer:
    def __init__(
        self, rates: Mapping[str, Rate] = PLATFORM_RATES, windows: Windows | None = None, *, patience: float = PATIENCE
    ):
        self._rates = dict(rates)
        self._patience = patience
        self._windows: Windows = windows if windows is not None else MemoryWindows()
        self._turns: dict[str, _Turns] = {}
        """bucket → the queue its waiters take turns in"""

    @classmethod
    def unlimited(cls) -> Pacer:
        """No pacing (tests against sandboxes with their limits off, benchmarks of the framework floor)."""
        return cls({})

    @property
    def limited(self) -> bool:
        return bool(self._rates)

    def keep_windows_in(self, windows: Windows) -> None:
        """Keep the windows there from now on (the store's, shared by every instance on it: set at start,
        once the store is open)."""
        self._windows = windows

    async def acquire(
        self, draws: Iterable[Draw], hurry: asyncio.Event | None = None, *, backlog: bool = False
    ) -> bool:
        """Wait until every bucket drawn from has room, then take it; waiters of one bucket go in order.
        True when it had to wait (the platform's limit, or others before it). `hurry`, once set, ends a
        patient draw's patience (its session's next post is waiting behind it). `backlog`: the outbox's own
        deliveries, which a rate's `spacing` spreads out (an operator's direct call, a form's question, is not)."""
        waited = False
        for draw in sorted(draws, key=lambda d: d.bucket):  # one order everywhere: no two waiters cross
            rate = self._rates.get(draw.kind)
            if rate is not None and draw.cost > 0:
                if rate.spacing and (draw.urgent or not backlog):
                    rate = replace(rate, spacing=0.0)
                waited = await self._take(draw.bucket, rate, draw, hurry) or waited
        return waited

    async def _take(self, bucket: str, rate: Rate, draw: Draw, hurry: asyncio.Event | None = None) -> bool:
        turns = self._turns.get(bucket) or self._turns.setdefault(bucket, _Turns())
        turns.users += 1
        try:
            if draw.patient and not draw.urgent:
                return await self._take_patiently(turns, bucket, rate, draw, hurry)
            waited = await turns.enter(_URGENT if draw.urgent else _NORMAL)
            try:
                while (wait := await self._windows.take(bucket, rate, draw.cost)) > 0:
                    waited = True
                    await asyncio.sleep(wait)  # the window frees at a known time: nothing to wait on instead
            finally:
                turns.leave()
            return waited
        finally:
            turns.users -= 1
            if not turns.users:
                del self._turns[bucket]

    async def _take_patiently(
        self, turns: _Turns, bucket: str, rate: Rate, draw: Draw, hurry: asyncio.Event | None
    ) -> bool:
        """Behind every other waiter, and only a send the bucket can spare at once — a patient draw never
        holds the turn while the window is full (that send would be one more than the load asked for) — until
        its patience ends or it is hurried; from then on like anyone else."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._patience

        def patient() -> bool:
            return not (hurry is not None and hurry.is_set()) and loop.time() < deadline

        # a window counted per minute that has room now may still need every place later in the minute: a
        # patient send takes a place only while the bucket's recent pace (its last quarter of a window) is
        # under three quarters of its limit. A token bucket's free send is not spare while the load uses the
        # refill as it comes (a channel at its 1/s would be a send short from then on): only once the bucket
        # has stayed full for one interval.
        spare = Rate(1, rate.per / rate.count) if rate.burst else Rate(max(1, rate.count * 3 // 16), rate.per / 4)
        waited = False
        while True:
            priority = _PATIENT if patient() else _NORMAL
            waited = await turns.enter(priority, hurry, max(0.0, deadline - loop.time())) or waited
            try:
                while (wait := await self._windows.take(bucket, rate, draw.cost, spare if patient() else None)) > 0:
                    waited = True
                    if patient():
                        break  # let the others by; look again when the window has room
                    await asyncio.sleep(wait)
                else:
                    return waited
            finally:
                turns.leave()
            await _first(None, hurry, min(wait, max(0.0, deadline - loop.time())))

    async def reserve(self, draws: Iterable[Draw], hurry: asyncio.Event | None = None) -> bool:
        """Take the sends of `draws` now, for the calls this task makes next (`spend` uses them up).
        True when it had to wait for them. `hurry`: as `acquire`'s."""
        draws = list(draws)
        waited = await self.acquire(draws, hurry, backlog=True)
        _CREDIT.set({d.bucket: d.cost for d in draws if d.kind in self._rates})
        return waited

    async def spend(self, draws: Iterable[Draw]) -> None:
        """One platform call's sends: from this task's reservation where it has some, else waited for."""
        credit = _CREDIT.get()
        missing: list[Draw] = []
        for draw in draws:
            reserved = credit.get(draw.bucket, 0) if credit else 0
            if reserved and credit is not None:
                credit[draw.bucket] = max(0, reserved - draw.cost)
                if draw.cost > reserved:
                    missing.append(Draw(draw.kind, draw.key, draw.cost - reserved, draw.urgent, draw.patient))
            else:
                missing.append(draw)
        await self.acquire(missing)

    async def landed(self, draws: Iterable[Draw]) -> None:
        """The call that spent `draws` has its answer (or failed): see `Windows.landed`."""
        for draw in draws:
            rate = self._rates.get(draw.kind)
            if rate is not None and not rate.burst and draw.cost > 0:
                await self._windows.landed(draw.bucket, rate, draw.cost)

    async def pause(self, draw: Draw, seconds: float) -> None:
        """The platform answered 429 with `retry_after`: the whole bucket waits."""
        if draw.kind in self._rates and seconds > 0:
            await self._windows.pause(draw.bucket, seconds)


_URGENT, _NORMAL, _PATIENT = 0, 1, 2
"""A waiter's place in its bucket's queue (`_Turns`): lower goes first, then arrival order."""


class _Turns:
    """One bucket's waiters, served one at a time: urgent ones first, then in arrival order, patient ones last
    (for `patience` seconds at most)."""

    def __init__(self) -> None:
        self.users = 0
        self._held = False
        self._waiting: list[tuple[int, int, asyncio.Future[None]]] = []
        self._arrivals = 0

    async def enter(self, priority: int, hurry: asyncio.Event | None = None, patience: float = 0.0) -> bool:
        """True when it waited for its turn."""
        if not self._held and not self._waiting:
            self._held = True
            return False
        self._arrivals += 1
        turn: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        arrival = self._arrivals
        heapq.heappush(self._waiting, (priority, arrival, turn))
        try:
            if priority == _PATIENT:
                if not await _first(turn, hurry, patience):
                    # patient long enough, or hurried: it queues as it arrived (`leave` skips its old place)
                    heapq.heappush(self._waiting, (_NORMAL, arrival, turn))
            await turn
        except asyncio.CancelledError:
            if turn.done() and not turn.cancelled():
                self.leave()  # it was handed the turn as it was cancelled: pass it on
            raise
        return True

    def leave(self) -> None:
        while self._waiting:
            _, _, turn = heapq.heappop(self._waiting)
            if not turn.done():
                turn.set_result(None)
                return
        self._held = False


async def _first(turn: asyncio.Future[None] | None, hurry: asyncio.Event | None, patience: float) -> bool:
    """Wait for `turn` (None: nothing), at most `patience` seconds and only until `hurry` is set: True when
    the turn came."""
    hurried = asyncio.ensure_future(hurry.wait()) if hurry is not None else None
    waits: list[asyncio.Future[Any]] = [w for w in (turn, hurried) if w is not None]
    try:
        if waits:
            await asyncio.wait(waits, timeout=patience, return_when=FIRST_COMPLETED)
        else:
            await asyncio.sleep(patience)
    finally:
        if hurried is not None:
            hurried.cancel()
    return turn is not None and turn.done()
