"""One suite for every Store implementation (fixture `store`: sqlite and redis), plus what only one has."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from pathlib import Path
from typing import Any

import pytest

from core.links import (
    LinkKind,
    TelegramSent,
    message_source,
    session_thread,
    session_topic,
    slack_client_copy,
    slack_client_status,
    slack_desk_copy,
    slack_desk_status,
    telegram_client_copy,
    telegram_client_status,
    telegram_desk_copy,
    telegram_desk_status,
)
from core.model import (
    AuthorKind,
    AutostartRule,
    Channel,
    Client,
    InstanceRecord,
    InstanceStatus,
    Item,
    Message,
    OperatorState,
    OperatorStatus,
    OutboxEntry,
    OutboxStatus,
    Session,
    SessionStatus,
)
from core.outbox_actions import Notice, SendText
from core.refs import RefSpace
from core.store import RedisStore, SqliteStore, Store, StoreError, open_store
from core.store.sqlite import MIGRATIONS
from tests.support.rigs import FailingCommit, RedisFactory

Q, A, C, S = SessionStatus.QUEUED, SessionStatus.ACTIVE, SessionStatus.CLOSED, SessionStatus.SPAM


def session(line: str = "support", client: str = "telegram:1", **kw: object) -> Session:
    return Session.model_validate({"number": 0, "line_id": line, "client_id": client, **kw})


def entry(conversation: str, text: str = "send", due_at: float = 0.0, created_at: float = 0.0) -> OutboxEntry:
    return OutboxEntry(
        conversation=conversation,
        route="telegram.client",
        action=SendText(session=1, line_id="support", client_id="telegram:1", chat_id="1", text=text),
        due_at=due_at,
        created_at=created_at,
    )


def text_of(entry: OutboxEntry) -> str:
    assert isinstance(entry.action, SendText)
    return entry.action.text


def instance(iid: str, created_at: float, **kw: object) -> InstanceRecord:
    return InstanceRecord.model_validate({"id": iid, "process_id": "p", "created_at": created_at, **kw})


# --- lifecycle ----------------------------------------------------------------------


async def test_ping_and_open_is_idempotent(store: Store) -> None:
    assert await store.ping()
    await store.open()
    assert await store.ping()
    assert store.url.startswith(("sqlite:///", "redis://", "rediss://"))


async def test_ping_false_when_closed(store: Store) -> None:
    await store.close()
    assert not await store.ping()
    with pytest.raises(StoreError):
        await store.get_session(1)
    await store.open()


# --- claims --------------------------------------------------------------------------


async def test_claim_is_exclusive_until_ttl_ends(store: Store) -> None:
    assert await store.claim("click:1", ttl=5, now=1000.0)
    assert not await store.claim("click:1", ttl=5, now=1001.0)
    assert not await store.claim("click:1", ttl=5, now=1004.9)
    assert await store.claim("click:2", ttl=5, now=1001.0)
    assert await store.claim("click:1", ttl=5, now=1005.0)  # expired: taken again, for 5 more seconds
    assert not await store.claim("click:1", ttl=5, now=1009.0)


async def test_release_frees_a_claim(store: Store) -> None:
    assert await store.claim("lock", ttl=60, now=1000.0)
    await store.release("lock")
    assert await store.claim("lock", ttl=60, now=1001.0)
    await store.release("never-claimed")


async def test_inbound_pending_of_one_conversation(store: Store) -> None:
    a1 = await store.inbound_add("telegram:support", "1", {"n": 1}, now=1.0, conversation="telegram:support:501")
    await store.inbound_add("telegram:support", "2", {"n": 2}, now=2.0, conversation="telegram:support:502")
    a3 = await store.inbound_add("telegram:support", "3", {"n": 3}, now=3.0, conversation="telegram:support:501")
    assert a1 is not None and a3 is not None
    mine = await store.inbound_pending(conversation="telegram:support:501")
    assert [(r.id, r.conversation) for r in mine] == [(a1, "telegram:support:501"), (a3, "telegram:support:501")]
    await store.inbound_done(a1)
    assert [r.id for r in await store.inbound_pending(conversation="telegram:support:501")] == [a3]
    assert await store.inbound_pending(conversation="nobody") == []
    assert [r.payload["n"] for r in await store.inbound_pending(source="telegram:support")] == [2, 3]


async def test_renew_extends_only_a_held_claim(store: Store) -> None:
    assert await store.claim("inbound:7", ttl=5, now=1000.0)
    assert await store.renew("inbound:7", ttl=5, now=1004.0)  # still held: now until 1009
    assert not await store.claim("inbound:7", ttl=5, now=1008.0)
    assert not await store.renew("inbound:7", ttl=5, now=1009.5)  # ran out: lost, not revived
    assert await store.claim("inbound:7", ttl=5, now=1009.5)
    await store.release("inbound:7")
    assert not await store.renew("inbound:7", ttl=5, now=1010.0)
    assert not await store.renew("never-claimed", ttl=5, now=1010.0)


async def test_an_owned_claim_is_renewed_and_released_only_by_its_owner(store: Store) -> None:
    """A holder whose claim ran out and was taken by another must neither extend nor drop the new holder's
    claim (two instances would otherwise both believe they hold the chat)."""
    assert await store.claim("inbound:8", ttl=5, now=1000.0, owner="a")
    assert not await store.renew("inbound:8", ttl=5, now=1001.0, owner="b")
    await store.release("inbound:8", owner="b")
    assert not await store.claim("inbound:8", ttl=5, now=1002.0, owner="b")  # still a's
    assert await store.renew("inbound:8", ttl=5, now=1003.0, owner="a")  # until 1008
    assert await store.claim("inbound:8", ttl=5, now=1008.5, owner="b")  # a's ran out: b's now
    assert not await store.renew("inbound:8", ttl=5, now=1009.0, owner="a")
    await store.release("inbound:8", owner="a")
    assert not await store.claim("inbound:8", ttl=5, now=1009.0, owner="c")  # b's survived a's release
    await store.release("inbound:8", owner="b")
    assert await store.claim("inbound:8", ttl=5, now=1009.0, owner="c")


async def test_inbound_take_claims_the_chat_and_lists_its_pending_records_in_one_step(store: Store) -> None:
    chat = "telegram:support:601"
    a1 = await store.inbound_add("telegram:support", "11", {"n": 1}, now=1.0, conversation=chat)
    await store.inbound_add("telegram:support", "12", {"n": 2}, now=2.0, conversation="telegram:support:602")
    a3 = await store.inbound_add("telegram:support", "13", {"n": 3}, now=3.0, conversation=chat)
    taken = await store.inbound_take(chat, f"inbound:{chat}", 5, 1000.0, "a")
    assert taken is not None
    assert [(r.id, r.payload["n"], r.conversation) for r in taken] == [(a1, 1, chat), (a3, 3, chat)]
    assert await store.inbound_take(chat, f"inbound:{chat}", 5, 1001.0, "b") is None  # a holds the chat
    again = await store.inbound_take(chat, f"inbound:{chat}", 5, 1001.0, "a")  # a's answer was lost: a again
    assert again is not None and [r.id for r in again] == [a1, a3]
    assert await store.inbound_take(chat, f"inbound:{chat}", 5, 1005.5, "b") is None  # renewed by a until 1006
    assert not await store.renew(f"inbound:{chat}", 5, 1006.5, "a")  # ran out
    taken_by_b = await store.inbound_take(chat, f"inbound:{chat}", 5, 1006.5, "b")
    assert taken_by_b is not None and len(taken_by_b) == 2


async def test_inbound_finish_marks_done_and_drops_only_its_owners_lease(store: Store) -> None:
    chat = "telegram:support:603"
    a1 = await store.inbound_add("telegram:support", "21", {"n": 1}, now=1.0, conversation=chat)
    a2 = await store.inbound_add("telegram:support", "22", {"n": 2}, now=2.0, conversation=chat)
    taken = await store.inbound_take(chat, f"inbound:{chat}", 5, 1000.0, "a")
    assert taken is not None and [r.id for r in taken] == [a1, a2]
    await store.inbound_finish(taken[0])
    assert not await store.inbound_is_pending(taken[0].id)
    assert await store.inbound_take(chat, f"inbound:{chat}", 5, 1000.5, "b") is None  # still a's
    await store.inbound_finish(taken[1], release=f"inbound:{chat}", owner="b")  # not b's to drop
    assert await store.inbound_take(chat, f"inbound:{chat}", 5, 1001.0, "c") is None
    assert await store.inbound_pending(conversation=chat) == []
    assert await store.inbound_pending(source="telegram:support") == []
    await store.inbound_finish(taken[1], release=f"inbound:{chat}", owner="a")  # done twice: harmless
    assert await store.inbound_take(chat, f"inbound:{chat}", 5, 1001.0, "c") == []
    assert await store.inbound_add("telegram:support", "21", {"n": 1}, now=1002.0, conversation=chat) is None


# --- inbound ------------------------------------------------------------------------


async def test_inbound_dedupe_pending_and_done(store: Store) -> None:
    first = await store.inbound_add("telegram:support", "100", {"update_id": 100}, now=1000.0)
    second = await store.inbound_add("telegram:support", "101", {"update_id": 101}, now=1001.0)
    other = await store.inbound_add("slack", "100", {"event_id": "100"}, now=1002.0)
    assert first is not None and second is not None and other is not None
    assert first < second < other
    assert await store.inbound_add("telegram:support", "100", {"update_id": 100}, now=1003.0) is None

    pending = await store.inbound_pending()
    assert [(r.id, r.source, r.key) for r in pending] == [
        (first, "telegram:support", "100"),
        (second, "telegram:support", "101"),
        (other, "slack", "100"),
    ]
    assert pending[0].payload == {"update_id": 100} and pending[0].created_at == 1000.0
    assert [r.id for r in await store.inbound_pending("slack")] == [other]
    assert [r.id for r in await store.inbound_pending(limit=1)] == [first]

    assert await store.inbound_is_pending(first)
    await store.inbound_done(first)
    assert not await store.inbound_is_pending(first)
    assert not await store.inbound_is_pending(10_000)
    assert [r.id for r in await store.inbound_pending()] == [second, other]
    assert [r.id for r in await store.inbound_pending("telegram:support")] == [second]
    # a handled request is still a duplicate
    assert await store.inbound_add("telegram:support", "100", {"update_id": 100}, now=2000.0) is None
    await store.inbound_done(10_000)  # unknown id: nothing happens


# --- counters, clients, operators -------------------------------------------------------


async def test_counters_are_independent(store: Store) -> None:
    assert [await store.next_number("a") for _ in range(3)] == [1, 2, 3]
    assert await store.next_number("b") == 1
    assert await store.next_number("a") == 4


async def test_clients_insert_and_replace(store: Store) -> None:
    assert await store.get_client("telegram:1") is None
    client = Client(id="telegram:1", channel=Channel.TELEGRAM, external_id="1", name="Ivan", chat_id="1")
    await store.save_client(client)
    assert await store.get_client("telegram:1") == client
    await store.save_client(client.model_copy(update={"unreachable": True, "name": "Ivan P"}))
    got = await store.get_client("telegram:1")
    assert got is not None and got.unreachable and got.name == "Ivan P"


async def test_operator_defaults_to_offline(store: Store) -> None:
    state = await store.get_operator("anna")
    assert state == OperatorState(operator_id="anna", status=OperatorStatus.OFFLINE)
    await store.save_operator(OperatorState(operator_id="anna", status=OperatorStatus.ONLINE, last_session=3))
    got = await store.get_operator("anna")
    assert got.status is OperatorStatus.ONLINE and got.last_session == 3
    assert (await store.get_operator("boris")).status is OperatorStatus.OFFLINE


# --- sessions ----------------------------------------------------------------------


async def test_sessions_are_numbered_from_one(store: Store) -> None:
    first = await store.create_session(session(created_at=10.0))
    second = await store.create_session(session(client="telegram:2"))
    assert (first.number, second.number) == (1, 2)
    assert await store.get_session(1) == first
    assert await store.get_session(3) is None
    assert await store.next_number("session") == 3  # the session counter is the named counter


async def test_concurrent_create_session_never_repeats_a_number(store: Store) -> None:
    made = await asyncio.gather(*(store.create_session(session(client=f"telegram:{i}")) for i in range(60)))
    assert sorted(s.number for s in made) == list(range(1, 61))
    assert len(await store.list_sessions(limit=100)) == 60


async def test_save_session_replaces_and_reindexes(store: Store) -> None:
    s = await store.create_session(session())
    await store.save_session(s.model_copy(update={"status": A, "assignee": "anna"}))
    got = await store.get_session(s.number)
    assert got is not None and got.status is A and got.assignee == "anna"
    assert await store.list_sessions(status=[Q]) == []
    assert [x.number for x in await store.list_sessions(status=[A], assignee="anna")] == [s.number]
    await store.save_session(s.model_copy(update={"status": C, "assignee": None}))
    assert await store.list_sessions(assignee="anna") == []
    assert [x.number for x in await store.list_sessions(status=[C], line_id="support")] == [s.number]


async def test_latest_session(store: Store) -> None:
    assert await store.latest_session("support", "telegram:1") is None
    await store.create_session(session())
    await store.create_session(session(client="telegram:2"))
    third = await store.create_session(session())
    await store.create_session(session(line="sales"))
    await store.save_session(third.model_copy(update={"status": C}))
    latest = await store.latest_session("support", "telegram:1")
    assert latest is not None and latest.number == 3 and latest.status is C
    assert (await store.latest_session("sales", "telegram:1") or session()).number == 4
    assert await store.latest_session("sales", "telegram:2") is None


async def test_list_sessions_filters_newest_first(store: Store) -> None:
    specs = [
        ("support", "telegram:1", Q, None),  # 1
        ("support", "telegram:2", A, "anna"),  # 2
        ("sales", "telegram:1", A, "anna"),  # 3
        ("support", "slack:U1", C, "boris"),  # 4
        ("support", "telegram:3", S, None),  # 5
        ("sales", "telegram:2", Q, None),  # 6
        ("support", "telegram:1", A, "boris"),  # 7
    ]
    for line, client, status, assignee in specs:
        await store.create_session(session(line, client, status=status, assignee=assignee))

    async def numbers(**filters: object) -> list[int]:
        return [s.number for s in await store.list_sessions(**filters)]  # type: ignore[arg-type]

    assert await numbers() == [7, 6, 5, 4, 3, 2, 1]
    assert await numbers(limit=3) == [7, 6, 5]
    assert await numbers(status=[Q, A]) == [7, 6, 3, 2, 1]
    assert await numbers(status=[S]) == [5]
    assert await numbers(status=[]) == []
    assert await numbers(line_id="support") == [7, 5, 4, 2, 1]
    assert await numbers(line_id="support", status=[Q, A]) == [7, 2, 1]
    assert await numbers(assignee="anna") == [3, 2]
    assert await numbers(assignee="anna", line_id="sales") == [3]
    assert await numbers(assignee="boris", status=[A]) == [7]
    assert await numbers(client_id="telegram:1") == [7, 3, 1]
    assert await numbers(client_id="telegram:1", line_id="support", status=[Q]) == [1]
    assert await numbers(client_id="telegram:1", assignee="boris") == [7]
    assert await numbers(line_id="nowhere") == []


async def test_count_active_sessions_per_operator(store: Store) -> None:
    specs = [
        ("support", A, "anna"),
        ("sales", A, "anna"),  # every line counts
        ("support", A, "boris"),
        ("support", C, "anna"),  # closed, spam and queued sessions do not
        ("support", S, "boris"),
        ("support", Q, None),
    ]
    made = [
        await store.create_session(session(line, f"telegram:{i}", status=status, assignee=assignee))
        for i, (line, status, assignee) in enumerate(specs)
    ]
    assert await store.count_active_sessions(["anna", "boris", "carl"]) == {"anna": 2, "boris": 1, "carl": 0}
    assert await store.count_active_sessions([]) == {}
    assert await store.count_active_sessions(["boris", "boris"]) == {"boris": 1}
    await store.save_session(made[0].model_copy(update={"assignee": "boris"}))  # transferred
    await store.save_session(made[1].model_copy(update={"status": C}))  # closed
    await store.save_session(made[3].model_copy(update={"status": A}))  # reopened, back to anna
    assert await store.count_active_sessions(["anna", "boris"]) == {"anna": 1, "boris": 2}


async def test_list_sessions_over_many_pages(store: Store) -> None:
    """Enough sessions that a filtered listing has to read the indexes in several pages."""
    for i in range(240):
        line = "support" if i % 3 else "sales"
        status = (Q, A, C)[i % 4 % 3]
        await store.create_session(session(line, f"telegram:{i % 7}", status=status, assignee=f"op{i % 2}"))
    everything = await store.list_sessions(limit=1000)
    assert [s.number for s in everything] == list(range(240, 0, -1))
    for filters in (
        {"status": [Q, A], "line_id": "support"},
        {"assignee": "op1", "line_id": "sales", "status": [C]},
        {"client_id": "telegram:3", "status": [A]},
        {"assignee": "op0"},
    ):
        expected = [
            s.number
            for s in everything
            if ("status" not in filters or s.status in filters["status"])
            and s.line_id == filters.get("line_id", s.line_id)
            and s.assignee == filters.get("assignee", s.assignee)
            and s.client_id == filters.get("client_id", s.client_id)
        ]
        got = await store.list_sessions(**filters, limit=1000)
        assert [s.number for s in got] == expected
        got = await store.list_sessions(**filters, limit=7)
        assert [s.number for s in got] == expected[:7]


# --- messages ----------------------------------------------------------------------


async def test_messages_oldest_first_with_increasing_ids(store: Store) -> None:
    ids = []
    for n in range(5):
        for number in (1, 2):
            m = await store.add_message(
                Message(session=number, author_kind=AuthorKind.CLIENT, text=f"{number}-{n}", created_at=n)
            )
            ids.append(m.id)
    assert ids == sorted(ids) and len(set(ids)) == 10 and ids[0] > 0
    messages = await store.list_messages(1)
    assert [m.text for m in messages] == [f"1-{n}" for n in range(5)]
    assert [m.id for m in messages] == ids[0::2]
    assert [m.text for m in await store.list_messages(2, limit=2)] == ["2-0", "2-1"]
    assert await store.list_messages(3) == []


# --- instances ----------------------------------------------------------------------


async def test_commit_instance_stores_instance_and_enqueues(store: Store) -> None:
    inst = instance("i-1", 100.0, session=1, status=InstanceStatus.WAITING, state='{"x": 1}')
    added = await store.commit_instance(inst, [entry("tg:1", "a"), entry("tg:1", "b"), entry("slack:C1", "c")])
    assert [text_of(e) for e in added] == ["a", "b", "c"]
    assert added[0].id < added[1].id < added[2].id
    assert all(e.status is OutboxStatus.PENDING for e in added)
    assert await store.get_instance("i-1") == inst
    for e in added:
        assert await store.outbox_get(e.id) == e
    assert await store.commit_instance(inst.model_copy(update={"state": "{}"})) == []
    got = await store.get_instance("i-1")
    assert got is not None and got.state == "{}"
    assert await store.get_instance("nope") is None


async def test_list_instances_filters_newest_first(store: Store) -> None:
    R, W, D = InstanceStatus.RUNNING, InstanceStatus.WAITING, InstanceStatus.COMPLETED
    await store.commit_instance(instance("a", 1.0, session=1, status=R))
    await store.commit_instance(instance("b", 2.0, session=2, status=W))
    await store.commit_instance(instance("c", 3.0, session=1, status=W))
    await store.commit_instance(instance("d", 4.0, status=D))

    async def ids(**filters: object) -> list[str]:
        return [i.id for i in await store.list_instances(**filters)]  # type: ignore[arg-type]

    assert await ids() == ["d", "c", "b", "a"]
    assert await ids(limit=2) == ["d", "c"]
    assert await ids(status=[W]) == ["c", "b"]
    assert await ids(status=[R, W]) == ["c", "b", "a"]
    assert await ids(status=[]) == []
    assert await ids(session=1) == ["c", "a"]
    assert await ids(session=1, status=[R]) == ["a"]
    # a status change moves the instance between indexes
    await store.commit_instance(instance("c", 3.0, session=1, status=InstanceStatus.FAILED, error="boom"))
    assert await ids(status=[W]) == ["b"]
    assert await ids(status=[InstanceStatus.FAILED]) == ["c"]


# --- outbox -------------------------------------------------------------------------


async def test_outbox_add_numbers_in_order(store: Store) -> None:
    added = await store.outbox_add([entry("tg:1", "a"), entry("tg:2", "b")])
    assert added[0].id < added[1].id
    more = await store.outbox_add([entry("tg:1", "c")])
    assert more[0].id > added[1].id
    assert await store.outbox_add([]) == []


async def test_outbox_keeps_conversation_order(store: Store) -> None:
    a1, b1, a2 = await store.outbox_add([entry("A", "a1"), entry("B", "b1"), entry("A", "a2")])
    claimed = await store.outbox_claim(now=10.0, lease=30.0)
    assert [e.id for e in claimed] == [a1.id, b1.id]  # one per conversation, by id
    # leased: nothing more, and a2 is not claimable before a1 completes
    assert await store.outbox_claim(now=11.0, lease=30.0) == []
    await store.outbox_complete(b1.id)
    assert await store.outbox_claim(now=12.0, lease=30.0) == []  # B is empty, A still leased
    await store.outbox_complete(a1.id)
    done = await store.outbox_get(a1.id)
    assert done is not None and done.status is OutboxStatus.DONE
    claimed = await store.outbox_claim(now=13.0, lease=30.0)
    assert [e.id for e in claimed] == [a2.id]


async def test_outbox_head_blocks_even_without_lease(store: Store) -> None:
    first, _ = await store.outbox_add([entry("A", "1", due_at=100.0), entry("A", "2", due_at=0.0)])
    assert await store.outbox_claim(now=50.0, lease=30.0) == []  # the head is not due, the second waits
    assert [e.id for e in await store.outbox_claim(now=100.0, lease=30.0)] == [first.id]


async def test_outbox_lease_expires(store: Store) -> None:
    (e,) = await store.outbox_add([entry("A")])
    assert [x.id for x in await store.outbox_claim(now=10.0, lease=30.0)] == [e.id]
    assert await store.outbox_claim(now=39.9, lease=30.0) == []
    again = await store.outbox_claim(now=40.0, lease=30.0)  # the worker died: redelivered
    assert [x.id for x in again] == [e.id]
    assert await store.outbox_claim(now=41.0, lease=30.0) == []


async def test_outbox_extend_renews_leases_under_way(store: Store) -> None:
    a, _a2 = await store.outbox_add([entry("A"), entry("A", "second")])
    (b,) = await store.outbox_add([entry("B")])
    assert {x.id for x in await store.outbox_claim(now=10.0, lease=30.0)} == {a.id, b.id}
    await store.outbox_extend([a.id], now=35.0, until=65.0)  # A's delivery is still going on
    await store.outbox_extend([b.id], now=41.0, until=71.0)  # B's lease ran out at 40: not revived
    assert [x.id for x in await store.outbox_claim(now=41.0, lease=30.0)] == [b.id]
    assert await store.outbox_claim(now=64.9, lease=30.0) == []
    await store.outbox_extend([a.id], now=50.0, until=20.0)  # never shortened
    assert await store.outbox_claim(now=64.9, lease=30.0) == []
    await store.outbox_complete(a.id)
    await store.outbox_extend([a.id], now=66.0, until=500.0)  # done: nothing to renew, the next entry goes
    assert [text_of(x) for x in await store.outbox_claim(now=66.0, lease=30.0)] == ["second"]
    await store.outbox_extend([], now=66.0, until=500.0)


async def test_outbox_reschedule_keeps_order_and_counts(store: Store) -> None:
    first, second = await store.outbox_add([entry("A", "1"), entry("A", "2")])
    await store.outbox_claim(now=10.0, lease=30.0)
    await store.outbox_reschedule(first.id, due_at=20.0, error="429 retry after 10")
    got = await store.outbox_get(first.id)
    assert got is not None
    assert (got.status, got.attempts, got.last_error, got.due_at) == (
        OutboxStatus.PENDING,
        1,
        "429 retry after 10",
        20.0,
    )
    assert await store.outbox_claim(now=15.0, lease=30.0) == []  # lease released but not due; "2" waits
    claimed = await store.outbox_claim(now=20.0, lease=30.0)
    assert [e.id for e in claimed] == [first.id] and claimed[0].attempts == 1
    await store.outbox_reschedule(first.id, due_at=25.0, error="502")
    assert [e.attempts for e in await store.outbox_claim(now=25.0, lease=30.0)] == [2]
    await store.outbox_complete(first.id)
    assert [e.id for e in await store.outbox_claim(now=26.0, lease=30.0)] == [second.id]


async def test_outbox_kill_moves_the_conversation_on(store: Store) -> None:
    first, second = await store.outbox_add([entry("A", "1"), entry("A", "2")])
    await store.outbox_claim(now=10.0, lease=30.0)
    await store.outbox_kill(first.id, "403 Forbidden: bot was blocked by the user")
    dead = await store.outbox_get(first.id)
    assert dead is not None and dead.status is OutboxStatus.DEAD and (dead.last_error or "").startswith("403")
    assert [e.id for e in await store.outbox_claim(now=11.0, lease=30.0)] == [second.id]
    # finishing an entry that is no longer pending changes nothing
    await store.outbox_complete(first.id)
    await store.outbox_reschedule(first.id, due_at=0.0, error="x")
    assert (await store.outbox_get(first.id) or dead).status is OutboxStatus.DEAD
    await store.outbox_complete(999_999)
    assert await store.outbox_get(999_999) is None


async def test_outbox_claim_limit_and_due(store: Store) -> None:
    added = await store.outbox_add([entry(f"C{i}", due_at=float(i)) for i in range(5)])
    assert [e.id for e in await store.outbox_claim(now=1.0, lease=30.0)] == [added[0].id, added[1].id]
    claimed = await store.outbox_claim(now=10.0, lease=30.0, limit=2)
    assert [e.id for e in claimed] == [added[2].id, added[3].id]
    assert [e.id for e in await store.outbox_claim(now=10.0, lease=30.0)] == [added[4].id]


def without_next_due(stats: dict[str, float]) -> dict[str, float]:
    return {key: value for key, value in stats.items() if key != "next_due"}


async def test_outbox_stats(store: Store) -> None:
    assert without_next_due(await store.outbox_stats(now=100.0)) == {"pending": 0.0, "dead": 0.0, "oldest_age": 0.0}
    a, b, c = await store.outbox_add(
        [entry("A", created_at=40.0), entry("B", created_at=50.0), entry("C", created_at=60.0)]
    )
    assert without_next_due(await store.outbox_stats(now=100.0)) == {"pending": 3.0, "dead": 0.0, "oldest_age": 60.0}
    await store.outbox_claim(now=100.0, lease=30.0)
    await store.outbox_complete(a.id)
    await store.outbox_kill(b.id, "chat not found")
    assert without_next_due(await store.outbox_stats(now=100.0)) == {"pending": 1.0, "dead": 1.0, "oldest_age": 40.0}
    await store.outbox_complete(c.id)
    assert without_next_due(await store.outbox_stats(now=100.0)) == {"pending": 0.0, "dead": 1.0, "oldest_age": 0.0}


# --- rules, items, refs --------------------------------------------------------------


async def test_rules_insert_or_replace_per_line_and_event(store: Store) -> None:
    await store.save_rule(AutostartRule(line_id="support", event="session.created", process_id="create_lead"))
    await store.save_rule(AutostartRule(line_id="support", event="session.closed", process_id="survey"))
    await store.save_rule(AutostartRule(line_id="sales", event="session.created", process_id="x"))
    await store.save_rule(
        AutostartRule(line_id="support", event="session.created", process_id="create_lead", enabled=False, source="cli")
    )
    rules = await store.list_rules("support")
    assert [(r.event, r.process_id, r.enabled, r.source) for r in rules] == [
        ("session.closed", "survey", True, "file"),
        ("session.created", "create_lead", False, "cli"),
    ]
    assert [(r.line_id, r.event) for r in await store.list_rules()] == [
        ("sales", "session.created"),
        ("support", "session.closed"),
        ("support", "session.created"),
    ]
    assert await store.list_rules("nowhere") == []


async def test_items_are_numbered_per_app(store: Store) -> None:
    lead1 = await store.create_item(Item(app="leads", number=0, fields={"phone": "+1"}, session=1))
    ticket1 = await store.create_item(Item(app="tickets", number=0))
    lead2 = await store.create_item(Item(app="leads", number=0, fields={"phone": "+2"}))
    assert (lead1.number, ticket1.number, lead2.number) == (1, 1, 2)
    assert await store.list_items("leads") == [lead2, lead1]
    assert await store.list_items("leads", limit=1) == [lead2]
    assert await store.list_items("tickets") == [ticket1]
    assert await store.list_items("none") == []


async def test_refs_set_get_delete(store: Store) -> None:
    form, perma = RefSpace.TELEGRAM_FORM, RefSpace.SLACK_PERMALINK
    assert await store.get_ref(form, "1") is None
    await store.set_ref(form, "1", {"channel": "C1", "ts": "1.2"})
    await store.set_ref(perma, "C1:1.2", {"session": 1})
    assert await store.get_ref(form, "1") == {"channel": "C1", "ts": "1.2"}
    await store.set_ref(form, "1", {"channel": "C1", "ts": "3.4"})
    assert await store.get_ref(form, "1") == {"channel": "C1", "ts": "3.4"}
    assert await store.get_ref(perma, "C1:1.2") == {"session": 1}
    assert await store.get_ref(perma, "1") is None  # spaces do not bleed into each other
    await store.delete_ref(form, "1")
    assert await store.get_ref(form, "1") is None
    await store.delete_ref(form, "1")


# --- platform links ------------------------------------------------------------------


async def test_one_link_call_stores_both_directions(store: Store) -> None:
    thread = session_thread(7, "C1", "1.2")
    assert await store.link_of(LinkKind.SESSION_THREAD, "7") is None
    assert await store.link_to(LinkKind.SESSION_THREAD, "C1:1.2") is None
    await store.link(thread)
    assert await store.link_of(LinkKind.SESSION_THREAD, "7") == thread
    assert await store.link_to(LinkKind.SESSION_THREAD, "C1:1.2") == thread
    assert thread.data == {"channel": "C1", "ts": "1.2"}
    # kinds are apart: the same keys of another kind find nothing
    assert await store.link_of(LinkKind.SESSION_TOPIC, "7") is None
    assert await store.link_to(LinkKind.SESSION_TOPIC, "C1:1.2") is None
    topic = session_topic(7, -100123456789, 42, card_id=43)
    await store.link(topic)
    assert await store.link_of(LinkKind.SESSION_TOPIC, "7") == topic
    assert await store.link_to(LinkKind.SESSION_TOPIC, "-100123456789:42") == topic
    assert (await store.link_of(LinkKind.SESSION_TOPIC, "7")).data == {  # type: ignore[union-attr]
        "chat_id": -100123456789,
        "thread_id": 42,
        "card_id": 43,
    }
    assert await store.link_of(LinkKind.SESSION_THREAD, "7") == thread


async def test_linking_again_replaces_the_link_in_both_directions(store: Store) -> None:
    await store.link(session_topic(1, -100, 10))
    await store.link(session_topic(1, -100, 10, card_id=11))  # the same topic, its card known now
    assert await store.link_to(LinkKind.SESSION_TOPIC, "-100:10") == session_topic(1, -100, 10, card_id=11)
    await store.link(session_topic(1, -100, 20))  # the topic was deleted and opened anew
    assert await store.link_of(LinkKind.SESSION_TOPIC, "1") == session_topic(1, -100, 20)
    assert await store.link_to(LinkKind.SESSION_TOPIC, "-100:20") == session_topic(1, -100, 20)
    assert await store.link_to(LinkKind.SESSION_TOPIC, "-100:10") is None  # the old topic finds nothing
    await store.link(session_topic(2, -100, 20))  # a platform key linked to another of ours moves there
    assert await store.link_of(LinkKind.SESSION_TOPIC, "1") is None
    assert await store.link_to(LinkKind.SESSION_TOPIC, "-100:20") == session_topic(2, -100, 20)


async def test_unlink_drops_both_directions(store: Store) -> None:
    await store.link(session_thread(1, "C1", "1.1"))
    await store.link(session_thread(2, "C1", "2.2"))
    await store.unlink(LinkKind.SESSION_THREAD, "1")
    assert await store.link_of(LinkKind.SESSION_THREAD, "1") is None
    assert await store.link_to(LinkKind.SESSION_THREAD, "C1:1.1") is None
    await store.unlink(LinkKind.SESSION_THREAD, "1")  # nothing to drop: no error
    await store.unlink(LinkKind.SESSION_TOPIC, "2")  # another kind: session 2's thread stays
    assert await store.link_of(LinkKind.SESSION_THREAD, "2") == session_thread(2, "C1", "2.2")
    assert await store.link_to(LinkKind.SESSION_THREAD, "C1:2.2") == session_thread(2, "C1", "2.2")


async def test_every_kind_says_whether_it_is_one_to_one() -> None:
    copies = {LinkKind.SLACK_DESK_COPY, LinkKind.TELEGRAM_DESK_COPY, LinkKind.SLACK_CLIENT_COPY}
    copies |= {LinkKind.TELEGRAM_CLIENT_COPY}
    assert {kind for kind in LinkKind if not kind.one_to_one} == copies


async def test_a_many_to_one_kind_keeps_every_link_of_a_platform_key(store: Store) -> None:
    """A Slack album: three messages share one desk post. Each finds the post; the post finds the album's first
    message (the earliest linked of those still linked)."""
    album = [slack_desk_copy(7, n, "C1", "5.5") for n in (10, 11, 12)]
    for copy in album:
        await store.link(copy)
    for copy in album:
        assert await store.link_of(LinkKind.SLACK_DESK_COPY, copy.ours) == copy
    assert await store.link_to(LinkKind.SLACK_DESK_COPY, "C1:5.5") == album[0]
    await store.link(album[0])  # linked again to the same post: keeps its place
    assert await store.link_to(LinkKind.SLACK_DESK_COPY, "C1:5.5") == album[0]
    await store.unlink(LinkKind.SLACK_DESK_COPY, "7:10")
    assert await store.link_to(LinkKind.SLACK_DESK_COPY, "C1:5.5") == album[1]
    moved = slack_desk_copy(7, 11, "C1", "6.6")  # linked to another post: the old one no longer finds it
    await store.link(moved)
    assert await store.link_to(LinkKind.SLACK_DESK_COPY, "C1:5.5") == album[2]
    assert await store.link_to(LinkKind.SLACK_DESK_COPY, "C1:6.6") == moved
    await store.link(slack_desk_copy(7, 11, "C1", "5.5"))  # back again: now the latest of the post's links
    assert await store.link_to(LinkKind.SLACK_DESK_COPY, "C1:5.5") == album[2]
    assert await store.link_to(LinkKind.SLACK_DESK_COPY, "C1:6.6") is None
    await store.unlink(LinkKind.SLACK_DESK_COPY, "7:12")
    await store.unlink(LinkKind.SLACK_DESK_COPY, "7:11")
    assert await store.link_to(LinkKind.SLACK_DESK_COPY, "C1:5.5") is None
    # one-to-one kinds of the same keys are apart
    assert await store.link_to(LinkKind.SESSION_THREAD, "C1:5.5") is None


async def test_typed_links_carry_their_data(store: Store) -> None:
    sent: TelegramSent = {"message_id": 20, "caption": True, "text_id": None, "ids": [20, 21]}
    links = [
        message_source(3, 9, "telegram:support:501:77"),
        telegram_desk_copy(3, 9, -100, 44, caption=False),
        slack_client_copy("sales", 9, "D1", "7.7"),
        telegram_client_copy("support", 9, 501, sent),
        slack_desk_status("inst-1", "C1", "8.8"),
        telegram_desk_status("inst-1", -100, 45),
        slack_client_status("inst-1", "D1", "9.9"),
        telegram_client_status("inst-1", 501, 46),
    ]
    for link in links:
        await store.link(link)
    for link in links:
        assert await store.link_of(link.kind, link.ours) == link
        assert await store.link_to(link.kind, link.platform) == link
    assert links[0].data == {"session": 3, "id": 9}
    assert links[3].platform == "501:20"
    assert links[3].data == {"chat_id": 501, "message_id": 20, "caption": True, "text_id": None, "ids": [20, 21]}
    assert links[5].data == {"chat_id": -100, "message_id": 45}


async def test_no_reader_ever_sees_one_direction_of_a_link_alone(store: Store) -> None:
    """Both directions are one write: while links are being written, whichever direction a reader finds
    first, the other is there too (two writes, as before, let a reader in between)."""
    links = [session_thread(n, "C1", f"{n}.0") for n in range(1, 61)]
    done = asyncio.Event()
    halves: list[str] = []

    async def write() -> None:
        for link in links:
            await store.link(link)
            await asyncio.sleep(0)
        done.set()

    async def read() -> None:
        while not done.is_set():
            for link in links:
                if await store.link_of(link.kind, link.ours) and not await store.link_to(link.kind, link.platform):
                    halves.append(f"{link.ours} → {link.platform} without its way back")
                if await store.link_to(link.kind, link.platform) and not await store.link_of(link.kind, link.ours):
                    halves.append(f"{link.platform} → {link.ours} without its way there")
            await asyncio.sleep(0)

    await asyncio.gather(write(), read(), read())
    assert halves == []
    for link in links:
        assert await store.link_to(link.kind, link.platform) == link


# --- SQLite only ----------------------------------------------------------------------


async def test_sqlite_data_survives_reopen(tmp_path: Path) -> None:
    path = tmp_path / "deep" / "dir" / "linedesk.db"  # parent folders are created
    first = SqliteStore(path)
    await first.open()
    s = await first.create_session(session())
    (e,) = await first.outbox_add([entry("A")])
    await first.set_ref(RefSpace.ITEM_BY_TASK, "k", {"v": 1})
    await first.close()

    second = SqliteStore(path)
    await second.open()
    try:
        assert await second.get_session(s.number) == s
        assert await second.outbox_get(e.id) == e
        assert await second.get_ref(RefSpace.ITEM_BY_TASK, "k") == {"v": 1}
        assert (await second.create_session(session())).number == 2
    finally:
        await second.close()


async def test_sqlite_migrations_run_once(tmp_path: Path) -> None:
    class Migrated(SqliteStore):
        migrations = (
            *MIGRATIONS,
            (MIGRATIONS[-1][0] + 1, ("INSERT INTO counters (name, value) VALUES ('migrated', 1)",)),
        )

    path = tmp_path / "m.db"
    plain = SqliteStore(path)
    await plain.open()
    assert await plain.schema_version() == MIGRATIONS[-1][0]
    await plain.close()
    for _ in range(2):
        store = Migrated(path)
        await store.open()
        assert await store.schema_version() == MIGRATIONS[-1][0] + 1
        await store.close()
    store = Migrated(path)
    await store.open()
    try:
        assert await store.next_number("migrated") == 2  # the migration's row was inserted once
    finally:
        await store.close()
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


async def test_sqlite_failed_migration_rolls_back(tmp_path: Path) -> None:
    class Broken(SqliteStore):
        migrations = (*MIGRATIONS, (99, ("CREATE TABLE half (x)", "THIS IS NOT SQL")))

    store = Broken(tmp_path / "b.db")
    with pytest.raises(StoreError):
        await store.open()
    good = SqliteStore(tmp_path / "b.db")
    await good.open()
    try:
        assert await good.schema_version() == MIGRATIONS[-1][0]
        assert await good.get_ref(RefSpace.HTTP_BY_TASK, "y") is None
    finally:
        await good.close()
    with sqlite3.connect(tmp_path / "b.db") as db:
        assert db.execute("SELECT name FROM sqlite_master WHERE name = 'half'").fetchone() is None


async def test_sqlite_a_link_whose_transaction_fails_leaves_neither_direction(tmp_path: Path) -> None:
    """A crash before the commit (here: the COMMIT fails) leaves no half of the link behind."""

    store = SqliteStore(tmp_path / "crash.db")
    await store.open()
    try:
        healthy = store._db
        store._db = FailingCommit(healthy._connection)  # type: ignore[union-attr]
        with pytest.raises(StoreError):
            await store.link(session_thread(1, "C1", "1.2"))
        store._db = healthy
        assert await store.link_of(LinkKind.SESSION_THREAD, "1") is None
        assert await store.link_to(LinkKind.SESSION_THREAD, "C1:1.2") is None
        await store.link(session_thread(1, "C1", "1.2"))
        assert await store.link_to(LinkKind.SESSION_THREAD, "C1:1.2") == session_thread(1, "C1", "1.2")
    finally:
        await store.close()


# --- Redis only: several linedesk processes on one Redis -------------------------------------


async def test_redis_processes_never_claim_the_same_conversation(redis_stores: RedisFactory) -> None:
    one, two = await redis_stores(), await redis_stores()
    await one.outbox_add([entry(f"C{i % 40}", str(i)) for i in range(120)])
    claimed: list[OutboxEntry] = []
    for _ in range(5):
        batches = await asyncio.gather(*(s.outbox_claim(now=10.0, lease=60.0, limit=7) for s in (one, two, one, two)))
        claimed += [e for batch in batches for e in batch]
    conversations = [e.conversation for e in claimed]
    assert len(conversations) == len(set(conversations)) == 40
    assert {text_of(e) for e in claimed} == {str(i) for i in range(40)}  # each conversation's head


async def test_redis_processes_deliver_each_entry_once(redis_stores: RedisFactory) -> None:
    stores = [await redis_stores(), await redis_stores()]
    added = await stores[0].outbox_add([entry(f"C{i % 10}", str(i)) for i in range(100)])
    delivered: list[int] = []

    async def worker(store: RedisStore) -> None:
        while True:
            batch = await store.outbox_claim(now=10.0, lease=60.0, limit=3)
            if not batch:
                if len(delivered) == len(added):
                    return
                await asyncio.sleep(0)
                continue
            for e in batch:
                delivered.append(e.id)
                await store.outbox_complete(e.id)

    await asyncio.wait_for(asyncio.gather(*(worker(s) for s in stores * 2)), timeout=30)
    assert sorted(delivered) == [e.id for e in added]
    per_conversation: dict[str, list[int]] = {}
    by_id = {e.id: e for e in added}
    for i in delivered:
        per_conversation.setdefault(by_id[i].conversation, []).append(i)
    assert all(ids == sorted(ids) for ids in per_conversation.values())


async def test_redis_concurrent_numbering_across_processes(redis_stores: RedisFactory) -> None:
    one, two = await redis_stores(), await redis_stores()
    made = await asyncio.gather(
        *((one, two)[i % 2].create_session(session(client=f"telegram:{i % 13}")) for i in range(200))
    )
    assert sorted(s.number for s in made) == list(range(1, 201))
    assert [s.number for s in await two.list_sessions(limit=500)] == list(range(200, 0, -1))
    claims = await asyncio.gather(*((one, two)[i % 2].claim("autostart:x", 10, now=1.0) for i in range(20)))
    assert claims.count(True) == 1


async def test_redis_concurrent_session_saves_keep_indexes_exact(redis_stores: RedisFactory) -> None:
    one, two = await redis_stores(), await redis_stores()
    s = await one.create_session(session())
    updates = [s.model_copy(update={"status": (Q, A, C)[i % 3], "assignee": f"op{i % 4}"}) for i in range(30)]
    await asyncio.gather(*((one, two)[i % 2].save_session(u) for i, u in enumerate(updates)))
    final = await one.get_session(s.number)
    assert final is not None
    for status in (Q, A, C):
        for op in ("op0", "op1", "op2", "op3"):
            listed = [x.number for x in await one.list_sessions(status=[status], assignee=op)]
            assert listed == ([s.number] if (final.status, final.assignee) == (status, op) else [])
    raw = one._r  # the indexes hold the session exactly once in all
    keys = [k async for k in raw.scan_iter(match=f"{one.prefix}sessions:assignee:*")]
    assert sum([await raw.zcard(k) for k in keys]) == 1


# --- open_store ----------------------------------------------------------------------------


def test_open_store_sqlite_urls(tmp_path: Path) -> None:
    relative = open_store("sqlite:///data/linedesk.db", base_dir=tmp_path)
    assert isinstance(relative, SqliteStore) and relative.path == tmp_path / "data" / "linedesk.db"
    absolute = open_store(f"sqlite:///{tmp_path}/abs.db")
    assert isinstance(absolute, SqliteStore) and absolute.path == tmp_path / "abs.db"
    assert absolute.url == f"sqlite:///{tmp_path}/abs.db"
    cwd = open_store("sqlite:///x.db")
    assert isinstance(cwd, SqliteStore) and cwd.path == Path.cwd() / "x.db"


def test_open_store_redis_urls() -> None:
    default = open_store("redis://127.0.0.1:6379/0")
    assert isinstance(default, RedisStore) and default.prefix == "linedesk:"
    custom = open_store("rediss://:secret@redis.example.com:6380/2?prefix=prod:&socket_timeout=5")
    assert isinstance(custom, RedisStore) and custom.prefix == "prod:"
    assert "secret" not in custom.url and "prefix" not in custom.url
    assert custom._redis_url == "rediss://:secret@redis.example.com:6380/2?socket_timeout=5"


@pytest.mark.parametrize(
    "url",
    [
        "postgres://localhost/db",
        "sqlite://relative.db",
        "sqlite:///",
        "sqlite:///:memory:",
        "redis://",
        "linedesk.db",
    ],
)
def test_open_store_rejects_other_urls(url: str) -> None:
    with pytest.raises(ValueError, match="sqlite:///") as info:
        open_store(url)
    assert repr(url) in str(info.value)


def test_open_store_error_hides_passwords() -> None:
    with pytest.raises(ValueError) as info:
        open_store("mysql://user:hunter2@db/x")
    assert "hunter2" not in str(info.value)


async def test_due_instances_are_the_waiting_ones_whose_timer_is_due(store: Store) -> None:
    from core.model import InstanceRecord, InstanceStatus

    def record(iid: str, status: InstanceStatus, wake_at: float | None) -> InstanceRecord:
        return InstanceRecord(id=iid, process_id="p", status=status, wake_at=wake_at, created_at=1.0)

    await store.commit_instance(record("late", InstanceStatus.WAITING, 50.0))
    await store.commit_instance(record("early", InstanceStatus.WAITING, 10.0))
    await store.commit_instance(record("future", InstanceStatus.WAITING, 500.0))
    await store.commit_instance(record("form", InstanceStatus.WAITING, None))
    await store.commit_instance(record("done", InstanceStatus.COMPLETED, 5.0))
    assert [r.id for r in await store.due_instances(100.0)] == ["early", "late"]
    assert [r.id for r in await store.due_instances(100.0, limit=1)] == ["early"]
    await store.commit_instance(record("early", InstanceStatus.RUNNING, 10.0))
    assert [r.id for r in await store.due_instances(100.0)] == ["late"]


async def test_a_message_can_be_read_and_replaced(store: Store) -> None:
    from core.model import AuthorKind, Message

    first = await store.add_message(Message(session=7, author_kind=AuthorKind.CLIENT, text="helo"))
    await store.add_message(Message(session=7, author_kind=AuthorKind.CLIENT, text="second"))
    assert (await store.get_message(7, first.id)) == first
    assert await store.get_message(8, first.id) is None
    await store.update_message(first.model_copy(update={"text": "hello", "edited_at": 5.0}))
    messages = await store.list_messages(7)
    assert [m.text for m in messages] == ["hello", "second"]
    assert messages[0].edited_at == 5.0


async def test_outbox_stats_tell_when_the_next_entry_is_due(store: Store) -> None:
    from core.model import OutboxEntry

    assert (await store.outbox_stats(100.0))["next_due"] == 0.0
    await store.outbox_add(
        [
            OutboxEntry(
                conversation="a",
                route="r",
                action=Notice(session=1, line_id="x", text="x"),
                due_at=150.0,
                created_at=90.0,
            ),
            OutboxEntry(
                conversation="b",
                route="r",
                action=Notice(session=2, line_id="x", text="x"),
                due_at=120.0,
                created_at=95.0,
            ),
        ]
    )
    stats = await store.outbox_stats(100.0)
    assert stats["pending"] == 2 and stats["next_due"] == 120.0 and stats["oldest_age"] == 10.0


async def test_redis_a_session_is_in_exactly_the_indexes_of_its_current_version(redis_stores: RedisFactory) -> None:
    """The save script works out the stored version's indexes from its JSON; after any sequence of status
    and assignee changes (and concurrent saves) the session is in those of its current version and no other."""
    store = await redis_stores()
    s = await store.create_session(session(client="slack:U01"))
    steps: list[dict[str, object]] = [
        {"status": A, "assignee": "anna"},
        {"status": A, "assignee": "boris"},
        {"status": S},
        {"status": Q, "assignee": None},
        {"status": C, "assignee": "anna"},
        {"status": Q, "assignee": None},
    ]
    for update in steps:
        s = s.model_copy(update=update)
        await store.save_session(s)
    await asyncio.gather(
        *(store.save_session(s.model_copy(update={"status": A, "assignee": who})) for who in ("anna", "boris", "carl"))
    )
    current = await store.get_session(s.number)
    assert current is not None and current.assignee in {"anna", "boris", "carl"}
    client = store._r

    async def holding() -> set[str]:
        return {
            key
            async for key in client.scan_iter(match=f"{store.prefix}sessions*", count=1000)
            if await client.zscore(key, str(s.number)) is not None
        }

    opened = {store._k("sessions", "created"), store._k("sessions", "line", "support", "created")}  # reports'
    quiet = store._k("sessions", "line", "support", "quiet")
    assert await holding() == {*store._session_indexes(current), quiet, *opened}
    await store.save_session(current.model_copy(update={"status": C}))
    closed = await store.get_session(s.number)
    assert closed is not None and await holding() == {*store._session_indexes(closed), *opened}  # out of quiet


async def test_sqlite_another_process_holding_the_write_lock_is_waited_out_without_stalling_the_loop(
    tmp_path: Path,
) -> None:
    store = SqliteStore(tmp_path / "shared.db", write_wait=3.0)
    await store.open()
    other = sqlite3.connect(tmp_path / "shared.db", isolation_level=None)  # the admin CLI, say
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.01)
            ticks += 1

    beating = asyncio.create_task(ticker())
    try:
        other.execute("BEGIN IMMEDIATE")
        asyncio.get_running_loop().call_later(0.6, lambda: other.execute("COMMIT"))
        started = time.monotonic()
        await store.save_client(
            Client(id="telegram:1", channel=Channel.TELEGRAM, external_id="1", name="Ivan", chat_id="1")
        )
        waited = time.monotonic() - started
        assert 0.5 <= waited < 2.5
        assert ticks >= 20  # the loop went on while the write waited (SQLite's own busy wait would block it)
        got = await store.get_client("telegram:1")
        assert got is not None and got.name == "Ivan"
    finally:
        beating.cancel()
        other.close()
        await store.close()


async def test_sqlite_a_write_lock_held_too_long_is_a_store_error_and_nothing_is_half_written(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "shared.db", write_wait=0.3)
    await store.open()
    other = sqlite3.connect(tmp_path / "shared.db", isolation_level=None)
    try:
        other.execute("BEGIN IMMEDIATE")
        with pytest.raises(StoreError, match="locked"):
            await store.create_session(session())
        other.execute("COMMIT")
        assert await store.list_sessions() == []
        assert (await store.create_session(session())).number == 1  # the failed try took no number
    finally:
        other.close()
        await store.close()


async def test_quiet_sessions_are_the_lines_open_sessions_silent_since_the_cutoff(store: Store) -> None:
    def opened(client: str, at: float, **kw: Any) -> Session:
        return session(client=client, created_at=at, **kw)

    a = await store.create_session(opened("telegram:1", 100.0, last_client_message_at=150.0))
    b = await store.create_session(opened("telegram:2", 120.0))  # never wrote again: quiet since it opened
    c = await store.create_session(opened("telegram:3", 130.0, last_client_message_at=400.0))
    d = await store.create_session(opened("telegram:4", 90.0, status=C))
    e = await store.create_session(opened("telegram:5", 80.0, status=S))
    await store.create_session(opened("telegram:6", 70.0, line="sales"))
    assert [s.number for s in await store.quiet_sessions("support", 200.0)] == [b.number, a.number]
    assert [s.number for s in await store.quiet_sessions("support", 150.0)] == [b.number, a.number]  # at: included
    assert [s.number for s in await store.quiet_sessions("support", 200.0, limit=1)] == [b.number]
    assert await store.quiet_sessions("support", 100.0) == []
    await store.save_session(a.model_copy(update={"last_client_message_at": 500.0, "status": A, "assignee": "anna"}))
    assert [s.number for s in await store.quiet_sessions("support", 450.0)] == [b.number, c.number]
    await store.save_session(b.model_copy(update={"status": C}))
    await store.save_session(c.model_copy(update={"status": S}))
    await store.save_session(d.model_copy(update={"status": Q}))  # reopened (unspam, reopen): quiet again
    assert [s.number for s in await store.quiet_sessions("support", 1000.0)] == [d.number, a.number]
    assert e.number not in [s.number for s in await store.quiet_sessions("support", 1000.0)]
    assert [s.line_id for s in await store.quiet_sessions("sales", 1000.0)] == ["sales"]


async def test_sqlite_sessions_stored_before_the_quiet_index_are_in_it_after_the_upgrade(tmp_path: Path) -> None:
    class Before(SqliteStore):
        migrations = tuple(m for m in MIGRATIONS if m[0] < 5)

    path = tmp_path / "old.db"
    old = Before(path)
    await old.open()
    await old.close()
    with sqlite3.connect(path) as db:
        for number, status, last in (
            (1, "active", 150.0),
            (2, "queued", None),
            (3, "closed", None),
            (4, "queued", 0.0),
        ):
            doc = session(
                number=number, status=status, created_at=100.0 + number, last_client_message_at=last
            ).model_dump_json()
            db.execute(
                "INSERT INTO sessions (number, line_id, client_id, status, assignee, created_at, data)"
                " VALUES (?, 'support', ?, ?, NULL, ?, ?)",
                (number, f"telegram:{number}", status, 100.0 + number, doc),
            )
    store = SqliteStore(path)
    await store.open()
    try:
        assert [(s.number, s.quiet_since) for s in await store.quiet_sessions("support", 1000.0)] == [
            (2, 102.0),
            (4, 104.0),
            (1, 150.0),
        ]
    finally:
        await store.close()


async def test_redis_sessions_stored_before_the_quiet_index_are_in_it_after_the_upgrade(
    redis_stores: RedisFactory,
) -> None:
    first = await redis_stores()
    a = await first.create_session(session(created_at=100.0, last_client_message_at=150.0))
    b = await first.create_session(session(client="telegram:2", created_at=120.0))
    await first.create_session(session(client="telegram:3", created_at=90.0, status=C))
    await first._r.delete(first._k("sessions", "line", "support", "quiet"), first._k("schema"))  # as before
    assert await first.quiet_sessions("support", 1000.0) == []
    upgraded = await redis_stores()  # the next linedesk to open the store upgrades it
    assert [(s.number, s.quiet_since) for s in await upgraded.quiet_sessions("support", 1000.0)] == [
        (b.number, 120.0),
        (a.number, 150.0),
    ]
    assert await upgraded._r.get(upgraded._k("schema")) == "6"  # the current layout (6: the reports' created indexes)


async def test_redis_a_link_that_fails_leaves_neither_direction(redis_stores: RedisFactory) -> None:
    """The link script checks everything that could fail before its first write (Redis does not roll a
    script back): a failing call writes nothing, not one direction."""
    store = await redis_stores()
    await store._r.set(store._k("link", LinkKind.SESSION_THREAD.value, "to"), "not a hash")
    with pytest.raises(StoreError, match="WRONGTYPE"):
        await store.link(session_thread(1, "C1", "1.2"))
    assert await store._r.hget(store._k("link", LinkKind.SESSION_THREAD.value), "1") is None
    await store._r.delete(store._k("link", LinkKind.SESSION_THREAD.value, "to"))
    await store.link(session_thread(1, "C1", "1.2"))
    assert await store.link_of(LinkKind.SESSION_THREAD, "1") == session_thread(1, "C1", "1.2")
