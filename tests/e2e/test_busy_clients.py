"""Operator replies merged for a busy client chat (SPEC §13), over HTTP against the sandboxes with their limits
on: replies that waited behind a client chat's limit (Telegram: a burst of 3, then 1 a second; a Slack DM: about
1 a second) reach the client as one message, in order, each once, signed by the operator; an edit of one of
them rewrites its part, a deletion takes its part out; nothing is merged when nothing waited."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from sandboxes.limits import PLATFORM_LIMITS
from sandboxes.rig import ANNA, IVAN, Rig
from tests.support.busy_desks import thread_reply_now, wait_for
from tests.support.flows import open_session_with_anna_online
from tests.support.rigs import store_rig
from tests.support.slack_customers import PETRA, add_customer, app_says, dm_writes

pytestmark = pytest.mark.timeout(90)

REPLIES = [f"reply {n}: step {n} of the fix" for n in range(1, 6)]
WARM_UP = ["one moment", "checking", "almost there"]
"""Replies that spend the chat's burst, so that the next ones wait behind its limit."""


@pytest.fixture(params=["sqlite", "redis"])
async def busy_rig(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Rig]:
    async with store_rig(request.param, tmp_path, limits=PLATFORM_LIMITS) as stage:
        yield stage


def ivan_sees(rig: Rig) -> list[dict[str, Any]]:
    return rig.bot_messages(IVAN)


def carrying(messages: list[dict[str, Any]], texts: list[str]) -> list[dict[str, Any]]:
    """The messages that carry any of `texts`."""
    return [m for m in messages if any(t in m.get("text", "") for t in texts)]


async def edit_in_thread(rig: Rig, channel: str, ts: str, text: str) -> None:
    response = await rig.slack.send(rig.slack_url, *rig.slack.message_changed_event(ANNA.slack_user, channel, ts, text))
    assert response.status == 200


async def delete_in_thread(rig: Rig, channel: str, ts: str) -> None:
    previous = rig.slack.message(channel, ts)
    assert previous is not None
    rig.slack.workspace.channels[channel].delete(ts)
    event_ts = rig.slack.workspace.clock.next_ts()
    event = {
        "type": "message",
        "subtype": "message_deleted",
        "hidden": True,
        "channel": channel,
        "ts": event_ts,
        "deleted_ts": ts,
        "event_ts": event_ts,
        "previous_message": previous,
        "channel_type": "channel",
    }
    assert (await rig.slack.post_event(rig.slack_url, event)).status == 200


async def test_replies_waiting_for_a_telegram_client_arrive_as_one_message_and_edits_reach_their_part(
    busy_rig: Rig,
) -> None:
    rig = busy_rig
    root = await open_session_with_anna_online(rig)
    for text in WARM_UP:
        await thread_reply_now(rig, ANNA, 1, text)
    sent = [await thread_reply_now(rig, ANNA, 1, text) for text in REPLIES]

    async def all_there() -> bool:
        return sum(text in m.get("text", "") for m in ivan_sees(rig) for text in REPLIES) >= len(REPLIES)

    await wait_for(all_there, 30, "the replies in Ivan's chat")
    await asyncio.sleep(1.5)  # anything sent twice would come now
    [merged] = carrying(ivan_sees(rig), REPLIES)
    text = merged["text"]
    assert [text.count(r) for r in REPLIES] == [1] * len(REPLIES)
    assert [text.index(r) for r in REPLIES] == sorted(text.index(r) for r in REPLIES)  # in order
    assert text.startswith("Anna\n") and text.count("Anna") == 1  # signed once: one author
    assert merged["entities"] == [{"type": "bold", "offset": 0, "length": 4}]
    shown = [t for m in ivan_sees(rig) for t in WARM_UP + REPLIES if t in m.get("text", "")]
    assert shown == WARM_UP + REPLIES, shown  # every reply once, none reordered
    print(f"BUSY telegram client: {len(WARM_UP) + len(REPLIES)} replies in {len(ivan_sees(rig))} messages")

    await edit_in_thread(rig, root["channel"], sent[1], "reply 2: corrected")
    await rig.settle(15)
    [merged] = carrying(ivan_sees(rig), [r for n, r in enumerate(REPLIES) if n != 1])
    assert "reply 2: corrected" in merged["text"] and REPLIES[1] not in merged["text"]
    assert all(r in merged["text"] for n, r in enumerate(REPLIES) if n != 1)

    await delete_in_thread(rig, root["channel"], sent[3])
    await rig.settle(15)
    [merged] = carrying(ivan_sees(rig), [REPLIES[0]])
    assert REPLIES[3] not in merged["text"] and REPLIES[4] in merged["text"] and "reply 2: corrected" in merged["text"]
    assert rig.telegram.refusals.total == 0, rig.telegram.refusals


async def test_nothing_is_merged_for_a_telegram_client_when_nothing_waited(busy_rig: Rig) -> None:
    rig = busy_rig
    await open_session_with_anna_online(rig)
    await asyncio.sleep(3)  # the chat's burst refills
    for text in REPLIES[:3]:
        await thread_reply_now(rig, ANNA, 1, text)
        await rig.settle(15)
        await asyncio.sleep(1.2)  # under the chat's limit: each reply finds the chat free
    assert [m["text"] for m in carrying(ivan_sees(rig), REPLIES)] == [f"Anna\n{r}" for r in REPLIES[:3]]
    assert rig.telegram.refusals.total == 0, rig.telegram.refusals


async def test_replies_waiting_for_a_slack_dm_arrive_as_one_message_in_order(busy_rig: Rig) -> None:
    rig = busy_rig
    add_customer(rig)
    await dm_writes(rig, PETRA, "Hello, the invoice is wrong")
    await rig.slash(ANNA, "/status", "online")
    for text in WARM_UP:
        await thread_reply_now(rig, ANNA, 1, text)
    sent = [await thread_reply_now(rig, ANNA, 1, text) for text in REPLIES]

    def petra_sees() -> list[dict[str, Any]]:
        return app_says(rig, PETRA)

    async def all_there() -> bool:
        return sum(text in m.get("text", "") for m in petra_sees() for text in REPLIES) >= len(REPLIES)

    await wait_for(all_there, 30, "the replies in Petra's DM")
    await asyncio.sleep(1.5)
    shown = [t for m in petra_sees() for t in WARM_UP + REPLIES if t in m.get("text", "")]
    assert shown == WARM_UP + REPLIES, shown
    posts = carrying(petra_sees(), WARM_UP + REPLIES)
    assert len(posts) < len(WARM_UP + REPLIES), [p["text"] for p in posts]
    merged = next(p for p in posts if sum(r in p["text"] for r in WARM_UP + REPLIES) > 1)
    assert merged["text"].startswith("*Anna*\n") and merged["text"].count("*Anna*") == 1
    print(f"BUSY slack client: {len(WARM_UP) + len(REPLIES)} replies in {len(posts)} messages")

    root = await rig.thread_root(1)
    last = next(p for p in posts if REPLIES[4] in p["text"])
    await edit_in_thread(rig, root["channel"], sent[4], "reply 5: corrected")
    await rig.settle(15)
    edited = rig.slack.message(last["channel"] if "channel" in last else rig.slack.dm(PETRA.slack_user), last["ts"])
    assert edited is not None and "reply 5: corrected" in edited["text"] and REPLIES[4] not in edited["text"]
    assert rig.slack.refusals.total == 0, rig.slack.refusals
