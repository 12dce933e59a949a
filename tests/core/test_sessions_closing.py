"""Closing (`core.sessions.closing`): close, the idle check at the right clock time, spam."""

from __future__ import annotations

import pytest

from core.errors import Refusal
from core.events import SessionClosed
from core.model import OperatorStatus, SessionStatus
from tests.support.sessions_kit import Kit, desk_actions, notices

HOUR = 3600.0  # the support line's auto_close_after


async def test_closing_a_session_tells_the_desk_and_fires_session_closed_once(kit: Kit) -> None:
    await kit.online("anna")
    await kit.writes("Hello")
    await kit.new_entries()
    kit.clock.advance(90)
    closed = await kit.sessions.closing.close(1, "Anna", operator_id="anna")
    assert (closed.status, closed.closed_at, closed.updated_at) == (
        SessionStatus.CLOSED,
        kit.clock.now(),
        kit.clock.now(),
    )
    entries = await kit.new_entries()
    assert desk_actions(entries) == ["refresh_card", "notice"]
    assert notices(entries) == ["■ Session closed by Anna."]
    again = await kit.sessions.closing.close(1, "process")
    assert again.closed_at == closed.closed_at and await kit.new_entries() == []
    [event] = [e for e in kit.events if isinstance(e, SessionClosed)]
    assert (event.session.number, event.by, event.client.id) == (1, "Anna", "telegram:501")


async def test_an_offline_operator_cannot_close(kit: Kit) -> None:
    await kit.writes("Hello")
    with pytest.raises(Refusal) as refusal:
        await kit.sessions.closing.close(1, "Anna", operator_id="anna")
    assert refusal.value.code == "offline"
    assert (await kit.session(1)).status == SessionStatus.QUEUED


async def test_the_idle_check_closes_a_session_once_its_client_has_been_silent_long_enough(kit: Kit) -> None:
    await kit.writes("Hello")
    kit.clock.advance(HOUR / 2)
    await kit.writes("Still there?")  # the silence starts again here
    await kit.new_entries()
    kit.clock.advance(HOUR - 1)
    assert await kit.sessions.closing.close_idle() == 0
    assert (await kit.session(1)).status == SessionStatus.QUEUED
    kit.clock.advance(1)
    assert await kit.sessions.closing.close_idle() == 1
    session = await kit.session(1)
    assert (session.status, session.closed_at) == (SessionStatus.CLOSED, kit.clock.now())
    assert notices(await kit.new_entries()) == ["■ Session closed by inactivity (no message from the client for 1 h)."]
    assert kit.published()[-1] == "session.closed"
    assert await kit.sessions.closing.close_idle() == 0


async def test_the_idle_check_follows_each_lines_own_time(kit: Kit) -> None:
    await kit.writes("Hello")  # support: 1 h
    await kit.writes("Hello", line="sales")  # sales: the default 4 h
    kit.clock.advance(HOUR)
    assert await kit.sessions.closing.close_idle() == 1
    assert [(await kit.session(n)).status for n in (1, 2)] == [SessionStatus.CLOSED, SessionStatus.QUEUED]
    kit.clock.advance(3 * HOUR)
    assert await kit.sessions.closing.close_idle() == 1
    assert (await kit.session(2)).status == SessionStatus.CLOSED


async def test_spam_is_set_aside_and_unmarking_restores_it(kit: Kit) -> None:
    await kit.online("anna")
    await kit.writes("Hello")
    await kit.sessions.assignment.take(1, "anna")
    await kit.new_entries()
    spam = await kit.sessions.closing.mark_spam(1, "anna")
    assert (spam.status, spam.previous_status) == (SessionStatus.SPAM, SessionStatus.ACTIVE)
    assert notices(await kit.new_entries()) == ["🚫 Anna marked the session as spam."]
    published = len(kit.events)
    await kit.writes("Buy cheap watches")
    assert await kit.new_entries() == []  # stored, not mirrored
    assert len(kit.events) == published  # and nothing fires
    assert (await kit.store.list_messages(1))[-1].text == "Buy cheap watches"
    restored = await kit.sessions.closing.unmark_spam(1, "anna")
    assert (restored.status, restored.assignee, restored.previous_status) == (SessionStatus.ACTIVE, "anna", None)
    assert notices(await kit.new_entries()) == ["✅ Anna unmarked spam."]


async def test_unmarking_spam_of_an_operator_gone_offline_requeues_and_auto_assigns(kit: Kit) -> None:
    await kit.online("anna", "boris")
    session = await kit.writes("Hello", line="sales")
    holder = session.assignee
    assert holder is not None
    await kit.sessions.closing.mark_spam(session.number, holder)
    await kit.online(holder, status=OperatorStatus.OFFLINE)
    other = "boris" if holder == "anna" else "anna"
    await kit.new_entries()
    restored = await kit.sessions.closing.unmark_spam(session.number, other)
    assert (restored.status, restored.assignee) == (SessionStatus.ACTIVE, other)
    assert notices(await kit.new_entries())[0].endswith(
        "Its operator is not available any more: the session is back in the queue."
    )
