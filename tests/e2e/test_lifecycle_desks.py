"""A session's lifecycle as operators drive it from both desks, end to end over HTTP against the sandboxes:
take (first click wins, the other desk's card follows), transfer to a colleague or back to the queue,
spam and unmark, close by button and by /close, refusals that say why (offline operators, stale or forged
buttons), `/sessions` in Telegram, and the session lists of the admin API, the CLI and the App Home
(spam hidden unless asked for; filters by line, status, operator, client)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from adapters.slack import views
from adapters.telegram.desk_cards import TransferTo
from bots.cli import main
from core.model import SessionStatus
from sandboxes.limits import Limits
from sandboxes.rig import (
    ANNA,
    BORIS,
    CARL,
    DESK_CHANNEL,
    IVAN,
    OLGA,
    SALES_TOKEN,
    SUPPORT_TOKEN,
    TELEGRAM_DESK,
    Person,
    Rig,
)
from tests.support.rigs import PROCESSES
from tests.support.slack_desk import block, open_home
from tests.support.telegram_desk import buttons, card, click, general, last, press, rows, topic_texts, writes

ADMIN = "lifecycle-admin-token"
MALLORY = Person("Mallory", telegram_user=999999)
OFFLINE = "You are offline: you cannot {} Type /status online first."
CARD_BUTTONS = ["session.take", "session.start_process", "session.processes", "session.close"]


@pytest.fixture
async def admin_rig(tmp_path: Path) -> AsyncIterator[Rig]:
    rig = Rig(tmp_path, PROCESSES, admin_token=ADMIN, limits=Limits.off())
    await rig.start()
    try:
        yield rig
    finally:
        await rig.stop()


# --- Slack: acting and seeing -------------------------------------------------------------------
async def slack_card(rig: Rig, session: int = 1) -> dict[str, Any]:
    root = await rig.thread_root(session)
    message = rig.slack.message(root["channel"], root["ts"])
    assert message is not None
    return message


def card_facts(message: dict[str, Any]) -> str:
    return str(message["blocks"][0]["text"]["text"])


def card_actions(message: dict[str, Any]) -> list[str]:
    return [e["action_id"] for b in message["blocks"] if b["type"] == "actions" for e in b["elements"]]


def menu_choices(message: dict[str, Any]) -> dict[str, str]:
    """The card's overflow menu: option text → value (empty when the card has no menu)."""
    accessory = message["blocks"][0].get("accessory") or {}
    return {o["text"]["text"]: o["value"] for o in accessory.get("options", [])}


async def slack_button(rig: Rig, person: Person, action_id: str, session: int = 1) -> None:
    root = await rig.thread_root(session)
    await rig.click(person, action_id, str(session), channel_id=root["channel"], message_ts=root["ts"])


async def slack_menu(rig: Rig, person: Person, choice: str, session: int = 1) -> None:
    """`person` picks `choice` (its text) in the card's menu."""
    root = await rig.thread_root(session)
    value = menu_choices(await slack_card(rig, session))[choice]
    await rig.click(person, views.MENU, value, channel_id=root["channel"], message_ts=root["ts"])


def last_ephemeral(rig: Rig, person: Person) -> dict[str, Any]:
    shown = rig.ephemeral(person)
    assert shown, f"{person.name} was shown nothing"
    return shown[-1]


def transfer_buttons(entry: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {e["text"]["text"]: e for b in entry.get("blocks") or [] if b["type"] == "actions" for e in b["elements"]}


async def pick_transfer(rig: Rig, person: Person, text: str) -> None:
    """`person` clicks `text` on the transfer picker they were shown last."""
    picker = last_ephemeral(rig, person)
    chosen = transfer_buttons(picker)[text]
    await rig.click(
        person,
        chosen["action_id"],
        chosen["value"],
        channel_id=DESK_CHANNEL,
        message_ts=picker["ts"],
        container_ephemeral=True,
    )


async def session_of(rig: Rig, number: int = 1) -> Any:
    assert rig.desk is not None
    session = await rig.desk.store.get_session(number)
    assert session is not None
    return session


async def slack_online(rig: Rig, *people: Person) -> None:
    for person in people:
        await rig.slash(person, "/status", "online")


def joined(rig: Rig, person: Person = IVAN, token: str = SUPPORT_TOKEN) -> list[str]:
    return [t for t in rig.client_chat(person, token) if "joined the conversation" in t]


# --- Telegram: acting and seeing ------------------------------------------------------------------
async def tg_card_text(rig: Rig, session: int = 1) -> str:
    return str((await card(rig, session))["text"])


def card_rows(message: dict[str, Any]) -> list[list[str]]:
    return [[b["text"] for b in row] for row in rows(message)]


async def transfer_menu(rig: Rig, session: int = 1) -> dict[str, Any]:
    return await last(rig, f"➡ Transfer session #{session}", session)


async def private_says(rig: Rig, person: Person, text: str, token: str = SUPPORT_TOKEN) -> list[dict[str, Any]]:
    """`person` writes to the line's bot in a private chat; returns what the bot answered there."""
    user = rig.telegram.user(person.telegram_user, person.name)
    before = len(rig.telegram.chat_messages(token, person.telegram_user))
    result = await rig.telegram.deliver(token, rig.telegram.text_update(token, user, text))
    assert result.status == 200
    await rig.settle()
    return [m for m in rig.telegram.chat_messages(token, person.telegram_user)[before:] if m["from"].get("is_bot")]


def links(message: dict[str, Any]) -> list[str]:
    return [e["url"] for e in message.get("entities", []) if e["type"] == "text_link"]


def topic_url(thread_id: int) -> str:
    return f"https://t.me/c/{str(TELEGRAM_DESK).removeprefix('-100')}/{thread_id}"


# --- the admin API and the CLI -------------------------------------------------------------------------
async def api(rig: Rig, path: str) -> tuple[int, Any]:
    headers = {"Authorization": f"Bearer {ADMIN}"}
    async with aiohttp.ClientSession() as http, http.get(f"{rig.url}{path}", headers=headers) as response:
        return response.status, await response.json()


async def api_numbers(rig: Rig, query: str = "") -> list[int]:
    status, body = await api(rig, f"/api/sessions{query}")
    assert status == 200, body
    return [s["number"] for s in body["sessions"]]


async def cli(rig: Rig, capsys: pytest.CaptureFixture[str], *args: str) -> list[int]:
    """`linedesk sessions …` against the running server's store; the session numbers it printed."""
    capsys.readouterr()
    code = await asyncio.to_thread(main, ["sessions", "--config", str(rig.config_path()), *args])
    out = capsys.readouterr().out
    assert code == 0, out
    return [int(line.split()[0].lstrip("#")) for line in out.splitlines() if line.startswith("#")]


# === Slack desk ======================================================================================
async def test_slack_take_updates_the_telegram_card_and_a_second_take_is_refused(rig: Rig) -> None:
    await rig.client_writes(IVAN, "Hello, my washing machine is broken")
    await slack_online(rig, ANNA, CARL)
    assert "🟡 queued · unassigned" in card_facts(await slack_card(rig))
    assert "🟡 queued · unassigned" in await tg_card_text(rig)

    await slack_button(rig, ANNA, views.TAKE)
    assert "🟢 active · Anna" in card_facts(await slack_card(rig))
    assert "🟢 active · Anna" in await tg_card_text(rig), "the other desk's card follows"
    assert joined(rig) == ["Anna joined the conversation."]

    await slack_button(rig, CARL, views.TAKE)
    refusal = last_ephemeral(rig, CARL)
    assert refusal["text"] == "Anna already has session #1; ask them to transfer it."
    assert refusal["thread_ts"] == (await rig.thread_root(1))["ts"], "said in the session's thread"
    assert (await session_of(rig)).assignee == "anna"
    assert joined(rig) == ["Anna joined the conversation."]


async def test_slack_card_menu_offers_transfer_queue_and_spam(rig: Rig) -> None:
    await rig.client_writes(IVAN, "Hello")
    queued = await slack_card(rig)
    assert card_actions(queued) == CARD_BUTTONS
    assert menu_choices(queued) == {"➡ Transfer to…": "transfer:1", "🚫 Mark as spam": "spam:1"}
    await slack_online(rig, ANNA)
    await slack_button(rig, ANNA, views.TAKE)
    assert list(menu_choices(await slack_card(rig))) == ["➡ Transfer to…", "↩ Back to the queue", "🚫 Mark as spam"]


async def test_slack_transfer_to_carl_refuses_an_offline_target_then_goes_back_to_the_queue(rig: Rig) -> None:
    await rig.client_writes(IVAN, "Hello")
    await slack_online(rig, ANNA)
    await slack_button(rig, ANNA, views.TAKE)

    await slack_menu(rig, ANNA, "➡ Transfer to…")
    picker = last_ephemeral(rig, ANNA)
    assert picker["thread_ts"] == (await rig.thread_root(1))["ts"]
    assert list(transfer_buttons(picker)) == ["Carl · ⚪ offline", "↩ Back to the queue"], "Boris is not on Support"
    await pick_transfer(rig, ANNA, "Carl · ⚪ offline")
    assert last_ephemeral(rig, ANNA)["text"] == "Not transferred: Carl is offline."
    assert (await session_of(rig)).assignee == "anna"

    await slack_online(rig, CARL)
    await slack_menu(rig, ANNA, "➡ Transfer to…")
    await pick_transfer(rig, ANNA, "Carl · 🟢 online")
    assert last_ephemeral(rig, ANNA)["text"] == "➡ Session #1 is now Carl's.", "the picker is replaced"
    assert joined(rig) == ["Anna joined the conversation.", "Carl joined the conversation."]
    assert "🟢 active · Carl" in card_facts(await slack_card(rig))
    assert "🟢 active · Carl" in await tg_card_text(rig)
    assert "➡ Anna transferred the session to Carl." in await rig.desk_thread(1)

    await slack_menu(rig, CARL, "↩ Back to the queue")
    session = await session_of(rig)
    assert (session.status, session.assignee) == (SessionStatus.QUEUED, None)
    assert "🟡 queued · unassigned" in card_facts(await slack_card(rig))
    assert "🟡 queued · unassigned" in await tg_card_text(rig)
    assert "↩ Carl put the session back in the queue." in await rig.desk_thread(1)


async def test_slack_transfer_values_are_rechecked(rig: Rig) -> None:
    await rig.client_writes(IVAN, "Hello")
    await slack_online(rig, ANNA, BORIS)
    await slack_button(rig, ANNA, views.TAKE)
    await slack_menu(rig, ANNA, "➡ Transfer to…")
    picker = last_ephemeral(rig, ANNA)
    forged = [
        ("1:boris", "'boris' is not an operator of line 'support'."),
        ("1:../carl", "This button is not valid (stale or tampered with)."),
        ("9:carl", "Session #9 does not exist."),
    ]
    for value, reason in forged:
        await rig.click(
            ANNA,
            f"{views.TRANSFER_TO}:0",
            value,
            channel_id=DESK_CHANNEL,
            message_ts=picker["ts"],
            container_ephemeral=True,
        )
        assert last_ephemeral(rig, ANNA)["text"] == f"Not transferred: {reason}"
    root = await rig.thread_root(1)
    await rig.click(ANNA, views.MENU, "spam:x", channel_id=root["channel"], message_ts=root["ts"])
    assert last_ephemeral(rig, ANNA)["text"] == "This menu is not valid (stale or tampered with)."
    await rig.click(BORIS, views.MENU, "spam:1", channel_id=root["channel"], message_ts=root["ts"])
    assert last_ephemeral(rig, BORIS)["text"] == "You are not an operator of line 'support'."
    session = await session_of(rig)
    assert (session.status, session.assignee) == (SessionStatus.ACTIVE, "anna")


async def test_slack_spam_hides_the_session_and_unmark_restores_it(
    admin_rig: Rig, capsys: pytest.CaptureFixture[str]
) -> None:
    rig = admin_rig
    await rig.client_writes(IVAN, "Hello")
    await slack_online(rig, ANNA)
    await slack_button(rig, ANNA, views.TAKE)
    await slack_menu(rig, ANNA, "🚫 Mark as spam")

    spam = await slack_card(rig)
    assert "🚫 spam · Anna" in card_facts(spam)
    assert card_actions(spam) == [views.UNSPAM] and menu_choices(spam) == {}, "only Unmark spam"
    assert "🚫 spam" in await tg_card_text(rig)
    assert card_rows(await card(rig)) == [["Unmark spam"]]
    assert "🚫 Anna marked the session as spam." in await rig.desk_thread(1)

    thread_before, topic_before = await rig.desk_thread(1), await topic_texts(rig)
    await rig.client_writes(IVAN, "BUY CHEAP WATCHES")
    assert await rig.desk_thread(1) == thread_before and await topic_texts(rig) == topic_before, "not mirrored"
    status, body = await api(rig, "/api/sessions/1")
    assert status == 200 and body["status"] == "spam"
    assert [m["text"] for m in body["messages"] if m["author_kind"] == "client"] == ["Hello", "BUY CHEAP WATCHES"]

    await rig.slash(ANNA, "/startprocess", "1")
    assert last_ephemeral(rig, ANNA)["text"] == "Session #1 is marked as spam: you cannot start processes."
    assert await api_numbers(rig) == [] and await api_numbers(rig, "?status=spam") == [1]
    assert await cli(rig, capsys) == [] and await cli(rig, capsys, "--status", "spam") == [1]
    assert "#1" not in str(await open_home(rig, ANNA))

    await slack_button(rig, ANNA, views.UNSPAM)
    session = await session_of(rig)
    assert (session.status, session.assignee) == (SessionStatus.ACTIVE, "anna"), "the previous state is back"
    back = await slack_card(rig)
    assert "🟢 active · Anna" in card_facts(back) and card_actions(back) == CARD_BUTTONS
    assert "🟢 active · Anna" in await tg_card_text(rig)
    assert "✅ Anna unmarked spam." in await rig.desk_thread(1)
    assert await api_numbers(rig) == [1]


async def test_slack_close_button_closes_on_both_desks(rig: Rig) -> None:
    await rig.client_writes(IVAN, "Hello")
    await slack_online(rig, ANNA)
    await slack_button(rig, ANNA, views.TAKE)
    await slack_button(rig, ANNA, views.CLOSE)
    closed = await slack_card(rig)
    assert "⚪ closed · Anna" in card_facts(closed) and card_actions(closed) == [] and menu_choices(closed) == {}
    assert "⚪ closed · Anna" in await tg_card_text(rig) and rows(await card(rig)) == []
    assert "■ Session closed by Anna." in await rig.desk_thread(1)
    assert (await session_of(rig)).status == SessionStatus.CLOSED


async def test_slack_refusals_for_an_offline_operator_say_why(rig: Rig) -> None:
    await rig.client_writes(IVAN, "Hello")
    await slack_online(rig, ANNA)
    await slack_button(rig, ANNA, views.TAKE)
    await rig.slash(ANNA, "/status", "offline")
    assert (await session_of(rig)).assignee is None, "going offline hands the session back to the queue"

    await rig.thread_reply(ANNA, 1, "Are you there?")
    assert last_ephemeral(rig, ANNA)["text"] == "Not sent to the client: " + OFFLINE.format("reply to the client.")
    await slack_button(rig, ANNA, views.TAKE)
    assert last_ephemeral(rig, ANNA)["text"] == OFFLINE.format("take sessions.")
    await slack_menu(rig, ANNA, "➡ Transfer to…")
    assert last_ephemeral(rig, ANNA)["text"] == OFFLINE.format("transfer sessions.")
    await slack_button(rig, ANNA, views.START)
    assert last_ephemeral(rig, ANNA)["text"] == OFFLINE.format("start processes.")
    await slack_menu(rig, ANNA, "🚫 Mark as spam")
    assert last_ephemeral(rig, ANNA)["text"] == OFFLINE.format("mark spam.")
    await slack_button(rig, ANNA, views.CLOSE)
    assert last_ephemeral(rig, ANNA)["text"] == OFFLINE.format("close sessions.")
    session = await session_of(rig)
    assert (session.status, session.assignee) == (SessionStatus.QUEUED, None)
    assert "Are you there?" not in "\n".join(rig.client_chat(IVAN))


# === Telegram desk ====================================================================================
async def test_telegram_take_updates_the_slack_card_and_a_second_take_is_refused(rig: Rig) -> None:
    await rig.client_writes(IVAN, "Hello, my washing machine is broken")
    await writes(rig, ANNA, "/status online", session=None)
    await slack_online(rig, CARL)
    assert card_rows(await card(rig)) == [["Take", "Start process", "Close"], ["Transfer", "Spam", "Processes"]]
    assert all(len(data.encode()) <= 64 for data in buttons(await card(rig)).values())

    answer = await click(rig, ANNA, await card(rig), "Take")
    assert answer["text"] == "You took session #1." and not answer["show_alert"]
    assert "🟢 active · Anna" in card_facts(await slack_card(rig)), "the other desk's card follows"
    assert "🟢 active · Anna" in await tg_card_text(rig)
    assert joined(rig) == ["Anna joined the conversation."]

    answer = await click(rig, CARL, await card(rig), "Take")
    assert answer["show_alert"] and answer["text"] == "Anna already has session #1; ask them to transfer it."
    assert (await session_of(rig)).assignee == "anna"


async def test_telegram_transfer_by_menu_and_by_command(rig: Rig) -> None:
    await rig.client_writes(IVAN, "Hello")
    await writes(rig, ANNA, "/status online", session=None)
    await click(rig, ANNA, await card(rig), "Take")

    answer = await click(rig, ANNA, await card(rig), "Transfer")
    assert answer["text"] == "Choose below who takes it over."
    menu = await transfer_menu(rig)
    assert card_rows(menu) == [["Carl · ⚪ offline"], ["↩ Back to the queue"], ["✖ Cancel"]]
    assert all(len(data.encode()) <= 64 for data in buttons(menu).values())
    answer = await click(rig, ANNA, menu, "Carl · ⚪ offline")
    assert answer["show_alert"] and answer["text"] == "Not transferred: Carl is offline."
    for forged in (TransferTo(session=1, to="0123456789ab").pack(), TransferTo(session=2, to="-").pack()):
        answer = await press(rig, ANNA, menu, forged)
        assert answer["show_alert"] and "tampered" in answer["text"]
    assert (await session_of(rig)).assignee == "anna"

    await slack_online(rig, CARL)
    await writes(rig, ANNA, "/transfer nobody")
    assert (await topic_texts(rig))[-1] == (
        "Not transferred: No operator 'nobody' on line 'support'. Operators of "
        "the line: Anna, Carl; or /transfer queue."
    )
    await writes(rig, ANNA, "/transfer Carl")
    assert joined(rig) == ["Anna joined the conversation.", "Carl joined the conversation."]
    assert "🟢 active · Carl" in await tg_card_text(rig)
    assert "🟢 active · Carl" in card_facts(await slack_card(rig))
    assert "➡ Anna transferred the session to Carl." in await topic_texts(rig)
    await writes(rig, ANNA, "/transfer carl")
    assert (await topic_texts(rig))[-1] == "Session #1 is already Carl's."

    await writes(rig, CARL, "/transfer queue")
    session = await session_of(rig)
    assert (session.status, session.assignee) == (SessionStatus.QUEUED, None)
    assert "🟡 queued · unassigned" in await tg_card_text(rig)
    assert "🟡 queued · unassigned" in card_facts(await slack_card(rig))

    await click(rig, CARL, await card(rig), "Take")
    await click(rig, CARL, await card(rig), "Transfer")
    menu = await transfer_menu(rig)
    assert card_rows(menu) == [["Anna · 🟢 online"], ["↩ Back to the queue"], ["✖ Cancel"]]
    answer = await click(rig, CARL, menu, "↩ Back to the queue")
    assert answer["text"] == "Session #1 is back in the queue."
    assert (await session_of(rig)).assignee is None
    assert menu["message_id"] not in [m["message_id"] for m in await rig.topic(1)], "a used menu goes away"

    await click(rig, ANNA, await card(rig), "Transfer")
    menu = await transfer_menu(rig)
    answer = await click(rig, ANNA, menu, "✖ Cancel")
    assert answer["text"] == "Transfer cancelled."
    assert menu["message_id"] not in [m["message_id"] for m in await rig.topic(1)]


async def test_telegram_spam_hides_the_session_and_unspam_restores_it(
    admin_rig: Rig, capsys: pytest.CaptureFixture[str]
) -> None:
    rig = admin_rig
    await rig.client_writes(IVAN, "Hello")
    await writes(rig, ANNA, "/status online", session=None)

    answer = await click(rig, ANNA, await card(rig), "Spam")
    assert answer["text"] == "Session #1 marked as spam."
    assert "🚫 spam · unassigned" in await tg_card_text(rig)
    assert card_rows(await card(rig)) == [["Unmark spam"]]
    spam = await slack_card(rig)
    assert "🚫 spam" in card_facts(spam) and card_actions(spam) == [views.UNSPAM]

    topic_before, thread_before = await topic_texts(rig), await rig.desk_thread(1)
    await rig.client_writes(IVAN, "BUY CHEAP WATCHES")
    assert await topic_texts(rig) == topic_before and await rig.desk_thread(1) == thread_before, "not mirrored"
    await writes(rig, ANNA, "/startprocess")
    assert (await topic_texts(rig))[-1] == "Not possible: Session #1 is marked as spam: you cannot start processes."
    await writes(rig, ANNA, "/sessions", session=None)
    assert "#1" not in general(rig)[-1]["text"]
    assert await api_numbers(rig) == [] and await cli(rig, capsys) == []

    await writes(rig, ANNA, "/unspam")
    session = await session_of(rig)
    assert session.status == SessionStatus.QUEUED, "the previous state is back"
    assert card_rows(await card(rig))[0] == ["Take", "Start process", "Close"]
    assert "🟡 queued · unassigned" in card_facts(await slack_card(rig))
    await writes(rig, ANNA, "/unspam")
    assert (await topic_texts(rig))[-1] == "Session #1 is not marked as spam."

    await click(rig, ANNA, await card(rig), "Take")
    await writes(rig, ANNA, "/spam")
    assert (await session_of(rig)).status == SessionStatus.SPAM
    answer = await click(rig, ANNA, await card(rig), "Unmark spam")
    assert answer["text"] == "Session #1 is no longer marked as spam."
    session = await session_of(rig)
    assert (session.status, session.assignee) == (SessionStatus.ACTIVE, "anna")
    assert "🟢 active · Anna" in await tg_card_text(rig)


async def test_telegram_close_by_button_and_by_command(rig: Rig) -> None:
    await rig.client_writes(IVAN, "Hello")
    await rig.client_writes(OLGA, "Hi")
    await writes(rig, ANNA, "/status online", session=None)

    answer = await click(rig, ANNA, await card(rig, 1), "Close")
    assert answer["text"] == "Session #1 closed."
    assert "⚪ closed" in await tg_card_text(rig, 1) and rows(await card(rig, 1)) == []
    assert "⚪ closed" in card_facts(await slack_card(rig, 1))

    await writes(rig, ANNA, "/close", session=2)
    assert "■ Session closed by Anna." in await topic_texts(rig, 2)
    assert "⚪ closed" in await tg_card_text(rig, 2) and card_actions(await slack_card(rig, 2)) == []
    await writes(rig, ANNA, "/close", session=2)
    assert (await topic_texts(rig, 2))[-1] == "Session #2 is already closed."
    assert [(await session_of(rig, n)).status for n in (1, 2)] == [SessionStatus.CLOSED] * 2


async def test_telegram_refusals_for_an_offline_operator_say_why(rig: Rig) -> None:
    await rig.client_writes(IVAN, "Hello")
    card_message = await card(rig)

    await writes(rig, ANNA, "Are you there?")
    assert (await topic_texts(rig))[-1] == "Not sent to the client: " + OFFLINE.format("reply to the client.")
    for text, action in (
        ("Take", "take sessions."),
        ("Transfer", "transfer sessions."),
        ("Start process", "start processes."),
        ("Spam", "mark spam."),
        ("Close", "close sessions."),
    ):
        answer = await click(rig, ANNA, card_message, text)
        assert answer["show_alert"] and answer["text"] == OFFLINE.format(action), text
    await writes(rig, ANNA, "/transfer carl")
    assert (await topic_texts(rig))[-1] == "Not transferred: " + OFFLINE.format("transfer sessions.")
    await writes(rig, ANNA, "/startprocess")
    assert (await topic_texts(rig))[-1] == "Not possible: " + OFFLINE.format("start processes.")
    await writes(rig, ANNA, "/spam")
    assert (await topic_texts(rig))[-1] == "Not changed: " + OFFLINE.format("mark spam.")
    session = await session_of(rig)
    assert (session.status, session.assignee) == (SessionStatus.QUEUED, None)
    assert "Are you there?" not in "\n".join(rig.client_chat(IVAN))


async def test_telegram_sessions_lists_the_operators_sessions_with_links_to_their_topics(rig: Rig) -> None:
    await rig.client_writes(IVAN, "Hello")
    await rig.client_writes(OLGA, "Hi")
    await rig.client_writes(OLGA, "Sales question", token=SALES_TOKEN)  # #3: sales has no Telegram desk
    await writes(rig, ANNA, "/status online", session=None)
    await click(rig, ANNA, await card(rig, 1), "Take")

    await writes(rig, ANNA, "/sessions", session=None)
    listing = general(rig)[-1]
    assert listing["text"].splitlines() == [
        "Your active sessions",
        "• #1 · Ivan · Support",
        "",
        "Waiting in the queue of your lines",
        "• #2 · Olga · Support",
        "• #3 · Olga · Sales",
    ]
    assert links(listing) == [topic_url(await rig.topic_thread(1)), topic_url(await rig.topic_thread(2))]
    assert links(listing)[0].startswith("https://t.me/c/1234567890/")

    [private] = await private_says(rig, ANNA, "/sessions")
    assert private["text"] == listing["text"] and links(private) == links(listing)

    await slack_online(rig, CARL)
    await writes(rig, CARL, "/sessions", session=None)
    assert general(rig)[-1]["text"].splitlines() == [
        "Your active sessions",
        "You have no active sessions: take one from the queue.",
        "",
        "Waiting in the queue of your lines",
        "• #2 · Olga · Support",
    ]

    await writes(rig, MALLORY, "/sessions", session=None)
    assert general(rig)[-1]["text"] == "You are not a linedesk operator: /sessions lists an operator's sessions."
    answered = await private_says(rig, MALLORY, "/sessions")
    assert answered and not any("not a linedesk operator" in m.get("text", "") for m in answered), (
        "a customer's /sessions is their message, not a desk command"
    )

    await writes(rig, ANNA, "/sessions", session=1)
    assert "#1 · Ivan" in (await topic_texts(rig))[-1], "works inside a topic too"


# === lists ============================================================================================
async def test_session_lists_filter_and_leave_spam_out(admin_rig: Rig, capsys: pytest.CaptureFixture[str]) -> None:
    rig = admin_rig
    await rig.client_writes(IVAN, "Hello")  # #1 support, Ivan → Anna
    await rig.client_writes(OLGA, "I want a quote", token=SALES_TOKEN)  # #2 sales, Olga, queued
    await rig.client_writes(OLGA, "Spam spam spam")  # #3 support, Olga → spam
    await slack_online(rig, ANNA)
    await slack_button(rig, ANNA, views.TAKE, 1)
    await slack_menu(rig, ANNA, "🚫 Mark as spam", 3)

    olga = "telegram:502"
    assert await api_numbers(rig) == [2, 1]
    assert await api_numbers(rig, "?status=spam") == [3]
    assert await api_numbers(rig, "?status=queued&status=active") == [2, 1]
    assert await api_numbers(rig, "?line=sales") == [2]
    assert await api_numbers(rig, "?line=support") == [1]
    assert await api_numbers(rig, "?operator=anna") == [1]
    assert await api_numbers(rig, "?operator=carl") == []
    assert await api_numbers(rig, f"?client={olga}") == [2]
    assert await api_numbers(rig, f"?client={olga}&status=spam") == [3]
    assert await api_numbers(rig, "?line=support&status=active&operator=anna&client=telegram:501") == [1]
    assert (await api(rig, "/api/sessions?status=maybe"))[0] == 400
    assert (await api(rig, "/api/sessions?line=nowhere"))[0] == 404

    status, detail = await api(rig, "/api/sessions/1")
    assert status == 200 and detail["assignee"] == "anna" and detail["status"] == "active"
    assert [(m["author_kind"], m["text"]) for m in detail["messages"]] == [
        ("client", "Hello"),
        ("system", "Hello! An operator will answer shortly."),
        ("system", "Anna joined the conversation."),
    ]

    assert await cli(rig, capsys) == [2, 1]
    assert await cli(rig, capsys, "--status", "spam") == [3]
    assert await cli(rig, capsys, "--status", "spam", "--status", "queued") == [3, 2]
    assert await cli(rig, capsys, "--line", "sales") == [2]
    assert await cli(rig, capsys, "--operator", "anna") == [1]
    assert await cli(rig, capsys, "--client", olga) == [2]
    assert await cli(rig, capsys, "--client", olga, "--line", "support") == []


async def test_app_home_lists_active_and_queued_sessions_but_never_spam(rig: Rig) -> None:
    await rig.client_writes(IVAN, "Hello")
    await rig.client_writes(OLGA, "Hi")
    await rig.client_writes(OLGA, "Quote please", token=SALES_TOKEN)
    await slack_online(rig, ANNA)
    await slack_button(rig, ANNA, views.TAKE, 1)

    home = await open_home(rig, ANNA)
    assert "#1 · Ivan" in block(home, "sessions")["text"]["text"]
    queue = block(home, "queue")["text"]["text"]
    assert queue.startswith("*Waiting in the queue of your lines*")
    assert "#2 · Olga" in queue and "#3 · Olga" in queue and "#1 " not in queue

    await slack_menu(rig, ANNA, "🚫 Mark as spam", 2)
    queue = block(await open_home(rig, ANNA), "queue")["text"]["text"]
    assert "#2 " not in queue and "#3 · Olga" in queue
    carl = await open_home(rig, CARL)
    assert all(b.get("block_id") != "queue" for b in carl["blocks"]), "Carl's lines have nothing queued"
