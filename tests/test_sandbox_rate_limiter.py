"""The sandboxes' rate limiter (``sandboxes.limits``) on its own, with time moved by hand."""

from __future__ import annotations

import pytest

from sandboxes.limits import (
    PLATFORM_LIMITS,
    SLACK_POST_BURST,
    SLACK_POST_PER_SECOND,
    SLACK_UPDATE_CALLS,
    SLACK_UPDATE_WINDOW,
    TELEGRAM_BOT_CALLS,
    TELEGRAM_BOT_WINDOW,
    TELEGRAM_GROUP_MESSAGES,
    TELEGRAM_GROUP_WINDOW,
    TELEGRAM_PRIVATE_BURST,
    TELEGRAM_PRIVATE_PER_SECOND,
    Charge,
    Limits,
    RateLimiter,
    TokenBucketRule,
    WindowRule,
    retry_after,
)
from tests.support.hand_time import HandTime

BUCKET = TokenBucketRule(3, 1.0)
WINDOW = WindowRule(20, 60.0)


def test_the_platforms_numbers() -> None:
    assert (TELEGRAM_PRIVATE_BURST, TELEGRAM_PRIVATE_PER_SECOND) == (3, 1.0)
    assert (TELEGRAM_GROUP_MESSAGES, TELEGRAM_GROUP_WINDOW) == (20, 60.0)
    assert (TELEGRAM_BOT_CALLS, TELEGRAM_BOT_WINDOW) == (30, 1.0)
    assert (SLACK_POST_BURST, SLACK_POST_PER_SECOND) == (3, 1.0)
    assert (SLACK_UPDATE_CALLS, SLACK_UPDATE_WINDOW) == (50, 60.0)
    assert PLATFORM_LIMITS == Limits() and PLATFORM_LIMITS.enabled
    assert not Limits.off().enabled
    assert Limits(telegram_bot=None).enabled  # one rule off, the others on


@pytest.mark.parametrize(("seconds", "whole"), [(0.0, 1), (0.2, 1), (1.0, 1), (1.0000000001, 1), (1.01, 2), (40.5, 41)])
def test_retry_after_is_whole_seconds_rounded_up_at_least_one(seconds: float, whole: int) -> None:
    assert retry_after(seconds) == whole


def test_a_token_bucket_refills_at_its_rate_up_to_its_capacity() -> None:
    hand = HandTime()
    limiter = RateLimiter(hand)
    one = [Charge("chat", 1, BUCKET)]
    for _ in range(3):
        assert limiter.wait(one) == 0
        limiter.charge(one)
    assert limiter.wait(one) == pytest.approx(1.0)
    hand.advance(10.0)  # a long pause refills the burst, not more
    for _ in range(3):
        limiter.charge(one)
    assert limiter.wait(one) == pytest.approx(1.0)
    assert limiter.wait([Charge("chat", 2, BUCKET)]) == 0  # another key, another bucket


def test_a_call_costing_more_than_the_burst_needs_a_full_bucket_and_leaves_a_debt() -> None:
    hand = HandTime()
    limiter = RateLimiter(hand)
    five = [Charge("chat", 1, BUCKET, cost=5)]
    assert limiter.wait(five) == 0
    limiter.charge(five)
    assert limiter.wait([Charge("chat", 1, BUCKET)]) == pytest.approx(3.0)


def test_a_sliding_window_lets_a_call_in_when_the_oldest_leaves() -> None:
    hand = HandTime()
    limiter = RateLimiter(hand)
    one = [Charge("group", -1, WINDOW)]
    for _ in range(20):
        limiter.charge(one)
        hand.advance(1.0)
    assert limiter.wait(one) == pytest.approx(40.0)
    assert limiter.wait([Charge("group", -1, WINDOW, cost=3)]) == pytest.approx(42.0)  # the third oldest
    assert limiter.wait([Charge("group", -1, WINDOW, cost=50)]) == pytest.approx(59.0)  # an empty window
    hand.advance(40.0)
    assert limiter.wait(one) == 0


def test_a_refusal_is_counted_against_the_buckets_that_refused_it() -> None:
    hand = HandTime()
    limiter = RateLimiter(hand)
    chat, bot = Charge("chat", 1, BUCKET), Charge("bot", "t", WindowRule(30, 1.0))
    for _ in range(3):
        limiter.charge([chat, bot])
    assert limiter.refuse("sendMessage", [chat, bot]) == 1
    assert limiter.refusals.by_bucket == {"chat": 1}
    assert limiter.refusals.by_key == {("chat", 1): 1}
    assert limiter.refusals.by_method == {"sendMessage": 1}
    assert limiter.wait([]) == 0  # a call charged nowhere always goes
