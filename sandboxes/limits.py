"""The platforms' rate limits, as the sandboxes enforce them (on by default; ``Limits.off()`` for speed).

Telegram (per bot token): a private chat takes short bursts at about 1 message/s, a group 20 messages in any
minute (a forum group counts all its topics together), a bot 30 calls in any second. Slack (per workspace):
``chat.postMessage`` about 1/s per channel with short bursts, ``chat.update`` 50 in any minute. A call over a
limit is refused whole (HTTP 429, nothing stored), with the whole seconds until it would be accepted.

The numbers are the named constants below: linedesk's own pacer is tuned to stay just under them.

Why hand-written: aiolimiter (already a dependency) is a leaky bucket that makes callers *wait*; a sandbox
must instead *refuse* and say how long until the call would pass, and the per-minute limits are sliding windows
(at most N in any W seconds), which aiolimiter does not model. Both buckets here are a few lines over an
injectable clock (a callable returning seconds, :func:`time.monotonic` by default), so tests move time by hand.
"""

from __future__ import annotations

import math
import time
from collections import Counter, deque
from collections.abc import Callable, Hashable, Iterable, Sequence
from dataclasses import dataclass, field

Clock = Callable[[], float]
"""Seconds, monotonic (``time.monotonic`` or a test's hand-moved clock)."""

TELEGRAM_PRIVATE_BURST = 3
"""Telegram, per private chat: a token bucket this deep…"""
TELEGRAM_PRIVATE_PER_SECOND = 1.0
"""…refilled at this many messages per second."""
TELEGRAM_GROUP_MESSAGES = 20
"""Telegram, per group or supergroup (all forum topics together): at most this many messages…"""
TELEGRAM_GROUP_WINDOW = 60.0
"""…in any window of this many seconds."""
TELEGRAM_BOT_CALLS = 30
"""Telegram, per bot: at most this many calls (a call creating several messages counts each)…"""
TELEGRAM_BOT_WINDOW = 1.0
"""…in any window of this many seconds."""
SLACK_POST_BURST = 3
"""Slack, per channel (``chat.postMessage``, files shared into it): a token bucket this deep…"""
SLACK_POST_PER_SECOND = 1.0
"""…refilled at this many messages per second."""
SLACK_UPDATE_CALLS = 50
"""Slack, per workspace: at most this many ``chat.update`` calls…"""
SLACK_UPDATE_WINDOW = 60.0
"""…in any window of this many seconds."""

# bucket kinds, as counted in :class:`Refusals`
TELEGRAM_PRIVATE = "telegram.private"
TELEGRAM_GROUP = "telegram.group"
TELEGRAM_BOT = "telegram.bot"
SLACK_CHANNEL = "slack.channel"
SLACK_UPDATE = "slack.update"


@dataclass(frozen=True)
class TokenBucketRule:
    """``capacity`` calls at once, then ``per_second`` refilled (a short burst, then a steady rate)."""

    capacity: int
    per_second: float


@dataclass(frozen=True)
class WindowRule:
    """At most ``count`` calls in any ``seconds`` (a sliding window)."""

    count: int
    seconds: float


Rule = TokenBucketRule | WindowRule


@dataclass(frozen=True)
class Limits:
    """Which limits a sandbox enforces; the default is the platforms'. A rule set to ``None`` is not enforced."""

    telegram_private: TokenBucketRule | None = TokenBucketRule(TELEGRAM_PRIVATE_BURST, TELEGRAM_PRIVATE_PER_SECOND)
    telegram_group: WindowRule | None = WindowRule(TELEGRAM_GROUP_MESSAGES, TELEGRAM_GROUP_WINDOW)
    telegram_bot: WindowRule | None = WindowRule(TELEGRAM_BOT_CALLS, TELEGRAM_BOT_WINDOW)
    slack_channel: TokenBucketRule | None = TokenBucketRule(SLACK_POST_BURST, SLACK_POST_PER_SECOND)
    slack_update: WindowRule | None = WindowRule(SLACK_UPDATE_CALLS, SLACK_UPDATE_WINDOW)

    @classmethod
    def off(cls) -> Limits:
        """No limit at all: for tests and benchmarks that need speed."""
        return cls(None, None, None, None, None)

    @property
    def enabled(self) -> bool:
        return any(
            rule is not None
            for rule in (
                self.telegram_private,
                self.telegram_group,
                self.telegram_bot,
                self.slack_channel,
                self.slack_update,
            )
        )


PLATFORM_LIMITS = Limits()


class _TokenBucket:
    def __init__(self, rule: TokenBucketRule, now: float) -> None:
        self.rule = rule
        self.level = float(rule.capacity)
        self.stamp = now

    def _refill(self, now: float) -> None:
        self.level = min(float(self.rule.capacity), self.level + (now - self.stamp) * self.rule.per_second)
        self.stamp = now

    def wait(self, now: float, cost: int) -> float:
        """Seconds until ``cost`` calls fit (a cost over the capacity needs a full bucket and leaves a debt)."""
        self._refill(now)
        missing = min(cost, self.rule.capacity) - self.level
        return max(0.0, missing / self.rule.per_second)

    def take(self, now: float, cost: int) -> None:
        self._refill(now)
        self.level -= cost


class _Window:
    def __init__(self, rule: WindowRule, now: float) -> None:
        self.rule = rule
        self.stamps: deque[float] = deque()

    def wait(self, now: float, cost: int) -> float:
        """Seconds until ``cost`` more calls fit in the window (a cost over the limit needs an empty window)."""
        while self.stamps and self.stamps[0] <= now - self.rule.seconds:
            self.stamps.popleft()
        excess = len(self.stamps) + min(cost, self.rule.count) - self.rule.count
        if excess <= 0:
            return 0.0
        return max(0.0, self.stamps[excess - 1] + self.rule.seconds - now)

    def take(self, now: float, cost: int) -> None:
        self.stamps.extend([now] * cost)


@dataclass(frozen=True)
class Charge:
    """What one call costs in one bucket: ``cost`` calls in the bucket ``kind``/``key`` under ``rule``."""

    kind: str
    key: Hashable
    rule: Rule
    cost: int = 1


@dataclass
class Refusals:
    """The 429s a sandbox answered: in all, per API method, per bucket kind and per bucket (kind, key)."""

    total: int = 0
    by_method: Counter[str] = field(default_factory=Counter)
    by_bucket: Counter[str] = field(default_factory=Counter)
    by_key: Counter[tuple[str, Hashable]] = field(default_factory=Counter)

    def count(self, method: str | None = None, bucket: str | None = None) -> int:
        """429s of one method, or of one bucket kind (e.g. ``TELEGRAM_GROUP``), or in all."""
        if method is not None:
            return self.by_method[method]
        if bucket is not None:
            return self.by_bucket[bucket]
        return self.total

    def clear(self) -> None:
        self.total = 0
        self.by_method.clear()
        self.by_bucket.clear()
        self.by_key.clear()


class RateLimiter:
    """Buckets by (kind, key), created on first use; :meth:`admit` refuses or charges a call's buckets."""

    def __init__(self, clock: Clock = time.monotonic) -> None:
        self.clock = clock
        self.refusals = Refusals()
        self._buckets: dict[tuple[str, Hashable], _TokenBucket | _Window] = {}

    def _bucket(self, charge: Charge, now: float) -> _TokenBucket | _Window:
        bucket = self._buckets.get((charge.kind, charge.key))
        if bucket is None or bucket.rule != charge.rule:
            rule = charge.rule
            bucket = _TokenBucket(rule, now) if isinstance(rule, TokenBucketRule) else _Window(rule, now)
            self._buckets[(charge.kind, charge.key)] = bucket
        return bucket

    def wait(self, charges: Iterable[Charge]) -> float:
        """Seconds until every charge fits (0: the call may go now); nothing is charged."""
        now = self.clock()
        return max((self._bucket(c, now).wait(now, c.cost) for c in charges), default=0.0)

    def refuse(self, method: str, charges: Sequence[Charge]) -> int:
        """Count a refused call against the buckets it does not fit; returns its ``retry_after`` (whole
        seconds, at least 1)."""
        now = self.clock()
        longest = 0.0
        self.refusals.total += 1
        self.refusals.by_method[method] += 1
        for charge in charges:
            wait = self._bucket(charge, now).wait(now, charge.cost)
            if wait > 0:
                self.refusals.by_bucket[charge.kind] += 1
                self.refusals.by_key[(charge.kind, charge.key)] += 1
                longest = max(longest, wait)
        return retry_after(longest)

    def charge(self, charges: Iterable[Charge]) -> None:
        """Charge an accepted call's buckets."""
        now = self.clock()
        for charge in charges:
            self._bucket(charge, now).take(now, charge.cost)

    def reset(self) -> None:
        """Forget every bucket (full again) and the refusals."""
        self._buckets.clear()
        self.refusals.clear()


def retry_after(seconds: float) -> int:
    """Whole seconds, rounded up, at least 1 (a float's last-digit noise does not add a second)."""
    return max(1, math.ceil(seconds - 1e-9))
