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
    sessions:created, sessions:line:<l>:created
                                        zsets of every session (of the line), score = created_at (reports.py)
    schema                              the layout's version (`RedisStore._upgrade`): 2 = typed outbox, 3 = links,
                                        4 = message, copy and status card links, 6 = the created indexes
    messages:<session>                  zset of message JSON, score = id
    instance:<id>                       JSON; indexes (zsets, score = created_at, member = id):
    instances, instances:status:<s>, instances:session:<n>
    outbox:entry:<id>                   JSON
    outbox:conv:<conversation>          zset of pending entry ids (score = id): the conversation's queue
    outbox:ready                        zset of conversations with pending entries, score = when the
                                        head may go next: its due_at, or the lease's end while leased
    outbox:pending, outbox:dead         zsets of entry ids, score = created_at (stats)
    outbox:leased                       hash: conversation → the head its last claim took, until that head
                                        has a result (a claim that finds it again: `OutboxEntry.retaken`)
    rules                               hash, field = JSON [line_id, event]
    rules:version                       how many times a rule was saved (`ClientContext.rules_version`)
    items:<app>                         zset of item JSON, score = number
    pace:<bucket>[:paused]              pacing windows shared by every instance (pacing.py)
    ref:<namespace>                     hash, field = key; link:<kind>, link:<kind>:to: links.py (layouts 3, 4)
                                        ref:desk.channel: the Slack desk channel chosen per session (desks.py)

Line ids contain no ":" (the config allows [a-z0-9_-]), so the composite keys are unambiguous.
Lua scripts derive some key names from the prefix: a single Redis (not Cluster) is required.
"""

from __future__ import annotations

from core.store.redis.connection import (
    CALL_TIMEOUT,
    CONNECT_TIMEOUT,
    DEDUPE_KEEP,
    DONE_KEEP_MS,
    POOL_SIZE,
    WATCH_RETRIES,
    RedisBase,
)
from core.store.redis.desks import RedisDesks
from core.store.redis.inbound import InboundMixin
from core.store.redis.intake import ClientMessagesMixin
from core.store.redis.lifecycle import LifecycleMixin
from core.store.redis.links import RedisLinks
from core.store.redis.outbox import OutboxMixin
from core.store.redis.pacing import PacingMixin
from core.store.redis.refs import RefsMixin
from core.store.redis.reports import ReportsMixin
from core.store.redis.sessions import SessionsMixin
from core.store.redis.signals import SignalsMixin

__all__ = [
    "CALL_TIMEOUT",
    "CONNECT_TIMEOUT",
    "DEDUPE_KEEP",
    "DONE_KEEP_MS",
    "POOL_SIZE",
    "WATCH_RETRIES",
    "RedisBase",
    "RedisStore",
]


class RedisStore(
    RedisDesks,
    RedisLinks,
    LifecycleMixin,
    InboundMixin,
    ClientMessagesMixin,
    SessionsMixin,
    OutboxMixin,
    RefsMixin,
    ReportsMixin,
    PacingMixin,
    SignalsMixin,
):
    """The Redis store, one mixin per concern over `RedisBase`'s client (see the modules)."""
