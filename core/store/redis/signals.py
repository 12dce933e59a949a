"""Signals between linedesk processes on one Redis: PUBLISH, and a subscription kept while it is iterated (an idle
long poll of another process wakes at once instead of at its next look)."""

from __future__ import annotations

from collections.abc import AsyncIterator

from core.store.redis.connection import RedisBase, _translated


class SignalsMixin(RedisBase):
    @_translated
    async def signal(self, channel: str, payload: str) -> None:
        await self._r.publish(self._k("signal", channel), payload)

    async def signals(self, channel: str) -> AsyncIterator[str]:
        pubsub = self._r.pubsub(ignore_subscribe_messages=True)
        await pubsub.subscribe(self._k("signal", channel))
        try:
            async for message in pubsub.listen():
                if message is not None and message.get("type") == "message":
                    data = message.get("data")
                    yield data.decode() if isinstance(data, bytes) else str(data)
        finally:
            await pubsub.aclose()
