"""Redis's platform links (`core.links`): layouts 3 and 4 and `RedisStore`'s link methods.

Keys (after the store's prefix): `link:<kind>`, a hash of ours → JSON {"platform", "data"}, and
`link:<kind>:to`, a hash of platform key → ours (a one-to-one kind) or a JSON array of ours in link order (a
many-to-one kind: `link_to` answers its first). One Lua script writes (or drops) both directions of a link,
so no other client ever sees one without the other, and a failing call writes nothing.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Awaitable, Callable, Coroutine
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar, cast

from redis.asyncio.client import Pipeline

from core.links import (
    LEGACY_FORWARD,
    LEGACY_REFS,
    LEGACY_REVERSE,
    Link,
    LinkKind,
    from_legacy,
    from_legacy_ref,
    legacy_order,
)

if TYPE_CHECKING:
    import redis.asyncio as aioredis

# A platform link, both directions in one step. The reverse hash holds, per platform key, ours (a one-to-one
# kind, ARGV[4] = "1") or a JSON array of ours in link order (a many-to-one kind). Our key's old platform key
# loses it; a one-to-one kind's platform key linked to another of ours moves (that one loses its link).
# Everything that could fail is read and checked before the first write (a script is not rolled back on an
# error). KEYS: link:<kind>, link:<kind>:to; ARGV: ours, platform, the forward JSON {"platform", "data"}, one.
LINK_FUNCTIONS = """
local function not_hashes(keys)
  for _, k in ipairs(keys) do
    local t = redis.call('TYPE', k).ok
    if t ~= 'none' and t ~= 'hash' then return redis.error_reply('WRONGTYPE ' .. k .. ' is not a hash') end
  end
  return false
end
local function link(fwd, back, ours, platform, doc, one)
  local old = redis.call('HGET', fwd, ours)
  local was = old and cjson.decode(old).platform
  if was == platform then was = nil end
  local was_rev = was and redis.call('HGET', back, was)
  local rev = redis.call('HGET', back, platform)
  local list
  if not one then
    list = rev and cjson.decode(rev) or {}
    if was_rev then was_rev = cjson.decode(was_rev) end
  end
  if was_rev then
    if one then
      if was_rev == ours then redis.call('HDEL', back, was) end
    else
      local kept = {}
      for _, o in ipairs(was_rev) do if o ~= ours then kept[#kept + 1] = o end end
      if #kept == 0 then redis.call('HDEL', back, was) else redis.call('HSET', back, was, cjson.encode(kept)) end
    end
  end
  if one then
    if rev and rev ~= ours then redis.call('HDEL', fwd, rev) end
    redis.call('HSET', back, platform, ours)
  else
    local known = false
    for _, o in ipairs(list) do if o == ours then known = true end end
    if not known then
      list[#list + 1] = ours
      redis.call('HSET', back, platform, cjson.encode(list))
    end
  end
  redis.call('HSET', fwd, ours, doc)
end
"""
"""`_LINK`'s two steps as Lua functions, for scripts that write links with other things
(`core.store.redis.intake`): `not_hashes(keys)` (an error reply, or false) before any write, then `link`."""

_LINK = (
    LINK_FUNCTIONS
    + """
local wrong = not_hashes(KEYS)
if wrong then return wrong end
link(KEYS[1], KEYS[2], ARGV[1], ARGV[2], ARGV[3], ARGV[4] == '1')
return 1
"""
)

# KEYS: as _LINK; ARGV: ours, one.
_UNLINK = """
local old = redis.call('HGET', KEYS[1], ARGV[1])
if not old then return 0 end
local was = cjson.decode(old).platform
local rev = redis.call('HGET', KEYS[2], was)
if ARGV[2] == '1' then
  if rev == ARGV[1] then redis.call('HDEL', KEYS[2], was) end
elseif rev then
  local kept = {}
  for _, o in ipairs(cjson.decode(rev)) do if o ~= ARGV[1] then kept[#kept + 1] = o end end
  if #kept == 0 then redis.call('HDEL', KEYS[2], was) else redis.call('HSET', KEYS[2], was, cjson.encode(kept)) end
end
redis.call('HDEL', KEYS[1], ARGV[1])
return 1
"""

# ours and the forward JSON of a platform key (a many-to-one kind's earliest linked), in one round trip.
# KEYS: as _LINK; ARGV: platform, one.
_LINK_TO = """
local ours = redis.call('HGET', KEYS[2], ARGV[1])
if not ours then return false end
if ARGV[2] ~= '1' then ours = cjson.decode(ours)[1] end
if not ours then return false end
local doc = redis.call('HGET', KEYS[1], ours)
if not doc then return false end
return {ours, doc}
"""

P = ParamSpec("P")
R = TypeVar("R")


def _translated(fn: Callable[P, Awaitable[R]]) -> Callable[P, Coroutine[Any, Any, R]]:
    """`core.store.redis._translated` (Redis errors and calls past the store's deadline become StoreError),
    looked up when called: that module imports this one."""

    @functools.wraps(fn)
    async def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        from core.store.redis.connection import _translated as translated

        return await translated(fn)(*args, **kwargs)

    return wrapper


def _doc(link: Link) -> str:
    return json.dumps({"platform": link.platform, "data": link.data})


def _one(kind: LinkKind) -> str:
    return "1" if kind.one_to_one else "0"


def _link_args(link: Link) -> list[str]:
    return [link.ours, link.platform, _doc(link), _one(link.kind)]


class RedisLinks:
    """Mixed into `RedisStore` (which provides `_r`, `_k` and `call_timeout`)."""

    if TYPE_CHECKING:
        call_timeout: float

        @property
        def _r(self) -> aioredis.Redis: ...

        def _k(self, *parts: object) -> str: ...

    def _link_keys(self, kind: LinkKind) -> list[str]:
        return [self._k("link", kind.value), self._k("link", kind.value, "to")]

    async def _platform_links(self, client: aioredis.Redis, version: int) -> None:
        """Upgrade 3, for a layout `version` below it: the refs of a session's Slack thread and Telegram topic (a
        forward and a reverse hash each, `core.links.LEGACY_FORWARD` / `LEGACY_REVERSE`) become platform links;
        the old hashes are deleted once every link is written, then the layout is 3 (an upgrade cut short runs
        again: linking is idempotent)."""
        if version >= 3:
            return
        link = client.register_script(_LINK)
        for kind, namespace in LEGACY_FORWARD.items():
            refs = cast(dict[str, str], await client.hgetall(self._k("ref", namespace)))
            for key, value in refs.items():
                new = from_legacy(kind, key, json.loads(value))
                await link(keys=self._link_keys(kind), args=_link_args(new))
            await client.delete(self._k("ref", namespace), self._k("ref", LEGACY_REVERSE[kind]))
        await client.set(self._k("schema"), 3)

    async def _more_links(self, client: aioredis.Redis, version: int) -> None:
        """Upgrade 4, for a layout `version` below it: the refs of messages' platform messages, their copies and
        instances' status cards (`core.links.LEGACY_REFS`) become platform links, in message order
        (`core.links.legacy_order`); each old hash is deleted once its links are written, then the layout is 4
        (an upgrade cut short runs again: linking is idempotent)."""
        if version >= 4:
            return
        link = client.register_script(_LINK)
        for kind, namespace in LEGACY_REFS.items():
            refs = cast(dict[str, str], await client.hgetall(self._k("ref", namespace)))
            for new in sorted((from_legacy_ref(kind, k, json.loads(v)) for k, v in refs.items()), key=legacy_order):
                await link(keys=self._link_keys(kind), args=_link_args(new))
            await client.delete(self._k("ref", namespace))
        await client.set(self._k("schema"), 4)

    @_translated
    async def link(self, link: Link) -> None:
        script = self._r.register_script(_LINK)
        await script(keys=self._link_keys(link.kind), args=_link_args(link))

    async def _link_in(self, pipe: Pipeline, link: Link) -> None:
        """`link` queued in a transaction (`pipe`): written with whatever else the transaction writes."""
        script = self._r.register_script(_LINK)
        await script(keys=self._link_keys(link.kind), args=_link_args(link), client=pipe)

    @_translated
    async def link_of(self, kind: LinkKind, ours: str) -> Link | None:
        doc = await self._r.hget(self._k("link", kind.value), ours)
        if doc is None:
            return None
        stored = json.loads(doc)
        return Link(kind, ours, str(stored["platform"]), dict(stored["data"]))

    @_translated
    async def link_to(self, kind: LinkKind, platform: str) -> Link | None:
        script = self._r.register_script(_LINK_TO)
        found = await script(keys=self._link_keys(kind), args=[platform, _one(kind)])
        if not found:
            return None
        ours, doc = cast(list[str], found)
        return Link(kind, ours, platform, dict(json.loads(doc)["data"]))

    @_translated
    async def unlink(self, kind: LinkKind, ours: str) -> None:
        script = self._r.register_script(_UNLINK)
        await script(keys=self._link_keys(kind), args=[ours, _one(kind)])
