"""kill -9 mid-stream: `linedesk serve` in a subprocess dies with deliveries in flight, restarts, and
delivers every accepted message to the Slack desk (each client's messages in its session thread, in order).

Fifty Telegram clients post 1,000 updates to the webhook as fast as it accepts them (each chat's next
update once the previous one was answered 200; anything else is posted again, as Telegram does). The
Slack sandbox answers `chat.postMessage` only after a delay, so many deliveries are in flight. The server
is killed twice (see KILLS) and restarted each time. Messages in flight at a kill reach Slack although
nobody reads the answer: linedesk tags each post with its outbox entry and looks a retaken entry's post up
before posting it again, so none reaches the desk twice (§13).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from sandboxes.limits import Limits
from tests.support.faults import (
    Platforms,
    ServerProcess,
    desk_roots,
    desk_tally,
    figure,
    logs_on_failure,
    post_update,
    root_session,
    serve_config,
    token,
    unique_prefix,
    wait_until,
)
from tests.support.rigs import REDIS_URL as SHARED_REDIS
from tests.support.rigs import drop_redis_prefix, redis_available

CLIENTS = range(1, 51)
PER_CLIENT = 20
LEASE = 2.0
SLACK_DELAY = 0.25
KILLS = ((100, 0), (600, 10))
"""When to kill: (updates accepted, Slack posts in flight) at least. The first kill comes while sessions are
being opened (the handlers lag behind the webhook), the second with many deliveries in flight."""
RECOVERY_LIMIT = 30.0


@pytest.fixture
async def platforms() -> AsyncIterator[Platforms]:
    stage = Platforms(limits=Limits.off())
    await stage.start()
    try:
        yield stage
    finally:
        await stage.stop()


@pytest.mark.parametrize("store", ["sqlite", "redis"])
async def test_kill9_mid_stream_then_restart_delivers_every_accepted_message(
    store: str, tmp_path: Path, platforms: Platforms
) -> None:
    prefix = ""
    if store == "redis":
        problem = await redis_available()
        if problem:
            pytest.skip(problem)
        prefix = unique_prefix("kill9")
        store_url = f"{SHARED_REDIS}?prefix={prefix}"
    else:
        store_url = f"sqlite:///{tmp_path / 'linedesk.db'}"
    (tmp_path / "processes").mkdir()
    server = ServerProcess(f"kill9-{store}", tmp_path)
    server.write_config(
        serve_config(
            port=server.port,
            public_url=server.url,
            store_url=store_url,
            platforms=platforms,
            processes=tmp_path / "processes",
            lease=LEASE,
        )
    )
    platforms.slack.fail("chat.postMessage", delay=SLACK_DELAY, count=-1)  # a slow Slack: deliveries pile up
    http = aiohttp.ClientSession(
        timeout=aiohttp.ClientTimeout(total=10), connector=aiohttp.TCPConnector(limit=len(CLIENTS))
    )
    try:
        with logs_on_failure(server):
            await server.start()
            await server.wait_ready()
            assert platforms.telegram.webhook("700001:support-sandbox-token").url == server.webhook_url

            accepted: set[tuple[int, int]] = set()
            not_accepted = 0
            deadline = time.monotonic() + 60

            async def chat(n: int) -> None:
                nonlocal not_accepted
                for seq in range(PER_CLIENT):
                    update = platforms.update(n, token(n, seq))
                    while await post_update(http, server.webhook_url, update) != 200:
                        not_accepted += 1
                        assert time.monotonic() < deadline, f"{token(n, seq)} never accepted"
                        await asyncio.sleep(0.05)
                    accepted.add((n, seq))

            posting_started = time.monotonic()
            chats = asyncio.gather(*(chat(n) for n in CLIENTS))
            kills: list[str] = []
            """per kill: accepted/Slack posts in flight/messages in the desk, at the moment of the kill"""
            in_flight_total = 0

            def slack_in_flight() -> int:
                return sum(1 for c in platforms.slack.calls_of("chat.postMessage") if c.response is None)

            try:
                for at_least, min_in_flight in KILLS:

                    def mid_stream(at_least: int = at_least, min_in_flight: int = min_in_flight) -> bool:
                        return len(accepted) >= at_least and slack_in_flight() >= min_in_flight

                    await wait_until(
                        mid_stream,
                        30,
                        f"{at_least} updates accepted and {min_in_flight} Slack posts in flight",
                        interval=0.005,
                    )
                    in_flight = slack_in_flight()  # these reach Slack although nobody reads the answer any more
                    kills.append(f"{len(accepted)}/{in_flight}/{len(desk_tally(platforms.slack).unique())}")
                    await server.kill9()
                    killed_at = time.monotonic()
                    in_flight_total += in_flight
                    await server.start()
                    restarted_at = time.monotonic()
                    ready_after = await server.wait_ready()
                await asyncio.wait_for(asyncio.shield(chats), 60)
                posting_s = time.monotonic() - posting_started
            finally:
                if not chats.done():
                    chats.cancel()
                await asyncio.gather(chats, return_exceptions=True)

            def explain() -> str:
                return f"missing {desk_tally(platforms.slack).missing(accepted)[:20]}"

            waited = await wait_until(
                lambda: not desk_tally(platforms.slack).missing(accepted),
                RECOVERY_LIMIT,
                "every accepted message in the Slack desk",
                interval=0.1,
                explain=explain,
                strict=False,
            )
            recovered = time.monotonic() - killed_at if waited >= 0 else -1.0
            recovered_after_restart = time.monotonic() - restarted_at if waited >= 0 else -1.0
            await asyncio.sleep(LEASE + 0.5)  # a late re-delivery would show now
            desk = desk_tally(platforms.slack)
            roots = desk_roots(platforms.slack)
            sessions = [root_session(r) for r in roots]
            twice_posted_roots = len(sessions) - len(set(sessions))
            duplicates = desk.duplicates() + twice_posted_roots
            figure(
                f"kill9 {store}",
                accepted=len(accepted),
                kills=",".join(kills),
                not_accepted_posts=not_accepted,
                delivered=len(desk.unique()),
                duplicates=duplicates,
                duplicate_messages=desk.duplicates(),
                duplicate_session_cards=twice_posted_roots,
                slack_in_flight_at_kills=in_flight_total,
                clients=len(CLIENTS),
                ready_after_restart_s=ready_after,
                all_delivered_after_restart_s=recovered_after_restart,
                all_delivered_after_kill_s=recovered,
                posting_s=posting_s,
            )

            assert len(accepted) == len(CLIENTS) * PER_CLIENT
            assert desk.missing(accepted) == []
            # a post that may have reached Slack before the kill is looked up before it is posted again
            assert duplicates == 0, desk.problems()
            assert desk.out_of_order() == {}, desk.problems()
            assert desk.split() == {}, f"a client's messages in several threads: {desk.split()}"
            threads = {place for places in desk.places.values() for place in places}
            assert len(threads) == len(CLIENTS), "one session thread per client"
    finally:
        await http.close()
        await server.stop()
        if prefix:
            await drop_redis_prefix(prefix)
