"""Pacing: keep each platform's send rate under its limits before it answers 429.

Leaky buckets (aiolimiter) per key: a Telegram chat (about 1 message/s, short bursts), a Telegram
group (20/min), a Telegram bot (30/s), a Slack channel (about 1/s). Buckets are per linedesk
process; with several instances each paces its own share.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass

from aiolimiter import AsyncLimiter


@dataclass(frozen=True)
class Rate:
    count: float
    per: float
    """seconds"""


TELEGRAM_CHAT = "telegram.chat"
TELEGRAM_GROUP = "telegram.group"
TELEGRAM_BOT = "telegram.bot"
SLACK_CHANNEL = "slack.channel"

PLATFORM_RATES: Mapping[str, Rate] = {
    TELEGRAM_CHAT: Rate(3, 3.0),
    TELEGRAM_GROUP: Rate(20, 60.0),
    TELEGRAM_BOT: Rate(30, 1.0),
    SLACK_CHANNEL: Rate(3, 3.0),
}


class Pacer:
    def __init__(self, rates: Mapping[str, Rate] = PLATFORM_RATES, *, max_buckets: int = 50_000):
        self._rates = dict(rates)
        self._buckets: OrderedDict[tuple[str, str], AsyncLimiter] = OrderedDict()
        self._max_buckets = max_buckets

    @classmethod
    def unlimited(cls) -> Pacer:
        """No pacing (tests against a sandbox that has no limits, benchmarks of the framework floor)."""
        return cls({})

    def _bucket(self, kind: str, key: str) -> AsyncLimiter | None:
        rate = self._rates.get(kind)
        if rate is None:
            return None
        bucket = self._buckets.get((kind, key))
        if bucket is None:
            bucket = AsyncLimiter(rate.count, rate.per)
            self._buckets[(kind, key)] = bucket
            if len(self._buckets) > self._max_buckets:
                self._buckets.popitem(last=False)  # the least recently created: its burst is long spent
        else:
            self._buckets.move_to_end((kind, key))
        return bucket

    @asynccontextmanager
    async def pace(self, *keys: tuple[str, str | int]) -> AsyncIterator[None]:
        """Wait until every named bucket has room for one more send, then send."""
        for kind, key in keys:
            bucket = self._bucket(kind, str(key))
            if bucket is not None:
                await bucket.acquire()
        yield
