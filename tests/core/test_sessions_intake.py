"""Client intake (`core.sessions.intake`): a client's message opens, finds or reopens their session."""

from __future__ import annotations

from core.inbound import ClientEdit
from core.model import AuthorKind, Channel, SessionStatus
from core.outbox_actions import Edit
from tests.support.sessions_kit import Kit, desk_actions, notices, to_client

GREETING = "Hello! An operator will answer shortly."


async def test_a_clients_first_message_opens_a_session_with_its_card_and_greeting(kit: Kit) -> None:
    session = await kit.writes("My washing machine is broken", platform_ref="tg:501:1")
    assert (session.number, session.status, session.assignee) == (1, SessionStatus.QUEUED, None)
    assert (session.created_at, session.last_client_message_at) == (kit.clock.now(), kit.clock.now())
    entries = await kit.new_entries()
    assert desk_actions(entries) == ["open_session", "mirror"]  # the card first, then the message under it
    assert to_client(entries) == [GREETING]
    messages = await kit.store.list_messages(1)
    assert [(m.author_kind, m.text) for m in messages] == [
        (AuthorKind.CLIENT, "My washing machine is broken"),
        (AuthorKind.SYSTEM, GREETING),
    ]
    assert kit.published() == ["session.created", "message.received"]
    client = await kit.store.get_client("telegram:501")
    assert client is not None and client.name == "Client 501"


async def test_the_next_message_goes_to_the_open_session_without_a_greeting(kit: Kit) -> None:
    await kit.writes("Hello")
    await kit.new_entries()
    kit.clock.advance(60)
    session = await kit.writes("Anyone there?")
    assert session.number == 1 and session.last_client_message_at == kit.clock.now()
    entries = await kit.new_entries()
    assert desk_actions(entries) == ["mirror"] and to_client(entries) == []
    assert kit.published() == ["session.created", "message.received", "message.received"]


async def test_a_message_handled_before_is_not_stored_or_sent_again(kit: Kit) -> None:
    await kit.writes("Hello", platform_ref="tg:501:7")
    await kit.new_entries()
    again = await kit.writes("Hello", platform_ref="tg:501:7")
    assert again.number == 1
    assert await kit.new_entries() == []
    assert len(await kit.store.list_messages(1)) == 2  # the message and the greeting, once


async def test_start_alone_opens_the_session_and_greets_but_stores_no_message(kit: Kit) -> None:
    await kit.writes("/start", is_start=True)
    entries = await kit.new_entries()
    assert desk_actions(entries) == ["open_session"] and to_client(entries) == [GREETING]
    assert [m.author_kind for m in await kit.store.list_messages(1)] == [AuthorKind.SYSTEM]
    assert kit.published() == ["session.created"]


async def test_writing_soon_after_closing_reopens_the_session_later_opens_a_new_one(kit: Kit) -> None:
    await kit.writes("Hello")
    await kit.sessions.closing.close(1, "Anna")
    await kit.new_entries()
    kit.clock.advance(10 * 60)  # the line's reopen_within, to the second
    reopened = await kit.writes("One more thing")
    assert (reopened.number, reopened.status, reopened.closed_at) == (1, SessionStatus.QUEUED, None)
    entries = await kit.new_entries()
    assert notices(entries) == ["↺ The client wrote again: session reopened."]
    assert desk_actions(entries) == ["refresh_card", "notice", "mirror"] and to_client(entries) == []

    await kit.sessions.closing.close(1, "Anna")
    kit.clock.advance(10 * 60 + 1)
    fresh = await kit.writes("Me again")
    assert (fresh.number, fresh.previous_session, fresh.status) == (2, 1, SessionStatus.QUEUED)
    assert to_client(await kit.new_entries()) == [GREETING]


async def test_a_reopened_session_goes_back_to_its_operator_while_they_are_online(kit: Kit) -> None:
    await kit.online("anna")
    await kit.writes("Hello")
    await kit.sessions.assignment.take(1, "anna")
    await kit.sessions.closing.close(1, "Anna")
    reopened = await kit.writes("Thanks, one more question")
    assert (reopened.status, reopened.assignee) == (SessionStatus.ACTIVE, "anna")


async def test_a_clients_edit_changes_the_stored_message_and_the_desks_copy(kit: Kit) -> None:
    await kit.writes("Helo", platform_ref="tg:501:1")
    await kit.new_entries()
    kit.clock.advance(5)
    edit = ClientEdit(line_id="support", channel=Channel.TELEGRAM, user_id="501", platform_ref="tg:501:1", text="Hello")
    edited = await kit.sessions.intake.client_edit(edit)
    assert edited is not None and (edited.text, edited.edited_at) == ("Hello", kit.clock.now())
    [entry] = await kit.new_entries()
    assert isinstance(entry.action, Edit) and (entry.action.text, entry.action.message_id) == ("Hello", edited.id)
    someone_else = ClientEdit(
        line_id="support", channel=Channel.TELEGRAM, user_id="502", platform_ref="tg:501:1", text="Hijacked"
    )
    assert await kit.sessions.intake.client_edit(someone_else) is None
