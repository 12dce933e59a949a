"""Assignment (`core.sessions.assignment`): take, transfer, automatic assignment, going offline."""

from __future__ import annotations

import pytest

from core.errors import Refusal
from core.model import OperatorStatus, SessionStatus
from tests.support.sessions_kit import Kit, notices, to_client

QUEUED_NOTE = "Everyone is busy: we answer as soon as someone is free."


async def test_the_first_click_takes_the_session_and_the_client_is_told(kit: Kit) -> None:
    await kit.online("anna", "boris")
    await kit.writes("Hello")
    await kit.new_entries()
    kit.clock.advance(20)
    taken = await kit.sessions.assignment.take(1, "anna")
    assert (taken.status, taken.assignee, taken.updated_at) == (SessionStatus.ACTIVE, "anna", kit.clock.now())
    entries = await kit.new_entries()
    assert notices(entries) == ["✋ Anna took the session."]
    assert to_client(entries) == ["Anna joined the conversation."]
    with pytest.raises(Refusal) as second:
        await kit.sessions.assignment.take(1, "boris")
    assert second.value.code == "taken"
    assert (await kit.sessions.assignment.take(1, "anna")).assignee == "anna"  # again: nothing changes
    assert await kit.new_entries() == []


async def test_a_transfer_hands_the_session_over_or_back_to_the_queue(kit: Kit) -> None:
    await kit.online("anna", "boris")
    await kit.writes("Hello")
    await kit.sessions.assignment.take(1, "anna")
    await kit.new_entries()
    moved = await kit.sessions.assignment.transfer(1, "anna", "boris")
    assert (moved.status, moved.assignee) == (SessionStatus.ACTIVE, "boris")
    assert notices(await kit.new_entries()) == ["➡ Anna transferred the session to Boris."]
    queued = await kit.sessions.assignment.transfer(1, "boris", None)
    assert (queued.status, queued.assignee) == (SessionStatus.QUEUED, None)
    assert notices(await kit.new_entries()) == ["↩ Boris put the session back in the queue."]
    with pytest.raises(Refusal) as offline:
        await kit.sessions.assignment.transfer(1, "anna", "carl")
    assert offline.value.code == "target_offline"


async def test_auto_assign_picks_the_least_busy_online_operator(kit: Kit) -> None:
    await kit.online("anna", "boris")
    for user in ("601", "602", "603", "604"):
        await kit.writes("Hi", user=user)  # sessions 1-4 on the support line
    await kit.sessions.assignment.take(1, "anna")  # active sessions count on every line: anna has two,
    await kit.sessions.assignment.take(2, "anna")
    await kit.sessions.assignment.take(3, "boris")  # boris one
    await kit.sessions.assignment.take(4, "boris")
    await kit.sessions.closing.close(4, "Boris")  # (a closed one does not count)
    await kit.new_entries()
    session = await kit.writes("I need a quote", user="700", line="sales")
    assert (session.status, session.assignee) == (SessionStatus.ACTIVE, "boris")
    assert notices(await kit.new_entries()) == ["🤖 Assigned to Boris (auto-assign)."]
    assert await kit.store.count_active_sessions(["anna", "boris"]) == {"anna": 2, "boris": 2}


async def test_auto_assign_takes_turns_between_equally_busy_operators(kit: Kit) -> None:
    await kit.online("anna", "boris")
    assignees = []
    for user in ("701", "702", "703", "704"):
        session = await kit.writes("Hi", user=user, line="sales")
        assignees.append(session.assignee)
        await kit.sessions.closing.close(session.number, "test")  # nobody gets busier: ties all along
        kit.clock.advance(1)
    assert assignees == ["anna", "boris", "anna", "boris"]


async def test_busy_and_offline_operators_get_nothing_nobody_online_leaves_it_queued(kit: Kit) -> None:
    await kit.online("anna", status=OperatorStatus.BUSY)
    session = await kit.writes("Hi", user="701", line="sales")
    assert (session.status, session.assignee) == (SessionStatus.QUEUED, None)
    assert to_client(await kit.new_entries())[-1] == QUEUED_NOTE
    await kit.online("boris")
    assert (await kit.writes("Hi", user="702", line="sales")).assignee == "boris"


async def test_an_operator_going_offline_hands_sessions_back_and_auto_assign_lines_reassign(kit: Kit) -> None:
    await kit.online("anna", "boris")
    await kit.writes("Hi")
    await kit.sessions.assignment.take(1, "anna")
    sales = await kit.writes("Hi", user="701", line="sales")
    if sales.assignee != "anna":
        await kit.sessions.assignment.transfer(sales.number, "boris", "anna")
    await kit.new_entries()
    await kit.online("anna", status=OperatorStatus.OFFLINE)
    support, sales = await kit.session(1), await kit.session(sales.number)
    assert (support.status, support.assignee) == (SessionStatus.QUEUED, None)
    assert (sales.status, sales.assignee) == (SessionStatus.ACTIVE, "boris")
    assert "↩ Anna went offline: the session is back in the queue." in notices(await kit.new_entries())
    assert await kit.store.count_active_sessions(["anna", "boris"]) == {"anna": 0, "boris": 1}


async def test_may_hold_an_operator_of_the_line_who_is_not_offline(kit: Kit) -> None:
    await kit.online("carl", status=OperatorStatus.BUSY)
    assert await kit.sessions.assignment.may_hold("carl", "support")
    assert not await kit.sessions.assignment.may_hold("carl", "sales")  # not his line
    assert not await kit.sessions.assignment.may_hold("anna", "support")  # offline
    assert not await kit.sessions.assignment.may_hold(None, "support")
