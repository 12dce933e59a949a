"""Scripts called in the same turn of the loop go to Redis together: one pipeline, one round trip.

Why: a relayed message makes six store calls, each a script; made one by one, each takes a connection from
the pool, writes, and wakes the loop for its answer — redis-py's and asyncio's share of that was about a
third of linedesk's CPU per message on Redis (benchmarks/README.md). Calls made by different coroutines in
one turn (a burst of webhooks, deliveries finishing) now share that work. A call's own semantics do not
change: each script is one atomic command, answered on its own (an error is that call's alone), and a
caller still waits for its answer. Not a transaction: the scripts of a batch do not depend on each other.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import NoScriptError, RedisError

KeyT = str
ArgT = str | bytes | int | float


@dataclass
class _Call:
    script: BatchedScript
    keys: Sequence[KeyT]
    args: Sequence[ArgT]
    answer: asyncio.Future[Any]


@dataclass
class Batcher:
    """Collects script calls and sends each turn's as one non-transactional pipeline."""

    client: aioredis.Redis
    timeout: float
    """Seconds a batch may take before its calls fail (a Redis that stopped answering)."""
    sent: int = 0
    """Pipelines sent so far."""
    _waiting: list[_Call] = field(default_factory=list)
    _sending: set[asyncio.Task[None]] = field(default_factory=set)

    def script(self, text: str) -> BatchedScript:
        return BatchedScript(self, text)

    def call(self, script: BatchedScript, keys: Sequence[KeyT], args: Sequence[ArgT]) -> asyncio.Future[Any]:
        loop = asyncio.get_running_loop()
        answer: asyncio.Future[Any] = loop.create_future()
        if not self._waiting:
            loop.call_soon(self._flush)
        self._waiting.append(_Call(script, keys, args, answer))
        return answer

    def _flush(self) -> None:
        batch, self._waiting = self._waiting, []
        if batch:
            self.sent += 1
            task = asyncio.create_task(self._send(batch))
            self._sending.add(task)
            task.add_done_callback(self._sending.discard)

    async def _send(self, batch: list[_Call], loaded: bool = False) -> None:
        try:
            async with asyncio.timeout(self.timeout):
                async with self.client.pipeline(transaction=False) as pipe:
                    for call in batch:
                        pipe.evalsha(call.script.sha, len(call.keys), *call.keys, *call.args)
                    results = await pipe.execute(raise_on_error=False)
        except (RedisError, OSError, TimeoutError) as e:
            error = e if isinstance(e, RedisError) else RedisError(f"no answer within {self.timeout:g} s: {e!r}")
            for call in batch:
                _settle(call.answer, error=error)
            return
        except BaseException as e:  # cancelled (the store closing): the callers must not wait forever
            for call in batch:
                _settle(call.answer, error=RedisError(f"the call was abandoned: {e!r}"))
            raise
        unknown = [call for call, result in zip(batch, results, strict=True) if isinstance(result, NoScriptError)]
        if unknown and not loaded:  # Redis restarted or its scripts were flushed: load them, then once more
            try:
                for text in {call.script.text for call in unknown}:
                    await self.client.script_load(text)
            except RedisError as e:
                for call in unknown:
                    _settle(call.answer, error=e)
            else:
                await self._send(unknown, loaded=True)
        for call, result in zip(batch, results, strict=True):
            if loaded or not isinstance(result, NoScriptError):
                _settle(call.answer, result=result)

    async def close(self) -> None:
        self._flush()
        if self._sending:
            await asyncio.gather(*self._sending, return_exceptions=True)


def _settle(answer: asyncio.Future[Any], *, result: Any = None, error: BaseException | None = None) -> None:
    if answer.done():
        return  # its caller was cancelled
    if error is None and isinstance(result, BaseException):
        error = result
    if error is not None:
        answer.set_exception(error)
    else:
        answer.set_result(result)


class BatchedScript:
    """A Lua script called like redis-py's `AsyncScript` (`await script(keys=…, args=…)`), sent with the
    other calls of its turn."""

    def __init__(self, batcher: Batcher, text: str):
        self._batcher = batcher
        self.text = text
        self.sha = hashlib.sha1(text.encode()).hexdigest()

    async def __call__(self, keys: Sequence[KeyT] = (), args: Sequence[ArgT] = ()) -> Any:
        return await self._batcher.call(self, keys, args)
