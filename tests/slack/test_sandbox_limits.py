"""The Slack sandbox's rate limits (on by default), driven by slack_sdk's AsyncWebClient, time moved by hand.

linedesk builds its AsyncWebClient with slack_sdk's default retry handlers (connection errors only), so a 429
reaches it as a SlackApiError with status 429 and the ``Retry-After`` header; it is linedesk's outbox that
waits and retries."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from sandboxes.limits import (
    PLATFORM_LIMITS,
    SLACK_CHANNEL,
    SLACK_POST_BURST,
    SLACK_UPDATE,
    SLACK_UPDATE_CALLS,
    Limits,
)
from sandboxes.slack import SlackSandbox
from tests.support.hand_time import HandTime

SECRET = "limits-signing-secret"
ANNA = "U0ANNA01"
DESK, OTHER = "C0DESK01", "C0OTHER1"


@pytest.fixture
def hand() -> HandTime:
    return HandTime()


async def _sandbox(hand: HandTime, limits: Limits = PLATFORM_LIMITS) -> SlackSandbox:
    sandbox = SlackSandbox(SECRET, limits=limits, clock=hand)
    sandbox.add_user(ANNA, "Anna Smith", display_name="anna")
    sandbox.add_channel(DESK, "desk")
    sandbox.add_channel(OTHER, "other")
    await sandbox.start()
    return sandbox


@pytest.fixture
async def sandbox(hand: HandTime) -> AsyncIterator[SlackSandbox]:
    sandbox = await _sandbox(hand)
    yield sandbox
    await sandbox.stop()


@pytest.fixture
def client(sandbox: SlackSandbox) -> AsyncWebClient:
    return AsyncWebClient(token=sandbox.bot_token, base_url=sandbox.api_url)


def texts(sandbox: SlackSandbox, channel: str) -> list[str]:
    return [m.get("text", "") for m in sandbox.channel_messages(channel)]


async def test_a_sandbox_enforces_the_limits_unless_told_otherwise() -> None:
    assert SlackSandbox(SECRET).limits == PLATFORM_LIMITS
    assert SlackSandbox(SECRET, limits=Limits.off()).limits == Limits.off()


async def test_a_channel_takes_a_burst_of_three_posts_then_answers_429_ratelimited(
    sandbox: SlackSandbox, client: AsyncWebClient, hand: HandTime
) -> None:
    for n in range(SLACK_POST_BURST):
        await client.chat_postMessage(channel=DESK, text=f"m{n}")
    with pytest.raises(SlackApiError) as refused:
        await client.chat_postMessage(channel=DESK, text="one too many")
    response = refused.value.response
    assert response.status_code == 429
    assert response.headers["Retry-After"] == "1"
    assert response.data == {"ok": False, "error": "ratelimited"}
    assert texts(sandbox, DESK) == ["m0", "m1", "m2"]  # nothing stored
    await client.chat_postMessage(channel=OTHER, text="another channel has its own bucket")
    with pytest.raises(SlackApiError):
        await client.chat_postMessage(channel="#desk", text="the channel by its name is the same channel")
    hand.advance(1.0)
    await client.chat_postMessage(channel=DESK, text="m3")
    assert texts(sandbox, DESK) == ["m0", "m1", "m2", "m3"]
    assert sandbox.refusals.by_key == {(SLACK_CHANNEL, DESK): 2}


async def test_replies_in_threads_count_against_their_channel(sandbox: SlackSandbox, client: AsyncWebClient) -> None:
    root = await client.chat_postMessage(channel=DESK, text="card")
    for n in range(SLACK_POST_BURST - 1):
        await client.chat_postMessage(channel=DESK, text=f"reply {n}", thread_ts=root["ts"])
    with pytest.raises(SlackApiError) as refused:
        await client.chat_postMessage(channel=DESK, text="reply 2", thread_ts=root["ts"])
    assert refused.value.response.status_code == 429
    assert sandbox.refusals.count(method="chat.postMessage") == 1


async def test_a_dm_by_user_id_is_limited_like_its_channel(sandbox: SlackSandbox, client: AsyncWebClient) -> None:
    dm = sandbox.dm(ANNA)
    for n in range(SLACK_POST_BURST):
        await client.chat_postMessage(channel=ANNA if n % 2 else dm, text=f"m{n}")
    with pytest.raises(SlackApiError):
        await client.chat_postMessage(channel=ANNA, text="one too many")
    assert sandbox.refusals.by_key == {(SLACK_CHANNEL, dm): 1}


async def test_chat_update_takes_fifty_a_minute_per_workspace(
    sandbox: SlackSandbox, client: AsyncWebClient, hand: HandTime
) -> None:
    posted = [await client.chat_postMessage(channel=channel, text="card") for channel in (DESK, OTHER)]
    for n in range(SLACK_UPDATE_CALLS):
        hand.advance(0.5)
        card = posted[n % 2]
        await client.chat_update(channel=card["channel"], ts=card["ts"], text=f"card v{n}")
    with pytest.raises(SlackApiError) as refused:
        await client.chat_update(channel=DESK, ts=posted[0]["ts"], text="refused")
    response = refused.value.response
    assert (response.status_code, response.data) == (429, {"ok": False, "error": "ratelimited"})
    # at 25 s: the first update (at 0.5 s) leaves the window at 60.5 s, in 35.5 s, rounded up
    assert response.headers["Retry-After"] == "36"
    shown = sandbox.message(DESK, posted[0]["ts"])
    assert shown is not None and shown["text"] == f"card v{SLACK_UPDATE_CALLS - 2}"  # unchanged
    await client.chat_postMessage(channel=DESK, text="posting is another budget")
    hand.advance(35.0)
    with pytest.raises(SlackApiError):
        await client.chat_update(channel=DESK, ts=posted[0]["ts"], text="half a second early")
    hand.advance(0.5)
    await client.chat_update(channel=DESK, ts=posted[0]["ts"], text="accepted")
    assert sandbox.refusals.by_bucket == {SLACK_UPDATE: 2}
    assert sandbox.refusals.by_method == {"chat.update": 2}


async def test_sharing_files_into_a_channel_counts_as_a_post(sandbox: SlackSandbox, client: AsyncWebClient) -> None:
    for n in range(SLACK_POST_BURST):
        await client.chat_postMessage(channel=DESK, text=f"m{n}")
    upload = await client.files_getUploadURLExternal(filename="a.txt", length=5)
    async with aiohttp.ClientSession() as http, http.post(str(upload["upload_url"]), data=b"hello") as response:
        assert response.status == 200
    files = [{"id": upload["file_id"], "title": "a.txt"}]
    with pytest.raises(SlackApiError) as refused:
        await client.files_completeUploadExternal(files=files, channel_id=DESK)
    assert refused.value.response.status_code == 429
    assert texts(sandbox, DESK) == ["m0", "m1", "m2"] and sandbox.files[str(upload["file_id"])].shares == {}
    await client.files_completeUploadExternal(files=files, channel_id=OTHER)  # another channel: shared
    assert sandbox.refusals.count(method="files.completeUploadExternal") == 1


async def test_other_methods_are_not_limited(sandbox: SlackSandbox, client: AsyncWebClient) -> None:
    for n in range(SLACK_POST_BURST):
        await client.chat_postMessage(channel=DESK, text=f"m{n}")
    for _ in range(10):
        await client.chat_postEphemeral(channel=DESK, user=ANNA, text="only you see this")
        await client.conversations_history(channel=DESK)
    assert sandbox.refusals.total == 0


async def test_limits_off_never_refuses(hand: HandTime) -> None:
    sandbox = await _sandbox(hand, Limits.off())
    client = AsyncWebClient(token=sandbox.bot_token, base_url=sandbox.api_url)
    try:
        card = await client.chat_postMessage(channel=DESK, text="card")
        for n in range(SLACK_UPDATE_CALLS + 5):
            await client.chat_postMessage(channel=DESK, text=f"m{n}")
            await client.chat_update(channel=DESK, ts=card["ts"], text=f"card v{n}")
    finally:
        await sandbox.stop()
    assert sandbox.refusals.total == 0
    assert len(texts(sandbox, DESK)) == SLACK_UPDATE_CALLS + 6
