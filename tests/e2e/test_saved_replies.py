"""Saved replies (SPEC §14) from the operator's side, over HTTP against the sandboxes: `/reply` lists the line's
replies, a click or `/reply ID` sends one to the client as the operator — stored, mirrored on both desks — and
the refusals (offline, another line's reply, an unknown id, a tampered button)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from adapters.telegram.desk.saved_replies import SavedReplyPick, reply_key
from core.clock import ManualClock
from core.model import AuthorKind
from core.replies import DOUBLE_CLICK_WINDOW
from sandboxes.rig import ANNA, DESK_CHANNEL, IVAN, Rig
from tests.support import telegram_desk as tg
from tests.support.replies_ratings import replies_rig, slack_buttons, slack_press

HELLO = "Hello Ivan, this is Anna of Support (session #1)."


async def taken_by_anna_on_slack(rig: Rig) -> dict[str, str]:
    """Ivan writes on Telegram; Anna goes online and takes session #1 on its Slack card. Returns its root."""
    await rig.client_writes(IVAN, "My washing machine is broken")
    await rig.slash(ANNA, "/status", "online")
    root = await rig.thread_root(1)
    await rig.click(ANNA, "session.take", "1", channel_id=DESK_CHANNEL, message_ts=root["ts"])
    return root


def got(rig: Rig, text: str) -> int:
    """How many messages of Ivan's chat with the bot carry `text`."""
    return sum(text in shown for shown in rig.client_chat(IVAN))


@pytest.mark.parametrize("store", ["sqlite", "redis"])
async def test_slack_reply_lists_the_lines_replies_and_a_click_or_an_id_sends_one(store: str, tmp_path: Path) -> None:
    clock = ManualClock(time.time())
    async with replies_rig(store, tmp_path, clock=clock) as rig:
        await taken_by_anna_on_slack(rig)
        listed = await rig.slash(ANNA, "/reply")
        offered = slack_buttons(listed.json["blocks"])
        assert list(offered) == ["Greeting"], "the sales line's offer is not offered on a support session"
        await slack_press(rig, ANNA, offered["Greeting"])
        assert got(rig, HELLO) == 1
        assert rig.client_chat(IVAN)[-1] == f"Anna\n{HELLO}", "signed with the operator's name, like her messages"
        assert any(HELLO in line for line in await rig.desk_thread(1)), "mirrored in the Slack thread"
        assert any(HELLO in text for text in await tg.topic_texts(rig)), "and in the Telegram topic"
        assert rig.desk is not None
        stored = [m for m in await rig.desk.store.list_messages(1) if m.text == HELLO]
        assert [(m.author_kind, m.author_id) for m in stored] == [(AuthorKind.OPERATOR, "anna")]

        twice = await rig.slash(ANNA, "/reply", "hello")
        assert twice.text == "Not sent: “Greeting” was just sent to session #1: not sending it twice."
        clock.advance(DOUBLE_CLICK_WINDOW)
        sent = await rig.slash(ANNA, "/reply", "hello")
        assert sent.text == "✉ Saved reply 'hello' sent to the client of session #1."
        assert got(rig, HELLO) == 2
        clock.advance(DOUBLE_CLICK_WINDOW)
        by_number = await rig.slash(ANNA, "/reply", "#1 HELLO")
        assert by_number.text.startswith("✉ Saved reply 'hello' sent") and got(rig, HELLO) == 3


async def test_slack_reply_refusals_send_nothing(tmp_path: Path) -> None:
    async with replies_rig("sqlite", tmp_path) as rig:
        await taken_by_anna_on_slack(rig)
        other_line = await rig.slash(ANNA, "/reply", "offer")
        assert other_line.text == "Not sent: The saved reply 'offer' is not for line 'support'."
        unknown = await rig.slash(ANNA, "/reply", "nope")
        assert unknown.text == "Not sent: There is no saved reply 'nope' (saved replies of this line: hello)."
        for value in ("1:offer", "1:../hello", "x:hello"):
            await rig.click(ANNA, "reply.send:0", value, channel_id=DESK_CHANNEL, container_ephemeral=True)
            said = rig.ephemeral(ANNA)[-1]["text"]
            assert said.startswith("Not sent: "), value
        assert "This button is not valid" in said
        await rig.slash(ANNA, "/status", "offline")
        offline = await rig.slash(ANNA, "/reply", "1 hello")
        assert offline.text == "Not sent: You are offline: you cannot reply to the client. Type /status online first."
        assert got(rig, "Hello Ivan") == 0 and got(rig, "offer") == 0


async def test_the_saved_reply_shortcut_lists_the_replies_in_the_thread(tmp_path: Path) -> None:
    async with replies_rig("sqlite", tmp_path) as rig:
        root = await taken_by_anna_on_slack(rig)
        mirrored = rig.slack.thread(root["channel"], root["ts"])[0]  # Ivan's message
        response = await rig.slack.shortcut(rig.slack_url, ANNA.slack_user, "saved_reply", DESK_CHANNEL, mirrored["ts"])
        await rig.settle()
        assert response.status == 200
        listed = rig.ephemeral(ANNA)[-1]
        assert listed["thread_ts"] == root["ts"]
        await slack_press(rig, ANNA, slack_buttons(listed["blocks"])["Greeting"])
        assert got(rig, HELLO) == 1
        rig.slack.add_channel("C0RANDOM", "random")
        await rig.slack.shortcut(rig.slack_url, ANNA.slack_user, "saved_reply", "C0RANDOM", "1700000000.000100")
        await rig.settle()
        refused = rig.ephemeral(ANNA)[-1]["text"]
        assert refused == "Saved reply works on the messages of a session's thread: this message is not in one."


async def test_telegram_reply_in_the_topic_lists_and_sends(tmp_path: Path) -> None:
    clock = ManualClock(time.time())
    async with replies_rig("sqlite", tmp_path, clock=clock) as rig:
        await tg.session_with_anna_online(rig)
        await tg.writes(rig, ANNA, "/reply")
        listed = await tg.last(rig, "Saved replies for session #1")
        assert list(tg.buttons(listed)) == ["Greeting"]
        assert listed["message_thread_id"] == await rig.topic_thread(1)
        answered = await tg.click(rig, ANNA, listed, "Greeting")
        assert answered["text"] == "Saved reply “Greeting” sent to the client."
        assert got(rig, HELLO) == 1
        assert any(HELLO in line for line in await rig.desk_thread(1)), "the Slack thread gets it too"

        await tg.writes(rig, ANNA, "/reply hello")
        assert "Not sent: “Greeting” was just sent to session #1: not sending it twice." in await tg.topic_texts(rig)
        clock.advance(DOUBLE_CLICK_WINDOW)
        await tg.writes(rig, ANNA, "/reply hello")
        assert got(rig, HELLO) == 2
        tampered = SavedReplyPick(session=1, reply="0" * 12).pack()
        card = await tg.card(rig)  # the list is gone once used: forged presses come under the card
        refused = await tg.press(rig, ANNA, card, tampered)
        assert refused["text"] == "Not sent: This button is not valid (stale or tampered with)."
        other_line = await tg.press(rig, ANNA, card, SavedReplyPick(session=1, reply=reply_key("offer")).pack())
        assert other_line["text"].startswith("Not sent: This button is not valid")
        await tg.writes(rig, ANNA, "/status offline", session=None)
        await tg.writes(rig, ANNA, "/reply hello")
        said = await tg.topic_texts(rig)
        assert "Not sent: You are offline: you cannot reply to the client. Type /status online first." in said
        assert got(rig, HELLO) == 2
