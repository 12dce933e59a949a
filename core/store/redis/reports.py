"""What reports read (SPEC §15), in pages of a few thousand records per script call so that Redis is never
held for long: sessions through `sessions:created` / `sessions:line:<line>:created` (scored by when they
opened; kept by the session script, built for older data by layout upgrade 6), instances through
`instances` (scored by when they started)."""

from __future__ import annotations

from typing import cast

import redis.asyncio as aioredis

from core.model import InstanceStatus, SessionStatus
from core.store.base import InstanceFacts, SessionFacts
from core.store.redis.connection import RedisBase, _num, _translated

PAGE = 5000

# A page of a period's sessions, their report fields flattened (8 strings each; "" = none).
# KEYS: the created index; ARGV: since, "(" until, offset, count, key prefix.
_REPORT_SESSIONS = """
local out = {}
local numbers = redis.call('ZRANGEBYSCORE', KEYS[1], ARGV[1], ARGV[2], 'LIMIT', ARGV[3], ARGV[4])
local function f(v) if type(v) == 'number' then return tostring(v) end return '' end
for _, n in ipairs(numbers) do
  local doc = redis.call('GET', ARGV[5] .. 'session:' .. n)
  if doc then
    local s = cjson.decode(doc)
    local assignee = s.assignee
    if type(assignee) ~= 'string' then assignee = '' end
    out[#out + 1] = n
    out[#out + 1] = s.line_id
    out[#out + 1] = s.status
    out[#out + 1] = assignee
    out[#out + 1] = f(s.created_at)
    out[#out + 1] = f(s.closed_at)
    out[#out + 1] = f(s.first_response_at)
    out[#out + 1] = f(s.rating)
  end
end
return {#numbers, out}
"""

# A page of a period's instances (4 strings each). An instance's JSON holds its whole workflow: the few
# top-level fields are matched, not decoded (a quote inside a string value is escaped, so `"trigger":"`
# only matches the record's own field). KEYS: `instances`; ARGV: since, "(" until, offset, count, prefix,
# the line ("" = every line).
_REPORT_INSTANCES = """
local out = {}
local ids = redis.call('ZRANGEBYSCORE', KEYS[1], ARGV[1], ARGV[2], 'WITHSCORES', 'LIMIT', ARGV[3], ARGV[4])
for i = 1, #ids, 2 do
  local doc = redis.call('GET', ARGV[5] .. 'instance:' .. ids[i])
  if doc then
    local line = string.match(doc, '"line_id":"(.-)"') or ''
    if ARGV[6] == '' or line == ARGV[6] then
      out[#out + 1] = line
      out[#out + 1] = string.match(doc, '"trigger":"(.-)"') or 'manual'
      out[#out + 1] = string.match(doc, '"status":"(.-)"') or ''
      out[#out + 1] = ids[i + 1]
    end
  end
end
return {#ids / 2, out}
"""

# Layout upgrade 6: sessions stored before the reports' indexes existed, put in them. Idempotent.
# KEYS: `sessions`; ARGV: offset, count, prefix.
CREATED_BACKFILL = """
local numbers = redis.call('ZRANGE', KEYS[1], ARGV[1], tonumber(ARGV[1]) + tonumber(ARGV[2]) - 1)
for _, n in ipairs(numbers) do
  local doc = redis.call('GET', ARGV[3] .. 'session:' .. n)
  if doc then
    local s = cjson.decode(doc)
    redis.call('ZADD', ARGV[3] .. 'sessions:created', s.created_at, n)
    redis.call('ZADD', ARGV[3] .. 'sessions:line:' .. s.line_id .. ':created', s.created_at, n)
  end
end
return #numbers
"""

REPORTS_LAYOUT = 6


class ReportsMixin(RedisBase):
    @_translated
    async def report_sessions(self, line_id: str | None, since: float, until: float) -> list[SessionFacts]:
        index = (
            self._k("sessions", "line", line_id, "created") if line_id is not None else self._k("sessions", "created")
        )
        script = self._r.register_script(_REPORT_SESSIONS)
        found: list[SessionFacts] = []
        offset = 0
        while True:
            seen, flat = cast(
                tuple[int, list[str]],
                await script(keys=[index], args=[_num(since), f"({_num(until)}", offset, PAGE, self.prefix]),
            )
            for at in range(0, len(flat), 8):
                number, line, status, assignee, created, closed, first, rating = flat[at : at + 8]
                found.append(
                    SessionFacts(
                        number=int(number),
                        line_id=line,
                        status=SessionStatus(status),
                        assignee=assignee or None,
                        created_at=float(created),
                        closed_at=float(closed) if closed else None,
                        first_response_at=float(first) if first else None,
                        rating=int(float(rating)) if rating else None,
                    )
                )
            offset += int(seen)
            if int(seen) < PAGE:
                return found

    @_translated
    async def report_instances(self, line_id: str | None, since: float, until: float) -> list[InstanceFacts]:
        script = self._r.register_script(_REPORT_INSTANCES)
        found: list[InstanceFacts] = []
        offset = 0
        while True:
            seen, flat = cast(
                tuple[int, list[str]],
                await script(
                    keys=[self._k("instances")],
                    args=[_num(since), f"({_num(until)}", offset, PAGE, self.prefix, line_id or ""],
                ),
            )
            for at in range(0, len(flat), 4):
                line, trigger, status, created = flat[at : at + 4]
                found.append(
                    InstanceFacts(
                        line_id=line or None,
                        trigger=trigger,
                        status=InstanceStatus(status),
                        created_at=float(created),
                    )
                )
            offset += int(seen)
            if int(seen) < PAGE:
                return found

    async def _reports_index(self, client: aioredis.Redis, version: int) -> None:
        """Layout upgrade 6 (for a layout below it): every stored session in the reports' created indexes."""
        if version >= REPORTS_LAYOUT:
            return
        backfill = client.register_script(CREATED_BACKFILL)
        offset = 0
        while True:
            done = int(await backfill(keys=[self._k("sessions")], args=[offset, PAGE, self.prefix]))
            offset += done
            if done < PAGE:
                break
        await client.set(self._k("schema"), REPORTS_LAYOUT)
