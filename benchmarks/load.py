"""The load generator of the benchmarks: messages tagged `m<seq>x`, posted to linedesk as Telegram updates
or Slack events, in a burst or at a pace."""

import asyncio
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

import aiohttp

from sandboxes.rig import WEBHOOK_SECRET as SECRET

# --- the load generator -------------------------------------------------------------------------------------


@dataclass
class Outgoing:
    seq: int
    body: bytes
    target: int = 0
    """Which webhook (index into the posters) gets it."""
    sent: float = 0.0


@dataclass
class Poster:
    """Posts Telegram updates to one webhook, as Telegram does (JSON body, secret header)."""

    url: str
    secret: str = SECRET
    limit: int = 256
    acks: list[float] = field(default_factory=list)
    errors: Counter[str] = field(default_factory=Counter)
    _session: aiohttp.ClientSession | None = None

    async def open(self) -> None:
        self._session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=self.limit), timeout=aiohttp.ClientTimeout(total=30)
        )

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()

    async def post(self, body: bytes) -> bool:
        assert self._session is not None
        headers = {"Content-Type": "application/json", "X-Telegram-Bot-Api-Secret-Token": self.secret}
        began = time.perf_counter()
        try:
            async with self._session.post(self.url, data=body, headers=headers) as response:
                await response.read()
                status = response.status
        except (aiohttp.ClientError, TimeoutError) as err:
            self.errors[type(err).__name__] += 1
            return False
        self.acks.append(time.perf_counter() - began)
        if status != 200:
            self.errors[f"HTTP {status}"] += 1
            return False
        return True


async def post_burst(posters: Sequence[Poster], messages: Sequence[Outgoing], concurrency: int) -> None:
    """Post every message as fast as the webhooks accept them, `concurrency` requests in flight."""
    cursor = iter(messages)

    async def worker() -> None:
        for message in cursor:
            message.sent = time.perf_counter()
            await posters[message.target].post(message.body)

    await asyncio.gather(*(worker() for _ in range(concurrency)))


async def post_paced(posters: Sequence[Poster], messages: Sequence[Outgoing], rate: float) -> float:
    """Post at a fixed rate (open loop: a slow answer does not delay the next post). Each message's
    `sent` is its scheduled time, so a late generator counts against the latency. Returns how far
    behind schedule the generator fell at worst, in seconds."""
    tasks: list[asyncio.Task[bool]] = []
    start = time.perf_counter() + 0.05
    worst = 0.0
    for index, message in enumerate(messages):
        due = start + index / rate
        delay = due - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        else:
            worst = max(worst, -delay)
        message.sent = due
        tasks.append(asyncio.create_task(posters[message.target].post(message.body)))
    await asyncio.gather(*tasks)
    return worst
