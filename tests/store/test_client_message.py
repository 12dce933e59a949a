"""The hot path of a client's message in one step per side, on every store: `client_context` (the platform
message's link, the client, their latest session, the rules' version), `client_message` (session, message, its
outbox entries and links in one atomic step, and whether an instance was waiting), and `outbox_complete` with
the links a delivery made."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable

import pytest

from core.courier import mirror_of
from core.links import Link, LinkKind, message_source, slack_desk_copy
from core.model import (
    AuthorKind,
    AutostartRule,
    Channel,
    Client,
    InstanceRecord,
    InstanceStatus,
    Message,
    OutboxEntry,
    OutboxStatus,
    Session,
)
from core.store import RedisStore, Store
from core.store.redis.intake import PENDING_ID

RedisFactory = Callable[[], Awaitable[RedisStore]]


def a_session(**kw: object) -> Session:
    return Session.model_validate({"number": 0, "line_id": "support", "client_id": "telegram:1", **kw})


def mirrors(session: Session) -> Callable[[Message], list[OutboxEntry]]:
    def build(message: Message) -> list[OutboxEntry]:
        return [
            OutboxEntry(
                conversation=f"slack.desk:{session.number}",
                route="slack.desk",
                action=mirror_of(message, session.line_id),
                due_at=10.5,
                created_at=10.25,
            )
        ]

    return build


def source_of(ref: str) -> Callable[[Message], list[Link]]:
    def build(message: Message) -> list[Link]:
        return [message_source(message.session, message.id, ref)]

    return build


def a_message(session: Session, text: str = "hello") -> Message:
    return Message(
        session=session.number,
        author_kind=AuthorKind.CLIENT,
        author_id="telegram:1",
        author_name="Ivan",
        text=text,
        created_at=10.0,
        source_ref="telegram:support:1:7",
    )


async def test_client_context_reads_the_link_the_client_the_latest_session_and_the_rules_version(store: Store) -> None:
    empty = await store.client_context("support", "telegram:1", "telegram:support:1:7")
    assert (empty.source, empty.client, empty.latest, empty.rules_version) == (None, None, None, 0)
    assert (await store.client_context("support", "telegram:1", None)).source is None

    client = Client(id="telegram:1", channel=Channel.TELEGRAM, external_id="1", name="Ivan", chat_id="1")
    await store.save_client(client)
    await store.create_session(a_session())
    second = await store.create_session(a_session(created_at=5.0))
    await store.create_session(a_session(line_id="sales"))
    await store.outbox_add([], [message_source(second.number, 3, "telegram:support:1:7")])
    await store.save_rule(AutostartRule(line_id="support", event="session.created", process_id="p"))
    await store.save_rule(AutostartRule(line_id="support", event="session.created", process_id="q"))

    context = await store.client_context("support", "telegram:1", "telegram:support:1:7")
    assert context.source == message_source(second.number, 3, "telegram:support:1:7")
    assert context.client == client
    assert context.latest == second
    assert context.rules_version == 2
    other = await store.client_context("support", "telegram:2", "telegram:support:1:8")
    assert (other.source, other.client, other.latest, other.rules_version) == (None, None, None, 2)


async def test_client_message_stores_session_message_entries_and_links_in_one_step(store: Store) -> None:
    session = await store.create_session(a_session())
    await store.add_message(a_message(session, "before"))
    session.last_client_message_at = 10.0
    stored = await store.client_message(
        session, a_message(session), mirrors(session), source_of("telegram:support:1:7")
    )

    assert stored.message.id > 0 and stored.message.text == "hello"
    assert [m.text for m in await store.list_messages(session.number)] == ["before", "hello"]
    assert (await store.list_messages(session.number))[-1] == stored.message
    assert await store.get_session(session.number) == session
    [entry] = stored.outbox
    assert entry.id > 0 and entry.status == OutboxStatus.PENDING
    assert entry.action == mirror_of(stored.message, "support")
    assert await store.outbox_get(entry.id) == entry
    assert [e.id for e in await store.outbox_claim(20.0, 30.0)] == [entry.id]
    link = await store.link_to(LinkKind.MESSAGE_SOURCE, "telegram:support:1:7")
    assert link == message_source(session.number, stored.message.id, "telegram:support:1:7")
    assert not stored.instances_waiting
    assert await store.quiet_sessions("support", 10.0) == [session]

    again = await store.client_message(session, a_message(session, "more"), mirrors(session), lambda m: [])
    assert again.message.id > stored.message.id and again.outbox[0].id > entry.id


async def test_client_message_says_whether_an_instance_of_the_session_was_waiting(store: Store) -> None:
    session = await store.create_session(a_session())
    other = await store.create_session(a_session(client_id="telegram:2"))
    await store.commit_instance(
        InstanceRecord(id="i1", process_id="p", session=session.number, status=InstanceStatus.COMPLETED)
    )
    await store.commit_instance(
        InstanceRecord(id="i2", process_id="p", session=other.number, status=InstanceStatus.WAITING)
    )
    first = await store.client_message(session, a_message(session), mirrors(session), lambda m: [])
    assert not first.instances_waiting
    await store.commit_instance(
        InstanceRecord(
            id="i3", process_id="p", session=session.number, status=InstanceStatus.WAITING, waiting_for="client_message"
        )
    )
    second = await store.client_message(session, a_message(session, "x"), mirrors(session), lambda m: [])
    assert second.instances_waiting


@pytest.mark.parametrize("text", [str(PENDING_ID), f'"message_id":{PENDING_ID}', f'{{"id":{PENDING_ID},'])
async def test_client_message_whose_words_look_like_the_pending_id_is_stored_as_written(
    store: Store, text: str
) -> None:
    session = await store.create_session(a_session())
    stored = await store.client_message(
        session, a_message(session, text), mirrors(session), source_of("telegram:support:1:9")
    )
    assert (await store.list_messages(session.number)) == [stored.message]
    assert stored.message.text == text and stored.message.id != PENDING_ID
    [entry] = stored.outbox
    assert await store.outbox_get(entry.id) == entry
    assert entry.action == mirror_of(stored.message, "support")
    assert await store.link_to(LinkKind.MESSAGE_SOURCE, "telegram:support:1:9") == message_source(
        session.number, stored.message.id, "telegram:support:1:9"
    )


async def test_outbox_complete_writes_the_deliverys_links_with_it(store: Store) -> None:
    [entry] = await store.outbox_add(
        [
            OutboxEntry(
                conversation="slack.desk:1",
                route="slack.desk",
                action=mirror_of(a_message(a_session(number=1)), "support"),
            )
        ]
    )
    await store.outbox_claim(0.0, 30.0)
    copy = slack_desk_copy(1, 5, "C1", "1.5")
    await store.outbox_complete(entry.id, [copy])
    done = await store.outbox_get(entry.id)
    assert done is not None and done.status == OutboxStatus.DONE
    assert await store.link_of(LinkKind.SLACK_DESK_COPY, "1:5") == copy
    assert await store.outbox_claim(0.0, 30.0) == []

    later = slack_desk_copy(1, 6, "C1", "1.6")
    await store.outbox_complete(entry.id, [later])  # done already: the links are still written
    assert await store.link_of(LinkKind.SLACK_DESK_COPY, "1:6") == later
    await store.outbox_complete(12345, [slack_desk_copy(1, 7, "C1", "1.7")])  # no such entry
    assert await store.link_of(LinkKind.SLACK_DESK_COPY, "1:7") is not None


async def test_redis_a_client_message_whose_link_fails_writes_nothing(redis_stores: RedisFactory) -> None:
    """The script checks the link's keys before its first write (Redis does not roll a script back)."""
    store = await redis_stores()
    session = await store.create_session(a_session())
    await store._r.set(store._k("link", LinkKind.MESSAGE_SOURCE.value, "to"), "not a hash")
    with pytest.raises(Exception, match="WRONGTYPE"):
        await store.client_message(session, a_message(session), mirrors(session), source_of("telegram:support:1:7"))
    assert await store.list_messages(session.number) == []
    assert await store.outbox_claim(20.0, 30.0) == []


async def test_redis_outbox_complete_of_an_entry_stored_in_another_json_spelling(redis_stores: RedisFactory) -> None:
    """`outbox_complete` turns the entry done in one script where its JSON is pydantic's; one written otherwise
    (an older linedesk's `json.dumps`, spaces after the colons) is completed the compare-and-set way."""
    store = await redis_stores()
    action = mirror_of(a_message(a_session(number=1)), "support")
    first, second = await store.outbox_add(
        [OutboxEntry(conversation="slack.desk:1", route="slack.desk", action=action) for _ in range(2)]
    )
    key = store._k("outbox", "entry", first.id)
    stored = await store._r.get(key)
    assert stored is not None
    await store._r.set(key, json.dumps(json.loads(stored)))
    [claimed] = await store.outbox_claim(0.0, 30.0)
    assert claimed.id == first.id
    await store.outbox_complete(first.id, [slack_desk_copy(1, 5, "C1", "1.5")])
    done = await store.outbox_get(first.id)
    assert done is not None and done.status == OutboxStatus.DONE
    assert await store.link_of(LinkKind.SLACK_DESK_COPY, "1:5") is not None
    assert [e.id for e in await store.outbox_claim(0.0, 30.0)] == [second.id]
    await store.outbox_complete(second.id)
    assert await store.outbox_claim(0.0, 30.0) == []
    assert (await store.outbox_stats(0.0))["pending"] == 0
