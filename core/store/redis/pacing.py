"""Pacing windows in Redis (`core.pacing.Windows`): every linedesk instance on one Redis draws from the same
buckets, so two instances together stay under a platform's limit instead of each sending its own share.

A bucket is a sorted set of its recent sends (score: Redis's own clock, in ms, so instances whose clocks
differ still agree) and a key whose time to live is the bucket's pause after a 429.
"""

from __future__ import annotations

import uuid
from typing import cast

from redis.asyncio import Redis

from core.pacing import Rate
from core.store.redis.connection import RedisBase

# KEYS: the bucket's sends, its pause; ARGV: count, per (ms), cost, a member prefix unique to this call ("p:…": a
# send on its way until `_LANDED`), the spare pace (`Windows.take`): its count and per (ms), 0 0 for none, and
# the rate's spacing (ms, `Rate.spacing`). Returns 0 when the sends were recorded, else the ms to wait.
_TAKE = """
local paused = redis.call('PTTL', KEYS[2])
if paused > 0 then return paused end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local count, per = tonumber(ARGV[1]), tonumber(ARGV[2])
local cost = math.min(tonumber(ARGV[3]), count)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - per)
local n = redis.call('ZCARD', KEYS[1])
if n + cost > count then
  local oldest = redis.call('ZRANGE', KEYS[1], n + cost - count - 1, n + cost - count - 1, 'WITHSCORES')
  return math.max(1, tonumber(oldest[2]) + per - now)
end
local spacing = tonumber(ARGV[7])
if spacing > 0 and n > 0 and 4 * n >= 3 * count then
  local last = redis.call('ZRANGE', KEYS[1], -1, -1, 'WITHSCORES')
  local gap = tonumber(last[2]) + spacing - now
  if gap > 0 then return math.max(1, math.ceil(gap)) end
end
local spare_count, spare_per = tonumber(ARGV[5]), tonumber(ARGV[6])
if spare_per > 0 then
  local recent = redis.call('ZRANGEBYSCORE', KEYS[1], '(' .. (now - spare_per), '+inf', 'WITHSCORES')
  local r = #recent / 2
  local over = r + cost - spare_count
  if over > 0 and r > 0 then
    local at = tonumber(recent[2 * math.min(over, r)])
    return math.max(1, at + spare_per - now)
  end
end
for i = 1, cost do redis.call('ZADD', KEYS[1], now, ARGV[4] .. i) end
redis.call('PEXPIRE', KEYS[1], per)
return 0
"""


# The sends of one answered call (`Windows.landed`): its oldest sends still marked on their way ("p:") now count
# from now on. KEYS: the bucket's sends; ARGV: the cost, the window (ms).
_LANDED = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local cost, per = tonumber(ARGV[1]), tonumber(ARGV[2])
local moved = 0
for _, member in ipairs(redis.call('ZRANGEBYSCORE', KEYS[1], now - per, '+inf')) do
  if moved >= cost then break end
  if string.sub(member, 1, 2) == 'p:' then
    redis.call('ZREM', KEYS[1], member)
    redis.call('ZADD', KEYS[1], now, 'l:' .. string.sub(member, 3))
    moved = moved + 1
  end
end
if moved > 0 then redis.call('PEXPIRE', KEYS[1], per) end
return moved
"""


# A token bucket kept as its next free time (GCRA). KEYS: the bucket's free time, its pause; ARGV: the interval
# between sends (ms), the burst, the cost, and for a spare send (`Windows.take`) how long the bucket must have
# been full (ms; 0 for any send). Returns 0 when the sends were recorded, else the ms to wait.
_ADMIT = """
local paused = redis.call('PTTL', KEYS[2])
if paused > 0 then return paused end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local interval, burst = tonumber(ARGV[1]), tonumber(ARGV[2])
local cost = math.min(tonumber(ARGV[3]), burst)
local spare = tonumber(ARGV[4])
local free = tonumber(redis.call('GET', KEYS[1]) or (now - spare))
if spare > 0 and free > now - spare then return math.max(1, math.ceil(free + spare - now)) end
local after = math.max(free, now) + cost * interval
local over = after - now - burst * interval
if over > 0 then return math.max(1, math.ceil(over)) end
redis.call('SET', KEYS[1], after, 'PX', math.ceil(after - now) + 1000)
return 0
"""


class RedisWindows:
    def __init__(self, client: Redis, prefix: str):
        self._client = client
        self._prefix = prefix
        self._take = client.register_script(_TAKE)
        self._admit = client.register_script(_ADMIT)
        self._landed = client.register_script(_LANDED)

    async def take(self, bucket: str, rate: Rate, cost: int, spare: Rate | None = None) -> float:
        if rate.burst:
            waited = await self._admit(
                keys=[f"{self._prefix}pace:{bucket}:free", f"{self._prefix}pace:{bucket}:paused"],
                args=[rate.per * 1000 / rate.count, rate.burst, cost, int(spare.per * 1000) if spare else 0],
            )
            return int(cast(int, waited)) / 1000
        waited = await self._take(
            keys=[f"{self._prefix}pace:{bucket}", f"{self._prefix}pace:{bucket}:paused"],
            args=[
                rate.count,
                max(1, int(rate.per * 1000)),
                cost,
                f"p:{uuid.uuid4().hex}:",
                spare.count if spare else 0,
                max(1, int(spare.per * 1000)) if spare else 0,
                int(rate.spacing * 1000),
            ],
        )
        return int(cast(int, waited)) / 1000

    async def landed(self, bucket: str, rate: Rate, cost: int) -> None:
        if not rate.burst:
            await self._landed(keys=[f"{self._prefix}pace:{bucket}"], args=[cost, max(1, int(rate.per * 1000))])

    async def pause(self, bucket: str, seconds: float) -> None:
        key = f"{self._prefix}pace:{bucket}:paused"
        ms = max(1, int(seconds * 1000))
        current = int(await self._client.pttl(key))
        if current < ms:
            await self._client.set(key, "1", px=ms)


class PacingMixin(RedisBase):
    """`RedisStore.pacing_windows`: the windows every instance on this Redis shares."""

    def pacing_windows(self) -> RedisWindows:
        return RedisWindows(self._r, self.prefix)
