"""A client's message in its open session, in one round trip each: what it starts from (`client_context`, one
script reading the platform message's link, the client, their latest session and the rules' version) and what
it writes (`client_message`, one script storing the session, the message, its outbox entries and its links).

The message's id is given out inside the script (`seq:message`), yet its outbox entries and links, built in
Python, name it: they are built from the message numbered `PENDING_ID`, and the script puts the id in where
their JSON has it — the message's own `"id"` (the first field), the entries' `"message_id"` and the links' ours
and `"id"`. Inside JSON text a quote is always escaped, so people's words can never look like one of those
places; a message or entry whose JSON has `PENDING_ID` anywhere else is stored the longer way (one step per
record, as `save_session`, `add_message` and `outbox_add` do)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import cast

from core.links import Link, LinkKind
from core.model import Client, InstanceStatus, Message, OutboxEntry, OutboxStatus, Session
from core.record import STORED
from core.store.base import ClientContext, Deliveries, MessageLinks, StoredMessage
from core.store.redis.connection import _num, _translated
from core.store.redis.links import LINK_FUNCTIONS
from core.store.redis.scripts import PUT_SESSION_FUNCTION
from core.store.redis.sessions import SessionsMixin

PENDING_ID = 9_111_111_111_111_111_111
"""The id a message has while its entries and links are built, before the script numbers it."""
_PENDING = str(PENDING_ID)

# KEYS: link:message_source, link:message_source:to, client, the client's sessions on the line, rules:version
# ARGV: platform ref ("": none), one ('1'|'0'), the session key prefix
# Returns: the link's ours and forward JSON (false, false: none), the client, the latest session, the version.
CLIENT_CONTEXT = """
local ours, doc = false, false
if ARGV[1] ~= '' then
  local o = redis.call('HGET', KEYS[2], ARGV[1])
  if o and ARGV[2] ~= '1' then o = cjson.decode(o)[1] end
  if o then
    local d = redis.call('HGET', KEYS[1], o)
    if d then ours, doc = o, d end
  end
end
local session = false
local top = redis.call('ZREVRANGE', KEYS[4], 0, 0)
if #top > 0 then session = redis.call('GET', ARGV[3] .. top[1]) end
return {ours, doc, redis.call('GET', KEYS[3]), session, redis.call('GET', KEYS[5]) or '0'}
"""

# KEYS: session, the line's quiet index, the session's messages, seq:message, seq:outbox, outbox:ready,
#       outbox:pending, instances:session:<n>, instances:status:waiting
# ARGV: key prefix, PENDING_ID, then the session (member, JSON, quiet_since, n, n indexes), the message's JSON,
#       the entries (n, then conversation, due_at, created_at, JSON each), the links (n, then forward key,
#       reverse key, ours, platform, JSON, one each)
# Returns: the message's id, the first entry's id, 1 when an instance of the session is waiting.
CLIENT_MESSAGE = (
    PUT_SESSION_FUNCTION
    + LINK_FUNCTIONS
    + """
local p, pending = ARGV[1], ARGV[2]
local n = tonumber(ARGV[6])
local indexes = {}
for i = 1, n do indexes[i] = ARGV[6 + i] end
local at = 7 + n
local message = ARGV[at]
local entries = {}
local ne = tonumber(ARGV[at + 1])
at = at + 2
for i = 1, ne do
  entries[i] = {ARGV[at], ARGV[at + 1], ARGV[at + 2], ARGV[at + 3]}
  at = at + 4
end
local links = {}
local nl = tonumber(ARGV[at])
at = at + 1
for i = 1, nl do
  links[i] = {ARGV[at], ARGV[at + 1], ARGV[at + 2], ARGV[at + 3], ARGV[at + 4], ARGV[at + 5] == '1'}
  local wrong = not_hashes({ARGV[at], ARGV[at + 1]})
  if wrong then return wrong end
  at = at + 6
end
put_session(KEYS[1], KEYS[2], p, ARGV[3], ARGV[4], ARGV[5], indexes)
local id = tostring(redis.call('INCR', KEYS[4]))
local doc = '{"id":' .. id .. string.sub(message, #pending + 7)
redis.call('ZADD', KEYS[3], id, doc)
local first = 0
if ne > 0 then first = redis.call('INCRBY', KEYS[5], ne) - ne + 1 end
for i, e in ipairs(entries) do
  local eid = tostring(first + i - 1)
  local edoc = '{"id":' .. eid .. string.sub(e[4], 8)
  edoc = string.gsub(edoc, '"message_id":' .. pending, '"message_id":' .. id)
  redis.call('SET', p .. 'outbox:entry:' .. eid, edoc)
  redis.call('ZADD', p .. 'outbox:conv:' .. e[1], eid, eid)
  redis.call('ZADD', KEYS[6], 'NX', e[2], e[1])
  redis.call('ZADD', KEYS[7], e[3], eid)
end
for _, l in ipairs(links) do
  local ours = string.gsub(l[3], pending, id)
  local ldoc = string.gsub(l[5], '"id": ' .. pending, '"id": ' .. id)
  link(l[1], l[2], ours, l[4], ldoc, l[6])
end
local waiting = 0
for _, member in ipairs(redis.call('ZRANGE', KEYS[8], 0, -1)) do
  if redis.call('ZSCORE', KEYS[9], member) then
    waiting = 1
    break
  end
end
return {id, first, waiting}
"""
)


def _link_doc(link: Link) -> str:
    return json.dumps({"platform": link.platform, "data": link.data})


def _fits(message: str, entries: Sequence[str], links: Sequence[Link]) -> bool:
    """`PENDING_ID` stands only where the script puts the id in (see the module)."""
    if not message.startswith(f'{{"id":{_PENDING},') or message.count(_PENDING) != 1:
        return False
    for doc in entries:
        if not doc.startswith('{"id":0,') or doc.count(_PENDING) != doc.count(f'"message_id":{_PENDING}'):
            return False
    for link in links:
        doc = _link_doc(link)
        if _PENDING in link.platform or link.ours.count(_PENDING) > 1:
            return False
        if doc.count(_PENDING) != doc.count(f'"id": {_PENDING}') + link.platform.count(_PENDING):
            return False
    return True


class ClientMessagesMixin(SessionsMixin):
    @_translated
    async def client_context(self, line_id: str, client_id: str, platform_ref: str | None) -> ClientContext:
        kind = LinkKind.MESSAGE_SOURCE
        ours, doc, client, session, version = cast(
            list[str | None],
            await self._client_context_script(
                keys=[
                    self._k("link", kind.value),
                    self._k("link", kind.value, "to"),
                    self._k("client", client_id),
                    self._k("sessions", "line", line_id, "client", client_id),
                    self._k("rules", "version"),
                ],
                args=[platform_ref or "", "1" if kind.one_to_one else "0", self._k("session", "")],
            ),
        )
        source = None
        if ours is not None and doc is not None and platform_ref:
            source = Link(kind, ours, platform_ref, dict(json.loads(doc)["data"]))
        return ClientContext(
            source=source,
            client=Client.model_validate_json(client, context=STORED) if client else None,
            latest=Session.model_validate_json(session, context=STORED) if session else None,
            rules_version=int(version or 0),
        )

    @_translated
    async def client_message(
        self, session: Session, message: Message, deliveries: Deliveries, links: MessageLinks
    ) -> StoredMessage:
        draft = message.model_copy(update={"id": PENDING_ID})
        entries = [e.model_copy(update={"id": 0, "status": OutboxStatus.PENDING}) for e in deliveries(draft)]
        made = list(links(draft))
        message_doc = draft.model_dump_json()
        entry_docs = [e.model_dump_json() for e in entries]
        if not _fits(message_doc, entry_docs, made):
            return await self._client_message_stepwise(session, message, deliveries, links)
        args: list[str | int] = [self.prefix, _PENDING]
        indexes = self._session_indexes(session)
        quiet = _num(session.quiet_since) if session.is_open else ""
        args += [session.number, session.model_dump_json(), quiet, len(indexes), *indexes, message_doc, len(entries)]
        for entry, doc in zip(entries, entry_docs, strict=True):
            args += [entry.conversation, _num(entry.due_at), _num(entry.created_at), doc]
        args.append(len(made))
        for link in made:
            forward, back = self._k("link", link.kind.value), self._k("link", link.kind.value, "to")
            args += [forward, back, link.ours, link.platform, _link_doc(link), "1" if link.kind.one_to_one else "0"]
        number, first, waiting = cast(
            list[int],
            await self._client_message_script(
                keys=[
                    self._k("session", session.number),
                    self._k("sessions", "line", session.line_id, "quiet"),
                    self._k("messages", session.number),
                    self._k("seq", "message"),
                    self._k("seq", "outbox"),
                    self._k("outbox", "ready"),
                    self._k("outbox", "pending"),
                    self._k("instances", "session", session.number),
                    self._k("instances", "status", InstanceStatus.WAITING.value),
                ],
                args=args,
            ),
        )
        number = int(number)
        stored = message.model_copy(update={"id": number})
        pending, numbered = f'"message_id":{_PENDING}', f'"message_id":{number}'
        head = len('{"id":0')
        outbox = [
            OutboxEntry.model_validate_json(
                f'{{"id":{int(first) + n}{doc[head:]}'.replace(pending, numbered), context=STORED
            )
            for n, doc in enumerate(entry_docs)
        ]
        return StoredMessage(stored, outbox, bool(int(waiting)))

    async def _client_message_stepwise(
        self, session: Session, message: Message, deliveries: Deliveries, links: MessageLinks
    ) -> StoredMessage:
        """`client_message` one record at a time (not atomic): where `PENDING_ID` would not be found."""
        await self.save_session(session)
        stored = await self.add_message(message)
        outbox = await self.outbox_add(deliveries(stored), links(stored))
        waiting = await self.list_instances(status=[InstanceStatus.WAITING], session=session.number, limit=1)
        return StoredMessage(stored, outbox, bool(waiting))
