"""Desk figures in the store (both stores): the Slack desk channel chosen per session, open sessions per channel,
and each desk's outbox backlog."""

from __future__ import annotations

import asyncio

import pytest

from core.links import session_thread
from core.model import OutboxEntry, Session, SessionStatus
from core.outbox_actions import Notice, SendText
from core.store import Store
from core.store.base import DeskBacklog

SLACK, TELEGRAM = "slack.desk", "telegram.desk"


async def _open(store: Store, line: str, client: str, status: SessionStatus = SessionStatus.QUEUED) -> Session:
    made = Session.model_validate({"number": 0, "line_id": line, "client_id": client, "status": status})
    return await store.create_session(made)


def _desk(route: str, number: int, line: str, *, due_at: float = 0.0, created_at: float = 0.0) -> OutboxEntry:
    return OutboxEntry(
        conversation=f"{route}:{number}",
        route=route,
        action=Notice(session=number, line_id=line, text="n"),
        due_at=due_at,
        created_at=created_at,
    )


async def test_new_sessions_go_to_the_channel_with_the_fewest_open(store: Store) -> None:
    channels = ["C1", "C2"]
    made = [await _open(store, "support", f"telegram:{i}") for i in range(4)]
    chosen = [await store.choose_desk_channel("support", s.number, channels) for s in made]
    assert chosen == ["C1", "C2", "C1", "C2"]  # ties go to the first listed
    assert await store.choose_desk_channel("support", made[1].number, channels) == "C2"  # never chosen again
    assert await store.desk_channel_sessions("support") == {"C1": 2, "C2": 2}
    # closed sessions free their channel; other lines do not count
    await store.save_session(made[0].model_copy(update={"status": SessionStatus.CLOSED}))
    await store.save_session(made[2].model_copy(update={"status": SessionStatus.SPAM}))
    other = await _open(store, "sales", "telegram:9")
    assert await store.choose_desk_channel("sales", other.number, ["C9"]) == "C9"
    assert await store.desk_channel_sessions("support") == {"C2": 2}
    fifth = await _open(store, "support", "telegram:5", SessionStatus.ACTIVE)
    assert await store.choose_desk_channel("support", fifth.number, channels) == "C1"
    assert await store.desk_channel_sessions("support") == {"C1": 1, "C2": 2}
    with pytest.raises(ValueError):
        await store.choose_desk_channel("support", 99, [])


async def test_a_thread_posted_before_any_choice_counts_and_keeps_its_channel(store: Store) -> None:
    old = await _open(store, "support", "telegram:1")
    await store.link(session_thread(old.number, "C2", "1.000"))  # from when the line had the one channel C2
    assert await store.desk_channel_sessions("support") == {"C2": 1}
    assert await store.choose_desk_channel("support", old.number, ["C1", "C2"]) == "C2"
    new = await _open(store, "support", "telegram:2")
    assert await store.choose_desk_channel("support", new.number, ["C2", "C1"]) == "C1"


async def test_choices_made_at_once_spread(store: Store) -> None:
    made = [await _open(store, "support", f"telegram:{i}") for i in range(6)]
    chosen = await asyncio.gather(*(store.choose_desk_channel("support", s.number, ["C1", "C2", "C3"]) for s in made))
    assert sorted(chosen) == ["C1", "C1", "C2", "C2", "C3", "C3"]


async def test_desk_backlog_per_desk(store: Store) -> None:
    a, b, c = [await _open(store, "support", f"telegram:{i}") for i in range(3)]
    assert await store.choose_desk_channel("support", a.number, ["C1", "C2"]) == "C1"
    assert await store.choose_desk_channel("support", b.number, ["C1", "C2"]) == "C2"
    await store.link(session_thread(b.number, "C2", "2.000"))
    await store.outbox_add(
        [
            _desk(SLACK, a.number, "support", created_at=10.0),
            _desk(SLACK, a.number, "support", created_at=12.0),
            _desk(SLACK, b.number, "support", created_at=20.0),
            _desk(SLACK, b.number, "support", due_at=500.0, created_at=21.0),  # not due yet
            _desk(SLACK, c.number, "support", created_at=30.0),  # no channel chosen yet
            _desk(TELEGRAM, a.number, "support", created_at=5.0),
            _desk(TELEGRAM, c.number, "support", created_at=7.0),
            OutboxEntry(  # a client's conversation is no desk
                conversation="telegram.client:support:1",
                route="telegram.client",
                action=SendText(session=a.number, line_id="support", client_id="telegram:1", chat_id="1", text="t"),
                due_at=0.0,
                created_at=1.0,
            ),
        ]
    )
    rows = await store.desk_backlog(100.0, [SLACK, TELEGRAM], SLACK)
    assert rows == [
        DeskBacklog(SLACK, "support", "", 1, 30.0),
        DeskBacklog(SLACK, "support", "C1", 2, 10.0),
        DeskBacklog(SLACK, "support", "C2", 1, 20.0),
        DeskBacklog(TELEGRAM, "support", "", 2, 5.0),
    ]
    assert await store.desk_backlog(100.0, [], SLACK) == []
    # an entry waiting for a retry is still waiting: it counts although its new due time is to come
    stored = await store.outbox_add([_desk(SLACK, b.number, "support", created_at=15.0)])
    await store.outbox_reschedule(stored[0].id, 900.0, "Slack rate limit")
    rows = await store.desk_backlog(100.0, [SLACK, TELEGRAM], SLACK)
    assert rows[2] == DeskBacklog(SLACK, "support", "C2", 2, 15.0)
    await store.outbox_kill(stored[0].id, "gone")
    # delivered entries leave the backlog
    for claimed in await store.outbox_claim(100.0, 30.0, 50):
        await store.outbox_complete(claimed.id)
    rows = await store.desk_backlog(100.0, [SLACK, TELEGRAM], SLACK)
    assert rows == [DeskBacklog(SLACK, "support", "C1", 1, 12.0)]
