"""Transcripts and the client's history (SPEC §14), from the operators' and the client's side, over HTTP
against both sandboxes, on both stores: `/transcript` in a topic and in Slack, `/transcript client`, the
admin API, the CLI, the earlier sessions on both cards and `/history`, and the refusals."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from bots.cli import main
from core.clock import ManualClock
from sandboxes.rig import ANNA, BORIS, CARL, IVAN, STRANGER, SUPPORT_TOKEN, TELEGRAM_DESK, Person, Rig
from tests.support.rigs import store_rig
from tests.support.slack_customers import PETRA, add_customer, app_says, dm_writes, thread_reply

TOKEN = "t0ken"
START = 1_700_000_000.0  # 2023-11-14 22:13:20 UTC
FILE = "session-1-transcript.txt"


@pytest.fixture(params=["sqlite", "redis"])
async def stage(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[tuple[Rig, ManualClock]]:
    clock = ManualClock(START)
    async with store_rig(request.param, tmp_path, admin_token=TOKEN, clock=clock) as rig:
        yield rig, clock


def telegram_file(rig: Rig, message: dict[str, Any]) -> str:
    return rig.telegram.state.files[message["document"]["file_id"]].read().decode()


def slack_files(rig: Rig, messages: list[dict[str, Any]]) -> dict[str, str]:
    """name → text of every file in `messages`."""
    files = [f for m in messages for f in m.get("files", [])]
    return {f["name"]: bytes(rig.slack.files[f["id"]].content or b"").decode() for f in files}


async def thread_messages(rig: Rig, session: int) -> list[dict[str, Any]]:
    root = await rig.thread_root(session)
    return rig.slack.thread(root["channel"], root["ts"])


def desk_group_texts(rig: Rig) -> list[str]:
    """Every text in the Telegram desk group, every topic (the bot's replies among them)."""
    return [str(m.get("text", "")) for m in rig.telegram.chat_messages(SUPPORT_TOKEN, TELEGRAM_DESK)]


async def slash(rig: Rig, person: Person, command: str, text: str = "") -> str:
    """The person types a slash command; returns what Slack shows them (the ack, ephemeral)."""
    response = await rig.slash(person, command, text)
    assert response.status == 200
    return str(rig.ephemeral(person)[-1]["text"])


async def conversation(rig: Rig, clock: ManualClock) -> None:
    """Ivan writes, Anna answers from Slack, leaves a note in the Telegram topic, Ivan answers."""
    await rig.client_writes(IVAN, "Hello, my washing machine is broken")
    await rig.slash(ANNA, "/status", "online")
    clock.advance(60)
    await thread_reply(rig, ANNA, 1, "We will send a technician tomorrow")
    clock.advance(30)
    await rig.topic_says(ANNA, 1, "// warranty ends in March")
    clock.advance(30)
    await rig.client_writes(IVAN, "Thank you!")


async def test_transcript_goes_into_the_topic_and_the_thread_with_notes_marked(
    stage: tuple[Rig, ManualClock],
) -> None:
    rig, clock = stage
    await conversation(rig, clock)

    await rig.topic_says(ANNA, 1, "/transcript")
    [document] = [m for m in await rig.topic(1) if "document" in m]
    assert document["document"]["file_name"] == FILE
    assert document["caption"].startswith("📝 Anna (note): 📄 Transcript of session #1")
    text = telegram_file(rig, document)
    assert text.splitlines()[:8] == [
        "Session #1 · Support — transcript",
        "Client:     Ivan (Telegram)",
        "Operators:  Anna",
        "Opened:     2023-11-14 22:13",
        "Status:     queued",
        "Times in:   UTC (the line sets no time zone)",
        "Notes (📝) are internal: the client never saw them.",
        "─" * 60,
    ]
    assert text.splitlines()[8:] == [
        "— 2023-11-14 —",
        "22:13  Ivan: Hello, my washing machine is broken",
        "22:13  Support → client: Hello! An operator will answer shortly.",
        "22:14  Anna → client: We will send a technician tomorrow",
        "22:14  📝 Anna (internal note): warranty ends in March",
        "22:15  Ivan: Thank you!",
    ]
    assert FILE not in slack_files(rig, await thread_messages(rig, 1))  # only where it was asked for

    said = await slash(rig, ANNA, "/transcript", "1")
    assert said == "📄 The transcript of session #1 goes into its thread."
    shown = slack_files(rig, await thread_messages(rig, 1))
    assert shown[FILE].splitlines()[8:] == [
        *text.splitlines()[8:],
        "22:15  📝 Anna (internal note): 📄 Transcript of session #1",
        f"       📎 document: session-1-transcript.txt ({len(text.encode())} B)",
    ]


async def test_transcript_client_reaches_the_telegram_client_without_the_notes_after_closing(
    stage: tuple[Rig, ManualClock],
) -> None:
    rig, clock = stage
    await conversation(rig, clock)
    await rig.topic_says(ANNA, 1, "/close")  # a closed session's client gets it too
    clock.advance(60)
    await rig.topic_says(ANNA, 1, "/transcript client")
    assert "📄 The transcript of session #1 is on its way to the client." in desk_group_texts(rig)

    document = rig.telegram.chat_messages(SUPPORT_TOKEN, IVAN.telegram_user)[-1]
    assert document["document"]["file_name"] == "session-1-transcript-client.txt"
    assert document["caption"] == "📄 The transcript of our conversation (session #1)"
    text = telegram_file(rig, document)
    assert text.startswith("Session #1 · Support — your copy of the conversation\nClient:     Ivan (Telegram)\n")
    assert "22:14  Anna: We will send a technician tomorrow" in text
    assert "Closed:     2023-11-14 22:15\n" in text
    assert "warranty" not in text and "note" not in text and "Status:" not in text
    # the desks show that the client got it
    told = "*Anna* → client: 📄 The transcript of our conversation (session #1)"
    assert told in await rig.desk_thread(1)
    assert "session-1-transcript-client.txt" in slack_files(rig, await thread_messages(rig, 1))


async def test_transcript_client_reaches_a_slack_customer(stage: tuple[Rig, ManualClock]) -> None:
    rig, _ = stage
    add_customer(rig)
    await dm_writes(rig, PETRA, "Do you deliver to Brno?")
    await rig.slash(ANNA, "/status", "online")
    said = await slash(rig, ANNA, "/transcript", "1 client")
    assert said == "📄 The transcript of session #1 is on its way to the client."
    last = app_says(rig, PETRA)[-1]
    [uploaded] = last["files"]
    assert uploaded["name"] == "session-1-transcript-client.txt"
    text = bytes(rig.slack.files[uploaded["id"]].content or b"").decode()
    assert "Client:     Petra (Slack)" in text and "22:13  Petra: Do you deliver to Brno?" in text


async def test_transcript_refusals(stage: tuple[Rig, ManualClock]) -> None:
    rig, clock = stage
    await conversation(rig, clock)
    ivan_had = len(rig.telegram.chat_messages(SUPPORT_TOKEN, IVAN.telegram_user))

    # Boris works only the sales line: neither in the topic nor from Slack
    await rig.topic_says(BORIS, 1, "/transcript")
    assert "No transcript: You are not an operator of line 'support'." in desk_group_texts(rig)
    said = await slash(rig, BORIS, "/transcript", "1")
    assert said == "No transcript: You are not an operator of line 'support'."
    said = await slash(rig, STRANGER, "/transcript", "1")
    assert said == "No transcript: You are not a linedesk operator."

    # an offline operator does not send the client anything
    await rig.slash(ANNA, "/status", "offline")
    await rig.topic_says(ANNA, 1, "/transcript client")
    offline = "You are offline: you cannot send the transcript to the client. Type /status online first."
    assert f"No transcript: {offline}" in desk_group_texts(rig)
    said = await slash(rig, ANNA, "/transcript", "1 client")
    assert said.startswith("No transcript: You are offline")
    assert len(rig.telegram.chat_messages(SUPPORT_TOKEN, IVAN.telegram_user)) == ivan_had

    # outside a session's topic; no session named and none worked on; no such session; words it does not know
    await rig.topic_says(ANNA, None, "/transcript")
    assert "Type /transcript inside a session's topic." in desk_group_texts(rig)
    said = await slash(rig, CARL, "/transcript")
    assert said.startswith("Use `/transcript N`")
    said = await slash(rig, ANNA, "/transcript", "99")
    assert said == "No transcript: There is no session #99."
    await rig.topic_says(ANNA, 1, "/transcript everything")
    assert any(t.startswith("Use /transcript (the whole session") for t in desk_group_texts(rig))
    assert not [m for m in await rig.topic(1) if "document" in m]
    assert not slack_files(rig, await thread_messages(rig, 1))


async def test_transcript_from_the_admin_api_as_text_and_json(stage: tuple[Rig, ManualClock]) -> None:
    rig, clock = stage
    await conversation(rig, clock)
    auth = {"Authorization": f"Bearer {TOKEN}"}
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{rig.url}/api/sessions/1/transcript", headers=auth) as response:
            assert response.status == 200 and response.content_type == "text/plain"
            text = await response.text()
        async with http.get(
            f"{rig.url}/api/sessions/1/transcript", headers={**auth, "Accept": "application/json"}
        ) as response:
            assert response.status == 200 and response.content_type == "application/json"
            body = await response.json()
        async with http.get(f"{rig.url}/api/sessions/7/transcript", headers=auth) as missing:
            assert missing.status == 404
        async with http.get(f"{rig.url}/api/sessions/1/transcript") as denied:
            assert denied.status == 401
    assert "22:14  📝 Anna (internal note): warranty ends in March" in text
    assert (body["session"], body["view"], body["client_name"], body["time_zone"]) == (1, "full", "Ivan", "UTC")
    assert body["time_zone_assumed"] is True and body["operators"] == ["Anna"]
    assert [(e["kind"], e["author"], e["at"]) for e in body["entries"]] == [
        ("client", "Ivan", "2023-11-14T22:13:20Z"),
        ("system", "Support", "2023-11-14T22:13:20Z"),
        ("operator", "Anna", "2023-11-14T22:14:20Z"),
        ("note", "Anna", "2023-11-14T22:14:50Z"),
        ("client", "Ivan", "2023-11-14T22:15:20Z"),
    ]


async def test_linedesk_transcript_prints_it(
    stage: tuple[Rig, ManualClock], capsys: pytest.CaptureFixture[str]
) -> None:
    rig, clock = stage
    await conversation(rig, clock)
    config = str(rig.config_path())
    assert await asyncio.to_thread(main, ["transcript", "1", "--config", config]) == 0
    printed = capsys.readouterr().out
    assert printed.startswith("Session #1 · Support — transcript\n")
    assert printed.endswith("22:15  Ivan: Thank you!\n")
    assert await asyncio.to_thread(main, ["transcript", "1", "--config", config, "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out)["entries"][3]["text"] == "warranty ends in March"
    assert await asyncio.to_thread(main, ["transcript", "42", "--config", config]) == 1
    assert capsys.readouterr().err == "linedesk transcript: no session #42\n"


async def test_the_cards_name_the_clients_earlier_sessions_and_history_lists_them(
    stage: tuple[Rig, ManualClock],
) -> None:
    rig, clock = stage
    await rig.slash(ANNA, "/status", "online")
    for n in range(1, 5):
        await rig.client_writes(IVAN, f"Question number {n}")
        await rig.topic_says(ANNA, n, "/close")
        clock.advance(86400)  # a day later: a new session, not the closed one reopened
    await rig.client_writes(IVAN, "Me again")

    earlier = "Earlier sessions: #4 · 2023-11-17, #3 · 2023-11-16, #2 · 2023-11-15, +1 more"
    root = await rig.thread_root(5)
    card = rig.slack.message(root["channel"], root["ts"])
    assert card is not None and earlier in card["blocks"][0]["text"]["text"]
    [telegram_card] = [m for m in await rig.topic(5) if m.get("text", "").startswith("#5 · ")]
    assert earlier in telegram_card["text"]
    first_root = await rig.thread_root(1)
    first = rig.slack.message(first_root["channel"], first_root["ts"])
    assert first is not None and "Earlier sessions" not in first["blocks"][0]["text"]["text"]

    listing = [
        "Ivan's earlier sessions on this line (times in UTC (the line sets no time zone)):",
        "#4 · 2023-11-17 — “Question number 4”",
        "#3 · 2023-11-16 — “Question number 3”",
        "#2 · 2023-11-15 — “Question number 2”",
        "#1 · 2023-11-14 — “Question number 1”",
    ]
    await rig.topic_says(ANNA, 5, "/history")
    assert "\n".join(listing) in desk_group_texts(rig)
    said = await slash(rig, ANNA, "/history", "5")
    assert said.splitlines() == listing
    said = await slash(rig, ANNA, "/history", "1")
    assert said == "Ivan has no earlier sessions on this line (session #1 is the first)."

    await rig.topic_says(BORIS, 5, "/history")
    assert "No history: You are not an operator of line 'support'." in desk_group_texts(rig)
    await rig.topic_says(ANNA, None, "/history")
    assert "Type /history inside a session's topic." in desk_group_texts(rig)
