"""The Lua scripts of the Redis store (registered by `RedisStore.open`)."""

from core.store.redis.links import LINK_FUNCTIONS

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
PUT_SESSION_FUNCTION = """
local function put_session(key, quiet_key, p, member, doc, quiet, indexes)
  if quiet ~= '' then redis.call('ZADD', quiet_key, quiet, member) else redis.call('ZREM', quiet_key, member) end
  local new = {}
  for _, k in ipairs(indexes) do new[k] = true end
  local old = redis.call('GET', key)
  if old then
    local s = cjson.decode(old)
    local stale = {p .. 'sessions:status:' .. s.status, p .. 'sessions:line:' .. s.line_id .. ':status:' .. s.status}
    if type(s.assignee) == 'string' then
      stale[#stale + 1] = p .. 'sessions:assignee:' .. s.assignee .. ':status:' .. s.status
    end
    for _, k in ipairs(stale) do
      if not new[k] then redis.call('ZREM', k, member) end
    end
  end
  if not old then  -- a new session: in the reports' indexes by when it opened (it never changes)
    local s = cjson.decode(doc)
    redis.call('ZADD', p .. 'sessions:created', s.created_at, member)
    redis.call('ZADD', p .. 'sessions:line:' .. s.line_id .. ':created', s.created_at, member)
  end
  redis.call('SET', key, doc)
  for _, k in ipairs(indexes) do redis.call('ZADD', k, member, member) end
end
"""
"""`_PUT_SESSION` as a Lua function, for scripts that store a session with other things
(`core.store.redis.intake`)."""

_PUT_SESSION = (
    PUT_SESSION_FUNCTION
    + """
local indexes = {}
for i = 5, #ARGV do indexes[#indexes + 1] = ARGV[i] end
put_session(KEYS[1], KEYS[2], ARGV[1], ARGV[2], ARGV[3], ARGV[4], indexes)
return 1
"""
)

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

# KEYS: ready, leased; ARGV: now, lease end, limit, conversation key prefix, entry key prefix.
# Returns the heads' documents and, for each, 1 when its conversation's last claim took it too (retaken).
_OUTBOX_CLAIM = """
local out, retaken = {}, {}
local convs = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, ARGV[3])
for _, c in ipairs(convs) do
  local head = redis.call('ZRANGE', ARGV[4] .. c, 0, 0)
  if #head == 0 then
    redis.call('ZREM', KEYS[1], c)
    redis.call('HDEL', KEYS[2], c)
  else
    local doc = redis.call('GET', ARGV[5] .. head[1])
    if doc then
      redis.call('ZADD', KEYS[1], ARGV[2], c)
      out[#out + 1] = doc
      retaken[#retaken + 1] = redis.call('HGET', KEYS[2], c) == head[1] and 1 or 0
      redis.call('HSET', KEYS[2], c, head[1])
    else
      redis.call('ZREM', ARGV[4] .. c, head[1])
    end
  end
end
return {out, retaken}
"""

# A result for one entry, then the conversation's queue and ready time follow; a head's result ends its lease
# (the leased hash: conversation → the head a claim took, kept until that head has a result, so that a claim
# after a lease ran out knows it is taking it again). As a Lua function, called by _OUTBOX_FINISH (a
# compare-and-set of the entry) and _OUTBOX_COMPLETE (done, in one round trip).
# keys: entry, conv, ready, pending, dead, leased; the new JSON, id, conversation, dequeue, dead, px ('0': keep),
# entry key prefix, created_at
FINISH_FUNCTION = """
local function finish(k, new, id, conv, dequeue, dead, px, entry_prefix, created_at)
  if px ~= '0' then
    redis.call('SET', k[1], new, 'PX', px)
  else
    redis.call('SET', k[1], new)
  end
  local head = redis.call('ZRANGE', k[2], 0, 0)
  local was_head = head[1] == id
  if dequeue then
    redis.call('ZREM', k[2], id)
    redis.call('ZREM', k[4], id)
  end
  if dead then redis.call('ZADD', k[5], created_at, id) end
  if was_head then
    redis.call('HDEL', k[6], conv)
    local nh = redis.call('ZRANGE', k[2], 0, 0)
    if #nh == 0 then
      redis.call('ZREM', k[3], conv)
    else
      local doc = redis.call('GET', entry_prefix .. nh[1])
      local due = 0
      if doc then due = cjson.decode(doc)['due_at'] end
      redis.call('ZADD', k[3], string.format('%.17g', due), conv)
    end
  end
end
"""

# KEYS: entry, conv, ready, pending, dead, leased
# ARGV: old JSON, new JSON, id, conversation, dequeue '1'|'0', dead '1'|'0', px ('0': keep),
#       entry key prefix, created_at
_OUTBOX_FINISH = (
    FINISH_FUNCTION
    + """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
finish(KEYS, ARGV[2], ARGV[3], ARGV[4], ARGV[5] == '1', ARGV[6] == '1', ARGV[7], ARGV[8], ARGV[9])
return 1
"""
)

# An entry delivered, in one round trip: its JSON read here, its status turned to done where the JSON has it
# (`"status":"pending"`, found exactly once: a quote inside a string is escaped, and no action has a status),
# then as _OUTBOX_FINISH; the links the delivery made (its desk copy) are written first, in the same script (a
# pipeline with a script in it costs redis-py a SCRIPT EXISTS round trip of its own). 1: done (or no longer
# pending: left alone); 0: the JSON was not as expected, the caller takes the compare-and-set way.
# KEYS: entry, ready, pending, dead, leased; ARGV: id, key prefix, px, then the links (n, then forward key,
# reverse key, ours, platform, JSON, one each).
_OUTBOX_COMPLETE = (
    FINISH_FUNCTION
    + LINK_FUNCTIONS
    + """
local links = {}
local at = 5
for i = 1, tonumber(ARGV[4] or '0') do
  links[i] = {ARGV[at], ARGV[at + 1], ARGV[at + 2], ARGV[at + 3], ARGV[at + 4], ARGV[at + 5] == '1'}
  local wrong = not_hashes({ARGV[at], ARGV[at + 1]})
  if wrong then return wrong end
  at = at + 6
end
for _, l in ipairs(links) do link(l[1], l[2], l[3], l[4], l[5], l[6]) end
local old = redis.call('GET', KEYS[1])
if not old then return 1 end
local e = cjson.decode(old)
if e.status ~= 'pending' then return 1 end
local new, n = string.gsub(old, '"status":"pending"', '"status":"done"')
if n ~= 1 or type(e.conversation) ~= 'string' then return 0 end
local conv = ARGV[2] .. 'outbox:conv:' .. e.conversation
finish({KEYS[1], conv, KEYS[2], KEYS[3], KEYS[4], KEYS[5]}, new, ARGV[1], e.conversation, true, false, ARGV[3],
  ARGV[2] .. 'outbox:entry:', '0')
return 1
"""
)
