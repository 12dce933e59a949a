"""Operators' messages (`core.sessions.operator_messages`): replies reach the client, notes stay on the desk."""

from __future__ import annotations

import pytest

from core.errors import Refusal
from core.inbound import OperatorDelete, OperatorEdit, OperatorText
from core.model import AuthorKind, OperatorStatus
from core.outbox_actions import SendText
from tests.support.sessions_kit import Kit, desk_actions, notices, to_client


async def anna_has_the_session(kit: Kit) -> None:
    await kit.online("anna", "boris")
    await kit.writes("Hello")
    await kit.sessions.assignment.take(1, "anna")
    await kit.new_entries()


async def test_an_operators_message_reaches_the_client_and_the_other_desks(kit: Kit) -> None:
    await anna_has_the_session(kit)
    kit.clock.advance(30)
    message = await kit.sessions.operator_messages.operator_text(
        OperatorText(session=1, operator_id="anna", text="What model is it?", platform_ref="slack:1.0")
    )
    assert (message.author_kind, message.author_name, message.internal) == (AuthorKind.OPERATOR, "Anna", False)
    assert message.created_at == kit.clock.now()
    entries = await kit.new_entries()
    assert to_client(entries) == ["What model is it?"]
    assert entries[0].route == "telegram.client" and isinstance(entries[0].action, SendText)
    assert entries[0].action.author_name == "Anna"
    assert desk_actions(entries) == ["mirror"]
    assert (await kit.operators.state("anna")).last_session == 1
    again = await kit.sessions.operator_messages.operator_text(  # the same platform message, handled again
        OperatorText(session=1, operator_id="anna", text="What model is it?", platform_ref="slack:1.0")
    )
    assert again.id == message.id and await kit.new_entries() == []


async def test_a_note_stays_on_the_desk(kit: Kit) -> None:
    await anna_has_the_session(kit)
    note = await kit.sessions.operator_messages.operator_text(
        OperatorText(session=1, operator_id="boris", text="// a regular, be nice")
    )
    assert note.internal
    entries = await kit.new_entries()
    assert to_client(entries) == [] and desk_actions(entries) == ["mirror"]


async def test_replies_are_refused_offline_closed_or_blocked(kit: Kit) -> None:
    await anna_has_the_session(kit)
    await kit.online("boris", status=OperatorStatus.OFFLINE)
    with pytest.raises(Refusal) as offline:
        await kit.sessions.operator_messages.operator_text(OperatorText(session=1, operator_id="boris", text="Hi"))
    assert offline.value.code == "offline"
    await kit.sessions.closing.close(1, "Anna")
    with pytest.raises(Refusal) as closed:
        await kit.sessions.operator_messages.operator_text(OperatorText(session=1, operator_id="anna", text="Hi"))
    assert closed.value.code == "closed"
    with pytest.raises(Refusal) as missing:
        await kit.sessions.operator_messages.operator_text(OperatorText(session=9, operator_id="anna", text="Hi"))
    assert missing.value.code == "no_session"


async def test_an_operators_edit_and_delete_reach_the_clients_copy(kit: Kit) -> None:
    await anna_has_the_session(kit)
    await kit.sessions.operator_messages.operator_text(
        OperatorText(session=1, operator_id="anna", text="Helo", platform_ref="slack:2.0")
    )
    await kit.new_entries()
    edited = await kit.sessions.operator_messages.operator_edit(
        OperatorEdit(operator_id="anna", platform_ref="slack:2.0", text="Hello", desk="slack.desk")
    )
    assert edited is not None and edited.text == "Hello" and edited.edited_at == kit.clock.now()
    entries = await kit.new_entries()
    assert [(e.route, e.action.kind) for e in entries] == [
        ("telegram.client", "edit_text")
    ]  # the edited desk is skipped
    not_hers = OperatorEdit(operator_id="boris", platform_ref="slack:2.0", text="Hi")
    assert await kit.sessions.operator_messages.operator_edit(not_hers) is None

    deleted = await kit.sessions.operator_messages.operator_delete(
        OperatorDelete(operator_id="anna", platform_ref="slack:2.0")
    )
    assert deleted is not None and deleted.deleted_at == kit.clock.now()
    entries = await kit.new_entries()
    assert [(e.route, e.action.kind) for e in entries] == [("telegram.client", "delete_text"), ("slack.desk", "notice")]
    assert notices(entries) == ["🗑 Anna deleted a message to the client: Hello"]
    again = OperatorDelete(operator_id="anna", platform_ref="slack:2.0")
    assert await kit.sessions.operator_messages.operator_delete(again) is None
