"""The client's rating after close (SPEC §14) and the events `session.rated` / `session.assigned`, over HTTP
against the sandboxes: the question with 1–5 buttons on both client channels, the first click stored once (also
when two clicks race), a later one changing nothing, the card and the admin API showing it, auto-start rules on
both events."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from adapters.telegram.rating import RateSession
from core.clock import ManualClock
from sandboxes.rig import ANNA, DESK_CHANNEL, IVAN, OLGA, SALES_CHANNEL, SUPPORT_TOKEN, Rig
from tests.support import telegram_desk as tg
from tests.support.replies_ratings import (
    ADMIN_TOKEN,
    client_press,
    items,
    post_update,
    replies_rig,
    second_linedesk,
    slack_buttons,
)
from tests.support.slack_customers import PETRA, add_customer, app_says, dm_writes
from tests.support.telegram_desk import MALLORY

QUESTION = "How did we do? Rate this conversation from 1 (poor) to 5 (excellent)."


def question(rig: Rig) -> dict[str, Any]:
    [asked] = [m for m in rig.bot_messages(IVAN) if m.get("text", "").startswith("How did we do?")]
    return asked


async def api_session(rig: Rig, number: int) -> dict[str, Any]:
    headers = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    async with aiohttp.ClientSession() as http, http.get(f"{rig.url}/api/sessions/{number}", headers=headers) as got:
        assert got.status == 200
        body: dict[str, Any] = await got.json()
        return body


@pytest.mark.parametrize("store", ["sqlite", "redis"])
async def test_telegram_client_rates_once_and_the_desks_the_api_and_a_rule_see_it(store: str, tmp_path: Path) -> None:
    async with replies_rig(store, tmp_path) as rig:
        await tg.session_with_anna_online(rig)  # Anna takes it: session.assigned
        assert await items(rig, "assigned") == [{"assignee": "anna"}]
        await tg.writes(rig, ANNA, "/close")
        asked = question(rig)
        assert asked["text"] == QUESTION
        assert list(tg.buttons(asked)) == ["1 ⭐", "2 ⭐", "3 ⭐", "4 ⭐", "5 ⭐"]

        chat = IVAN.telegram_user
        forged = await client_press(rig, MALLORY, asked, tg.button(asked, "5 ⭐"), chat)
        assert forged == "This button is not valid (stale or tampered with).", "only the session's client rates it"
        off_scale = await client_press(rig, IVAN, asked, RateSession(session=1, score=9).pack(), chat)
        assert off_scale == "This button is not valid (stale or tampered with)."

        first = await client_press(rig, IVAN, asked, tg.button(asked, "4 ⭐"), chat)
        assert first == "Thank you! You rated us ★★★★☆ (4/5)."
        edited = question(rig)
        assert edited["text"] == f"{QUESTION}\n\n{first}" and not tg.buttons(edited)
        again = await client_press(rig, IVAN, edited, RateSession(session=1, score=1).pack(), chat)
        assert again == "You already rated this conversation ★★★★☆ (4/5): nothing changed."

        assert rig.desk is not None
        session = await rig.desk.store.get_session(1)
        assert session is not None and session.rating == 4 and session.rated_at is not None
        body = await api_session(rig, 1)
        assert (body["rating"], body["rated_at"]) == (4, session.rated_at)
        root = await rig.thread_root(1)
        [card] = [m for m in rig.slack.channel_messages(DESK_CHANNEL) if m["ts"] == root["ts"]]
        assert "Rated by the client: ★★★★☆ (4/5)" in str(card["blocks"])
        assert "Rated by the client: ★★★★☆ (4/5)" in (await tg.card(rig))["text"]
        assert "⭐ The client rated the session ★★★★☆ (4/5)." in await tg.topic_texts(rig)
        assert [str(item["rating"]) for item in await items(rig, "ratings")] == ["4"], "session.rated fired once"


@pytest.mark.parametrize("store", ["sqlite", "redis"])
async def test_two_clicks_racing_store_one_rating(store: str, tmp_path: Path) -> None:
    async with replies_rig(store, tmp_path) as rig:
        await tg.session_with_anna_online(rig)
        await tg.writes(rig, ANNA, "/close")
        asked = question(rig)
        user = rig.telegram.user(IVAN.telegram_user, IVAN.name)
        updates = [
            rig.telegram.callback_update(SUPPORT_TOKEN, user, tg.button(asked, label), asked["message_id"])
            for label in ("2 ⭐", "5 ⭐")
        ]
        await asyncio.gather(*(rig.telegram.deliver(SUPPORT_TOKEN, update) for update in updates))
        await rig.settle()
        answers = [rig.telegram.callback_answer(SUPPORT_TOKEN, u["callback_query"]["id"]) for u in updates]
        thanked = [a for a in answers if a is not None and a["text"].startswith("Thank you!")]
        assert len(thanked) == 1
        assert rig.desk is not None
        session = await rig.desk.store.get_session(1)
        assert session is not None and f"({session.rating}/5)" in thanked[0]["text"]
        assert len(await items(rig, "ratings")) == 1


async def test_two_linedesk_instances_keep_one_rating_of_two_racing_clicks(tmp_path: Path) -> None:
    """Instances share a Redis store (an SQLite file is served by one process: `test_serving_alone.py`)."""
    async with replies_rig("redis", tmp_path) as rig:
        await tg.session_with_anna_online(rig)
        await tg.writes(rig, ANNA, "/close")
        asked = question(rig)
        user = rig.telegram.user(IVAN.telegram_user, IVAN.name)
        one, other = (
            rig.telegram.callback_update(SUPPORT_TOKEN, user, tg.button(asked, label), asked["message_id"])
            for label in ("1 ⭐", "5 ⭐")
        )
        async with second_linedesk(rig) as (second, webhook):
            delivered = await asyncio.gather(rig.telegram.deliver(SUPPORT_TOKEN, one), post_update(webhook, other))
            assert delivered[0].status == 200 and delivered[1] == 200
            await asyncio.gather(rig.settle(), second.settle())
            await rig.settle()
        answers = [rig.telegram.callback_answer(SUPPORT_TOKEN, u["callback_query"]["id"]) for u in (one, other)]
        texts = [a["text"] for a in answers if a is not None]
        assert len(texts) == 2 and sum(text.startswith("Thank you!") for text in texts) == 1, texts
        assert rig.desk is not None
        session = await rig.desk.store.get_session(1)
        assert session is not None and session.rating in (1, 5)
        assert all(f"({session.rating}/5)" in text for text in texts), "the other click is told the kept score"
        assert [str(item["rating"]) for item in await items(rig, "ratings")] == [str(session.rating)]


@pytest.mark.parametrize("store", ["sqlite", "redis"])
async def test_slack_dm_client_rates_with_buttons_once(store: str, tmp_path: Path) -> None:
    async with replies_rig(store, tmp_path) as rig:
        dm = add_customer(rig)
        await dm_writes(rig, PETRA, "Hi, a question about prices")
        await rig.slash(ANNA, "/status", "online")
        root = await rig.thread_root(1)
        await rig.click(ANNA, "session.close", "1", channel_id=SALES_CHANNEL, message_ts=root["ts"])
        asked = app_says(rig, PETRA)[-1]
        assert asked["text"] == QUESTION
        five = slack_buttons(asked["blocks"])["5 ⭐"]
        await rig.click(PETRA, five["action_id"], five["value"], channel_id=dm, message_ts=asked["ts"])
        answered = app_says(rig, PETRA)[-1]
        assert answered["ts"] == asked["ts"] and answered["text"] == f"{QUESTION}\nThank you! You rated us ★★★★★ (5/5)."
        assert "blocks" not in answered, "the buttons are gone"
        one = slack_buttons(asked["blocks"])["1 ⭐"]
        await rig.click(PETRA, one["action_id"], one["value"], channel_id=dm, message_ts=asked["ts"])
        assert rig.ephemeral(PETRA)[-1]["text"] == "You already rated this conversation ★★★★★ (5/5): nothing changed."
        assert rig.desk is not None
        session = await rig.desk.store.get_session(1)
        assert session is not None and session.rating == 5
        await rig.click(ANNA, one["action_id"], "1:1", channel_id=dm, message_ts=asked["ts"])
        assert rig.ephemeral(ANNA)[-1]["text"] == "This button is not valid (stale or tampered with)."


async def test_the_new_events_are_taken_by_slack_autostart_and_the_api(tmp_path: Path) -> None:
    async with replies_rig("sqlite", tmp_path) as rig:
        said = await rig.slash(ANNA, "/autostart", "support session.assigned note_rating off")
        assert said.status == 200 and "session.assigned" in said.text and "Unknown event" not in said.text
        headers = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
        url = f"{rig.url}/api/lines/support/autostart"
        async with aiohttp.ClientSession() as http:
            async with http.put(
                f"{url}/session.rated", json={"process": "note_assignee", "enabled": True}, headers=headers
            ) as put:
                assert put.status == 200, await put.text()
            async with http.get(url, headers=headers) as got:
                rules = {rule["event"]: rule for rule in (await got.json())["rules"]}
        assert (rules["session.assigned"]["process_id"], rules["session.assigned"]["enabled"]) == ("note_rating", False)
        assert (rules["session.rated"]["process_id"], rules["session.rated"]["enabled"]) == ("note_assignee", True)
        await tg.session_with_anna_online(rig)
        assert await items(rig, "assigned") == [], "the rule on session.assigned is off now"


async def test_a_session_closed_by_a_process_or_by_silence_asks_too(tmp_path: Path) -> None:
    clock = ManualClock(time.time())
    async with replies_rig("sqlite", tmp_path, clock=clock) as rig:
        await tg.session_with_anna_online(rig)
        await tg.writes(rig, ANNA, "/startprocess")
        await tg.click(rig, ANNA, await tg.picker(rig), "Goodbye")
        assert any(text.startswith("■ Session closed by") for text in await tg.topic_texts(rig))
        assert question(rig)["text"] == QUESTION

        await rig.client_writes(OLGA, "Hello?")  # session #2, then silence
        assert rig.desk is not None
        clock.advance(4 * 3600)
        assert await rig.desk.sessions.close_idle() == 1
        await rig.settle()
        assert [m["text"] for m in rig.bot_messages(OLGA)][-1] == QUESTION
