"""The Telegram sandbox's rate limits (on by default), driven by the real aiogram client, time moved by hand."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest
from aiogram import Bot
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.exceptions import TelegramRetryAfter

from sandboxes.limits import (
    PLATFORM_LIMITS,
    TELEGRAM_BOT,
    TELEGRAM_BOT_CALLS,
    TELEGRAM_GROUP,
    TELEGRAM_GROUP_MESSAGES,
    TELEGRAM_PRIVATE,
    TELEGRAM_PRIVATE_BURST,
    Limits,
)
from sandboxes.telegram import Params, TelegramSandbox
from sandboxes.telegram.limiting import messages_created, telegram_charges
from tests.support.hand_time import HandTime

TOKEN = "123456:AAE-limits_Token"
OTHER = "654321:BBF-limits_Token"
IVAN, OLGA, ANNA = 1001, 1002, 2001
DESK = -1001234567890


class FastSession(AiohttpSession):
    """aiogram's AiohttpSession.close() sleeps 250 ms for SSL shutdown; plain HTTP needs none."""

    async def close(self) -> None:
        if self._session is not None and not self._session.closed:
            await self._session.close()


def make_bot(sandbox: TelegramSandbox, token: str = TOKEN) -> Bot:
    return Bot(token, session=FastSession(api=TelegramAPIServer.from_base(sandbox.base_url), timeout=5))


@pytest.fixture
def hand() -> HandTime:
    return HandTime()


async def _sandbox(hand: HandTime, limits: Limits = PLATFORM_LIMITS) -> TelegramSandbox:
    sandbox = TelegramSandbox(limits=limits, clock=hand)
    await sandbox.start()
    for token, name in ((TOKEN, "support_bot"), (OTHER, "other_bot")):
        sandbox.add_bot(token, name)
    for user_id, name in ((IVAN, "Ivan"), (OLGA, "Olga"), (ANNA, "Anna")):
        sandbox.user(user_id, name)
        for token in (TOKEN, OTHER):
            sandbox.open_private_chat(token, user_id)
    sandbox.forum_group(DESK, "Support desk", members=[ANNA])
    return sandbox


@pytest.fixture
async def sandbox(hand: HandTime) -> AsyncIterator[TelegramSandbox]:
    sandbox = await _sandbox(hand)
    yield sandbox
    await sandbox.stop()


@pytest.fixture
async def bot(sandbox: TelegramSandbox) -> AsyncIterator[Bot]:
    b = make_bot(sandbox)
    yield b
    await b.session.close()


async def test_a_sandbox_enforces_the_limits_unless_told_otherwise() -> None:
    assert TelegramSandbox().limits == PLATFORM_LIMITS and PLATFORM_LIMITS.enabled
    assert not TelegramSandbox(limits=Limits.off()).limits.enabled


async def test_a_private_chat_takes_a_burst_of_three_then_answers_429_in_telegrams_shape(
    sandbox: TelegramSandbox, bot: Bot, hand: HandTime
) -> None:
    for n in range(TELEGRAM_PRIVATE_BURST):
        await bot.send_message(IVAN, f"m{n}")
    async with aiohttp.ClientSession() as http:
        url = f"{sandbox.base_url}/bot{TOKEN}/sendMessage"
        async with http.post(url, json={"chat_id": IVAN, "text": "one too many"}) as response:
            assert response.status == 429
            assert await response.json() == {
                "ok": False,
                "error_code": 429,
                "description": "Too Many Requests: retry after 1",
                "parameters": {"retry_after": 1},
            }
    with pytest.raises(TelegramRetryAfter) as refused:
        await bot.send_message(IVAN, "still too many")
    assert refused.value.retry_after == 1
    assert [m["text"] for m in sandbox.chat_messages(TOKEN, IVAN)] == ["m0", "m1", "m2"]  # nothing stored
    assert [c.status for c in sandbox.calls_of("sendMessage")] == [200, 200, 200, 429, 429]
    await bot.send_message(OLGA, "another chat has its own bucket")
    hand.advance(1.0)  # retry_after later: one more message fits, not two
    await bot.send_message(IVAN, "m3")
    with pytest.raises(TelegramRetryAfter):
        await bot.send_message(IVAN, "m4")
    hand.advance(0.4)
    with pytest.raises(TelegramRetryAfter) as partly:
        await bot.send_message(IVAN, "m4")
    assert partly.value.retry_after == 1  # 0.6 s left, rounded up to whole seconds
    hand.advance(0.6)
    await bot.send_message(IVAN, "m4")
    assert [m["text"] for m in sandbox.chat_messages(TOKEN, IVAN)] == ["m0", "m1", "m2", "m3", "m4"]


async def test_a_private_chats_bucket_is_per_bot(sandbox: TelegramSandbox, bot: Bot) -> None:
    other = make_bot(sandbox, OTHER)
    try:
        for n in range(TELEGRAM_PRIVATE_BURST):
            await bot.send_message(IVAN, f"support {n}")
            await other.send_message(IVAN, f"other {n}")
    finally:
        await other.session.close()
    assert sandbox.refusals.total == 0


async def test_a_forum_groups_topics_share_twenty_messages_a_minute(
    sandbox: TelegramSandbox, bot: Bot, hand: HandTime
) -> None:
    first = await bot.create_forum_topic(DESK, "Session 1")  # a service message: counts
    hand.advance(1.0)
    second = await bot.create_forum_topic(DESK, "Session 2")
    for n in range(TELEGRAM_GROUP_MESSAGES - 2):
        hand.advance(1.0)
        topic = first if n % 2 else second
        await bot.send_message(DESK, f"m{n}", message_thread_id=topic.message_thread_id)
    hand.advance(0.5)  # 19.5 s after the first of the 20
    before = len(sandbox.chat_messages(TOKEN, DESK))
    for thread in (first.message_thread_id, second.message_thread_id, None):
        with pytest.raises(TelegramRetryAfter) as refused:
            await bot.send_message(DESK, "21st", message_thread_id=thread)
        assert refused.value.retry_after == 41  # until the first leaves the 60 s window: 40.5 s, rounded up
    assert len(sandbox.chat_messages(TOKEN, DESK)) == before
    hand.advance(40.5)
    await bot.send_message(DESK, "21st", message_thread_id=first.message_thread_id)
    with pytest.raises(TelegramRetryAfter) as again:
        await bot.send_message(DESK, "22nd", message_thread_id=first.message_thread_id)
    assert again.value.retry_after == 1  # the second leaves the window 1 s after the first
    assert sandbox.refusals.by_bucket[TELEGRAM_GROUP] == 4
    assert sandbox.refusals.by_key[(TELEGRAM_GROUP, (TOKEN, DESK))] == 4


async def test_edits_deletes_and_callback_answers_do_not_count_against_the_chat(
    sandbox: TelegramSandbox, bot: Bot
) -> None:
    sent = [await bot.send_message(IVAN, f"m{n}") for n in range(TELEGRAM_PRIVATE_BURST)]
    for n in range(5):
        await bot.edit_message_text(f"edited {n}", chat_id=IVAN, message_id=sent[0].message_id)
    await bot.delete_message(IVAN, sent[1].message_id)
    await bot.send_chat_action(IVAN, "typing")
    assert sandbox.refusals.total == 0
    with pytest.raises(TelegramRetryAfter):
        await bot.send_message(IVAN, "a fourth message still waits")


async def test_a_bot_makes_thirty_calls_a_second(sandbox: TelegramSandbox, bot: Bot, hand: HandTime) -> None:
    for _ in range(TELEGRAM_BOT_CALLS - 1):
        await bot.get_me()  # getters count against the bot
    await bot.send_message(IVAN, "the 30th call")
    with pytest.raises(TelegramRetryAfter) as refused:
        await bot.send_message(OLGA, "the 31st call")
    assert refused.value.retry_after == 1
    with pytest.raises(TelegramRetryAfter):
        await bot.get_me()
    assert sandbox.chat_messages(TOKEN, OLGA) == []
    other = make_bot(sandbox, OTHER)
    try:
        await other.get_me()  # another bot has its own budget
    finally:
        await other.session.close()
    await bot.get_updates(timeout=0)  # receiving is not limited
    hand.advance(1.0)
    await bot.send_message(OLGA, "the 31st call")
    assert sandbox.refusals.by_method == {"sendMessage": 1, "getMe": 1}
    assert sandbox.refusals.by_bucket == {TELEGRAM_BOT: 2}


async def test_a_call_that_fails_costs_nothing(sandbox: TelegramSandbox, bot: Bot) -> None:
    sandbox.fail("sendMessage", status=500, count=2, chat_id=IVAN)
    for _ in range(2):
        with pytest.raises(Exception):  # noqa: B017 — any failure
            await bot.send_message(IVAN, "lost")
    for n in range(TELEGRAM_PRIVATE_BURST):
        await bot.send_message(IVAN, f"m{n}")
    assert sandbox.refusals.total == 0


async def test_the_429s_are_counted_per_method_and_bucket(sandbox: TelegramSandbox, bot: Bot) -> None:
    for n in range(TELEGRAM_PRIVATE_BURST):
        await bot.send_message(IVAN, f"m{n}")
    for _ in range(2):
        with pytest.raises(TelegramRetryAfter):
            await bot.send_message(IVAN, "no")
    with pytest.raises(TelegramRetryAfter):
        await bot.copy_message(IVAN, IVAN, 1)
    assert sandbox.refusals.total == 3 == sandbox.refusals.count()
    assert sandbox.refusals.count(method="sendMessage") == 2
    assert sandbox.refusals.count(method="copyMessage") == 1
    assert sandbox.refusals.count(bucket=TELEGRAM_PRIVATE) == 3
    assert sandbox.refusals.by_key == {(TELEGRAM_PRIVATE, (TOKEN, IVAN)): 3}
    sandbox.limiter.reset()
    assert sandbox.refusals.total == 0
    await bot.send_message(IVAN, "the buckets are full again")


async def test_limits_off_never_refuses(hand: HandTime) -> None:
    sandbox = await _sandbox(hand, Limits.off())
    bot = make_bot(sandbox)
    try:
        for n in range(40):
            await bot.send_message(IVAN if n % 2 else DESK, f"m{n}")
    finally:
        await bot.session.close()
        await sandbox.stop()
    assert sandbox.refusals.total == 0
    assert len(sandbox.chat_messages(TOKEN, IVAN)) == 20


def test_what_counts_as_messages_sent() -> None:
    assert messages_created("sendMessage", Params({})) == 1
    assert messages_created("sendPhoto", Params({})) == 1
    assert messages_created("createForumTopic", Params({})) == 1
    assert messages_created("copyMessages", Params({"message_ids": [1, 2, 3]})) == 3
    assert messages_created("forwardMessages", Params({"message_ids": [4, 5]})) == 2
    assert messages_created("sendMediaGroup", Params({"media": [{}, {}, {}, {}]})) == 4
    for method in ("sendChatAction", "editMessageText", "deleteMessage", "answerCallbackQuery", "getMe"):
        assert messages_created(method, Params({})) == 0


async def test_a_call_creating_several_messages_costs_each(sandbox: TelegramSandbox) -> None:
    album = Params({"chat_id": DESK, "media": [{}] * 5})
    charges = telegram_charges(sandbox.limits, sandbox.state, TOKEN, "sendMediaGroup", album)
    assert {(c.kind, c.cost) for c in charges} == {(TELEGRAM_BOT, 5), (TELEGRAM_GROUP, 5)}
    named = Params({"chat_id": "@nobody_here", "message_ids": [1, 2]})
    charges = telegram_charges(sandbox.limits, sandbox.state, TOKEN, "copyMessages", named)
    assert [(c.kind, c.cost) for c in charges] == [(TELEGRAM_BOT, 2)]  # an unknown chat: refused as not found
    assert telegram_charges(sandbox.limits, sandbox.state, TOKEN, "getUpdates", Params({})) == []
    assert telegram_charges(Limits.off(), sandbox.state, TOKEN, "sendMessage", Params({"chat_id": IVAN})) == []
