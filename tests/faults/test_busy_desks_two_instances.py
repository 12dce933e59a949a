"""Two `linedesk serve` processes on one Redis prefix share the platforms' pacing budget (SPEC §13): with the
sandboxes' limits on, clients writing at a combined rate a little under what the Slack desk channel takes
(about 1 post/s) but more than half of it provoke no 429 — each instance pacing on its own budget would post
up to twice the channel's rate whenever both have a backlog (the sessions' cards and first messages come
together) — and every message reaches the desk once, in order. (Checked when this test was written: with the
pacing windows kept in each process's memory instead of Redis, the same run drew 10 × 429 from the Slack sandbox.)
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from sandboxes.limits import PLATFORM_LIMITS
from tests.support.faults import (
    Platforms,
    ServerProcess,
    counters_by_result,
    desk_roots,
    desk_tally,
    figure,
    logs_on_failure,
    post_update,
    serve_config,
    token,
    unique_prefix,
    wait_until,
)
from tests.support.rigs import REDIS_URL as SHARED_REDIS
from tests.support.rigs import drop_redis_prefix, redis_available

pytestmark = pytest.mark.timeout(120)

CLIENTS = range(1, 7)
PER_CLIENT = 3
EVERY = 7.0
"""Seconds between two messages of one client: six clients write 6/7 ≈ 0.86 messages/s together, a little
under the channel's ~1 post/s (linedesk paces it at 1 per 1.1 s) and more than half of it."""


@pytest.fixture
async def platforms() -> AsyncIterator[Platforms]:
    stage = Platforms(limits=PLATFORM_LIMITS)
    await stage.start()
    try:
        yield stage
    finally:
        await stage.stop()


async def test_two_instances_on_one_redis_share_the_desk_budget_and_provoke_no_429(
    tmp_path: Path, platforms: Platforms
) -> None:
    problem = await redis_available()
    if problem:
        pytest.skip(problem)
    prefix = unique_prefix("busy")
    store_url = f"{SHARED_REDIS}?prefix={prefix}"
    processes = tmp_path / "processes"
    processes.mkdir()
    first, second = ServerProcess("busy-a", tmp_path), ServerProcess("busy-b", tmp_path)
    servers = (first, second)
    for server in servers:
        server.write_config(
            serve_config(
                port=server.port,
                public_url=first.url,
                store_url=store_url,
                platforms=platforms,
                processes=processes,
                lease=5.0,
                pace=True,
            )
        )
    http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10))
    slack = platforms.slack
    turn = itertools.cycle(servers)  # the updates alternate between the instances (a load balancer)
    try:
        with logs_on_failure(*servers):
            await asyncio.gather(*(s.start() for s in servers))
            await asyncio.gather(*(s.wait_ready() for s in servers))
            started = time.monotonic()

            async def client(n: int) -> None:
                await asyncio.sleep((n - 1) * EVERY / len(CLIENTS))  # the clients' messages evenly spread
                for seq in range(PER_CLIENT):
                    due = started + (n - 1) * EVERY / len(CLIENTS) + seq * EVERY
                    await asyncio.sleep(max(0.0, due - time.monotonic()))
                    update = platforms.update(n, token(n, seq))
                    status = await post_update(http, next(turn).webhook_url, update)
                    assert status == 200, f"{token(n, seq)}: {status}"

            await asyncio.gather(*(client(n) for n in CLIENTS))
            written = time.monotonic() - started
            expected = {(n, s) for n in CLIENTS for s in range(PER_CLIENT)}
            await wait_until(
                lambda: not desk_tally(slack).missing(expected),
                25,
                "every client message in the desk",
                explain=lambda: f"missing {desk_tally(slack).missing(expected)}",
            )
            await asyncio.sleep(2.0)  # anything posted twice would come now
            elapsed = time.monotonic() - started
            desk = desk_tally(slack)
            did = {s.name: counters_by_result(await s.metrics()) for s in servers}
            delivered = {
                name: sum(v for k, v in d.items() if k.endswith("deliveries.delivered")) for name, d in did.items()
            }
            posts = [c for c in slack.calls_of("chat.postMessage") if c.status == 200]
            figure(
                "busy-two-instances",
                messages=len(expected),
                desk_posts=len(posts),
                refused_slack=slack.refusals.total,
                refused_telegram=platforms.telegram.refusals.total,
                desk_duplicates=desk.duplicates(),
                delivered_a=delivered[first.name],
                delivered_b=delivered[second.name],
                written_s=written,
                real_s=elapsed,
            )
            assert slack.refusals.total == 0, f"Slack answered 429: {slack.refusals}"
            assert platforms.telegram.refusals.total == 0, f"Telegram answered 429: {platforms.telegram.refusals}"
            assert desk.missing(expected) == [] and desk.duplicates() == 0, desk.problems()
            assert desk.out_of_order() == {} and desk.split() == {}, desk.problems()
            assert len(desk_roots(slack)) == len(CLIENTS), "one session card per client"
            assert all(delivered.values()), f"both instances must deliver (else nothing was shared): {delivered}"
    finally:
        await http.close()
        await asyncio.gather(*(s.stop() for s in servers))
        await drop_redis_prefix(prefix)
