"""Several Slack desk channels for one line (`slack_desk_channels`, SPEC §13, issue 13 point 5): new sessions go
to the channel with the fewest open sessions and stay there, the desk works from any of the line's channels,
and `/metrics` and the admins' App Home show each desk's backlog and lag. Over HTTP against the sandboxes, on
both stores."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from prometheus_client.parser import text_string_to_metric_families

from adapters.slack.pacing import channel_draw
from core.links import LinkKind
from core.model import OutboxEntry
from core.outbox_actions import Notice
from sandboxes.rig import ANNA, DESK_CHANNEL, DESK_CHANNEL_2, SUPPORT_TOKEN, TELEGRAM_DESK, Person, Rig
from tests.support.rigs import store_rig
from tests.support.slack_desk import block

CLIENTS = [Person(f"Client{n}", telegram_user=600 + n) for n in range(1, 5)]


@pytest.fixture(params=["sqlite", "redis"])
async def two_channel_rig(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Rig]:
    async with store_rig(request.param, tmp_path, desk_channels=(DESK_CHANNEL, DESK_CHANNEL_2)) as stage:
        yield stage


async def until_refused(rig: Rig, timeout: float = 5.0) -> None:
    """Until both client messages are stored, the second channel has refused the session's card, and the line's
    Telegram desk (which does not refuse) shows both in the session's topic."""
    assert rig.desk is not None
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        refused = [c for c in rig.slack.calls_of("chat.postMessage") if (c.response or {}).get("error")]
        texts = [m.text for m in await rig.desk.store.list_messages(2)]
        topic = await rig.desk.store.link_of(LinkKind.SESSION_TOPIC, "2")
        in_topic = [str(m.get("text", "")) for m in await rig.topic(2)] if topic is not None else []
        if refused and "Second again" in texts and any("Second again" in t for t in in_topic):
            return
        await asyncio.sleep(0.05)
    raise AssertionError("the second channel never refused the card")


def top_level(rig: Rig, channel: str) -> list[str]:
    """The session cards posted in a channel (its messages outside threads)."""
    return [m["ts"] for m in rig.slack.channel_messages(channel) if m.get("thread_ts") in (None, m["ts"])]


async def desk_gauges(rig: Rig) -> dict[tuple[str, str, str], float]:
    """(metric, line, desk) → value of the per-desk gauges of `/metrics`."""
    async with aiohttp.ClientSession() as http, http.get(f"{rig.url}/metrics") as response:
        assert response.status == 200
        text = await response.text()
    return {
        (s.name, s.labels["line"], s.labels["desk"]): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
        if s.name in ("linedesk_desk_backlog", "linedesk_desk_lag_seconds")
    }


async def test_sessions_spread_over_the_channels_and_the_desk_works_in_each(two_channel_rig: Rig) -> None:
    rig = two_channel_rig
    for client in CLIENTS:
        await rig.client_writes(client, f"Hello from {client.name}")
    channels = [(await rig.thread_root(n))["channel"] for n in range(1, 5)]
    assert channels == [DESK_CHANNEL, DESK_CHANNEL_2, DESK_CHANNEL, DESK_CHANNEL_2]  # the fewest open, ties: first
    assert len(top_level(rig, DESK_CHANNEL)) == 2 and len(top_level(rig, DESK_CHANNEL_2)) == 2

    # a session's later posts go to its thread's channel, never chosen again
    await rig.client_writes(CLIENTS[1], "Still there?")
    assert await rig.desk_thread(2) == ["*Client2*: Hello from Client2", "*Client2*: Still there?"]
    assert len(top_level(rig, DESK_CHANNEL_2)) == 2

    # Take, then a reply, in the second channel
    await rig.slash(ANNA, "/status", "online", channel=DESK_CHANNEL_2)
    root = await rig.thread_root(2)
    response = await rig.click(ANNA, "session.take", "2", channel_id=root["channel"], message_ts=root["ts"])
    assert response.status == 200
    card = rig.slack.message(DESK_CHANNEL_2, root["ts"])
    assert card is not None and "active · Anna" in card["blocks"][0]["text"]["text"]
    await rig.thread_reply(ANNA, 2, "Yes, Anna here.")
    assert rig.client_chat(CLIENTS[1])[-1] == "Anna\nYes, Anna here."
    assert "Anna\nYes, Anna here." not in rig.client_chat(CLIENTS[0])

    # a session closed in the first channel makes it the emptier one: the next session goes there
    first = await rig.thread_root(1)
    await rig.click(ANNA, "session.close", "1", channel_id=first["channel"], message_ts=first["ts"])
    await rig.client_writes(Person("Client5", telegram_user=605), "Hi")
    assert (await rig.thread_root(5))["channel"] == DESK_CHANNEL

    gauges = await desk_gauges(rig)
    for desk in (f"slack:{DESK_CHANNEL}", f"slack:{DESK_CHANNEL_2}", f"telegram:{TELEGRAM_DESK}"):
        assert gauges[("linedesk_desk_backlog", "support", desk)] == 0
        assert gauges[("linedesk_desk_lag_seconds", "support", desk)] == 0


async def test_metrics_and_the_app_home_show_each_desks_backlog_and_lag(two_channel_rig: Rig) -> None:
    rig = two_channel_rig
    rig.slack.fail("chat.postMessage", error="not_in_channel", channel=DESK_CHANNEL_2, count=-1)
    await rig.client_writes(CLIENTS[0], "First")  # to the first channel
    # to the second, which refuses: the card is retried in a minute, the messages wait behind it (unsettled:
    # `settle` would wait for them)
    for text in ("Second", "Second again"):
        update = rig.telegram.text_update(SUPPORT_TOKEN, rig.telegram.user(CLIENTS[1].telegram_user, "B"), text)
        assert (await rig.telegram.deliver(SUPPORT_TOKEN, update)).status == 200
    await until_refused(rig)
    assert (await rig.thread_root(1))["channel"] == DESK_CHANNEL

    gauges = await desk_gauges(rig)
    second, first = f"slack:{DESK_CHANNEL_2}", f"slack:{DESK_CHANNEL}"
    assert gauges[("linedesk_desk_backlog", "support", second)] == 3  # the card (waiting for its retry), 2 mirrors
    assert gauges[("linedesk_desk_lag_seconds", "support", second)] > 0
    assert gauges[("linedesk_desk_backlog", "support", first)] == 0
    assert gauges[("linedesk_desk_lag_seconds", "support", first)] == 0
    assert gauges[("linedesk_desk_backlog", "sales", "slack:C0SALES1")] == 0

    assert (await rig.slack.open_home(rig.slack_url, ANNA.slack_user)).status == 200
    # not `settle`: it would wait for the entries waiting behind the refused card
    home = None
    for _ in range(100):
        home = rig.slack.home(ANNA.slack_user)
        if home is not None:
            break
        await asyncio.sleep(0.05)
    assert home is not None
    desks = block(home, "desks")["text"]["text"]
    assert f"<#{DESK_CHANNEL}>: 1 open, 0 waiting, lag 0 s" in desks
    assert f"<#{DESK_CHANNEL_2}>: 1 open, 3 waiting" in desks
    assert f"`telegram:{TELEGRAM_DESK}`: 0 waiting" in desks

    rig.slack.clear_failures()


async def test_desk_entries_are_paced_by_the_channel_of_their_thread(two_channel_rig: Rig) -> None:
    rig = two_channel_rig
    for client in CLIENTS[:2]:
        await rig.client_writes(client, "Hello")
    assert rig.desk is not None and rig.desk.slack_desk_delivery is not None
    desk = rig.desk.slack_desk_delivery

    def entry(session: int, line: str = "support") -> OutboxEntry:
        return OutboxEntry(
            conversation=f"slack.desk:{session}",
            route="slack.desk",
            action=Notice(session=session, line_id=line, text=""),
        )

    assert await desk.pace_keys(entry(1)) == [channel_draw(DESK_CHANNEL)]
    assert await desk.pace_keys(entry(2)) == [channel_draw(DESK_CHANNEL_2)]
    assert await desk.pace_keys(entry(7, "sales")) == [channel_draw("C0SALES1")]  # one channel: no choice
    # the third session's card was paced by the channel chosen for it (a tie: the first), and posted there
    await rig.client_writes(CLIENTS[2], "Hello")
    assert (await rig.thread_root(3))["channel"] == DESK_CHANNEL
    assert await desk.pace_keys(entry(3)) == [channel_draw(DESK_CHANNEL)]
