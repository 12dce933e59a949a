"""The Redis store's batched scripts: the calls of one turn of the loop go to Redis in one pipeline, each is
answered on its own, and scripts Redis forgot (a restart, SCRIPT FLUSH) are loaded again — against a real
Redis."""

from __future__ import annotations

import asyncio

import pytest
import redis.asyncio as aioredis
from redis.exceptions import RedisError, ResponseError

from core.store.redis.batching import Batcher
from tests.support.rigs import REDIS_URL, RedisFactory


async def test_the_claims_of_one_turn_go_in_one_round_trip_and_each_gets_its_own_answer(
    redis_stores: RedisFactory,
) -> None:
    store = await redis_stores()
    before = store.batches_sent
    taken = await asyncio.gather(*(store.claim(f"k{n % 10}", 30.0, 1000.0, f"owner{n}") for n in range(50)))
    assert store.batches_sent - before == 1
    assert sum(taken) == 10  # one winner per key, in the order the calls were made
    assert taken[:10] == [True] * 10 and not any(taken[10:])
    for n in range(10):
        assert await store.renew(f"k{n}", 30.0, 1001.0, f"owner{n}")
        assert not await store.renew(f"k{n}", 30.0, 1001.0, f"owner{n + 10}")


async def test_scripts_that_redis_forgot_are_loaded_again(redis_stores: RedisFactory) -> None:
    store = await redis_stores()
    assert await store.claim("a", 30.0, 1000.0, "me")
    admin = aioredis.from_url(REDIS_URL)
    try:
        await admin.script_flush()
    finally:
        await admin.aclose()
    results = await asyncio.gather(store.claim("b", 30.0, 1000.0, "me"), store.claim("a", 30.0, 1000.0, "you"))
    assert results == [True, False]


async def test_an_error_in_one_call_is_that_calls_alone() -> None:
    client = aioredis.from_url(REDIS_URL, decode_responses=True)
    try:
        await client.ping()
    except Exception as e:  # pragma: no cover - the suite's Redis is there in CI
        await client.aclose()
        pytest.skip(f"no Redis at {REDIS_URL}: {e}")
    batcher = Batcher(client, timeout=5.0)
    echo = batcher.script("return ARGV[1]")
    fail = batcher.script("return redis.error_reply('refused: ' .. ARGV[1])")
    try:
        results = await asyncio.gather(
            echo(args=["one"]), fail(args=["two"]), echo(args=["three"]), return_exceptions=True
        )
        assert results[0] == "one" and results[2] == "three"
        assert isinstance(results[1], ResponseError) and "refused: two" in str(results[1])
        assert batcher.sent == 1
    finally:
        await batcher.close()
        await client.aclose()


async def test_a_redis_that_does_not_answer_fails_the_batch_within_its_timeout() -> None:
    """A server that accepts the connection and never answers (a hung Redis): each call of the batch fails."""

    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read(1 << 16)
        await asyncio.sleep(30)

    server = await asyncio.start_server(silent, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    client = aioredis.from_url(f"redis://127.0.0.1:{port}/0", decode_responses=True)
    batcher = Batcher(client, timeout=0.3)
    echo = batcher.script("return ARGV[1]")
    try:
        results = await asyncio.gather(echo(args=["a"]), echo(args=["b"]), return_exceptions=True)
        assert all(isinstance(r, Exception) and "no answer within 0.3 s" in str(r) for r in results)
    finally:
        await batcher.close()
        await client.aclose()
        server.close()


async def test_a_redis_that_refuses_the_connection_fails_each_call_of_the_batch() -> None:
    server = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    server.close()
    await server.wait_closed()  # nobody listens on the port now
    client = aioredis.from_url(f"redis://127.0.0.1:{port}/0", decode_responses=True)
    batcher = Batcher(client, timeout=5.0)
    echo = batcher.script("return ARGV[1]")
    try:
        results = await asyncio.gather(echo(args=["a"]), echo(args=["b"]), return_exceptions=True)
        assert all(isinstance(r, RedisError) for r in results), results
    finally:
        await batcher.close()
        await client.aclose()
