"""A retaken outbox entry's posts are looked up before they are made again (`adapters.slack.posted`) — against
the Slack sandbox, through slack_sdk's AsyncWebClient."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from slack_sdk.web.async_client import AsyncWebClient

from adapters.slack.posted import Part, Poster
from core.model import OutboxEntry
from core.outbox_actions import Notice
from sandboxes.limits import Limits
from sandboxes.slack import SlackSandbox

DESK = "C0DESK01"


@pytest.fixture
async def sandbox() -> AsyncIterator[SlackSandbox]:
    sandbox = SlackSandbox("posted-signing-secret", limits=Limits.off())
    sandbox.add_channel(DESK, "desk")
    await sandbox.start()
    yield sandbox
    await sandbox.stop()


def entry(entry_id: int, *, retaken: bool) -> OutboxEntry:
    return OutboxEntry(
        id=entry_id,
        conversation="slack.desk:1",
        route="slack.desk",
        action=Notice(session=1, line_id="support", text="x"),
        retaken=retaken,
    )


def thread_texts(sandbox: SlackSandbox, ts: str) -> list[str]:
    return [m.get("text", "") for m in sandbox.thread(DESK, ts)]


async def test_a_retaken_message_that_opened_its_thread_is_still_posted_into_it(sandbox: SlackSandbox) -> None:
    """The case that lost a session's first message after kill -9: the message's entry, retaken, finds no
    thread and posts the card first; the thread's replies start with that card, tagged with the same entry,
    which must not pass for the message."""
    client = AsyncWebClient(token=sandbox.bot_token, base_url=sandbox.api_url)
    poster = Poster(client, entry(7, retaken=True))
    card = await poster.post(Part.CARD, channel=DESK, text="#1 · card")
    message = await poster.post(channel=DESK, thread_ts=card, text="Ivan: hello")
    assert message != card
    assert thread_texts(sandbox, card) == ["Ivan: hello"]


async def test_a_retaken_entry_does_not_post_a_part_it_posted_before(sandbox: SlackSandbox) -> None:
    client = AsyncWebClient(token=sandbox.bot_token, base_url=sandbox.api_url)
    first = Poster(client, entry(7, retaken=False))  # the delivery before the crash: Slack took both posts
    card = await first.post(Part.CARD, channel=DESK, text="#1 · card")
    message = await first.post(channel=DESK, thread_ts=card, text="Ivan: hello")
    again = Poster(client, entry(7, retaken=True))  # the same entry, claimed again after the restart
    assert await again.post(Part.CARD, channel=DESK, text="#1 · card") == card
    assert await again.post(channel=DESK, thread_ts=card, text="Ivan: hello") == message
    assert thread_texts(sandbox, card) == ["Ivan: hello"]
    assert len(sandbox.channel_messages(DESK)) == 1
    other = Poster(client, entry(8, retaken=True))  # another entry's lookup finds nothing of its own
    assert await other.post(channel=DESK, thread_ts=card, text="Ivan: more") not in (card, message)
