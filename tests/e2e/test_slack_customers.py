"""Slack customers: a Slack user who DMs the app opens a session on the line with `slack_dm` (sales in the
rig), exactly like a Telegram client — greeting, desk card, auto-start — and operators and processes answer
into the DM. Everything over HTTP against the Slack sandbox."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from core.links import LinkKind, line_message
from core.model import AuthorKind, Channel, SessionStatus
from sandboxes.limits import Limits
from sandboxes.rig import ANNA, BORIS, SALES_CHANNEL, Rig
from tests.support.bpmn import block, wait_client
from tests.support.flows import pick
from tests.support.rigs import PROCESSES, MakeRig
from tests.support.slack_customers import (
    PETRA,
    add_customer,
    app_says,
    app_texts,
    dm_writes,
    sales_thread,
    thread_reply,
)

GREETING = "Hello! An operator will answer shortly."


class NoDmRig(Rig):
    """The stage with no line taking Slack DMs (sales keeps its Telegram bot)."""

    def config_text(self) -> str:
        return super().config_text().replace("slack_dm = true\n", "slack_dm = false\n")


@pytest.fixture
async def no_dm_rig(tmp_path: Path) -> AsyncIterator[Rig]:
    stage = NoDmRig(tmp_path, PROCESSES, limits=Limits.off())
    await stage.start()
    try:
        yield stage
    finally:
        await stage.stop()


async def test_a_dm_opens_a_session_on_the_sales_line_with_greeting_and_desk_card(rig: Rig) -> None:
    dm = add_customer(rig)
    await dm_writes(rig, PETRA, "Hi, I'd like a quote for 20 machines")

    assert rig.desk is not None
    [session] = await rig.desk.store.list_sessions()
    assert (session.number, session.line_id, session.status) == (1, "sales", SessionStatus.QUEUED)
    client = await rig.desk.store.get_client("slack:U0PETRA1")
    assert client is not None
    assert (client.channel, client.name, client.chat_id, client.username) == (Channel.SLACK, "Petra", dm, "petra.novak")
    assert app_texts(rig, PETRA) == [GREETING]

    root = await rig.thread_root(1)
    card = rig.slack.message(root["channel"], root["ts"])
    assert root["channel"] == SALES_CHANNEL and card is not None
    assert "#1 · Petra" in card["blocks"][0]["text"]["text"]
    assert [m["text"] for m in await sales_thread(rig)] == ["*Petra*: Hi, I'd like a quote for 20 machines"]
    [message] = await rig.desk.store.list_messages(1, limit=1)
    assert message.author_kind == AuthorKind.CLIENT
    assert message.source_ref is not None and message.source_ref.startswith(f"slack:{dm}:")

    await dm_writes(rig, PETRA, "Delivery to Brno &amp; Prague, &lt;asap&gt;")  # as Slack escapes what she typed
    assert len(await rig.desk.store.list_sessions()) == 1
    assert [m["text"] for m in await sales_thread(rig)][-1] == "*Petra*: Delivery to Brno &amp; Prague, &lt;asap&gt;"
    assert (await rig.desk.store.list_messages(1))[-1].text == "Delivery to Brno & Prague, <asap>"
    assert app_texts(rig, PETRA) == [GREETING]  # greeted once
    assert len(rig.slack.calls_of("users.info")) == 1  # the name is kept in the client record


async def test_the_name_falls_back_to_the_real_name(rig: Rig) -> None:
    rig.slack.add_user("U0NONAME1", "Jana Dvorak")  # no display name set
    await rig.slack.post_message(rig.slack_url, "U0NONAME1", rig.slack.dm("U0NONAME1"), "Hello")
    await rig.settle()
    assert rig.desk is not None
    client = await rig.desk.store.get_client("slack:U0NONAME1")
    assert client is not None and client.name == "Jana Dvorak"


async def test_the_display_name_is_shown_never_the_handle_and_a_rename_reaches_the_record(rig: Rig) -> None:
    """§16: the card, the thread and the stored messages (which transcripts are made of) carry the display
    name from users.info, not the handle; a new name is taken when users.info is asked again."""
    add_customer(rig, real_name="Petra Novak")  # handle "petra.novak", display name "Petra"
    await dm_writes(rig, PETRA, "Hello")
    root = await rig.thread_root(1)
    card = rig.slack.message(root["channel"], root["ts"])
    assert card is not None and "#1 · Petra" in card["blocks"][0]["text"]["text"]
    assert "petra.novak" not in str(card) and "Petra Novak" not in str(card)
    assert [m["text"] for m in await sales_thread(rig)] == ["*Petra*: Hello"]
    assert rig.desk is not None
    assert [m.author_name for m in await rig.desk.store.list_messages(1) if m.author_kind == AuthorKind.CLIENT] == [
        "Petra"
    ]

    rig.slack.add_user(PETRA.slack_user, "Petra Novak", display_name="Petra N.")  # she renames herself
    await rig.restart()  # names are kept in memory for an hour: a restarted linedesk asks again
    await dm_writes(rig, PETRA, "It's me again")
    assert rig.desk is not None
    client = await rig.desk.store.get_client("slack:U0PETRA1")
    assert client is not None and (client.name, client.username) == ("Petra N.", "petra.novak")
    assert [m["text"] for m in await sales_thread(rig)][-1] == "*Petra N.*: It's me again"


async def test_a_failed_users_info_falls_back_and_is_asked_again(rig: Rig) -> None:
    add_customer(rig)
    rig.slack.fail("users.info", error="fatal_error")
    await dm_writes(rig, PETRA, "Hello")
    assert rig.desk is not None
    client = await rig.desk.store.get_client("slack:U0PETRA1")
    assert client is not None and client.name == "U0PETRA1"  # nothing better is known yet

    await dm_writes(rig, PETRA, "Anyone?")  # the failure was not kept: users.info is asked again
    client = await rig.desk.store.get_client("slack:U0PETRA1")
    assert client is not None and (client.name, client.username) == ("Petra", "petra.novak")
    assert [m["text"] for m in await sales_thread(rig)][-1] == "*Petra*: Anyone?"

    rig.slack.fail("users.info", error="fatal_error")
    await rig.restart()
    await dm_writes(rig, PETRA, "Still here")  # users.info fails again: the record's name is used
    assert [m["text"] for m in await sales_thread(rig)][-1] == "*Petra*: Still here"
    assert len(rig.slack.calls_of("users.info")) == 3


async def test_an_operators_thread_reply_reaches_the_dm_signed_with_their_name(rig: Rig) -> None:
    add_customer(rig)
    await dm_writes(rig, PETRA, "Hello?")
    await rig.slash(ANNA, "/status", "online")
    await thread_reply(rig, ANNA, 1, "Hello Petra, how many machines do you need?")
    assert app_texts(rig, PETRA) == [GREETING, "*Anna*\nHello Petra, how many machines do you need?"]
    assert "*Anna* → client: Hello Petra, how many machines do you need?" not in [
        m["text"] for m in await sales_thread(rig)
    ]  # typed there: not mirrored back into the same thread

    await thread_reply(rig, ANNA, 1, "// big customer, be nice")
    await thread_reply(rig, BORIS, 1, "Boris here")  # on the line, but offline
    assert app_texts(rig, PETRA) == [GREETING, "*Anna*\nHello Petra, how many machines do you need?"]
    assert "Not sent to the client" in rig.ephemeral(BORIS)[-1]["text"]

    assert rig.desk is not None  # where the client's copy is, for edits and deletions later
    [answer] = [m for m in await rig.desk.store.list_messages(1) if m.author_id == "anna" and not m.internal]
    sent = await rig.desk.store.link_of(LinkKind.SLACK_CLIENT_COPY, line_message("sales", answer.id))
    assert sent is not None and sent.data == {
        "channel": rig.slack.dm(PETRA.slack_user),
        "ts": app_says(rig, PETRA)[-1]["ts"],
    }


async def test_a_process_reply_and_a_status_card_edited_in_place(make_rig: MakeRig) -> None:
    rig = await make_rig(
        (
            "track",
            "Track",
            [
                block("linedesk.status", text="Order: received"),
                block("linedesk.reply", text="We will send a quote today"),
                wait_client(),
                block("linedesk.status", text="Order: packed"),
                block("linedesk.status", text="Order: shipped"),
            ],
        )
    )
    add_customer(rig)
    await dm_writes(rig, PETRA, "Where is my order?")
    await rig.slash(ANNA, "/status", "online")
    await pick(rig, "Track")
    assert app_texts(rig, PETRA) == [GREETING, "Order: received", "We will send a quote today"]  # not signed
    await dm_writes(rig, PETRA, "Thanks")
    assert app_texts(rig, PETRA) == [GREETING, "Order: shipped", "We will send a quote today"]
    dm = rig.slack.dm(PETRA.slack_user)
    [card] = [m for m in app_says(rig, PETRA) if m["text"].startswith("Order:")]
    assert "edited" in card
    updates = [c for c in rig.slack.calls_of("chat.update") if c.params.get("channel") == dm]
    assert [c.params["text"] for c in updates] == ["Order: packed", "Order: shipped"]
    assert "⚙ *Track* → client: We will send a quote today" in [m["text"] for m in await sales_thread(rig)]


async def test_autostart_and_message_received_work_for_a_dm(rig: Rig) -> None:
    await rig.slash(ANNA, "/autostart", "sales session.created create_lead on")
    add_customer(rig)
    await dm_writes(rig, PETRA, "I want to buy a washing machine")
    assert app_texts(rig, PETRA) == [GREETING, "Thanks, we registered your request as lead #1"]
    assert rig.desk is not None
    [instance] = await rig.desk.store.list_instances(session=1)
    assert instance.process_id == "create_lead" and instance.trigger == "session.created"
    variables = await rig.desk.processes.variables(instance.id)
    assert (variables["channel"], variables["client_id"], variables["client_name"]) == (
        "slack",
        "slack:U0PETRA1",
        "Petra",
    )


async def test_the_apps_own_messages_and_other_bots_are_ignored(rig: Rig) -> None:
    dm = add_customer(rig)
    ident = rig.slack.identity
    rig.slack.add_user("U0OTHERBOT", "otherbot", is_bot=True)
    rig.slack.clear_calls()
    # the app's own post in the DM, another app's bot message, a bot user without bot_id, Slackbot
    await rig.slack.post_message(rig.slack_url, ident.bot_user_id, dm, "Hello from linedesk", bot_id=ident.bot_id)
    await rig.slack.post_message(rig.slack_url, "U0OTHERBOT", dm, "I am a bot", bot_id="B0OTHER", subtype="bot_message")
    await rig.slack.post_message(rig.slack_url, ident.bot_user_id, dm, "no bot_id")
    await rig.slack.post_message(rig.slack_url, "USLACKBOT", dm, "Slackbot says hi")
    await rig.settle()
    assert rig.desk is not None
    assert await rig.desk.store.list_sessions() == []
    assert rig.slack.calls_of("chat.postMessage") == []

    await dm_writes(rig, PETRA, "Real question")
    await rig.slack.post_message(rig.slack_url, "U0OTHERBOT", dm, "noise", bot_id="B0OTHER", subtype="bot_message")
    await rig.settle()
    messages = await rig.desk.store.list_messages(1)
    assert [m.text for m in messages if m.author_kind == AuthorKind.CLIENT] == ["Real question"]


async def test_a_customers_edit_in_the_dm_edits_the_desk_copy(rig: Rig) -> None:
    add_customer(rig)
    dm = rig.slack.dm(PETRA.slack_user)
    ts = rig.slack.workspace.clock.next_ts()
    await dm_writes(rig, PETRA, "I need 2O machines", ts=ts)
    await rig.slack.send(
        rig.slack_url, *rig.slack.message_changed_event(PETRA.slack_user, dm, ts, "I need 20 machines")
    )
    await rig.settle()
    texts = [m["text"] for m in await sales_thread(rig)]
    assert "*Petra*: I need 20 machines (edited)" in texts and "*Petra*: I need 2O machines" not in texts
    assert rig.desk is not None
    [message] = [m for m in await rig.desk.store.list_messages(1) if m.author_kind == AuthorKind.CLIENT]
    assert message.text == "I need 20 machines" and message.edited_at is not None


async def test_a_dm_is_ignored_when_no_line_takes_slack_dms(no_dm_rig: Rig) -> None:
    rig = no_dm_rig
    add_customer(rig)
    await dm_writes(rig, PETRA, "Hello?")
    assert rig.desk is not None
    assert await rig.desk.store.list_sessions() == []
    assert app_texts(rig, PETRA) == []


async def test_a_dm_gone_is_reported_on_the_desk_not_retried(rig: Rig) -> None:
    dm = add_customer(rig)
    await dm_writes(rig, PETRA, "Hello")
    await rig.slash(ANNA, "/status", "online")
    rig.slack.fail("chat.postMessage", error="channel_not_found", channel=dm)
    await thread_reply(rig, ANNA, 1, "Are you there?")
    posts = [c for c in rig.slack.calls_of("chat.postMessage") if c.params.get("channel") == dm]
    assert len(posts) == 2  # the greeting, then one refused attempt: no retries
    notes = [m["text"] for m in await sales_thread(rig)]
    assert any(t.startswith("⚠ Not delivered to the client: Slack: channel_not_found") for t in notes)
