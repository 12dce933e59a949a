"""Redis store: several linedesk processes may share one Redis and one prefix.

Key layout (every key starts with `prefix`):

    counter:<name>                      next_number counters (INCR); seq:<kind> for internal ids
    claim:<key>                         claims: value = expiry (caller's clock), PX ttl for cleanup
    inbound:<id>, inbound:pending[:<source>], inbound:seen:<JSON [source, key]> (EX 7 days)
    client:<id>, operator:<id>
    session:<n>                         JSON; indexes (zsets, score = number):
    sessions, sessions:status:<s>, sessions:line:<l>:status:<s>, sessions:line:<l>:client:<c>,
    sessions:client:<c>, sessions:assignee:<a>:status:<s>
    sessions:line:<l>:quiet             zset of the line's open sessions, score = Session.quiet_since
    schema                              the layout's version (`RedisStore._upgrade`): 2 = typed outbox, 3 = links
    messages:<session>                  zset of message JSON, score = id
    instance:<id>                       JSON; indexes (zsets, score = created_at, member = id):
    instances, instances:status:<s>, instances:session:<n>
    outbox:entry:<id>                   JSON
    outbox:conv:<conversation>          zset of pending entry ids (score = id): the conversation's queue
    outbox:ready                        zset of conversations with pending entries, score = when the
                                        head may go next: its due_at, or the lease's end while leased
    outbox:pending, outbox:dead         zsets of entry ids, score = created_at (stats)
    rules                               hash, field = JSON [line_id, event]
    items:<app>                         zset of item JSON, score = number
    ref:<namespace>                     hash, field = key; link:<kind>, link:<kind>:to: redis_links.py (layout 3)

Line ids contain no ":" (the config allows [a-z0-9_-]), so the composite keys are unambiguous.
Lua scripts derive some key names from the prefix: a single Redis (not Cluster) is required.
"""

from __future__ import annotations

import asyncio
import functools
import json
import math
from collections import deque
from collections.abc import Awaitable, Callable, Coroutine, Iterable, Sequence
from typing import Any, ParamSpec, TypeVar, cast

import redis.asyncio as aioredis
from pydantic import BaseModel
from redis.asyncio.client import Pipeline
from redis.commands.core import AsyncScript
from redis.exceptions import RedisError, WatchError

from core.config import redact_url
from core.model import (
    AutostartRule,
    Client,
    InboundRecord,
    InstanceRecord,
    InstanceStatus,
    Item,
    Message,
    OperatorState,
    OutboxEntry,
    OutboxStatus,
    Session,
    SessionStatus,
)
from core.outbox_actions import from_legacy
from core.store.base import Store, StoreError
from core.store.redis_links import RedisLinks

DEDUPE_KEEP = 7 * 24 * 3600
"""Seconds an inbound (source, key) is remembered."""
DONE_KEEP_MS = 7 * 24 * 3600 * 1000
"""Delivered outbox entries are kept this long for outbox_get, then expire."""
WATCH_RETRIES = 100
POOL_SIZE = 64
"""Connections to Redis per linedesk process."""
CALL_TIMEOUT = 10.0
"""Seconds one store call may take, waiting for a free connection included, before it fails (StoreError).
One deadline per call instead of redis-py's per-command socket timeouts: on Python 3.11 those wrap every
command sent in a task of its own (`asyncio.wait_for`), which cost about a fifth of linedesk's CPU per
relayed message (benchmarks/README.md)."""
CONNECT_TIMEOUT = 5.0

# A claim's value is "<expires at>|<owner>" (a bare number when written before owners existed).
# ARGV: now, expires at, ttl in ms, owner ("" = anyone).
_CLAIM = """
local v = redis.call('GET', KEYS[1])
if v and tonumber(string.match(v, '^[^|]*')) > tonumber(ARGV[1]) then return 0 end
redis.call('SET', KEYS[1], ARGV[2] .. '|' .. ARGV[4], 'PX', ARGV[3])
return 1
"""

_RENEW = """
local v = redis.call('GET', KEYS[1])
if not v or tonumber(string.match(v, '^[^|]*')) <= tonumber(ARGV[1]) then return 0 end
if ARGV[4] ~= '' and string.match(v, '|(.*)$') ~= ARGV[4] then return 0 end
redis.call('SET', KEYS[1], ARGV[2] .. '|' .. ARGV[4], 'PX', ARGV[3])
return 1
"""

# _CLAIM (taken again by its own owner: the reply to an earlier take may have been lost with the
# connection), then the ids of the conversation's pending records and their documents. KEYS: claim, the
# conversation's pending index; ARGV: as _CLAIM, then the limit and the record key prefix.
_INBOUND_TAKE = """
local v = redis.call('GET', KEYS[1])
if v and tonumber(string.match(v, '^[^|]*')) > tonumber(ARGV[1])
   and (ARGV[4] == '' or string.match(v, '|(.*)$') ~= ARGV[4]) then return false end
redis.call('SET', KEYS[1], ARGV[2] .. '|' .. ARGV[4], 'PX', ARGV[3])
local ids = redis.call('ZRANGE', KEYS[2], 0, tonumber(ARGV[5]) - 1)
local docs = {}
for i, id in ipairs(ids) do docs[i] = redis.call('GET', ARGV[6] .. id) or '' end
return {ids, docs}
"""

# ARGV: owner ("" = anyone)
_RELEASE = """
local v = redis.call('GET', KEYS[1])
if not v then return 0 end
if ARGV[1] ~= '' and string.match(v, '|(.*)$') ~= ARGV[1] then return 0 end
return redis.call('DEL', KEYS[1])
"""

# A record handled: out of every pending index, its payload dropped, and (KEYS[5] given) the chat's lease
# released as _RELEASE does. KEYS: pending, pending:<source>, conversation index, record[, claim];
# ARGV: record id, owner.
_INBOUND_FINISH = """
redis.call('ZREM', KEYS[1], ARGV[1])
redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('ZREM', KEYS[3], ARGV[1])
redis.call('DEL', KEYS[4])
if KEYS[5] then
  local v = redis.call('GET', KEYS[5])
  if v and (ARGV[2] == '' or string.match(v, '|(.*)$') == ARGV[2]) then redis.call('DEL', KEYS[5]) end
end
return 1
"""

# A session written and re-indexed in one step: the indexes of the stored version (read from its JSON, as
# `RedisStore._session_indexes` builds them) that the new one is not in lose it, the new ones get it.
# An open session is also in its line's quiet index, scored by `Session.quiet_since` (a closed or spam one
# leaves it). KEYS: the session, the line's quiet index; ARGV: key prefix, member (the number), the new JSON,
# its quiet_since ("" when not open), then the new version's indexes.
_PUT_SESSION = """
local member = ARGV[2]
if ARGV[4] ~= '' then redis.call('ZADD', KEYS[2], ARGV[4], member) else redis.call('ZREM', KEYS[2], member) end
local new = {}
for i = 5, #ARGV do new[ARGV[i]] = true end
local old = redis.call('GET', KEYS[1])
if old then
  local s = cjson.decode(old)
  local p = ARGV[1]
  local stale = {p .. 'sessions:status:' .. s.status, p .. 'sessions:line:' .. s.line_id .. ':status:' .. s.status}
  if type(s.assignee) == 'string' then
    stale[#stale + 1] = p .. 'sessions:assignee:' .. s.assignee .. ':status:' .. s.status
  end
  for _, k in ipairs(stale) do
    if not new[k] then redis.call('ZREM', k, member) end
  end
end
redis.call('SET', KEYS[1], ARGV[3])
for i = 5, #ARGV do redis.call('ZADD', ARGV[i], member, member) end
return 1
"""

# Sessions stored before the quiet index existed, put in it (once, at open; idempotent, so several instances
# opening at once do no harm). KEYS: the open-status indexes; ARGV: key prefix.
_QUIET_BACKFILL = """
local n = 0
for _, index in ipairs(KEYS) do
  for _, member in ipairs(redis.call('ZRANGE', index, 0, -1)) do
    local doc = redis.call('GET', ARGV[1] .. 'session:' .. member)
    if doc then
      local s = cjson.decode(doc)
      if s.status == 'queued' or s.status == 'active' then
        local quiet = s.last_client_message_at
        if type(quiet) ~= 'number' or quiet == 0 then quiet = s.created_at end
        redis.call('ZADD', ARGV[1] .. 'sessions:line:' .. s.line_id .. ':quiet', quiet, member)
        n = n + 1
      end
    end
  end
end
return n
"""

# Replace a document unless it changed meanwhile, keeping its expiry. KEYS: the key; ARGV: old, new.
_REPLACE_UNCHANGED = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
local ttl = redis.call('PTTL', KEYS[1])
if ttl > 0 then redis.call('SET', KEYS[1], ARGV[2], 'PX', ttl) else redis.call('SET', KEYS[1], ARGV[2]) end
return 1
"""

# The newest session of an index, in one round trip. KEYS: the index; ARGV: the session key prefix.
_LATEST_SESSION = """
local top = redis.call('ZREVRANGE', KEYS[1], 0, 0)
if #top == 0 then return false end
return redis.call('GET', ARGV[1] .. top[1])
"""

# The conversation of each entry keeps its lease (its ready score) until ARGV[1] while the entry is its head
# and the conversation is leased (its score is in the future). KEYS: ready; ARGV: until, now, conversation
# key prefix, then pairs of entry id and conversation.
_OUTBOX_EXTEND = """
for i = 4, #ARGV, 2 do
  local c = ARGV[i + 1]
  local head = redis.call('ZRANGE', ARGV[3] .. c, 0, 0)
  local score = redis.call('ZSCORE', KEYS[1], c)
  if head[1] == ARGV[i] and score and tonumber(score) > tonumber(ARGV[2]) then
    redis.call('ZADD', KEYS[1], 'GT', ARGV[1], c)
  end
end
return 1
"""

# KEYS: seen, seq, pending, pending:<source>, pending:conversation:<conversation>
# ARGV: keep seconds, record key prefix, record JSON
_INBOUND_ADD = """
if not redis.call('SET', KEYS[1], '1', 'NX', 'EX', ARGV[1]) then return -1 end
local id = redis.call('INCR', KEYS[2])
redis.call('SET', ARGV[2] .. id, ARGV[3])
redis.call('ZADD', KEYS[3], id, id)
redis.call('ZADD', KEYS[4], id, id)
redis.call('ZADD', KEYS[5], id, id)
return id
"""

# KEYS: ready; ARGV: now, lease end, limit, conversation key prefix, entry key prefix
_OUTBOX_CLAIM = """
local out = {}
local convs = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, ARGV[3])
for _, c in ipairs(convs) do
  local head = redis.call('ZRANGE', ARGV[4] .. c, 0, 0)
  if #head == 0 then
    redis.call('ZREM', KEYS[1], c)
  else
    local doc = redis.call('GET', ARGV[5] .. head[1])
    if doc then
      redis.call('ZADD', KEYS[1], ARGV[2], c)
      out[#out + 1] = doc
    else
      redis.call('ZREM', ARGV[4] .. c, head[1])
    end
  end
end
return out
"""

# Compare-and-set of one entry, then the conversation's queue and ready time follow.
# KEYS: entry, conv, ready, pending, dead
# ARGV: old JSON, new JSON, id, conversation, dequeue '1'|'0', dead '1'|'0', px ('0': keep),
#       entry key prefix, created_at
_OUTBOX_FINISH = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
if ARGV[7] ~= '0' then
  redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[7])
else
  redis.call('SET', KEYS[1], ARGV[2])
end
local head = redis.call('ZRANGE', KEYS[2], 0, 0)
local was_head = head[1] == ARGV[3]
if ARGV[5] == '1' then
  redis.call('ZREM', KEYS[2], ARGV[3])
  redis.call('ZREM', KEYS[4], ARGV[3])
end
if ARGV[6] == '1' then redis.call('ZADD', KEYS[5], ARGV[9], ARGV[3]) end
if was_head then
  local nh = redis.call('ZRANGE', KEYS[2], 0, 0)
  if #nh == 0 then
    redis.call('ZREM', KEYS[3], ARGV[4])
  else
    local doc = redis.call('GET', ARGV[8] .. nh[1])
    local due = 0
    if doc then due = cjson.decode(doc)['due_at'] end
    redis.call('ZADD', KEYS[3], string.format('%.17g', due), ARGV[4])
  end
end
return 1
"""

P = ParamSpec("P")
R = TypeVar("R")
M = TypeVar("M", bound=BaseModel)


def _translated(fn: Callable[P, Awaitable[R]]) -> Callable[P, Coroutine[Any, Any, R]]:
    """Redis errors become StoreError, and so does a call that outlives its store's `call_timeout` (a Redis
    that stopped answering without closing the connection)."""

    @functools.wraps(fn)
    async def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        limit = cast(RedisStore, args[0]).call_timeout
        try:
            async with asyncio.timeout(limit):
                return await fn(*args, **kwargs)
        except RedisError as e:
            raise StoreError(f"redis: {e}") from e
        except TimeoutError as e:
            raise StoreError(f"redis: no answer within {limit:g} s") from e

    return wrapper


def _typed_entry(doc: str) -> str:
    """An outbox entry's JSON with its action typed (the same JSON when it was already)."""
    entry = json.loads(doc)
    if isinstance(entry.get("action"), dict):
        return doc
    payload = entry.pop("payload", None) or {}
    action = from_legacy(str(entry.get("route", "")), str(entry.get("action", "")), payload)
    entry["action"] = action.model_dump(mode="json")
    return json.dumps(entry)


def _num(value: float) -> str:
    return repr(float(value))


class RedisStore(RedisLinks, Store):
    _claim: AsyncScript
    _release: AsyncScript
    _inbound_take: AsyncScript
    _inbound_finish_script: AsyncScript
    _put_session_script: AsyncScript
    _latest_session: AsyncScript
    _inbound_add: AsyncScript
    _renew: AsyncScript
    _outbox_extend_script: AsyncScript
    _outbox_claim: AsyncScript
    _outbox_finish: AsyncScript

    def __init__(self, url: str, *, prefix: str = "linedesk:", call_timeout: float = CALL_TIMEOUT) -> None:
        self._redis_url = url
        self.call_timeout = call_timeout
        self.url = redact_url(url)
        self.prefix = prefix
        self._client: aioredis.Redis | None = None

    # --- plumbing -------------------------------------------------------------
    @property
    def _r(self) -> aioredis.Redis:
        if self._client is None:
            raise StoreError(f"store {self.url} is not open")
        return self._client

    def _k(self, *parts: object) -> str:
        return self.prefix + ":".join(str(p) for p in parts)

    async def _transaction(
        self, watch: str, body: Callable[[Pipeline, str | None], None], *, new: bool = False
    ) -> None:
        """Run `body` in MULTI/EXEC given the current value of `watch`; retried when it changes meanwhile.
        `new`: the key cannot exist yet (a freshly numbered record), so nothing is watched."""
        if new:
            async with self._r.pipeline(transaction=True) as pipe:
                body(pipe, None)
                await pipe.execute()
            return
        for _ in range(WATCH_RETRIES):
            async with self._r.pipeline(transaction=True) as pipe:
                try:
                    await pipe.watch(watch)
                    old = cast(str | None, await pipe.get(watch))
                    pipe.multi()
                    body(pipe, old)
                    await pipe.execute()
                    return
                except WatchError:
                    continue
        raise StoreError(f"{watch} kept changing; gave up after {WATCH_RETRIES} attempts")

    @staticmethod
    def _reindex(pipe: Pipeline, member: str, score: float, old: Iterable[str], new: Iterable[str]) -> None:
        new = set(new)
        for key in set(old) - new:
            pipe.zrem(key, member)
        for key in new:
            pipe.zadd(key, {member: score})

    async def _load(self, model: type[M], keys: Sequence[str]) -> list[M | None]:
        docs = await self._r.mget(keys) if keys else []
        return [model.model_validate_json(d) if d is not None else None for d in docs]

    async def _newest(
        self,
        indexes: Sequence[str],
        load: Callable[[list[str]], Awaitable[Sequence[M | None]]],
        keep: Callable[[M], bool],
        limit: int,
    ) -> list[M]:
        """Walk disjoint index zsets together, highest (score, member) first, loading pages of records
        and keeping those that pass `keep`, until `limit` are found."""
        page = max(limit, 50)
        buffers: dict[str, deque[tuple[str, float]]] = {k: deque() for k in indexes}
        offsets = dict.fromkeys(indexes, 0)
        exhausted: set[str] = set()
        seen: set[str] = set()
        found: list[M] = []
        while len(found) < limit:
            batch: list[str] = []
            while len(batch) < page:
                for key in indexes:
                    if not buffers[key] and key not in exhausted:
                        rows = cast(
                            list[tuple[str, float]],
                            await self._r.zrevrange(key, offsets[key], offsets[key] + page - 1, withscores=True),
                        )
                        offsets[key] += len(rows)
                        buffers[key].extend(rows)
                        if len(rows) < page:
                            exhausted.add(key)
                live = [k for k in indexes if buffers[k]]
                if not live:
                    break
                best = max(live, key=lambda k: (buffers[k][0][1], buffers[k][0][0]))
                member = buffers[best].popleft()[0]
                if member not in seen:
                    seen.add(member)
                    batch.append(member)
            if not batch:
                break
            for record in await load(batch):
                if record is not None and keep(record):
                    found.append(record)
                    if len(found) == limit:
                        break
        return found

    # --- lifecycle -------------------------------------------------------------
    @_translated
    async def open(self) -> None:
        if self._client is not None:
            return
        # A blocking pool: under a burst (webhooks, intake tasks, 256 deliveries in flight) a command waits
        # for a free connection instead of failing with "Too many connections" (redis-py's default pool
        # holds 100 and raises beyond that, which became 503s at the webhook).
        pool = aioredis.BlockingConnectionPool.from_url(
            self._redis_url,
            decode_responses=True,
            max_connections=POOL_SIZE,
            timeout=None,
            socket_timeout=None,
            socket_connect_timeout=CONNECT_TIMEOUT,
        )
        client = aioredis.Redis.from_pool(pool)  # the client owns the pool: aclose() closes it
        try:
            await client.ping()
        except BaseException as e:
            await client.aclose()
            if isinstance(e, RedisError):  # a wrong password, no server there, …: one line naming it
                raise StoreError(f"{self.url}: {e}") from e
            raise
        self._client = client
        self._claim = client.register_script(_CLAIM)
        self._release = client.register_script(_RELEASE)
        self._inbound_take = client.register_script(_INBOUND_TAKE)
        self._inbound_finish_script = client.register_script(_INBOUND_FINISH)
        self._put_session_script = client.register_script(_PUT_SESSION)
        self._latest_session = client.register_script(_LATEST_SESSION)
        self._inbound_add = client.register_script(_INBOUND_ADD)
        self._renew = client.register_script(_RENEW)
        self._outbox_extend_script = client.register_script(_OUTBOX_EXTEND)
        self._outbox_claim = client.register_script(_OUTBOX_CLAIM)
        self._outbox_finish = client.register_script(_OUTBOX_FINISH)
        await self._upgrade(client)

    async def _upgrade(self, client: aioredis.Redis) -> None:
        """Bring data written by an older linedesk up to this one's layout (numbered like SQLite's migrations)."""
        version = int(await client.get(self._k("schema")) or 0)
        if version < 1:  # the sessions' quiet index
            backfill = client.register_script(_QUIET_BACKFILL)
            await backfill(
                keys=[self._k("sessions", "status", s.value) for s in (SessionStatus.QUEUED, SessionStatus.ACTIVE)],
                args=[self.prefix],
            )
            await client.set(self._k("schema"), 1)
        if version < 2:
            await self._typed_outbox(client)
            await client.set(self._k("schema"), 2)
        await self._platform_links(client, version)  # 3: platform links (redis_links.py)

    async def _typed_outbox(self, client: aioredis.Redis, batch: int = 500) -> None:
        """Upgrade 2: an outbox entry's `action` name and `payload` dict become one typed action (its JSON,
        `kind` inside; `core.outbox_actions.from_legacy`) — pending, done (their expiry kept) and dead entries
        alike. Entries are numbered 1 … seq:outbox; a delivered one may have expired already."""
        replace = client.register_script(_REPLACE_UNCHANGED)
        last = int(await client.get(self._k("seq", "outbox")) or 0)
        for first in range(1, last + 1, batch):
            keys = [self._k("outbox", "entry", i) for i in range(first, min(first + batch, last + 1))]
            docs = cast(list[str | None], await client.mget(keys))
            for key, doc in zip(keys, docs, strict=True):
                while doc is not None and not await replace(keys=[key], args=[doc, _typed_entry(doc)]):
                    doc = cast(
                        str | None, await client.get(key)
                    )  # changed meanwhile (another linedesk delivering it): again

    async def close(self) -> None:
        if self._client is not None:
            client, self._client = self._client, None
            await client.aclose()

    async def ping(self) -> bool:
        try:
            async with asyncio.timeout(min(self.call_timeout, CONNECT_TIMEOUT)):
                return bool(await self._r.ping())
        except (RedisError, StoreError, OSError, TimeoutError):
            return False

    # --- dedupe and claims --------------------------------------------------------
    @_translated
    async def claim(self, key: str, ttl: float, now: float, owner: str = "") -> bool:
        px = max(1, math.ceil(ttl * 1000))
        return bool(await self._claim(keys=[self._k("claim", key)], args=[_num(now), _num(now + ttl), px, owner]))

    @_translated
    async def release(self, key: str, owner: str = "") -> None:
        await self._release(keys=[self._k("claim", key)], args=[owner])

    @_translated
    async def renew(self, key: str, ttl: float, now: float, owner: str = "") -> bool:
        px = max(1, math.ceil(ttl * 1000))
        return bool(await self._renew(keys=[self._k("claim", key)], args=[_num(now), _num(now + ttl), px, owner]))

    # --- inbound -------------------------------------------------------------
    @_translated
    async def inbound_add(
        self, source: str, key: str, payload: dict[str, Any], now: float, conversation: str = ""
    ) -> int | None:
        record = InboundRecord(source=source, key=key, payload=payload, created_at=now, conversation=conversation)
        keys = [
            self._k("inbound", "seen", json.dumps([source, key])),
            self._k("seq", "inbound"),
            self._k("inbound", "pending"),
            self._k("inbound", "pending", source),
            self._k("inbound", "conversation", conversation),
        ]
        new_id = int(
            await self._inbound_add(keys=keys, args=[DEDUPE_KEEP, self._k("inbound", ""), record.model_dump_json()])
        )
        return new_id if new_id > 0 else None

    @_translated
    async def inbound_pending(
        self, source: str | None = None, limit: int = 100, *, conversation: str | None = None
    ) -> list[InboundRecord]:
        index = self._k("inbound", "pending") if source is None else self._k("inbound", "pending", source)
        if conversation is not None:  # a conversation's records come from one source
            index = self._k("inbound", "conversation", conversation)
        ids = [int(i) for i in cast(list[str], await self._r.zrange(index, 0, limit - 1))] if limit > 0 else []
        records = await self._load(InboundRecord, [self._k("inbound", i) for i in ids])
        return [
            r.model_copy(update={"id": i})
            for i, r in zip(ids, records, strict=True)
            if r is not None and (source is None or r.source == source)
        ]

    @_translated
    async def inbound_is_pending(self, inbound_id: int) -> bool:
        return await self._r.zscore(self._k("inbound", "pending"), inbound_id) is not None

    @_translated
    async def inbound_done(self, inbound_id: int) -> None:
        doc = await self._r.get(self._k("inbound", inbound_id))
        if doc is None:
            return
        await self._inbound_finish(InboundRecord.model_validate_json(doc).model_copy(update={"id": inbound_id}))

    @_translated
    async def inbound_take(
        self, conversation: str, lease: str, ttl: float, now: float, owner: str, limit: int = 100
    ) -> list[InboundRecord] | None:
        px = max(1, math.ceil(ttl * 1000))
        taken = await self._inbound_take(
            keys=[self._k("claim", lease), self._k("inbound", "conversation", conversation)],
            args=[_num(now), _num(now + ttl), px, owner, max(1, limit), self._k("inbound", "")],
        )
        if not taken:
            return None
        ids, docs = taken
        return [
            InboundRecord.model_validate_json(doc).model_copy(update={"id": int(i)})
            for i, doc in zip(ids, docs, strict=True)
            if doc
        ]

    @_translated
    async def inbound_finish(self, record: InboundRecord, *, release: str | None = None, owner: str = "") -> None:
        await self._inbound_finish(record, release, owner)

    async def _inbound_finish(self, record: InboundRecord, release: str | None = None, owner: str = "") -> None:
        keys = [
            self._k("inbound", "pending"),
            self._k("inbound", "pending", record.source),
            self._k("inbound", "conversation", record.conversation),
            self._k("inbound", record.id),
        ]
        if release is not None:
            keys.append(self._k("claim", release))
        await self._inbound_finish_script(keys=keys, args=[record.id, owner])

    # --- counters -------------------------------------------------------------
    @_translated
    async def next_number(self, counter: str) -> int:
        return int(await self._r.incr(self._k("counter", counter)))

    # --- clients -------------------------------------------------------------
    @_translated
    async def get_client(self, client_id: str) -> Client | None:
        return (await self._load(Client, [self._k("client", client_id)]))[0]

    @_translated
    async def save_client(self, client: Client) -> None:
        await self._r.set(self._k("client", client.id), client.model_dump_json())

    # --- sessions -------------------------------------------------------------
    def _session_indexes(self, s: Session) -> list[str]:
        keys = [
            self._k("sessions"),
            self._k("sessions", "status", s.status.value),
            self._k("sessions", "line", s.line_id, "status", s.status.value),
            self._k("sessions", "line", s.line_id, "client", s.client_id),
            self._k("sessions", "client", s.client_id),
        ]
        if s.assignee is not None:
            keys.append(self._k("sessions", "assignee", s.assignee, "status", s.status.value))
        return keys

    async def _put_session(self, session: Session) -> None:
        """One round trip (a script), where a WATCH/GET/MULTI transaction took three. A session's line and
        client never change, so only the status and assignee indexes can go stale."""
        await self._put_session_script(
            keys=[self._k("session", session.number), self._k("sessions", "line", session.line_id, "quiet")],
            args=[
                self.prefix,
                session.number,
                session.model_dump_json(),
                _num(session.quiet_since) if session.is_open else "",
                *self._session_indexes(session),
            ],
        )

    @_translated
    async def count_active_sessions(self, operator_ids: Sequence[str]) -> dict[str, int]:
        """The size of each operator's `sessions:assignee:<a>:status:active` index, in one round trip."""
        wanted = list(dict.fromkeys(operator_ids))
        if not wanted:
            return {}
        async with self._r.pipeline(transaction=False) as pipe:
            for operator_id in wanted:
                pipe.zcard(self._k("sessions", "assignee", operator_id, "status", SessionStatus.ACTIVE.value))
            sizes = await pipe.execute()
        return {operator_id: int(size) for operator_id, size in zip(wanted, sizes, strict=True)}

    @_translated
    async def quiet_sessions(self, line_id: str, quiet_before: float, limit: int = 1000) -> list[Session]:
        if limit <= 0:
            return []
        numbers = await self._r.zrangebyscore(
            self._k("sessions", "line", line_id, "quiet"), "-inf", _num(quiet_before), start=0, num=limit
        )
        found = await self._load(Session, [self._k("session", n) for n in numbers])
        return [s for s in found if s is not None and s.is_open]

    @_translated
    async def create_session(self, session: Session) -> Session:
        numbered = session.model_copy(update={"number": await self.next_number("session")})
        await self._put_session(numbered)
        return numbered

    @_translated
    async def get_session(self, number: int) -> Session | None:
        return (await self._load(Session, [self._k("session", number)]))[0]

    @_translated
    async def save_session(self, session: Session) -> None:
        await self._put_session(session)

    @_translated
    async def latest_session(self, line_id: str, client_id: str) -> Session | None:
        doc = await self._latest_session(
            keys=[self._k("sessions", "line", line_id, "client", client_id)], args=[self._k("session", "")]
        )
        return Session.model_validate_json(doc) if doc else None

    @_translated
    async def list_sessions(
        self,
        *,
        status: Sequence[SessionStatus] | None = None,
        line_id: str | None = None,
        assignee: str | None = None,
        client_id: str | None = None,
        limit: int = 100,
    ) -> list[Session]:
        if limit <= 0 or (status is not None and not status):
            return []
        wanted = {SessionStatus(s) for s in status} if status is not None else set(SessionStatus)
        statuses = sorted(wanted)
        # drive by the narrowest index(es) whose union holds every match; the rest is filtered here
        if client_id is not None:
            indexes = [
                self._k("sessions", "line", line_id, "client", client_id)
                if line_id is not None
                else self._k("sessions", "client", client_id)
            ]
        elif assignee is not None:
            indexes = [self._k("sessions", "assignee", assignee, "status", s.value) for s in statuses]
        elif line_id is not None:
            indexes = [self._k("sessions", "line", line_id, "status", s.value) for s in statuses]
        elif status is not None:
            indexes = [self._k("sessions", "status", s.value) for s in statuses]
        else:
            indexes = [self._k("sessions")]

        def keep(s: Session) -> bool:
            return (
                s.status in wanted
                and (line_id is None or s.line_id == line_id)
                and (assignee is None or s.assignee == assignee)
                and (client_id is None or s.client_id == client_id)
            )

        async def load(members: list[str]) -> list[Session | None]:
            return await self._load(Session, [self._k("session", m) for m in members])

        return await self._newest(indexes, load, keep, limit)

    # --- messages -------------------------------------------------------------
    @_translated
    async def add_message(self, message: Message) -> Message:
        stored = message.model_copy(update={"id": int(await self._r.incr(self._k("seq", "message")))})
        await self._r.zadd(self._k("messages", stored.session), {stored.model_dump_json(): stored.id})
        return stored

    @_translated
    async def list_messages(self, session: int, limit: int = 1000) -> list[Message]:
        if limit <= 0:
            return []
        docs = cast(list[str], await self._r.zrange(self._k("messages", session), 0, limit - 1))
        return [Message.model_validate_json(d) for d in docs]

    @_translated
    async def get_message(self, session: int, message_id: int) -> Message | None:
        docs = cast(list[str], await self._r.zrangebyscore(self._k("messages", session), message_id, message_id))
        return Message.model_validate_json(docs[0]) if docs else None

    @_translated
    async def update_message(self, message: Message) -> None:
        key = self._k("messages", message.session)
        async with self._r.pipeline(transaction=True) as pipe:
            pipe.zremrangebyscore(key, message.id, message.id)
            pipe.zadd(key, {message.model_dump_json(): message.id})
            await pipe.execute()

    # --- operators -------------------------------------------------------------
    @_translated
    async def get_operator(self, operator_id: str) -> OperatorState:
        state = (await self._load(OperatorState, [self._k("operator", operator_id)]))[0]
        return state if state is not None else OperatorState(operator_id=operator_id)

    @_translated
    async def save_operator(self, state: OperatorState) -> None:
        await self._r.set(self._k("operator", state.operator_id), state.model_dump_json())

    # --- process instances -----------------------------------------------------
    def _instance_indexes(self, i: InstanceRecord) -> list[str]:
        keys = [self._k("instances"), self._k("instances", "status", i.status.value)]
        if i.session is not None:
            keys.append(self._k("instances", "session", i.session))
        return keys

    @_translated
    async def due_instances(self, now: float, limit: int = 100) -> list[InstanceRecord]:
        ids = await self._r.zrangebyscore(self._k("instances", "wake"), "-inf", now, start=0, num=limit)
        found = await self._load(InstanceRecord, [self._k("instance", i) for i in ids])
        return [record for record in found if record is not None]

    @_translated
    async def get_instance(self, instance_id: str) -> InstanceRecord | None:
        return (await self._load(InstanceRecord, [self._k("instance", instance_id)]))[0]

    @_translated
    async def list_instances(
        self,
        *,
        status: Sequence[InstanceStatus] | None = None,
        session: int | None = None,
        limit: int = 100,
    ) -> list[InstanceRecord]:
        if limit <= 0 or (status is not None and not status):
            return []
        wanted = {InstanceStatus(s) for s in status} if status is not None else set(InstanceStatus)
        if session is not None:
            indexes = [self._k("instances", "session", session)]
        elif status is not None:
            indexes = [self._k("instances", "status", s.value) for s in sorted(wanted)]
        else:
            indexes = [self._k("instances")]

        def keep(i: InstanceRecord) -> bool:
            return i.status in wanted and (session is None or i.session == session)

        async def load(members: list[str]) -> list[InstanceRecord | None]:
            return await self._load(InstanceRecord, [self._k("instance", m) for m in members])

        return await self._newest(indexes, load, keep, limit)

    @_translated
    async def commit_instance(self, instance: InstanceRecord, outbox: Sequence[OutboxEntry] = ()) -> list[OutboxEntry]:
        entries = await self._number_entries(outbox)

        def body(pipe: Pipeline, old: str | None) -> None:
            stale = self._instance_indexes(InstanceRecord.model_validate_json(old)) if old else []
            pipe.set(self._k("instance", instance.id), instance.model_dump_json())
            self._reindex(pipe, instance.id, instance.created_at, stale, self._instance_indexes(instance))
            if instance.status == InstanceStatus.WAITING and instance.wake_at is not None:
                pipe.zadd(self._k("instances", "wake"), {instance.id: instance.wake_at})
            else:
                pipe.zrem(self._k("instances", "wake"), instance.id)
            self._enqueue(pipe, entries)

        await self._transaction(self._k("instance", instance.id), body)
        return entries

    # --- outbox -------------------------------------------------------------
    async def _number_entries(self, entries: Sequence[OutboxEntry]) -> list[OutboxEntry]:
        if not entries:
            return []
        last = int(await self._r.incrby(self._k("seq", "outbox"), len(entries)))
        first = last - len(entries) + 1
        return [e.model_copy(update={"id": first + n, "status": OutboxStatus.PENDING}) for n, e in enumerate(entries)]

    def _enqueue(self, pipe: Pipeline, entries: Iterable[OutboxEntry]) -> None:
        for e in entries:
            pipe.set(self._k("outbox", "entry", e.id), e.model_dump_json())
            pipe.zadd(self._k("outbox", "conv", e.conversation), {str(e.id): e.id})
            # only a conversation that had no pending entry gets its ready time from this one
            pipe.zadd(self._k("outbox", "ready"), {e.conversation: e.due_at}, nx=True)
            pipe.zadd(self._k("outbox", "pending"), {str(e.id): e.created_at})

    @_translated
    async def outbox_add(self, entries: Sequence[OutboxEntry]) -> list[OutboxEntry]:
        numbered = await self._number_entries(entries)
        if numbered:
            async with self._r.pipeline(transaction=True) as pipe:
                self._enqueue(pipe, numbered)
                await pipe.execute()
        return numbered

    @_translated
    async def outbox_claim(self, now: float, lease: float, limit: int = 50) -> list[OutboxEntry]:
        if limit <= 0:
            return []
        docs = await self._outbox_claim(
            keys=[self._k("outbox", "ready")],
            args=[
                _num(now),
                _num(now + lease),
                limit,
                self._k("outbox", "conv", ""),
                self._k("outbox", "entry", ""),
            ],
        )
        return sorted((OutboxEntry.model_validate_json(d) for d in docs), key=lambda e: e.id)

    async def _finish(self, entry_id: int, change: Callable[[OutboxEntry], dict[str, Any]]) -> None:
        """Change a pending entry (compare-and-set); entries no longer pending are left alone."""
        key = self._k("outbox", "entry", entry_id)
        for _ in range(WATCH_RETRIES):
            old = await self._r.get(key)
            if old is None:
                return
            entry = OutboxEntry.model_validate_json(old)
            if entry.status != OutboxStatus.PENDING:
                return
            new = entry.model_copy(update=change(entry))
            finished = new.status != OutboxStatus.PENDING
            c = entry.conversation
            keys = [
                key,
                self._k("outbox", "conv", c),
                self._k("outbox", "ready"),
                self._k("outbox", "pending"),
                self._k("outbox", "dead"),
            ]
            args = [
                old,
                new.model_dump_json(),
                str(entry_id),
                c,
                "1" if finished else "0",
                "1" if new.status == OutboxStatus.DEAD else "0",
                DONE_KEEP_MS if new.status == OutboxStatus.DONE else 0,
                self._k("outbox", "entry", ""),
                _num(entry.created_at),
            ]
            if await self._outbox_finish(keys=keys, args=args):
                return
        raise StoreError(f"outbox entry {entry_id} kept changing; gave up")

    @_translated
    async def outbox_extend(self, entry_ids: Sequence[int], now: float, until: float) -> None:
        if not entry_ids:
            return
        docs = await self._load(OutboxEntry, [self._k("outbox", "entry", i) for i in entry_ids])
        pairs = [
            value
            for e in docs
            if e is not None and e.status == OutboxStatus.PENDING
            for value in (str(e.id), e.conversation)
        ]
        if pairs:
            await self._outbox_extend_script(
                keys=[self._k("outbox", "ready")], args=[_num(until), _num(now), self._k("outbox", "conv", ""), *pairs]
            )

    @_translated
    async def outbox_complete(self, entry_id: int) -> None:
        await self._finish(entry_id, lambda e: {"status": OutboxStatus.DONE})

    @_translated
    async def outbox_reschedule(self, entry_id: int, due_at: float, error: str) -> None:
        await self._finish(entry_id, lambda e: {"due_at": due_at, "last_error": error, "attempts": e.attempts + 1})

    @_translated
    async def outbox_kill(self, entry_id: int, error: str) -> None:
        await self._finish(entry_id, lambda e: {"status": OutboxStatus.DEAD, "last_error": error})

    @_translated
    async def outbox_get(self, entry_id: int) -> OutboxEntry | None:
        return (await self._load(OutboxEntry, [self._k("outbox", "entry", entry_id)]))[0]

    @_translated
    async def outbox_stats(self, now: float) -> dict[str, float]:
        async with self._r.pipeline(transaction=False) as pipe:
            pipe.zcard(self._k("outbox", "pending"))
            pipe.zcard(self._k("outbox", "dead"))
            pipe.zrange(self._k("outbox", "pending"), 0, 0, withscores=True)
            pipe.zrange(self._k("outbox", "ready"), 0, 0, withscores=True)
            pending, dead, oldest, ready = await pipe.execute()
        return {
            "pending": float(pending),
            "dead": float(dead),
            "oldest_age": max(0.0, now - float(oldest[0][1])) if oldest else 0.0,
            "next_due": float(ready[0][1]) if ready else 0.0,
        }

    # --- auto-start rules -------------------------------------------------------
    @_translated
    async def save_rule(self, rule: AutostartRule) -> None:
        await self._r.hset(self._k("rules"), json.dumps([rule.line_id, rule.event]), rule.model_dump_json())

    @_translated
    async def list_rules(self, line_id: str | None = None) -> list[AutostartRule]:
        rules = [AutostartRule.model_validate_json(d) for d in await self._r.hvals(self._k("rules"))]
        return sorted((r for r in rules if line_id is None or r.line_id == line_id), key=lambda r: (r.line_id, r.event))

    # --- items -------------------------------------------------------------
    @_translated
    async def create_item(self, item: Item) -> Item:
        numbered = item.model_copy(update={"number": await self.next_number(f"item:{item.app}")})
        await self._r.zadd(self._k("items", item.app), {numbered.model_dump_json(): numbered.number})
        return numbered

    @_translated
    async def list_items(self, app: str, limit: int = 100) -> list[Item]:
        if limit <= 0:
            return []
        docs = cast(list[str], await self._r.zrevrange(self._k("items", app), 0, limit - 1))
        return [Item.model_validate_json(d) for d in docs]

    # --- refs -------------------------------------------------------------
    @_translated
    async def set_ref(self, namespace: str, key: str, value: dict[str, Any]) -> None:
        await self._r.hset(self._k("ref", namespace), key, json.dumps(value))

    @_translated
    async def get_ref(self, namespace: str, key: str) -> dict[str, Any] | None:
        doc = await self._r.hget(self._k("ref", namespace), key)
        return dict(json.loads(doc)) if doc is not None else None

    @_translated
    async def delete_ref(self, namespace: str, key: str) -> None:
        await self._r.hdel(self._k("ref", namespace), key)
