"""What reports read (SPEC §15), in pages of a few thousand records per call so that Redis is never held
for long: sessions through `sessions:created` / `sessions:line:<line>:created` (scored by when they
opened; kept by the session script, built for older data by layout upgrade 6), instances through
`instances` (scored by when they started)."""

from __future__ import annotations

import asyncio
import json
import re
from typing import cast

import redis.asyncio as aioredis

from core.model import InstanceStatus, SessionStatus
from core.store.base import InstanceFacts, SessionFacts
from core.store.redis.connection import RedisBase, _num, _translated

PAGE = 5000
STATUSES = {status.value: status for status in SessionStatus}

# A page of a period's instances (4 strings each). An instance's JSON holds its whole workflow: only its
# first kB is read (its top-level fields come before the state; the whole document when they do not fit),
# and the few fields are matched, not decoded (a quote inside a string value is escaped, so `"trigger":"`
# only matches the record's own field). KEYS: `instances`; ARGV: since, "(" until, offset, count, prefix,
# the line ("" = every line).
_REPORT_INSTANCES = """
local out = {}
local ids = redis.call('ZRANGEBYSCORE', KEYS[1], ARGV[1], ARGV[2], 'WITHSCORES', 'LIMIT', ARGV[3], ARGV[4])
for i = 1, #ids, 2 do
  local key = ARGV[5] .. 'instance:' .. ids[i]
  local doc = redis.call('GETRANGE', key, 0, 1023)  -- the fields come before the workflow's state
  if not string.find(doc, '"status":"', 1, true) then doc = redis.call('GET', key) end
  if doc and doc ~= '' then
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


_FIELDS = re.compile(
    r'\{"number":(\d+),"line_id":"([^"]*)",.*?"status":"(\w+)","assignee":(?:null|"([^"]*)"),.*?'
    r'"created_at":([^,]+),.*?"closed_at":([^,]+),.*?"first_response_at":([^,]+),"rating":([^,}]+)'
)
"""The report's fields of a session's JSON as pydantic writes it (fields in `Session`'s order; ids hold no
quotes): three times as fast as `json.loads`. A document it does not match is read with `json.loads`."""


def _session_facts(docs: list[str | None]) -> list[SessionFacts]:
    found = []
    for doc in docs:
        if doc is None:
            continue
        match = _FIELDS.match(doc)
        if match is None:
            s = json.loads(doc)
            found.append(
                SessionFacts(
                    s["number"],
                    s["line_id"],
                    STATUSES[s["status"]],
                    s.get("assignee"),
                    s["created_at"],
                    s.get("closed_at"),
                    s.get("first_response_at"),
                    s.get("rating"),
                )
            )
            continue
        number, line, status, assignee, created, closed, first, rating = match.groups()
        found.append(
            SessionFacts(
                int(number),
                line,
                STATUSES[status],
                assignee,
                float(created),
                None if closed == "null" else float(closed),
                None if first == "null" else float(first),
                None if rating == "null" else int(rating),
            )
        )
    return found


class ReportsMixin(RedisBase):
    @_translated
    async def report_sessions(self, line_id: str | None, since: float, until: float) -> list[SessionFacts]:
        """The period's numbers from the created index, then their documents in pages of `PAGE` (MGET), read
        with `json.loads` (a Lua script decoding them took Redis four times as long as sending them)."""
        index = self._k("sessions", "created") if line_id is None else self._k("sessions", "line", line_id, "created")
        numbers = cast(list[str], await self._r.zrangebyscore(index, _num(since), f"({_num(until)}"))
        found: list[SessionFacts] = []
        for first in range(0, len(numbers), PAGE):
            docs = cast(
                list[str | None], await self._r.mget([self._k("session", n) for n in numbers[first : first + PAGE]])
            )
            found += await asyncio.to_thread(_session_facts, docs)  # parsed off the event loop
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
