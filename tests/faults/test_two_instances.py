"""Two `linedesk serve` processes on one Redis prefix, each event reaching one or both of them.

Telegram updates go to either instance's webhook at random, and about a third of them to both (the
same update_id: Telegram retrying through a load balancer); Slack events and button clicks likewise
(the second copy with `X-Slack-Retry-Num`). Every inbound event must be handled once (one session per
client, each message once in its desk thread), every outbound message delivered once and in order, and
the timer of a process auto-started on `session.created` must fire exactly once per session.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from sandboxes.limits import Limits
from sandboxes.rig import ANNA, DESK_CHANNEL
from tests.support.bpmn import block, timer, write_process
from tests.support.faults import (
    CLIENT_BASE,
    Platforms,
    ServerProcess,
    bot_texts,
    client_tally,
    counters_by_result,
    desk_roots,
    desk_tally,
    figure,
    logs_on_failure,
    post_update,
    root_session,
    serve_config,
    thread_texts,
    token,
    unique_prefix,
    wait_until,
)
from tests.support.rigs import REDIS_URL as SHARED_REDIS
from tests.support.rigs import drop_redis_prefix, redis_available

LEASE = 2.0
CLIENTS = range(1, 21)
PER_CLIENT = 5
REPLIES = 3
BOTH = 0.3
"""Share of the events sent to both instances."""
TIMER_TEXT = "⏰ timer fired"
AUTOSTART = """
  [[lines.autostart]]
  event = "session.created"
  process = "ping_later"
  enabled = true
"""


@pytest.fixture
async def platforms() -> AsyncIterator[Platforms]:
    stage = Platforms(limits=Limits.off())
    await stage.start()
    try:
        yield stage
    finally:
        await stage.stop()


async def test_two_instances_on_one_redis_handle_every_event_once_and_deliver_once_in_order(
    tmp_path: Path, platforms: Platforms
) -> None:
    problem = await redis_available()
    if problem:
        pytest.skip(problem)
    prefix = unique_prefix("two")
    store_url = f"{SHARED_REDIS}?prefix={prefix}"
    processes = tmp_path / "processes"
    write_process(
        processes,
        "ping_later.bpmn",
        "ping_later",
        "Ping later",
        timer("PT3S"),
        block("linedesk.reply", text=f"{TIMER_TEXT} for session #{{session_id}}"),
    )
    first, second = ServerProcess("instance-a", tmp_path), ServerProcess("instance-b", tmp_path)
    for server in (first, second):  # public_url: the load balancer's address (instance a's, for the test)
        server.write_config(
            serve_config(
                port=server.port,
                public_url=first.url,
                store_url=store_url,
                platforms=platforms,
                processes=processes,
                lease=LEASE,
                line_extra=AUTOSTART,
            )
        )
    servers = (first, second)
    rng = random.Random(20251125)
    http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10))
    slack = platforms.slack
    try:
        with logs_on_failure(*servers):
            await asyncio.gather(*(s.start() for s in servers))
            await asyncio.gather(*(s.wait_ready() for s in servers))
            started = time.monotonic()
            online = await slack.post_slash(first.slack_url, "/status", "online", ANNA.slack_user, DESK_CHANNEL)
            assert online.status == 200, online

            # 1. clients write: each update to one instance, a third of them to both
            updates_to_both = 0

            async def chat(n: int) -> None:
                nonlocal updates_to_both
                for seq in range(PER_CLIENT):
                    update = platforms.update(n, token(n, seq))
                    targets = rng.sample(servers, 2) if rng.random() < BOTH else [rng.choice(servers)]
                    updates_to_both += len(targets) == 2
                    deadline = time.monotonic() + 20
                    while True:
                        statuses = await asyncio.gather(*(post_update(http, s.webhook_url, update) for s in targets))
                        if 200 in statuses:
                            break
                        assert time.monotonic() < deadline, f"{token(n, seq)} refused: {statuses}"
                        await asyncio.sleep(0.1)

            await asyncio.gather(*(chat(n) for n in CLIENTS))
            expected = {(n, s) for n in CLIENTS for s in range(PER_CLIENT)}
            await wait_until(
                lambda: not desk_tally(slack).missing(expected),
                10,
                "every client message in the desk",
                explain=lambda: f"missing {desk_tally(slack).missing(expected)[:20]}",
                strict=False,
            )

            # 2. Anna takes each session (the click reaches both instances) and answers in its thread
            threads: dict[int, tuple[str, int]] = {}
            places = desk_tally(slack).places
            for root in desk_roots(slack):
                for n, found in places.items():
                    if root["ts"] in found:
                        threads[n] = (root["ts"], root_session(root))
            events_to_both = 0

            async def operator(n: int) -> None:
                nonlocal events_to_both
                root_ts, number = threads[n]
                takes = await asyncio.gather(
                    *(
                        slack.click(
                            s.slack_url,
                            ANNA.slack_user,
                            "session.take",
                            str(number),
                            channel_id=DESK_CHANNEL,
                            message_ts=root_ts,
                        )
                        for s in servers
                    )
                )
                assert all(t.status == 200 for t in takes), takes
                for r in range(REPLIES):
                    body, content_type = slack.payloads.message_event(
                        ANNA.slack_user, DESK_CHANNEL, token(n, r, "o"), thread_ts=root_ts
                    )
                    target, other = rng.sample(servers, 2)
                    answer = await slack.send(target.slack_url, body, content_type)
                    assert answer.status == 200, answer
                    if rng.random() < BOTH:  # Slack thought the first delivery was lost
                        events_to_both += 1
                        again = await slack.send(other.slack_url, body, content_type, retry_num=1)
                        assert again.status == 200, again

            await asyncio.gather(*(operator(n) for n in threads))  # clients without a thread: nobody can answer
            replies = {(n, r) for n in CLIENTS for r in range(REPLIES)}
            await wait_until(
                lambda: not client_tally(platforms.telegram, CLIENTS).missing(replies),
                10,
                "every reply in the clients' chats",
                strict=False,
                explain=lambda: f"missing {client_tally(platforms.telegram, CLIENTS).missing(replies)}",
            )

            def timers_fired() -> int:
                return sum(
                    1 for n in CLIENTS if any(TIMER_TEXT in t for t in bot_texts(platforms.telegram, CLIENT_BASE + n))
                )

            await wait_until(
                lambda: timers_fired() == len(CLIENTS),
                8,
                "every session's timer",
                strict=False,
                explain=lambda: f"{timers_fired()} of {len(CLIENTS)} fired",
            )
            elapsed = time.monotonic() - started
            await asyncio.sleep(LEASE + 1.5)  # late duplicates would show now

            desk = desk_tally(slack)
            chats = client_tally(platforms.telegram, CLIENTS)
            timer_messages = {
                n: sum(TIMER_TEXT in t for t in bot_texts(platforms.telegram, CLIENT_BASE + n)) for n in CLIENTS
            }
            greetings = {
                n: bot_texts(platforms.telegram, CLIENT_BASE + n).count("Hello! An operator will answer shortly.")
                for n in CLIENTS
            }
            took = {n: sum("took the session" in t for t in thread_texts(slack, threads[n][0])) for n in threads}
            sessions = (await first.api("/api/sessions?limit=1000"))["sessions"]
            per_client: dict[str, int] = {}
            for session in sessions:
                per_client[session["client_id"]] = per_client.get(session["client_id"], 0) + 1
            did = {s.name: counters_by_result(await s.metrics()) for s in servers}
            figure(
                "two-instances",
                clients=len(CLIENTS),
                telegram_updates=len(expected),
                updates_to_both=updates_to_both,
                slack_replies=len(replies),
                events_to_both=events_to_both,
                sessions=len(sessions),
                session_cards=len(desk_roots(slack)),
                desk_duplicates=desk.duplicates(),
                reply_duplicates=chats.duplicates(),
                timers_fired=sum(timer_messages.values()),
                takes_noted=sum(took.values()),
                a=did[first.name],
                b=did[second.name],
                real_s=elapsed,
            )

            assert sorted(per_client.values()) == [1] * len(CLIENTS), f"sessions per client: {per_client}"
            assert set(threads) == set(CLIENTS), f"clients without a desk thread: {set(CLIENTS) - set(threads)}"
            assert len(desk_roots(slack)) == len(CLIENTS), "one session card per client"
            assert desk.missing(expected) == [] and desk.duplicates() == 0, desk.problems()
            assert desk.out_of_order() == {}, desk.problems()
            assert desk.split() == {}
            assert chats.missing(replies) == [] and chats.duplicates() == 0, chats.problems()
            assert chats.out_of_order() == {}, chats.problems()
            assert set(timer_messages.values()) == {1}, timer_messages
            assert set(greetings.values()) == {1}, greetings
            assert set(took.values()) == {1}, f'"took the session" notices per thread: {took}'
            delivered = [sum(v for k, v in d.items() if k.endswith("deliveries.delivered")) for d in did.values()]
            assert sum(delivered) > 0, did
    finally:
        await http.close()
        await asyncio.gather(*(s.stop() for s in (first, second)))
        await drop_redis_prefix(prefix)
