"""How the Telegram desk's routers treat every update alike, end to end over HTTP against the Telegram
sandbox: the operator and the topic's session are resolved once (a stranger in the desk group is refused
the same way for a command and for a button, and nothing else happens), and a refused action reaches
the operator through the one error handler (a reply in the topic, or an alert on the button) without
an error in the log."""

from __future__ import annotations

import logging

import pytest

from core.model import SessionStatus
from sandboxes.rig import ANNA, IVAN, SUPPORT_TOKEN, TELEGRAM_DESK, Rig
from tests.support.telegram_desk import (
    MALLORY,
    card,
    click,
    general,
    picker,
    press,
    session_with_anna_online,
    topic,
    topic_texts,
    writes,
)

NOT_AN_OPERATOR = "You are not a linedesk operator."


def errors_in(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [record.getMessage() for record in caplog.records if record.levelno >= logging.ERROR]


def desk_messages(rig: Rig) -> int:
    return len(rig.telegram.chat_messages(SUPPORT_TOKEN, TELEGRAM_DESK))


async def session_status(rig: Rig, number: int = 1) -> SessionStatus:
    assert rig.desk is not None
    session = await rig.desk.store.get_session(number)
    assert session is not None
    return session.status


async def test_a_stranger_is_refused_once_for_a_command_and_for_a_button(
    rig: Rig, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    rig.telegram.user(MALLORY.telegram_user, MALLORY.name)
    await rig.client_writes(IVAN, "Hello, my washing machine is broken")
    assert await session_status(rig) == SessionStatus.QUEUED

    for command, told in [
        ("/spam", f"Not changed: {NOT_AN_OPERATOR}"),
        ("/close", f"Not closed: {NOT_AN_OPERATOR}"),
        ("/transfer queue", f"Not transferred: {NOT_AN_OPERATOR}"),
        ("/startprocess", f"Not possible: {NOT_AN_OPERATOR}"),
    ]:
        before = desk_messages(rig)
        await writes(rig, MALLORY, command)
        assert desk_messages(rig) == before + 2, command  # the command, and one reply to it
        assert (await topic(rig))[-1]["text"] == told
    await writes(rig, MALLORY, "/sessions", session=None)
    assert general(rig)[-1]["text"] == f"{NOT_AN_OPERATOR[:-1]}: /sessions lists an operator's sessions."

    shown = await card(rig)
    for label in ("Take", "Close", "Start process", "Spam"):
        before = desk_messages(rig)
        refused = await click(rig, MALLORY, shown, label)
        assert refused == {**refused, "text": NOT_AN_OPERATOR, "show_alert": True}, label
        assert desk_messages(rig) == before, label  # an alert, nothing in the topic
    assert await session_status(rig) == SessionStatus.QUEUED
    assert errors_in(caplog) == []


async def test_a_refused_action_reaches_the_operator_and_logs_no_error(
    rig: Rig, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    await rig.client_writes(IVAN, "Hello, my washing machine is broken")
    await writes(rig, ANNA, "/status offline", session=None)

    await writes(rig, ANNA, "/startprocess")  # refused by core: a reply in the topic, with the command's words
    assert (await topic_texts(rig))[-1] == (
        "Not possible: You are offline: you cannot start processes. Type /status online first."
    )
    await writes(rig, ANNA, "/transfer Nobody")  # refused in the adapter
    assert (await topic_texts(rig))[-1].startswith("Not transferred: No operator 'Nobody' on line 'support'.")

    before = desk_messages(rig)
    refused = await click(rig, ANNA, await card(rig), "Start process")  # an alert without words before it
    assert refused == {
        **refused,
        "text": "You are offline: you cannot start processes. Type /status online first.",
        "show_alert": True,
    }
    assert desk_messages(rig) == before

    await session_with_anna_online(rig, take=False)
    await writes(rig, ANNA, "/startprocess")
    refused = await press(rig, ANNA, await picker(rig), "pp:1:000000000000")  # a tampered choice
    assert refused["show_alert"] and refused["text"].startswith("Not started: This process is not in the catalog")
    refused = await press(rig, ANNA, await card(rig), "nobody-knows-this")  # no router takes it
    assert refused == {**refused, "text": "This button is not valid (stale or tampered with).", "show_alert": True}
    assert errors_in(caplog) == []
