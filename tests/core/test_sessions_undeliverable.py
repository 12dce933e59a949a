"""Clients nothing reaches (`core.sessions.undeliverable`): failed deliveries and blocked bots are reported."""

from __future__ import annotations

from core.inbound import ClientBlocked
from core.model import Channel, OutboxEntry
from core.outbox_actions import Notice, ToDesk
from core.sessions import BLOCKED_NOTICE
from tests.support.sessions_kit import Kit, notices


async def greeting_entry(kit: Kit) -> OutboxEntry:
    await kit.writes("Hello")
    [greeting] = [e for e in await kit.new_entries() if e.route == "telegram.client"]
    return greeting


async def test_a_failed_delivery_is_reported_in_the_sessions_thread(kit: Kit) -> None:
    greeting = await greeting_entry(kit)
    await kit.sessions.failed_deliveries.undeliverable(greeting, None, "Bad Request: chat not found")
    entries = await kit.new_entries()
    assert notices(entries) == ["⚠ Not delivered to the client: Bad Request: chat not found"]
    assert [e.action.session for e in entries if isinstance(e.action, ToDesk)] == [1]
    client = await kit.store.get_client("telegram:501")
    assert client is not None and not client.unreachable


async def test_a_client_who_blocked_the_bot_is_marked_unreachable_and_the_desk_told_once(kit: Kit) -> None:
    greeting = await greeting_entry(kit)
    await kit.sessions.failed_deliveries.undeliverable(greeting, "blocked", "Forbidden: bot was blocked by the user")
    assert notices(await kit.new_entries()) == [BLOCKED_NOTICE]
    client = await kit.store.get_client("telegram:501")
    assert client is not None and client.unreachable
    await kit.sessions.failed_deliveries.undeliverable(greeting, "blocked", "Forbidden: bot was blocked by the user")
    assert notices(await kit.new_entries()) == ["⚠ Not delivered to the client: Forbidden: bot was blocked by the user"]
    await kit.writes("I am back")  # writing again makes them reachable
    client = await kit.store.get_client("telegram:501")
    assert client is not None and not client.unreachable


async def test_deliveries_to_desks_are_not_reported(kit: Kit) -> None:
    await kit.writes("Hello")
    desk_entry = next(e for e in await kit.new_entries() if e.route.endswith(".desk"))
    await kit.sessions.failed_deliveries.undeliverable(desk_entry, None, "channel_not_found")
    assert await kit.new_entries() == []


async def test_blocking_the_bot_is_told_in_every_open_session(kit: Kit) -> None:
    await kit.writes("Hello")
    await kit.writes("Hello sales", line="sales")
    await kit.new_entries()
    await kit.sessions.failed_deliveries.client_blocked(ClientBlocked(channel=Channel.TELEGRAM, user_id="501"))
    entries = await kit.new_entries()
    assert sorted((e.action.session, e.action.text) for e in entries if isinstance(e.action, Notice)) == [
        (1, BLOCKED_NOTICE),
        (2, BLOCKED_NOTICE),
    ]
    await kit.sessions.failed_deliveries.client_blocked(ClientBlocked(channel=Channel.TELEGRAM, user_id="501"))
    assert await kit.new_entries() == []
