"""How every Slack listener runs (adapters/slack/tracking.py), seen from outside: signed requests to the running
app through the sandbox. A stranger is refused by the operator middleware the same way on a button, a slash
command and a shortcut; a refusal raised by a listener reaches the person through the one error handler, the
request is answered 200 at once, and nothing is logged at ERROR."""

from __future__ import annotations

import logging
import time

import pytest

from adapters.slack.desk import SHORTCUT
from sandboxes.rig import ANNA, BORIS, IVAN, STRANGER, Rig
from tests.support.flows import open_session_with_anna_online

NOT_OPERATOR = "You are not a linedesk operator."


def errors(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [f"{r.name}: {r.getMessage()}" for r in caplog.records if r.levelno >= logging.ERROR]


async def test_a_stranger_is_refused_the_same_way_on_a_button_a_command_and_a_shortcut(
    rig: Rig, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    root = await open_session_with_anna_online(rig)
    assert rig.desk is not None
    before = await rig.desk.store.get_session(1)

    started = time.monotonic()
    clicked = await rig.slack.click(
        rig.slack_url, STRANGER.slack_user, "session.take", "1", channel_id=root["channel"], message_ts=root["ts"]
    )
    assert clicked.status == 200 and time.monotonic() - started < 2.5  # acked, not at Slack's 3 s timeout
    await rig.settle()
    told = rig.ephemeral(STRANGER)[-1]
    assert (told["text"], told["channel"], told["thread_ts"]) == (NOT_OPERATOR, root["channel"], root["ts"])

    command = await rig.slash(STRANGER, "/status", "online")
    assert (command.status, command.text) == (200, NOT_OPERATOR)
    command = await rig.slash(STRANGER, "/startprocess", "1")
    assert (command.status, command.text) == (200, NOT_OPERATOR)

    shortcut = await rig.slack.shortcut(rig.slack_url, STRANGER.slack_user, SHORTCUT, root["channel"], root["ts"])
    assert shortcut.status == 200
    await rig.settle()
    told = rig.ephemeral(STRANGER)[-1]
    assert (told["text"], told["channel"], told["thread_ts"]) == (NOT_OPERATOR, root["channel"], root["ts"])

    assert await rig.desk.store.get_session(1) == before
    assert await rig.desk.store.list_instances() == []
    assert errors(caplog) == []


async def test_a_refusal_reaches_the_operator_through_the_one_handler_and_nothing_is_logged_at_error(
    rig: Rig, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    await rig.client_writes(IVAN, "Hello")
    root = await rig.thread_root(1)

    # raised by a command before its ack: the ack's text
    command = await rig.slash(ANNA, "/startprocess", "1")  # Anna is offline
    assert (command.status, command.text) == (
        200,
        "You are offline: you cannot start processes. Type /status online first.",
    )
    # raised by a button after its ack: an ephemeral message in the card's thread
    started = time.monotonic()
    clicked = await rig.slack.click(
        rig.slack_url, ANNA.slack_user, "session.take", "tampered", channel_id=root["channel"], message_ts=root["ts"]
    )
    assert clicked.status == 200 and time.monotonic() - started < 2.5
    await rig.settle()
    told = rig.ephemeral(ANNA)[-1]
    assert (told["text"], told["thread_ts"]) == ("This button is not valid (stale or tampered with).", root["ts"])
    # raised after the ack of a button that answers through its response URL: "Not changed: …"
    await rig.click(BORIS, "autostart.toggle", "support:session_created:on", channel_id=root["channel"])
    assert rig.ephemeral(BORIS)[-1]["text"] == "Not changed: Only admins can change automatic start."

    assert rig.desk is not None and await rig.desk.store.list_instances() == []
    assert errors(caplog) == []
