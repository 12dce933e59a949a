"""Outbound sessions (`core.sessions.outbound`): the line writes first."""

from __future__ import annotations

import pytest

from core.errors import Refusal
from core.model import Channel, Client, SessionStatus
from tests.support.sessions_kit import Kit, desk_actions, to_client

PETRA = Client(id="telegram:601", channel=Channel.TELEGRAM, external_id="601", name="Petra", chat_id="601")


async def test_an_outbound_session_is_opened_with_its_card_and_no_greeting(kit: Kit) -> None:
    await kit.store.save_client(PETRA)
    session = await kit.sessions.outbound.open_outbound("support", PETRA)
    assert (session.number, session.outbound, session.status) == (1, True, SessionStatus.QUEUED)
    assert session.created_at == kit.clock.now()
    entries = await kit.new_entries()
    assert desk_actions(entries) == ["open_session"] and to_client(entries) == []
    assert kit.published() == ["session.created"]


async def test_the_clients_open_session_is_used_instead(kit: Kit) -> None:
    opened = await kit.writes("Hello", user="601")
    await kit.new_entries()
    session = await kit.sessions.outbound.open_outbound("support", PETRA)
    assert (session.number, session.outbound) == (opened.number, False)
    assert await kit.new_entries() == []


async def test_a_closed_session_is_followed_by_a_new_outbound_one(kit: Kit) -> None:
    await kit.writes("Hello", user="601")
    await kit.sessions.closing.close(1, "Anna")
    session = await kit.sessions.outbound.open_outbound("support", PETRA)
    assert (session.number, session.previous_session, session.outbound) == (2, 1, True)


async def test_spam_and_unknown_lines_are_refused(kit: Kit) -> None:
    await kit.online("anna")
    await kit.writes("Buy now", user="601")
    await kit.sessions.closing.mark_spam(1, "anna")
    with pytest.raises(Refusal) as spam:
        await kit.sessions.outbound.open_outbound("support", PETRA)
    assert spam.value.code == "spam"
    with pytest.raises(Refusal) as unknown:
        await kit.sessions.outbound.open_outbound("nowhere", PETRA)
    assert unknown.value.code == "no_line"
