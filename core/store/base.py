"""The store interface: everything linedesk keeps lives behind it.

Two implementations pass the same test suite (`tests/store/`): SQLite (embedded,
numbered migrations) and Redis (several linedesk instances may share one).
All methods are coroutines; all times are POSIX seconds passed in by the caller
(`now`) so that tests can drive a clock.
"""

from __future__ import annotations

import asyncio
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple, ParamSpec, TypeVar

from core.links import Link, LinkKind
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
    Session,
    SessionStatus,
)
from core.pacing import Windows
from core.refs import RefSpace
from core.retry import Backoff

DESK_CHANNEL_REF = RefSpace.DESK_CHANNEL
"""ref namespace: session number → {"channel"}: the Slack desk channel chosen for the session's thread
(`Store.choose_desk_channel`), recorded before the thread is posted so that sessions opening at once spread."""


@dataclass(frozen=True)
class DeskBacklog:
    """Outbox entries of one desk whose time has come and that are not delivered yet (`Store.desk_backlog`)."""

    route: str
    line_id: str
    channel: str
    """The Slack desk channel of the sessions' threads (route `slack.desk`); "" where not known yet, and for
    other routes (a line has one Telegram desk)."""
    waiting: int
    oldest_created_at: float


class SessionFacts(NamedTuple):
    """What a report reads of one session (`Store.report_sessions`): no messages, no JSON to validate (a
    named tuple: a report builds 100,000 of them)."""

    number: int
    line_id: str
    status: SessionStatus
    assignee: str | None
    created_at: float
    closed_at: float | None
    first_response_at: float | None
    rating: int | None


class InstanceFacts(NamedTuple):
    """What a report reads of one process instance (`Store.report_instances`)."""

    line_id: str | None
    trigger: str
    status: InstanceStatus
    created_at: float


@dataclass(frozen=True)
class ClientContext:
    """What storing a client's message starts from, read in one step (`Store.client_context`)."""

    source: Link | None
    """The platform message's `LinkKind.MESSAGE_SOURCE` link: it was handled before (a replay), or None."""
    client: Client | None
    latest: Session | None
    """The client's most recent session on the line, whatever its status (`Store.latest_session`)."""
    rules_version: int
    """Changes of the auto-start rules so far (`Store.save_rule` counts them): a cache of the rules read at an
    older version is stale."""


@dataclass(frozen=True)
class StoredMessage:
    """A client's message stored in its open session (`Store.client_message`)."""

    message: Message
    outbox: list[OutboxEntry]
    instances_waiting: bool
    """Whether an instance of the session was waiting (for anything) when the message was stored: when none
    was, no instance can take it."""


Deliveries = Callable[[Message], Sequence[OutboxEntry]]
"""The outbox entries of a message, built from it with its id (no I/O: a store may call it more than once)."""
MessageLinks = Callable[[Message], Sequence[Link]]
"""The links of a message, built from it with its id (no I/O, as `Deliveries`)."""


class StoreError(Exception):
    """The store could not do what was asked (connection lost, corrupt data …)."""


class Store(ABC):
    url: str
    one_process: bool = False
    """True for a store that one serving linedesk process uses alone (SQLite; `serve_alone` refuses a second
    one): a chat's events are then kept in order by that process's own locks, without a lease in the store."""

    # --- lifecycle -------------------------------------------------------------
    @abstractmethod
    async def open(self) -> None:
        """Connect and apply pending migrations. Idempotent."""

    @abstractmethod
    async def close(self) -> None: ...

    async def serve_alone(self) -> None:
        """Called by a serving process after `open`. A store for one process (`one_process`) holds it for this
        one until `close`, and raises StoreError, naming the holder, while another process holds it."""
        return None  # a store that any number of processes share

    @abstractmethod
    async def ping(self) -> bool:
        """True when the store answers (used by /readyz)."""

    # --- dedupe and claims --------------------------------------------------------
    @abstractmethod
    async def claim(self, key: str, ttl: float, now: float, owner: str = "") -> bool:
        """Atomically take `key` for `ttl` seconds (SET NX semantics).

        True for the first caller; False while the key is held (also by another
        linedesk instance on the same store). Used for double-click guards,
        auto-start claims and locks. A lease passes its `owner` token, so that
        only the holder can renew or release the claim.
        """

    @abstractmethod
    async def release(self, key: str, owner: str = "") -> None:
        """Drop a claim before its ttl ends; with `owner`, only if that owner still holds it (a claim
        that ran out and was taken by someone else stays theirs)."""

    @abstractmethod
    async def renew(self, key: str, ttl: float, now: float, owner: str = "") -> bool:
        """Extend a held claim to `now + ttl` (its holder is still at work). False when the claim
        is gone (expired, released, or taken since by another owner): the holder has lost it."""

    # --- inbound: stored before acknowledged --------------------------------------
    @abstractmethod
    async def inbound_add(
        self, source: str, key: str, payload: dict[str, Any], now: float, conversation: str = ""
    ) -> int | None:
        """Store an inbound request durably. Returns its id, or None when (source, key) was seen
        before (a duplicate delivery): duplicates are remembered for at least 7 days."""

    @abstractmethod
    async def inbound_pending(
        self, source: str | None = None, limit: int = 100, *, conversation: str | None = None
    ) -> list[InboundRecord]:
        """Stored requests not yet marked done, oldest first (replayed after a restart); of one source, or
        of one conversation."""

    @abstractmethod
    async def inbound_done(self, inbound_id: int) -> None: ...

    @abstractmethod
    async def inbound_is_pending(self, inbound_id: int) -> bool:
        """Still to be handled (not marked done): checked after claiming a record that a sweep listed."""

    async def inbound_take(
        self, conversation: str, lease: str, ttl: float, now: float, owner: str, limit: int = 100
    ) -> list[InboundRecord] | None:
        """Claim the conversation's `lease` for `owner` and list the conversation's pending records, in one
        step where the store can: the per-message path of every inbound event. None when the lease is
        held by someone else; `owner` takes its own lease again (the answer to its last take may have been
        lost)."""
        if not await self.claim(lease, ttl, now, owner) and not (owner and await self.renew(lease, ttl, now, owner)):
            return None
        return await self.inbound_pending(conversation=conversation, limit=limit)

    async def inbound_finish(self, record: InboundRecord, *, release: str | None = None, owner: str = "") -> None:
        """Mark `record` handled and, with `release`, drop that claim of `owner`'s — in one step where the
        store can."""
        await self.inbound_done(record.id)
        if release is not None:
            await self.release(release, owner)

    # --- counters -------------------------------------------------------------
    @abstractmethod
    async def next_number(self, counter: str) -> int:
        """Atomically increment and return the named counter (first call returns 1)."""

    # --- clients -------------------------------------------------------------
    @abstractmethod
    async def get_client(self, client_id: str) -> Client | None: ...

    @abstractmethod
    async def save_client(self, client: Client) -> None:
        """Insert or replace."""

    # --- a client's message in one step ----------------------------------------------
    @abstractmethod
    async def client_context(self, line_id: str, client_id: str, platform_ref: str | None) -> ClientContext:
        """What storing a client's message needs to know, in one step (one round trip where the store can): the
        platform message's `MESSAGE_SOURCE` link (`link_to`; None without a `platform_ref`), the client
        (`get_client`), their latest session on the line (`latest_session`) and the rules' version."""

    @abstractmethod
    async def client_message(
        self, session: Session, message: Message, deliveries: Deliveries, links: MessageLinks
    ) -> StoredMessage:
        """Store the session (replacing it, as `save_session`), the message (numbered, as `add_message`), the
        message's outbox entries (`deliveries(message)`, as `outbox_add`) and its links (`links(message)`) in
        one atomic step, and say whether an instance of the session was waiting then: a client's message in
        its open session, in one round trip where the store can."""

    # --- sessions -------------------------------------------------------------
    @abstractmethod
    async def create_session(self, session: Session) -> Session:
        """Give the session the next number of counter "session" and store it. Returns it numbered."""

    @abstractmethod
    async def get_session(self, number: int) -> Session | None: ...

    @abstractmethod
    async def save_session(self, session: Session) -> None:
        """Replace an existing session (by number)."""

    @abstractmethod
    async def latest_session(self, line_id: str, client_id: str) -> Session | None:
        """The client's most recent session on the line (highest number), whatever its status."""

    @abstractmethod
    async def list_sessions(
        self,
        *,
        status: Sequence[SessionStatus] | None = None,
        line_id: str | None = None,
        assignee: str | None = None,
        client_id: str | None = None,
        limit: int = 100,
    ) -> list[Session]:
        """Sessions matching every given filter, newest first."""

    @abstractmethod
    async def count_active_sessions(self, operator_ids: Sequence[str]) -> dict[str, int]:
        """How many active sessions each operator holds (status active, assigned to them), counted in the
        store — every given operator is in the answer, 0 when they hold none. Automatic assignment's "least
        busy"."""

    @abstractmethod
    async def quiet_sessions(self, line_id: str, quiet_before: float, limit: int = 1000) -> list[Session]:
        """Open sessions of the line whose client has not written since `quiet_before` (`Session.quiet_since`
        at or before it), longest quiet first: the idle-session check reads only these, from an index."""

    # --- reports (SPEC §15) -----------------------------------------------------
    @abstractmethod
    async def report_sessions(self, line_id: str | None, since: float, until: float) -> list[SessionFacts]:
        """The sessions (of one line, or of every line) opened at or after `since` and before `until`, oldest
        first, read from an index on (line, created_at): 100,000 of them in well under a second."""

    @abstractmethod
    async def report_instances(self, line_id: str | None, since: float, until: float) -> list[InstanceFacts]:
        """The process instances (of one line's sessions and clients, or all) started at or after `since` and
        before `until`, oldest first."""

    # --- messages -------------------------------------------------------------
    @abstractmethod
    async def add_message(self, message: Message) -> Message:
        """Store a message; returns it with its id (increasing per store)."""

    @abstractmethod
    async def list_messages(self, session: int, limit: int = 1000) -> list[Message]:
        """A session's messages, oldest first."""

    @abstractmethod
    async def get_message(self, session: int, message_id: int) -> Message | None: ...

    @abstractmethod
    async def update_message(self, message: Message) -> None:
        """Replace a stored message (same session and id), e.g. after the client edited it."""

    # --- operators -------------------------------------------------------------
    @abstractmethod
    async def get_operator(self, operator_id: str) -> OperatorState:
        """The operator's state; an operator never seen before is `offline`."""

    @abstractmethod
    async def save_operator(self, state: OperatorState) -> None: ...

    # --- process instances -----------------------------------------------------
    @abstractmethod
    async def get_instance(self, instance_id: str) -> InstanceRecord | None: ...

    @abstractmethod
    async def list_instances(
        self,
        *,
        status: Sequence[InstanceStatus] | None = None,
        session: int | None = None,
        limit: int = 100,
    ) -> list[InstanceRecord]:
        """Instances matching the filters, newest first."""

    async def worker_waits(self, limit: int = 10_000) -> list[tuple[str, list[str]]]:
        """(instance id, external task ids) of the waiting instances that have external tasks for workers (SPEC
        §12), oldest first. A store may answer without reading whole instances (SQLite does)."""
        records = await self.list_instances(status=[InstanceStatus.WAITING], limit=limit)
        waiting = sorted((r for r in records if r.worker_tasks), key=lambda r: (r.created_at, r.id))
        return [(r.id, list(r.worker_tasks)) for r in waiting]

    @abstractmethod
    async def due_instances(self, now: float, limit: int = 100) -> list[InstanceRecord]:
        """Waiting instances whose `wake_at` is set and <= now, earliest first (timers to fire)."""

    @abstractmethod
    async def commit_instance(self, instance: InstanceRecord, outbox: Sequence[OutboxEntry] = ()) -> list[OutboxEntry]:
        """Insert or replace the instance and enqueue its side effects in one atomic step,
        so that a crash never leaves an effect without its step or a step without its effect.
        Returns the enqueued entries with their ids."""

    # --- outbox -------------------------------------------------------------
    @abstractmethod
    async def outbox_add(self, entries: Sequence[OutboxEntry], links: Sequence[Link] = ()) -> list[OutboxEntry]:
        """Enqueue entries (status pending); returns them with ids, increasing in the given order. `links` are
        written in the same atomic step (e.g. a handled message's platform message: a replay after a crash finds
        it handled exactly when its deliveries are stored)."""

    @abstractmethod
    async def outbox_claim(self, now: float, lease: float, limit: int = 50) -> list[OutboxEntry]:
        """Take up to `limit` entries that may be delivered now.

        An entry may be delivered when it is pending, its `due_at` <= now, it is the
        oldest pending entry of its conversation, and no unexpired lease is on that
        conversation. Claiming leases the conversation for `lease` seconds (another
        caller, also another linedesk instance, does not get that conversation until
        the entry is completed, rescheduled, killed or the lease runs out).
        At most one entry per conversation is returned."""

    @abstractmethod
    async def outbox_followers(self, entry: OutboxEntry, limit: int) -> list[OutboxEntry]:
        """The pending entries queued behind `entry` in its conversation, oldest first, up to
        `limit` (the outbox merges a run of them into one delivery while it holds the conversation's lease;
        they are completed before `entry`, so the lease is never released with them still pending)."""

    @abstractmethod
    async def outbox_extend(self, entry_ids: Sequence[int], now: float, until: float) -> None:
        """Renew the leases of conversations whose head is one of `entry_ids` (deliveries still
        under way) so that they run until `until`. Leases already run out at `now` (another instance
        may hold the conversation now) and entries no longer at a head are left alone."""

    @abstractmethod
    async def outbox_complete(self, entry_id: int, links: Sequence[Link] = ()) -> None:
        """Delivered: status done, the conversation's lease is released. `links` (what the delivery made on the
        platform, e.g. a message's desk copy) are written in the same step — also when the entry is no longer
        pending, since the platform has them."""

    @abstractmethod
    async def outbox_reschedule(self, entry_id: int, due_at: float, error: str) -> None:
        """Failed, try again at `due_at`: attempts + 1, last_error set, lease released.
        The entry stays the head of its conversation (order is kept)."""

    @abstractmethod
    async def outbox_kill(self, entry_id: int, error: str) -> None:
        """Failed for good (status dead, last_error set, lease released): the conversation moves on."""

    @abstractmethod
    async def outbox_get(self, entry_id: int) -> OutboxEntry | None: ...

    @abstractmethod
    async def outbox_stats(self, now: float) -> dict[str, float]:
        """{"pending": n, "dead": n, "oldest_age": seconds since the oldest pending entry was created (0 if none),
        "next_due": the earliest time a pending entry may be delivered (0 if none)}."""

    def pacing_windows(self) -> Windows | None:
        """Where platform send windows are kept when several instances share this store (None: in each
        process's memory, enough for a store only one instance opens)."""
        return None

    # --- auto-start rules set at run time ----------------------------------------
    @abstractmethod
    async def save_rule(self, rule: AutostartRule) -> None:
        """Insert or replace the rule of (line_id, event), and count the change (`ClientContext.rules_version`)."""

    @abstractmethod
    async def list_rules(self, line_id: str | None = None) -> list[AutostartRule]: ...

    # --- items created by processes ---------------------------------------------
    @abstractmethod
    async def create_item(self, item: Item) -> Item:
        """Number the item with counter "item:<app>" and store it; returns it numbered."""

    @abstractmethod
    async def list_items(self, app: str, limit: int = 100) -> list[Item]:
        """Items of the app, newest first."""

    # --- signals between linedesk processes on one store (not abstract: one process needs none) -------
    async def signal(self, channel: str, payload: str) -> None:
        """Wake whoever listens to `channel` in the linedesk processes on this store (Redis pub/sub); a store
        only one process opens has nobody to tell."""
        return None

    async def signals(self, channel: str) -> AsyncIterator[str]:
        """The payload of every `signal(channel, …)` (this process's too), for as long as it is iterated."""
        await asyncio.Event().wait()
        yield ""

    # --- refs: small keyed documents (state, memos, caches; not platform links) ------------------------
    @abstractmethod
    async def set_ref(self, space: RefSpace, key: str, value: dict[str, Any]) -> None:
        """Insert or replace (the spaces and what they hold: `core.refs.RefSpace`)."""

    @abstractmethod
    async def get_ref(self, space: RefSpace, key: str) -> dict[str, Any] | None: ...

    @abstractmethod
    async def delete_ref(self, space: RefSpace, key: str) -> None: ...

    # --- platform links (core/links.py): both directions in one write --------------------------------
    @abstractmethod
    async def link(self, link: Link) -> None:
        """Store the link in both directions at once (one transaction): afterwards `link_of(kind, ours)` and
        `link_to(kind, platform)` both find it, and a crash leaves both or neither. Replaces the kind's link of
        the same `ours` (its old platform key no longer finds it) and, for a one-to-one kind
        (`LinkKind.one_to_one`), of the same `platform`; a many-to-one kind keeps those. Linking the same ours
        to the same platform key again keeps its place among the platform key's links."""

    @abstractmethod
    async def link_of(self, kind: LinkKind, ours: str) -> Link | None:
        """Our thing's link of that kind (where it stands on the platform)."""

    @abstractmethod
    async def link_to(self, kind: LinkKind, platform: str) -> Link | None:
        """The link of that kind whose platform key is `platform` (which of ours it stands for); of a
        many-to-one kind, the earliest linked of those still linked (an album's first message)."""

    @abstractmethod
    async def unlink(self, kind: LinkKind, ours: str) -> None:
        """Drop our thing's link of that kind, both directions at once. Nothing to drop is no error."""

    # --- desks ------------------------------------------------------------------
    @abstractmethod
    async def choose_desk_channel(self, line_id: str, session: int, channels: Sequence[str]) -> str:
        """The Slack desk channel of the session's thread: the one chosen before (`DESK_CHANNEL_REF`) or the
        one its thread is linked in (`LinkKind.SESSION_THREAD`); otherwise the one of `channels` (not empty)
        with the fewest open sessions of the line, ties to the first listed — chosen and recorded in one
        atomic step, so sessions opening at once (on any instance) spread over the channels."""

    @abstractmethod
    async def desk_channel_sessions(self, line_id: str) -> dict[str, int]:
        """How many open (queued or active) sessions of the line each Slack desk channel holds (chosen or
        linked), counted in the store; channels holding none are left out."""

    @abstractmethod
    async def desk_backlog(self, now: float, routes: Sequence[str], slack_route: str) -> list[DeskBacklog]:
        """Per desk: the pending outbox entries of the desk `routes` (conversation "<route>:<session>") whose
        time has come — due by `now`, or tried already and waiting for a retry (not those held back on
        purpose, an album's short wait) — grouped by route, line and, for `slack_route`, the Slack channel
        of the session's thread; in one query (one script on Redis), for `/metrics` and the App Home."""


P = ParamSpec("P")
R = TypeVar("R")
STEADY_ATTEMPTS = 10
STEADY_BACKOFF = Backoff(first=0.1, cap=5.0, attempts=STEADY_ATTEMPTS)
"""0.1, 0.2, 0.4, 0.8, 1.6, 3.2, 5, 5, 5 s between the tries: about 20 s in all."""


async def steadily(write: Callable[P, Awaitable[R]], *args: P.args, **kwargs: P.kwargs) -> R:
    """Do a store write that follows an action already done on a platform (a message was sent, a topic was
    opened): a store that is away for a moment is waited out here, because failing now would make the
    outbox do the action again. Gives up (raising the last StoreError) after about twenty seconds."""
    return await STEADY_BACKOFF.call(StoreError, lambda: write(*args, **kwargs))
