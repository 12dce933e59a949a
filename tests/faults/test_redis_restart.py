"""Redis goes away mid-stream and comes back: linedesk (not restarted) recovers by itself.

A private `redis-server` (AOF, fsync always) is stopped while ten Telegram clients keep writing. While it
is away the webhook must not answer 200 for an update it could not store (Telegram then delivers it
again); the test re-posts every refused update the way Telegram does. Redis restarts on the same folder
and port; `/readyz` must turn 200 again by itself, and every accepted update must reach the Slack desk
in order per client, with at most a few duplicates (a store write whose answer was lost with the
connection is done again: at least once, never lost).
"""

from __future__ import annotations

import asyncio
import signal
import time
from collections import Counter
from pathlib import Path

import aiohttp
import pytest

from core.model import Channel, Client
from core.store import RedisStore
from core.store.base import StoreError
from sandboxes.limits import Limits
from sandboxes.rig import SUPPORT_TOKEN, WEBHOOK_SECRET, Rig
from tests.support.faults import (
    CLIENT_BASE,
    PROCESSES,
    RedisServer,
    bot_texts,
    client_name,
    desk_tally,
    figure,
    token,
    unique_prefix,
    wait_until,
)

LEASE = 5.0
OUTAGE = 2.5
CLIENTS = range(1, 11)
PER_CLIENT = 40
GREETING = "Hello! An operator will answer shortly."
MAX_DUPLICATES = 5


async def test_redis_stops_mid_stream_and_restarts_linedesk_recovers_alone_nothing_lost_in_order(
    tmp_path: Path,
) -> None:
    redis = RedisServer(tmp_path)
    await redis.start()
    rig = Rig(tmp_path, PROCESSES, store_url=redis.url, lease=LEASE, limits=Limits.off())
    http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10))
    try:
        await rig.start()
        down = asyncio.Event()
        accepted: set[tuple[int, int]] = set()
        answers_while_down: Counter[str] = Counter()
        refused = 0
        real_deadline = time.monotonic() + 90

        async def readyz() -> int:
            try:
                async with http.get(f"{rig.url}/readyz") as response:
                    return response.status
            except (aiohttp.ClientError, TimeoutError, OSError):
                return 0

        async def client_stream(n: int) -> None:
            """One Telegram chat: the next update only once the previous one was accepted (re-posted until then)."""
            nonlocal refused
            user = rig.telegram.user(CLIENT_BASE + n, client_name(n))
            for seq in range(PER_CLIENT):
                update = rig.telegram.text_update(SUPPORT_TOKEN, user, token(n, seq))
                while True:
                    was_down = down.is_set()
                    try:
                        status, _ = await rig.telegram.post_update(rig.webhook_url(), update, secret=WEBHOOK_SECRET)
                    except (aiohttp.ClientError, TimeoutError, OSError) as err:
                        status, _ = 0, str(err)
                    if was_down and down.is_set():
                        answers_while_down[str(status)] += 1
                    if status == 200:
                        accepted.add((n, seq))
                        break
                    refused += 1
                    assert time.monotonic() < real_deadline, f"update {token(n, seq)} never accepted"
                    await asyncio.sleep(0.1)  # Telegram delivers it again a little later
                await asyncio.sleep(0.03)

        streams = asyncio.gather(*(client_stream(n) for n in CLIENTS))
        try:
            await wait_until(lambda: len(accepted) >= len(CLIENTS) * PER_CLIENT // 4, 30, "a quarter accepted")
            accepted_before = len(accepted)
            await redis.stop()
            stopped_at = time.monotonic()
            down.set()
            await asyncio.sleep(OUTAGE / 2)
            ready_while_down = await readyz()
            await asyncio.sleep(OUTAGE / 2)
            await redis.start()
            down.clear()
            restarted_at = time.monotonic()

            async def ready() -> bool:
                return await readyz() == 200

            ready_after = await wait_until(ready, 30, "/readyz 200 after Redis came back", interval=0.1)
            await asyncio.wait_for(asyncio.shield(streams), 60)
        finally:
            if not streams.done():
                streams.cancel()
            await asyncio.gather(streams, return_exceptions=True)

        expected = {(n, s) for n in CLIENTS for s in range(PER_CLIENT)}

        def all_in_desk() -> bool:
            return not desk_tally(rig.slack).missing(accepted)

        waited = await wait_until(
            all_in_desk,
            30,
            "every accepted update in the Slack desk",
            strict=False,
            explain=lambda: f"missing {desk_tally(rig.slack).missing(accepted)[:20]}",
        )
        recovered = time.monotonic() - restarted_at if waited >= 0 else -1.0
        await asyncio.sleep(1.0)  # late duplicates, if any, have time to show
        desk = desk_tally(rig.slack)
        assert rig.desk is not None
        figure(
            "redis-restart",
            clients=len(CLIENTS),
            updates=len(expected),
            accepted=len(accepted),
            accepted_before_stop=accepted_before,
            refused_posts=refused,
            answers_while_down=dict(answers_while_down),
            readyz_while_down=ready_while_down,
            outage_s=restarted_at - stopped_at,
            readyz_200_after_restart_s=ready_after,
            all_delivered_after_restart_s=recovered,
            delivered=len(desk.unique()),
            duplicates=desk.duplicates(),
        )

        assert accepted == expected
        assert ready_while_down == 503, "/readyz must say 503 while the store is away"
        assert desk.missing(accepted) == []  # a 200 given while Redis was away must have been stored
        # at least once: a write whose answer was lost with the connection is done again (0 in most runs)
        assert desk.duplicates() <= MAX_DUPLICATES, desk.problems()
        assert desk.out_of_order() == {}, desk.problems()
        assert desk.split() == {}, "one session per client"
        for n in CLIENTS:
            chat = bot_texts(rig.telegram, CLIENT_BASE + n)
            assert chat.count(GREETING) == 1, chat
    finally:
        try:
            await http.close()
            await rig.stop()
        finally:
            await redis.stop()


async def test_a_redis_that_stops_answering_fails_each_store_call_at_its_deadline_then_recovers(tmp_path: Path) -> None:
    """A Redis that hangs without closing its connections (SIGSTOP: a frozen host, a full network path) makes
    each store call fail with StoreError at the store's deadline — not hang the caller — and the store works
    again once Redis answers."""
    redis = RedisServer(tmp_path)
    await redis.start()
    store = RedisStore(redis.url, prefix=unique_prefix("hang"), call_timeout=0.5)
    await store.open()
    assert redis.proc is not None
    try:
        await store.save_client(
            Client(id="telegram:1", channel=Channel.TELEGRAM, external_id="1", name="Ivan", chat_id="1")
        )
        redis.proc.send_signal(signal.SIGSTOP)
        started = time.monotonic()
        with pytest.raises(StoreError, match=r"no answer within 0\.5 s"):
            await store.get_client("telegram:1")
        with pytest.raises(StoreError):
            await store.claim("inbound:telegram:support:1", 5, time.time(), "a")
        assert not await store.ping()
        assert time.monotonic() - started < 3
        redis.proc.send_signal(signal.SIGCONT)
        back = await store.get_client("telegram:1")
        assert back is not None and back.name == "Ivan"
        assert await store.ping()
    finally:
        if redis.proc.returncode is None:
            redis.proc.send_signal(signal.SIGCONT)
        await store.close()
        await redis.stop()
