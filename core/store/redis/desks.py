"""Redis's desk figures: the Slack desk channel of each session (several channels per line) and each desk's
outbox backlog, each one Lua script (one round trip, atomic).

Keys read (after the store's prefix): `sessions:line:<l>:status:{queued,active}` (the line's open sessions),
`ref:desk.channel` (session → {"channel"}: the channel chosen, `core.store.base.DESK_CHANNEL_REF`),
`link:session_thread` (session → {"platform", "data": {"channel", "ts"}}: the thread, for sessions whose
thread was posted before a choice was recorded), `outbox:ready`, `outbox:conv:<c>`, `outbox:entry:<id>`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import cast

from core.links import LinkKind
from core.store.base import DESK_CHANNEL_REF, DeskBacklog
from core.store.redis.connection import RedisBase, _num, _translated

# The channel of session ARGV-given `n`: chosen, else linked. KEYS[1]: ref:desk.channel, KEYS[2]: link:session_thread.
_CHANNEL_OF = """
local function channel_of(n)
  local chosen = redis.call('HGET', KEYS[1], n)
  if chosen then return cjson.decode(chosen).channel end
  local link = redis.call('HGET', KEYS[2], n)
  if link then return cjson.decode(link).data.channel end
  return false
end
local function open_per_channel()
  local counts = {}
  for i = 3, 4 do
    for _, n in ipairs(redis.call('ZRANGE', KEYS[i], 0, -1)) do
      local c = channel_of(n)
      if c then counts[c] = (counts[c] or 0) + 1 end
    end
  end
  return counts
end
"""

# KEYS: ref:desk.channel, link:session_thread, the line's queued and active session indexes.
# ARGV: the session, then the channels in order. Returns the channel.
_CHOOSE = (
    _CHANNEL_OF
    + """
local known = channel_of(ARGV[1])
if known then return known end
local counts = open_per_channel()
local best, fewest = nil, nil
for i = 2, #ARGV do
  local n = counts[ARGV[i]] or 0
  if fewest == nil or n < fewest then best, fewest = ARGV[i], n end
end
redis.call('HSET', KEYS[1], ARGV[1], cjson.encode({channel = best}))
return best
"""
)

# KEYS: as _CHOOSE. Returns [channel, count, …].
_OPEN = (
    _CHANNEL_OF
    + """
local out = {}
for c, n in pairs(open_per_channel()) do
  out[#out + 1] = c
  out[#out + 1] = n
end
return out
"""
)

# KEYS: ref:desk.channel, link:session_thread, outbox:ready. ARGV: now, the outbox:conv: prefix, the outbox:entry:
# prefix, the Slack desk route, then the desk routes. Returns [route, line, channel, count, oldest, …].
_BACKLOG = """
local now = tonumber(ARGV[1])
local routes = {}
for i = 5, #ARGV do routes[ARGV[i]] = true end
local groups, order = {}, {}
for _, conv in ipairs(redis.call('ZRANGE', KEYS[3], 0, -1)) do
  local colon = string.find(conv, ':', 1, true)
  local route = colon and string.sub(conv, 1, colon - 1)
  if route and routes[route] then
    local n = string.sub(conv, colon + 1)
    local channel = ''
    if route == ARGV[4] then
      local chosen = redis.call('HGET', KEYS[1], n)
      if chosen then
        channel = cjson.decode(chosen).channel
      else
        local link = redis.call('HGET', KEYS[2], n)
        if link then channel = cjson.decode(link).data.channel end
      end
    end
    for _, id in ipairs(redis.call('ZRANGE', ARGV[2] .. conv, 0, -1)) do
      local doc = redis.call('GET', ARGV[3] .. id)
      if doc then
        local e = cjson.decode(doc)
        if tonumber(e.due_at) <= now or (tonumber(e.attempts) or 0) > 0 then
          local key = route .. '\\n' .. tostring(e.action.line_id) .. '\\n' .. channel
          local g = groups[key]
          if not g then
            g = {route, tostring(e.action.line_id), channel, 0, tonumber(e.created_at)}
            groups[key] = g
            order[#order + 1] = key
          end
          g[4] = g[4] + 1
          if tonumber(e.created_at) < g[5] then g[5] = tonumber(e.created_at) end
        end
      end
    end
  end
end
local out = {}
for _, key in ipairs(order) do
  local g = groups[key]
  for _, v in ipairs({g[1], g[2], g[3], tostring(g[4]), string.format('%.17g', g[5])}) do out[#out + 1] = v end
end
return out
"""


class RedisDesks(RedisBase):
    def _desk_keys(self, line_id: str) -> list[str]:
        return [
            self._k("ref", DESK_CHANNEL_REF),
            self._k("link", LinkKind.SESSION_THREAD.value),
            self._k("sessions", "line", line_id, "status", "queued"),
            self._k("sessions", "line", line_id, "status", "active"),
        ]

    @_translated
    async def choose_desk_channel(self, line_id: str, session: int, channels: Sequence[str]) -> str:
        if not channels:
            raise ValueError("no desk channel to choose from")
        script = self._r.register_script(_CHOOSE)
        return str(await script(keys=self._desk_keys(line_id), args=[str(session), *channels]))

    @_translated
    async def desk_channel_sessions(self, line_id: str) -> dict[str, int]:
        script = self._r.register_script(_OPEN)
        flat = cast(list[str], await script(keys=self._desk_keys(line_id), args=[]))
        return {str(flat[i]): int(flat[i + 1]) for i in range(0, len(flat), 2)}

    @_translated
    async def desk_backlog(self, now: float, routes: Sequence[str], slack_route: str) -> list[DeskBacklog]:
        if not routes:
            return []
        script = self._r.register_script(_BACKLOG)
        keys = [*self._desk_keys("")[:2], self._k("outbox", "ready")]
        args = [_num(now), self._k("outbox", "conv", ""), self._k("outbox", "entry", ""), slack_route, *routes]
        flat = cast(list[str], await script(keys=keys, args=args))
        rows = [
            DeskBacklog(str(flat[i]), str(flat[i + 1]), str(flat[i + 2]), int(flat[i + 3]), float(flat[i + 4]))
            for i in range(0, len(flat), 5)
        ]
        return sorted(rows, key=lambda row: (row.route, row.line_id, row.channel))
