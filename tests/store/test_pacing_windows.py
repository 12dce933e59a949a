"""Pacing windows in Redis are shared: two linedesk instances on one Redis together stay under a limit, and
a flood answer one of them got pauses the other too."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

from core.pacing import Draw, Pacer, Rate
from core.store.redis import RedisStore

RedisFactory = Callable[[], Awaitable[RedisStore]]
"""The `redis_stores` fixture (tests/store/conftest.py): opens stores sharing one fresh prefix."""


async def test_two_instances_on_one_redis_share_one_budget(redis_stores: RedisFactory) -> None:
    first, second = await redis_stores(), await redis_stores()
    rates = {"channel": Rate(4, 0.6)}
    pacers = [Pacer(rates, store.pacing_windows()) for store in (first, second)]
    sent: list[float] = []

    async def send(pacer: Pacer) -> None:
        await pacer.acquire([Draw("channel", "C1")])
        sent.append(time.monotonic())

    await asyncio.gather(*(send(pacers[n % 2]) for n in range(12)))
    sent.sort()
    # any 4 + 1 consecutive sends span more than the window: never 5 in 0.6 s, whoever sent them
    assert all(later - earlier >= 0.55 for earlier, later in zip(sent, sent[4:], strict=False))
    assert sent[-1] - sent[0] >= 1.1  # 12 sends at 4 per 0.6 s: at least two windows after the first


async def test_a_pause_one_instance_got_holds_the_other(redis_stores: RedisFactory) -> None:
    first, second = await redis_stores(), await redis_stores()
    windows = first.pacing_windows()
    await windows.pause("telegram.group:1:-100", 0.5)
    other = second.pacing_windows()
    wait = await other.take("telegram.group:1:-100", Rate(20, 60.0), 1)
    assert 0.3 < wait <= 0.5
    assert await other.take("telegram.group:1:-200", Rate(20, 60.0), 1) == 0.0
    await asyncio.sleep(wait)
    assert await other.take("telegram.group:1:-100", Rate(20, 60.0), 1) == 0.0


async def test_a_draw_bigger_than_the_room_records_nothing(redis_stores: RedisFactory) -> None:
    windows = (await redis_stores()).pacing_windows()
    rate = Rate(3, 5.0)
    assert await windows.take("chat", rate, 2) == 0.0
    assert await windows.take("chat", rate, 2) > 4.0  # must wait for the first two to leave
    assert await windows.take("chat", rate, 1) == 0.0  # the refused draw took nothing
    assert await windows.take("chat", rate, 1) > 0.0


async def test_a_token_bucket_in_redis_is_shared_too(redis_stores: RedisFactory) -> None:
    first, second = (await redis_stores()).pacing_windows(), (await redis_stores()).pacing_windows()
    rate = Rate(1, 0.5, burst=2)
    assert await first.take("channel", rate, 1) == 0.0
    assert await second.take("channel", rate, 1) == 0.0  # the burst, across instances
    wait = await first.take("channel", rate, 1)
    assert 0.4 < wait <= 0.5
    await asyncio.sleep(wait)
    assert await second.take("channel", rate, 1) == 0.0


async def test_a_spare_send_needs_the_recent_pace_under_its_share(redis_stores: RedisFactory) -> None:
    """`spare`: room in the whole window is not enough — the last `spare.per` seconds must hold fewer than
    `spare.count` sends (as in memory: tests/core/test_pacing.py)."""
    windows = (await redis_stores()).pacing_windows()
    rate, spare = Rate(20, 60.0), Rate(1, 0.4)
    assert await windows.take("group", rate, 1) == 0.0
    wait = await windows.take("group", rate, 1, spare)
    assert 0.2 < wait <= 0.4  # one send in the last 0.4 s: not spare yet
    await asyncio.sleep(wait)
    assert await windows.take("group", rate, 1, spare) == 0.0
    assert await windows.take("group", rate, 1) == 0.0  # a plain send: the window has room


async def test_a_send_counts_from_its_answer_in_redis_too(redis_stores: RedisFactory) -> None:
    """`landed` moves the oldest sends on their way to the answer's time (as in memory: tests/core/test_pacing.py),
    for every instance on the Redis."""
    first, second = (await redis_stores()).pacing_windows(), (await redis_stores()).pacing_windows()
    rate = Rate(1, 0.5)
    assert await first.take("group", rate, 1) == 0.0
    await asyncio.sleep(0.3)
    await second.landed("group", rate, 1)  # answered 0.3 s later: the window holds it until then + 0.5 s
    wait = await first.take("group", rate, 1)
    assert 0.4 < wait <= 0.5
    await asyncio.sleep(wait)
    assert await second.take("group", rate, 1) == 0.0
    await first.landed("group", rate, 3)  # one on its way, three answers: the one moves, nothing more
    assert 0.4 < await first.take("group", rate, 1) <= 0.5


async def test_a_token_buckets_spare_send_in_redis_needs_it_full_for_a_while(redis_stores: RedisFactory) -> None:
    windows = (await redis_stores()).pacing_windows()
    rate, spare = Rate(1, 0.2, burst=2), Rate(1, 0.2)
    assert await windows.take("channel", rate, 1, spare) == 0.0  # never used
    wait = await windows.take("channel", rate, 1, spare)
    assert 0.3 < wait <= 0.4  # full again in 0.2 s, spare 0.2 s after that
    assert await windows.take("channel", rate, 1) == 0.0  # a plain send: the burst has room
    await asyncio.sleep(0.65)  # full since 0.4 s: spare
    assert await windows.take("channel", rate, 1, spare) == 0.0


async def test_a_backlog_goes_out_evenly_in_redis_too(redis_stores: RedisFactory) -> None:
    windows = (await redis_stores()).pacing_windows()
    rate = Rate(4, 5.0, spacing=0.3)
    for _ in range(3):
        assert await windows.take("group", rate, 1) == 0.0  # three quarters of the count at once
    wait = await windows.take("group", rate, 1)
    assert 0.2 < wait <= 0.3
    await asyncio.sleep(wait)
    assert await windows.take("group", rate, 1) == 0.0
