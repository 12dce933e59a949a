"""The Telegram sandbox, driven by the real aiogram client (no mocks)."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from aiogram import Bot, Dispatcher
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.exceptions import (
    TelegramBadRequest,
    TelegramConflictError,
    TelegramForbiddenError,
    TelegramNetworkError,
    TelegramRetryAfter,
    TelegramServerError,
    TelegramUnauthorizedError,
)
from aiogram.types import (
    BotCommand,
    BotCommandScopeAllPrivateChats,
    BotCommandScopeChat,
    BufferedInputFile,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    InputMediaPhoto,
    Message,
    ReplyParameters,
    Update,
)
from aiogram.webhook.aiohttp_server import SimpleRequestHandler
from aiohttp import web

from sandboxes.limits import Limits
from sandboxes.telegram import DOWNLOAD_LIMIT, ApiError, TelegramSandbox, format_text
from sandboxes.telegram.params import _PARAM_KINDS
from tests import fixtures
from tests.support.telegram_spec import SpecChecker, load_spec

# The sandbox's own tests make wrong calls on purpose (400s, unknown tokens): not checked by tests/conftest.py.
pytestmark = pytest.mark.telegram_calls_unchecked

TOKEN = "123456:AAE-sandbox_Token"
OTHER_TOKEN = "654321:BBF-other_Token"
IVAN, OLGA, ANNA = 1001, 1002, 2001
DESK = -1001234567890
REFERENCE = fixtures.REFERENCE / "telegram"


class FastSession(AiohttpSession):
    """aiogram's AiohttpSession.close() sleeps 250 ms for SSL shutdown; plain HTTP needs none."""

    async def close(self) -> None:
        if self._session is not None and not self._session.closed:
            await self._session.close()


def make_bot(sandbox: TelegramSandbox, token: str = TOKEN, timeout: float = 5) -> Bot:
    api = TelegramAPIServer.from_base(sandbox.base_url)
    return Bot(token, session=FastSession(api=api, timeout=timeout))


@pytest.fixture(scope="module")
def checker() -> SpecChecker:
    return SpecChecker(load_spec())


@pytest.fixture
async def sandbox() -> AsyncIterator[TelegramSandbox]:
    async with TelegramSandbox(limits=Limits.off()) as sb:
        sb.add_bot(TOKEN, "support_bot", "Support")
        sb.user(IVAN, "Ivan", "Petrov", "ivan")
        sb.user(OLGA, "Olga")
        sb.user(ANNA, "Anna", username="anna_op")
        sb.forum_group(DESK, "Support desk", members=[ANNA])
        yield sb


@pytest.fixture
async def bot(sandbox: TelegramSandbox) -> AsyncIterator[Bot]:
    b = make_bot(sandbox)
    yield b
    await b.session.close()


def assert_conforms(checker: SpecChecker, sandbox: TelegramSandbox) -> None:
    """Every successful call's result conforms to the spec's declared return type."""
    problems = [
        f"{call.method}: {error}"
        for call in sandbox.calls
        if call.ok
        for error in checker.check_result(call.method, call.result)
    ]
    assert problems == []


# -- basics -----------------------------------------------------------------------------------------


async def test_get_me(bot: Bot) -> None:
    me = await bot.get_me()
    assert (me.id, me.is_bot, me.username, me.first_name) == (123456, True, "support_bot", "Support")


async def test_unknown_token_and_unknown_method(sandbox: TelegramSandbox) -> None:
    async with aiohttp.ClientSession() as http:
        async with http.post(f"{sandbox.base_url}/bot999:nope/getMe") as resp:
            assert resp.status == 401
            assert await resp.json() == {"ok": False, "error_code": 401, "description": "Unauthorized"}
        async with http.get(f"{sandbox.base_url}/bot{TOKEN}/noSuchMethod") as resp:
            assert resp.status == 404
            body = await resp.json()
            assert body == {"ok": False, "error_code": 404, "description": "Not Found: method not found"}
        async with http.get(f"{sandbox.base_url}/bot{TOKEN}/GETME") as resp:  # case-insensitive
            assert (await resp.json())["result"]["id"] == 123456
    stranger = make_bot(sandbox, token="999:nope")
    with pytest.raises(TelegramUnauthorizedError):
        await stranger.get_me()
    await stranger.session.close()


async def test_send_message_returns_a_message_aiogram_parses(sandbox: TelegramSandbox, bot: Bot) -> None:
    sandbox.open_private_chat(TOKEN, IVAN)
    keyboard = InlineKeyboardMarkup(inline_keyboard=[[InlineKeyboardButton(text="Take", callback_data="take:1")]])
    msg = await bot.send_message(IVAN, "Hello <b>Ivan</b>", parse_mode="HTML", reply_markup=keyboard)
    assert msg.message_id == 1
    assert msg.from_user is not None and msg.from_user.is_bot and msg.from_user.id == 123456
    assert (msg.chat.id, msg.chat.type, msg.chat.first_name) == (IVAN, "private", "Ivan")
    assert msg.text == "Hello Ivan"
    assert msg.entities is not None and (msg.entities[0].type, msg.entities[0].offset) == ("bold", 6)
    assert msg.reply_markup is not None and msg.reply_markup.model_dump() == keyboard.model_dump()
    call = sandbox.calls_of("sendMessage")[0]
    assert call.params["chat_id"] == IVAN and call.params["text"] == "Hello <b>Ivan</b>"


async def test_text_that_looks_like_a_number_stays_text(sandbox: TelegramSandbox, bot: Bot) -> None:
    sandbox.open_private_chat(TOKEN, IVAN)
    msg = await bot.send_message(IVAN, "123")
    assert msg.text == "123"
    assert sandbox.calls_of("sendMessage")[0].params["text"] == "123"


async def test_message_ids_increase_per_chat(sandbox: TelegramSandbox, bot: Bot) -> None:
    for user in (IVAN, OLGA):
        sandbox.open_private_chat(TOKEN, user)
    ids = [(await bot.send_message(user, "hi")).message_id for user in (IVAN, OLGA, IVAN, OLGA, IVAN)]
    assert ids == [1, 1, 2, 2, 3]
    update = sandbox.text_update(TOKEN, IVAN, "thanks")  # users' messages share the counter
    assert update["message"]["message_id"] == 4


async def test_edit_message_text_changes_what_the_client_sees(sandbox: TelegramSandbox, bot: Bot) -> None:
    sandbox.open_private_chat(TOKEN, IVAN)
    msg = await bot.send_message(IVAN, "Request #1: registered")
    edited = await bot.edit_message_text("Request #1: in progress", chat_id=IVAN, message_id=msg.message_id)
    assert not isinstance(edited, bool) and edited.edit_date is not None
    [seen] = sandbox.chat_messages(TOKEN, IVAN)
    assert (seen["text"], seen["edit_count"]) == ("Request #1: in progress", 1)


async def test_edit_not_modified_and_not_found(sandbox: TelegramSandbox, bot: Bot) -> None:
    sandbox.open_private_chat(TOKEN, IVAN)
    msg = await bot.send_message(IVAN, "same")
    with pytest.raises(TelegramBadRequest, match="message is not modified"):
        await bot.edit_message_text("same", chat_id=IVAN, message_id=msg.message_id)
    with pytest.raises(TelegramBadRequest, match="message to edit not found"):
        await bot.edit_message_text("other", chat_id=IVAN, message_id=99)
    user_msg = sandbox.text_update(TOKEN, IVAN, "mine")["message"]
    with pytest.raises(TelegramBadRequest, match="message can't be edited"):
        await bot.edit_message_text("hacked", chat_id=IVAN, message_id=user_msg["message_id"])


async def test_edit_reply_markup_and_markup_removed_by_text_edit(sandbox: TelegramSandbox, bot: Bot) -> None:
    sandbox.open_private_chat(TOKEN, IVAN)
    kb = InlineKeyboardMarkup(inline_keyboard=[[InlineKeyboardButton(text="A", callback_data="a")]])
    msg = await bot.send_message(IVAN, "pick", reply_markup=kb)
    with pytest.raises(TelegramBadRequest, match="not modified"):
        await bot.edit_message_reply_markup(chat_id=IVAN, message_id=msg.message_id, reply_markup=kb)
    await bot.edit_message_text("picked", chat_id=IVAN, message_id=msg.message_id)  # no markup → removed
    assert "reply_markup" not in sandbox.chat_messages(TOKEN, IVAN)[0]


async def test_delete_message(sandbox: TelegramSandbox, bot: Bot) -> None:
    sandbox.open_private_chat(TOKEN, IVAN)
    first = await bot.send_message(IVAN, "one")
    await bot.send_message(IVAN, "two")
    assert await bot.delete_message(IVAN, first.message_id) is True
    assert [m["text"] for m in sandbox.chat_messages(TOKEN, IVAN)] == ["two"]
    with pytest.raises(TelegramBadRequest, match="message to delete not found"):
        await bot.delete_message(IVAN, first.message_id)


async def test_reply_parameters_and_missing_reply_target(sandbox: TelegramSandbox, bot: Bot) -> None:
    question = sandbox.text_update(TOKEN, IVAN, "Is it fixed?")["message"]
    answer = await bot.send_message(IVAN, "Yes", reply_parameters=ReplyParameters(message_id=question["message_id"]))
    assert answer.reply_to_message is not None and answer.reply_to_message.text == "Is it fixed?"
    with pytest.raises(TelegramBadRequest, match="message to be replied not found"):
        await bot.send_message(IVAN, "?", reply_parameters=ReplyParameters(message_id=77))


async def test_html_and_markdown_v2_parse_modes(sandbox: TelegramSandbox, bot: Bot) -> None:
    sandbox.open_private_chat(TOKEN, IVAN)
    msg = await bot.send_message(IVAN, '<a href="https://x.io">link</a> &amp; <i>it</i>', parse_mode="HTML")
    assert msg.text == "link & it"
    assert [(e.type, e.offset, e.length) for e in msg.entities or []] == [("text_link", 0, 4), ("italic", 7, 2)]
    msg = await bot.send_message(IVAN, r"*bold* and `code`\.", parse_mode="MarkdownV2")
    assert msg.text == "bold and code."
    assert [(e.type, e.offset, e.length) for e in msg.entities or []] == [("bold", 0, 4), ("code", 9, 4)]
    with pytest.raises(TelegramBadRequest, match=r"Character '\.' is reserved"):
        await bot.send_message(IVAN, "Done.", parse_mode="MarkdownV2")
    with pytest.raises(TelegramBadRequest, match="can't parse entities"):
        await bot.send_message(IVAN, "<b>open", parse_mode="HTML")


@pytest.mark.parametrize(
    ("source", "mode", "text", "entities"),
    [
        ("😀 <b>b</b>", "HTML", "😀 b", [("bold", 3, 1)]),  # offsets count UTF-16 units
        ('<pre><code class="language-py">x</code></pre>', "HTML", "x", [("pre", 0, 1)]),
        (
            "<tg-spoiler>s</tg-spoiler> <blockquote>q</blockquote>",
            "HTML",
            "s q",
            [("spoiler", 0, 1), ("blockquote", 2, 1)],
        ),
        (
            "see [docs](https://x.io) and [note] *b*",
            "Markdown",
            "see docs and [note] b",
            [("text_link", 4, 4), ("bold", 20, 1)],
        ),
        (
            "||s|| __u__ ~x~ [l](http://a.b)",
            "MarkdownV2",
            "s u x l",
            [("spoiler", 0, 1), ("underline", 2, 1), ("strikethrough", 4, 1), ("text_link", 6, 1)],
        ),
        (">quote\n>more\nafter", "MarkdownV2", "quote\nmore\nafter", [("blockquote", 0, 10)]),
        ("no formatting at all.", None, "no formatting at all.", []),
    ],
)
def test_format_text(source: str, mode: str | None, text: str, entities: list[tuple[str, int, int]]) -> None:
    plain, found = format_text(source, mode, None)
    assert plain == text
    assert [(e["type"], e["offset"], e["length"]) for e in found] == entities


@pytest.mark.parametrize(
    ("source", "mode"),
    [("<blink>x</blink>", "HTML"), ("<b><i>x</b></i>", "HTML"), ("*open", "MarkdownV2"), ("x", "Klingon")],
)
def test_format_text_errors(source: str, mode: str) -> None:
    with pytest.raises(ApiError) as caught:
        format_text(source, mode, None)
    assert caught.value.status == 400 and caught.value.description.startswith("Bad Request: ")


async def test_empty_or_too_long_text(sandbox: TelegramSandbox, bot: Bot) -> None:
    sandbox.open_private_chat(TOKEN, IVAN)
    with pytest.raises(TelegramBadRequest, match="message text is empty"):
        await bot.send_message(IVAN, "")  # aiogram drops the empty field
    with pytest.raises(TelegramBadRequest, match="message is too long"):
        await bot.send_message(IVAN, "x" * 4097)


async def test_callback_data_longer_than_64_bytes_is_refused(sandbox: TelegramSandbox, bot: Bot) -> None:
    sandbox.open_private_chat(TOKEN, IVAN)
    kb = InlineKeyboardMarkup(inline_keyboard=[[InlineKeyboardButton(text="x", callback_data="d" * 65)]])
    with pytest.raises(TelegramBadRequest, match="BUTTON_DATA_INVALID"):
        await bot.send_message(IVAN, "menu", reply_markup=kb)


# -- forum topics -----------------------------------------------------------------------------------


async def test_forum_topic_and_send_into_it(sandbox: TelegramSandbox, bot: Bot) -> None:
    topic = await bot.create_forum_topic(DESK, "#1 Ivan Petrov")
    assert topic.name == "#1 Ivan Petrov" and topic.message_thread_id == 1
    msg = await bot.send_message(DESK, "Hello, my washing machine is broken", message_thread_id=topic.message_thread_id)
    assert msg.message_thread_id == topic.message_thread_id and msg.is_topic_message is True
    assert msg.chat.is_forum is True and msg.chat.title == "Support desk"
    other = await bot.create_forum_topic(DESK, "#2 Olga")
    await bot.send_message(DESK, "other", message_thread_id=other.message_thread_id)
    seen = sandbox.chat_messages(TOKEN, DESK, thread_id=topic.message_thread_id)
    assert [m.get("text") for m in seen] == [None, "Hello, my washing machine is broken"]
    assert seen[0]["forum_topic_created"]["name"] == "#1 Ivan Petrov"
    # an operator answers in the topic
    update = sandbox.text_update(TOKEN, ANNA, "On my way", chat=DESK, thread_id=topic.message_thread_id)
    assert update["message"]["message_thread_id"] == topic.message_thread_id
    assert Update.model_validate(update).message.is_topic_message  # type: ignore[union-attr]


async def test_deleted_topic_rejects_sends(sandbox: TelegramSandbox, bot: Bot) -> None:
    topic = await bot.create_forum_topic(DESK, "#3 gone")
    await bot.close_forum_topic(DESK, topic.message_thread_id)
    with pytest.raises(TelegramBadRequest, match="TOPIC_NOT_MODIFIED"):
        await bot.close_forum_topic(DESK, topic.message_thread_id)
    await bot.edit_forum_topic(DESK, topic.message_thread_id, name="#3 closed")
    assert sandbox.topics(DESK) == [
        {"message_thread_id": 1, "name": "#3 closed", "icon_color": 7322096, "closed": True}
    ]
    assert await bot.delete_forum_topic(DESK, topic.message_thread_id) is True
    with pytest.raises(TelegramBadRequest, match="message thread not found"):
        await bot.send_message(DESK, "hello?", message_thread_id=topic.message_thread_id)
    assert sandbox.chat_messages(TOKEN, DESK) == []


async def test_topics_only_in_forums(sandbox: TelegramSandbox, bot: Bot) -> None:
    sandbox.group(-1009, "Plain group")
    with pytest.raises(TelegramBadRequest, match="the chat is not a forum"):
        await bot.create_forum_topic(-1009, "x")
    with pytest.raises(TelegramBadRequest, match="chat not found"):
        await bot.create_forum_topic(-100777, "x")


# -- copy / forward ---------------------------------------------------------------------------------


async def test_copy_and_forward(sandbox: TelegramSandbox, bot: Bot) -> None:
    topic = await bot.create_forum_topic(DESK, "#1 Ivan")
    client_msg = sandbox.text_update(TOKEN, IVAN, "my order is late")["message"]
    copied = await bot.copy_message(DESK, IVAN, client_msg["message_id"], message_thread_id=topic.message_thread_id)
    [_, copy] = sandbox.chat_messages(TOKEN, DESK, thread_id=topic.message_thread_id)
    assert copy["message_id"] == copied.message_id and copy["text"] == "my order is late"
    assert "forward_origin" not in copy
    forwarded = await bot.forward_message(
        DESK, IVAN, client_msg["message_id"], message_thread_id=topic.message_thread_id
    )
    assert forwarded.forward_origin is not None and forwarded.forward_origin.type == "user"
    with pytest.raises(TelegramBadRequest, match="message to copy not found"):
        await bot.copy_message(DESK, IVAN, 404)


# -- webhook & getUpdates ---------------------------------------------------------------------------


async def test_set_get_delete_webhook(sandbox: TelegramSandbox, bot: Bot) -> None:
    assert (await bot.get_webhook_info()).url == ""
    assert await bot.set_webhook(
        "https://desk.example.com/telegram/support",
        secret_token="s3cret",
        allowed_updates=["message", "callback_query"],
    )
    info = await bot.get_webhook_info()
    assert info.url == "https://desk.example.com/telegram/support"
    assert info.allowed_updates == ["message", "callback_query"] and info.pending_update_count == 0
    assert sandbox.webhook(TOKEN).secret_token == "s3cret"
    with pytest.raises(TelegramBadRequest, match="secret token"):
        await bot.set_webhook("https://x.io/hook", secret_token="bad secret!")
    assert await bot.delete_webhook(drop_pending_updates=True)
    assert (await bot.get_webhook_info()).url == ""


async def test_get_updates_long_poll_returns_when_an_update_arrives(sandbox: TelegramSandbox, bot: Bot) -> None:
    started = time.monotonic()
    poll = asyncio.create_task(bot.get_updates(timeout=5))
    await asyncio.sleep(0.05)
    assert not poll.done()
    result = await sandbox.deliver(TOKEN, sandbox.text_update(TOKEN, IVAN, "/start"))
    assert result.via == "queue" and result.ok
    updates = await poll
    assert time.monotonic() - started < 2
    assert [u.message.text for u in updates if u.message] == ["/start"]
    # the offset confirms: the next poll sees only newer updates
    await sandbox.deliver(TOKEN, sandbox.text_update(TOKEN, IVAN, "second"))
    newer = await bot.get_updates(offset=updates[-1].update_id + 1, timeout=0)
    assert [u.message.text for u in newer if u.message] == ["second"]


async def test_get_updates_times_out_empty(bot: Bot) -> None:
    started = time.monotonic()
    assert await bot.get_updates(timeout=1) == []
    assert 0.9 <= time.monotonic() - started < 2


async def test_stop_ends_long_polls_promptly(sandbox: TelegramSandbox, bot: Bot) -> None:
    poll = asyncio.create_task(bot.get_updates(timeout=30))
    await asyncio.sleep(0.05)
    started = time.monotonic()
    await sandbox.stop()
    assert await poll == []
    assert time.monotonic() - started < 1


async def test_get_updates_conflicts(sandbox: TelegramSandbox, bot: Bot) -> None:
    first = asyncio.create_task(bot.get_updates(timeout=5))
    await asyncio.sleep(0.05)
    second = asyncio.create_task(bot.get_updates(timeout=0))  # a second instance polls
    with pytest.raises(TelegramConflictError, match="terminated by other getUpdates request"):
        await first
    assert await second == []
    await bot.set_webhook("https://desk.example.com/hook")
    with pytest.raises(TelegramConflictError, match="webhook is active"):
        await bot.get_updates()


async def test_allowed_updates_filter_deliveries(sandbox: TelegramSandbox, bot: Bot) -> None:
    await bot.get_updates(allowed_updates=["callback_query"], timeout=0)
    result = await sandbox.deliver(TOKEN, sandbox.text_update(TOKEN, IVAN, "filtered"))
    assert result.via == "filtered" and not result.ok
    assert sandbox.pending_updates(TOKEN) == []


async def test_deliver_to_webhook_checks_secret(sandbox: TelegramSandbox, bot: Bot) -> None:
    received: list[dict[str, Any]] = []

    async def webhook(request: web.Request) -> web.Response:
        if request.headers.get("X-Telegram-Bot-Api-Secret-Token") != "s3cret":
            return web.Response(status=401)
        received.append(await request.json())
        return web.json_response({})

    app = web.Application()
    app.router.add_post("/telegram/support", webhook)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    url = f"http://127.0.0.1:{runner.addresses[0][1]}/telegram/support"
    try:
        await bot.set_webhook(url, secret_token="s3cret")
        update = sandbox.text_update(TOKEN, IVAN, "Hello")
        result = await sandbox.deliver(TOKEN, update)
        assert (result.via, result.status, result.ok) == ("webhook", 200, True)
        assert received == [update]
        assert await sandbox.post_update(url, update, secret="forged") == (401, "")
        assert (await sandbox.post_update(url, update, secret=None))[0] == 401
        await bot.set_webhook(url, secret_token="rotated")
        failed = await sandbox.deliver(TOKEN, update)
        assert failed.status == 401 and not failed.ok
        assert (await bot.get_webhook_info()).last_error_message == "Wrong response from the webhook: 401"
    finally:
        await runner.cleanup()
    gone = await sandbox.deliver(TOKEN, update)  # nobody listens any more
    assert gone.status is None and gone.error


def echo_dispatcher(*, webhook_reply: bool = False) -> Dispatcher:
    """Echo bot; with ``webhook_reply`` the handler returns the method for the webhook response."""
    dp = Dispatcher()

    @dp.message()
    async def echo(message: Message) -> Any:
        method = message.answer(f"echo: {message.text}")
        return method if webhook_reply else await method

    return dp


async def wait_for(predicate: Any, timeout: float = 3.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached in time"
        await asyncio.sleep(0.01)


async def test_aiogram_dispatcher_polls_the_sandbox(sandbox: TelegramSandbox, bot: Bot) -> None:
    dp = echo_dispatcher()
    polling = asyncio.create_task(
        dp.start_polling(bot, polling_timeout=5, handle_signals=False, close_bot_session=False)
    )
    await sandbox.deliver(TOKEN, sandbox.text_update(TOKEN, IVAN, "ping"))
    await wait_for(lambda: len(sandbox.chat_messages(TOKEN, IVAN)) == 2)
    assert sandbox.chat_messages(TOKEN, IVAN)[1]["text"] == "echo: ping"
    await dp.stop_polling()
    await polling
    assert sandbox.calls_of("getUpdates")[0].params["allowed_updates"] == ["message"]


@pytest.mark.parametrize("in_background", [True, False], ids=["api-call", "webhook-reply"])
async def test_aiogram_webhook_handler_roundtrip(sandbox: TelegramSandbox, bot: Bot, in_background: bool) -> None:
    app = web.Application()
    handler = SimpleRequestHandler(
        echo_dispatcher(webhook_reply=not in_background), bot, secret_token="s3cret", handle_in_background=in_background
    )
    handler.register(app, path="/telegram/support")
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    try:
        await bot.set_webhook(f"http://127.0.0.1:{runner.addresses[0][1]}/telegram/support", secret_token="s3cret")
        result = await sandbox.deliver(TOKEN, sandbox.text_update(TOKEN, IVAN, "ping"))
        assert result.status == 200
        await wait_for(lambda: len(sandbox.chat_messages(TOKEN, IVAN)) == 2)
        assert sandbox.chat_messages(TOKEN, IVAN)[1]["text"] == "echo: ping"
        if not in_background:  # aiogram answered with the method in the HTTP response
            assert result.reply is not None and result.reply.method == "sendMessage" and result.reply.ok
    finally:
        await runner.cleanup()


# -- failure injection ------------------------------------------------------------------------------


async def test_injected_429_raises_retry_after(sandbox: TelegramSandbox, bot: Bot) -> None:
    sandbox.open_private_chat(TOKEN, IVAN)
    sandbox.fail("sendMessage", status=429, retry_after=7)
    with pytest.raises(TelegramRetryAfter) as caught:
        await bot.send_message(IVAN, "hi")
    assert caught.value.retry_after == 7
    assert (await bot.send_message(IVAN, "hi")).message_id == 1  # count=1: next call passes, nothing was stored before
    assert [c.status for c in sandbox.calls_of("sendMessage")] == [429, 200]


async def test_injected_5xx_and_chat_scoped_failures(sandbox: TelegramSandbox, bot: Bot) -> None:
    for user in (IVAN, OLGA):
        sandbox.open_private_chat(TOKEN, user)
    sandbox.fail("SENDMESSAGE", status=502, count=2, chat_id=IVAN)
    await bot.send_message(OLGA, "unaffected")
    for _ in range(2):
        with pytest.raises(TelegramServerError):
            await bot.send_message(IVAN, "hi")
    await bot.send_message(IVAN, "recovered")


async def test_blocked_user_raises_forbidden(sandbox: TelegramSandbox, bot: Bot) -> None:
    sandbox.open_private_chat(TOKEN, IVAN)
    sandbox.block_user(TOKEN, IVAN)
    with pytest.raises(TelegramForbiddenError, match="bot was blocked by the user"):
        await bot.send_message(IVAN, "hi")
    sandbox.unblock_user(TOKEN, IVAN)
    await bot.send_message(IVAN, "hi")
    # a my_chat_member "kicked" update means the same thing
    update = sandbox.my_chat_member_update(TOKEN, IVAN, "member", "kicked")
    assert Update.model_validate(update).my_chat_member is not None
    with pytest.raises(TelegramForbiddenError):
        await bot.send_chat_action(IVAN, "typing")
    sandbox.text_update(TOKEN, IVAN, "I'm back")  # writing again unblocks
    assert await bot.send_chat_action(IVAN, "typing") is True


async def test_chat_not_found_and_cannot_initiate(sandbox: TelegramSandbox, bot: Bot) -> None:
    with pytest.raises(TelegramBadRequest, match="chat not found"):
        await bot.send_message(424242, "hi")
    with pytest.raises(TelegramForbiddenError, match="can't initiate conversation"):
        await bot.send_message(OLGA, "hi")  # a known user who never wrote to the bot
    sandbox.fail("sendMessage", status=400, description="Bad Request: chat not found")
    sandbox.open_private_chat(TOKEN, OLGA)
    with pytest.raises(TelegramBadRequest, match="chat not found"):
        await bot.send_message(OLGA, "hi")


async def test_injected_delay_times_out_the_client(sandbox: TelegramSandbox) -> None:
    sandbox.open_private_chat(TOKEN, IVAN)
    impatient = make_bot(sandbox, timeout=0.2)
    sandbox.fail("sendMessage", delay=2)
    started = time.monotonic()
    with pytest.raises(TelegramNetworkError, match="timeout"):
        await impatient.send_message(IVAN, "slow")
    assert time.monotonic() - started < 1
    await impatient.session.close()


async def test_missing_required_params(sandbox: TelegramSandbox) -> None:
    async with aiohttp.ClientSession() as http:
        async with http.post(f"{sandbox.base_url}/bot{TOKEN}/sendMessage", data={"text": "x"}) as resp:
            assert (resp.status, (await resp.json())["description"]) == (400, "Bad Request: chat_id is empty")
        async with http.post(f"{sandbox.base_url}/bot{TOKEN}/deleteMessage", json={"chat_id": IVAN}) as resp:
            assert (await resp.json())["description"] == "Bad Request: message identifier is not specified"
        async with http.post(f"{sandbox.base_url}/bot{TOKEN}/sendMessage?chat_id=1&text=x&reply_markup=%7Bbad") as resp:
            assert (await resp.json())["description"] == "Bad Request: can't parse reply_markup JSON object"


# -- files ------------------------------------------------------------------------------------------


async def test_upload_get_file_and_download(sandbox: TelegramSandbox, bot: Bot) -> None:
    sandbox.open_private_chat(TOKEN, IVAN)
    msg = await bot.send_document(IVAN, BufferedInputFile(b"%PDF-1.4 invoice", "invoice.pdf"), caption="Invoice")
    assert msg.document is not None and msg.document.file_name == "invoice.pdf" and msg.caption == "Invoice"
    file = await bot.get_file(msg.document.file_id)
    assert file.file_size == 16 and file.file_path is not None
    downloaded = await bot.download_file(file.file_path)
    assert downloaded is not None and downloaded.read() == b"%PDF-1.4 invoice"
    # a photo the client sent, re-sent by file_id
    record = sandbox.register_file(b"\xff\xd8jpeg", kind="photo")
    update = sandbox.media_update(TOKEN, IVAN, record, caption="broken part")
    photo = Update.model_validate(update).message.photo  # type: ignore[union-attr]
    assert photo is not None and photo[-1].file_id == record.file_id
    sent = await bot.send_photo(IVAN, record.file_id)
    assert sent.photo is not None and sent.photo[0].file_unique_id == record.file_unique_id
    with pytest.raises(TelegramBadRequest, match="wrong file identifier"):
        await bot.send_photo(IVAN, "no-such-file-id")


async def test_files_over_20mb_cannot_be_downloaded(sandbox: TelegramSandbox, bot: Bot) -> None:
    big = sandbox.register_file(size=DOWNLOAD_LIMIT + 1, kind="video", file_name="holiday.mp4")
    with pytest.raises(TelegramBadRequest, match="file is too big"):
        await bot.get_file(big.file_id)
    with pytest.raises(TelegramBadRequest, match="invalid file_id"):
        await bot.get_file("nope")


async def test_other_clients_upload_under_the_param_name(sandbox: TelegramSandbox) -> None:
    sandbox.open_private_chat(TOKEN, IVAN)
    form = aiohttp.FormData()
    form.add_field("chat_id", str(IVAN))
    form.add_field("voice", b"OggS...", filename="note.ogg", content_type="audio/ogg")
    async with aiohttp.ClientSession() as http:
        async with http.post(f"{sandbox.base_url}/bot{TOKEN}/sendVoice", data=form) as resp:
            voice = (await resp.json())["result"]["voice"]
    assert voice["mime_type"] == "audio/ogg" and voice["file_size"] == 7


# -- commands, callbacks, chats ---------------------------------------------------------------------


def names(commands: list[BotCommand]) -> list[str]:
    return [c.command for c in commands]


async def test_commands_per_scope(sandbox: TelegramSandbox, bot: Bot) -> None:
    private = [BotCommand(command="start", description="Start")]
    desk = [
        BotCommand(command="status", description="Set your status"),
        BotCommand(command="startprocess", description="Start a process"),
    ]
    await bot.set_my_commands(private, scope=BotCommandScopeAllPrivateChats())
    await bot.set_my_commands(desk, scope=BotCommandScopeChat(chat_id=DESK))
    assert names(await bot.get_my_commands(scope=BotCommandScopeAllPrivateChats())) == ["start"]
    assert names(await bot.get_my_commands(scope=BotCommandScopeChat(chat_id=DESK))) == ["status", "startprocess"]
    assert await bot.get_my_commands() == []  # default scope untouched
    assert [c["command"] for c in sandbox.commands(TOKEN, {"type": "chat", "chat_id": DESK})] == [
        "status",
        "startprocess",
    ]
    await bot.delete_my_commands(scope=BotCommandScopeChat(chat_id=DESK))
    assert await bot.get_my_commands(scope=BotCommandScopeChat(chat_id=DESK)) == []
    with pytest.raises(TelegramBadRequest, match="BOT_COMMAND_INVALID"):
        await bot.set_my_commands([BotCommand(command="Bad Command", description="x")])


async def test_callback_query_answer(sandbox: TelegramSandbox, bot: Bot) -> None:
    sandbox.open_private_chat(TOKEN, IVAN)
    kb = InlineKeyboardMarkup(inline_keyboard=[[InlineKeyboardButton(text="Yes", callback_data="urgent:yes")]])
    msg = await bot.send_message(IVAN, "Urgent?", reply_markup=kb)
    update = sandbox.callback_update(TOKEN, IVAN, "urgent:yes", msg)
    query = Update.model_validate(update).callback_query
    assert query is not None and query.data == "urgent:yes" and query.message is not None
    assert await bot.answer_callback_query(query.id, text="Saved") is True
    assert sandbox.callback_answer(TOKEN, query.id) == {
        "text": "Saved",
        "show_alert": False,
        "url": None,
        "cache_time": 0,
    }
    with pytest.raises(TelegramBadRequest, match="query is too old"):
        await bot.answer_callback_query(query.id)


async def test_get_chat_and_member(sandbox: TelegramSandbox, bot: Bot) -> None:
    chat = await bot.get_chat(DESK)
    assert chat.is_forum and chat.title == "Support desk"
    assert (await bot.get_chat(IVAN)).first_name == "Ivan"
    assert (await bot.get_chat_member(DESK, ANNA)).status == "member"
    assert (await bot.get_chat_member(DESK, IVAN)).status == "left"
    assert (await bot.get_chat_member(DESK, 123456)).status == "administrator"
    with pytest.raises(TelegramBadRequest, match="wrong parameter action"):
        await bot.send_chat_action(DESK, "dancing")


async def test_every_result_conforms_to_the_spec(sandbox: TelegramSandbox, bot: Bot, checker: SpecChecker) -> None:
    """A tour of every method; each successful result is checked against the spec's return type."""
    sandbox.open_private_chat(TOKEN, IVAN)
    await bot.get_me()
    await bot.log_out()
    await bot.close()
    await bot.set_webhook("https://x.io/hook", secret_token="abc")
    await bot.get_webhook_info()
    await bot.delete_webhook()
    msg = await bot.send_message(IVAN, "<b>hi</b>", parse_mode="HTML")
    await bot.edit_message_text("edited", chat_id=IVAN, message_id=msg.message_id)
    await bot.edit_message_reply_markup(
        chat_id=IVAN,
        message_id=msg.message_id,
        reply_markup=InlineKeyboardMarkup(inline_keyboard=[[InlineKeyboardButton(text="u", url="https://x.io")]]),
    )
    doc = await bot.send_document(IVAN, BufferedInputFile(b"abc", "a.txt"), caption="c")
    await bot.edit_message_caption(chat_id=IVAN, message_id=doc.message_id, caption="new caption")
    await bot.send_photo(IVAN, BufferedInputFile(b"img", "p.jpg"))
    await bot.send_voice(IVAN, BufferedInputFile(b"ogg", "v.ogg"))
    await bot.send_video(IVAN, BufferedInputFile(b"mp4", "v.mp4"))
    await bot.send_sticker(IVAN, BufferedInputFile(b"webp", "s.webp"), emoji="👍")
    await bot.send_location(IVAN, 55.75, 37.61)
    await bot.send_contact(IVAN, "+100", "Support")
    await bot.send_chat_action(IVAN, "typing")
    await bot.delete_message(IVAN, (await bot.send_message(IVAN, "bye")).message_id)
    assert doc.document is not None
    await bot.get_file(doc.document.file_id)
    topic = await bot.create_forum_topic(DESK, "#1")
    await bot.send_message(DESK, "in topic", message_thread_id=topic.message_thread_id)
    await bot.copy_message(DESK, IVAN, msg.message_id, message_thread_id=topic.message_thread_id)
    await bot.forward_message(DESK, IVAN, msg.message_id, message_thread_id=topic.message_thread_id)
    await bot.copy_messages(DESK, IVAN, [msg.message_id, doc.message_id], message_thread_id=topic.message_thread_id)
    await bot.send_media_group(
        DESK,
        [
            InputMediaPhoto(media=BufferedInputFile(b"a", "a.jpg")),
            InputMediaPhoto(media=BufferedInputFile(b"b", "b.jpg")),
        ],
        message_thread_id=topic.message_thread_id,
    )
    await bot.edit_forum_topic(DESK, topic.message_thread_id, name="#1 renamed")
    await bot.close_forum_topic(DESK, topic.message_thread_id)
    await bot.reopen_forum_topic(DESK, topic.message_thread_id)
    await bot.delete_forum_topic(DESK, topic.message_thread_id)
    await bot.set_my_commands([BotCommand(command="start", description="Start")])
    await bot.get_my_commands()
    await bot.delete_my_commands()
    update = sandbox.callback_update(TOKEN, IVAN, "x", msg)
    await bot.answer_callback_query(update["callback_query"]["id"])
    await bot.get_chat(DESK)
    await bot.get_chat(IVAN)
    for user in (ANNA, IVAN, 123456):
        await bot.get_chat_member(DESK, user)
    await bot.get_chat_member(IVAN, IVAN)
    await sandbox.deliver(TOKEN, sandbox.text_update(TOKEN, IVAN, "hello"))
    await bot.get_updates(timeout=0)
    assert_conforms(checker, sandbox)
    methods = {c.method for c in sandbox.calls if c.ok}
    assert methods == {m.name for m in sandbox.api.methods.values()}, "every method was toured"


# -- inbound update builders ------------------------------------------------------------------------


async def test_builders_produce_valid_spec_conformant_updates(
    sandbox: TelegramSandbox, bot: Bot, checker: SpecChecker
) -> None:
    topic = await bot.create_forum_topic(DESK, "#1 Ivan")
    start = sandbox.text_update(TOKEN, IVAN, "/start@support_bot hi")
    question = await bot.send_message(
        IVAN,
        "Which kind?",
        reply_markup=InlineKeyboardMarkup(
            inline_keyboard=[[InlineKeyboardButton(text="Repair", callback_data="kind:repair")]]
        ),
    )
    reply = sandbox.text_update(TOKEN, IVAN, "repair, please", reply_to=question.message_id)
    record = sandbox.register_file(b"OggS", kind="voice", duration=3)
    updates = [
        start,
        reply,
        sandbox.text_update(TOKEN, ANNA, "//internal note", chat=DESK, thread_id=topic.message_thread_id),
        sandbox.text_update(TOKEN, ANNA, "/status online", chat=DESK),
        sandbox.callback_update(TOKEN, IVAN, "kind:repair", question),
        sandbox.callback_update(TOKEN, IVAN, "kind:repair", question.model_dump(by_alias=True, exclude_none=True)),
        sandbox.edited_text_update(TOKEN, IVAN, start["message"], "/start again"),
        sandbox.my_chat_member_update(TOKEN, IVAN, "member", "kicked"),
        sandbox.my_chat_member_update(TOKEN, IVAN, "kicked", "member"),
        sandbox.my_chat_member_update(TOKEN, ANNA, "left", "administrator", chat=DESK),
        sandbox.media_update(TOKEN, IVAN, record),
        sandbox.media_update(TOKEN, IVAN, sandbox.register_file(b"RIFF", kind="sticker", emoji="😀")),
        sandbox.message_update(TOKEN, IVAN, {"location": {"latitude": 1.5, "longitude": 2.5}}),
        sandbox.message_update(TOKEN, IVAN, {"contact": {"phone_number": "+1", "first_name": "Ivan"}}),
    ]
    ids = [u["update_id"] for u in updates]
    assert ids == sorted(ids) and len(set(ids)) == len(ids)
    for update in updates:
        assert checker.check_update(update) == [], update
        parsed = Update.model_validate(update)
        assert parsed.event_type in {"message", "edited_message", "callback_query", "my_chat_member"}
    assert start["message"]["entities"] == [{"offset": 0, "length": 18, "type": "bot_command"}]
    assert reply["message"]["reply_to_message"]["text"] == "Which kind?"
    # users' messages live in the chat too
    assert [m.get("text") for m in sandbox.chat_messages(TOKEN, IVAN)][:3] == [
        "/start again",
        "Which kind?",
        "repair, please",
    ]


async def test_update_ids_are_per_bot(sandbox: TelegramSandbox) -> None:
    sandbox.add_bot(OTHER_TOKEN, "sales_bot")
    a = sandbox.text_update(TOKEN, IVAN, "a")["update_id"]
    b = sandbox.text_update(OTHER_TOKEN, IVAN, "b")["update_id"]
    assert a == b  # independent counters
    assert sandbox.text_update(OTHER_TOKEN, IVAN, "c")["message"]["message_id"] == 2


# -- the checker and the parameter table themselves -------------------------------------------------

# From reference/ORIGINS.md: which public fixtures conform to the spec (checked independently).
_FIXTURE_VERDICTS = {
    "tg_chat_member_updated_obj__pytelegrambotapi.json": True,
    "tg_getupdates_response_callback_queries__tgbot.json": True,
    "tg_message_obj_document__pytelegrambotapi.json": False,
    "tg_message_obj_photo__pytelegrambotapi.json": True,
    "tg_message_obj_photo__teloxide.json": True,
    "tg_update_callback_query_inline__telegram_webhooks_guide.json": False,
    "tg_update_document__telegram_webhooks_guide.json": False,
    "tg_update_edited_message__telegram_webhooks_guide.json": False,
    "tg_update_forwarded_legacy__telegram_webhooks_guide.json": False,
    "tg_update_my_chat_member_kicked__teloxide.json": True,
    "tg_update_reply__telegram_webhooks_guide.json": False,
    "tg_update_start_command_entity__aiogram_pr1177.json": True,
    "tg_update_supergroup_command_reply__teloxide.json": True,
    "tg_update_supergroup_story_message__teloxide.json": True,
    "tg_update_text__pytelegrambotapi.json": True,
    "tg_update_text_private__aiogram_tests.json": True,
    "tg_update_text_private__telegram_webhooks_guide.json": False,
    "tg_update_text_private__teloxide.json": True,
    "tg_update_unknown_kind__teloxide.json": False,
}


@pytest.mark.parametrize("name", sorted(_FIXTURE_VERDICTS))
def test_checker_agrees_with_the_reference_verdicts(checker: SpecChecker, name: str) -> None:
    path = REFERENCE / name
    data = json.loads(path.read_text(encoding="utf-8"))
    if name.startswith("tg_getupdates_response"):
        errors = [e for u in data["result"] for e in checker.check_update(u)]
    elif name.startswith("tg_message_obj"):
        errors = checker.check("Message", data)
    elif name.startswith("tg_chat_member_updated"):
        errors = checker.check("ChatMemberUpdated", data)
    else:
        errors = checker.check_update(data)
    assert (errors == []) is _FIXTURE_VERDICTS[name], errors


def test_param_table_and_required_params_match_the_spec(checker: SpecChecker) -> None:
    def kind(types: list[str]) -> str:
        joined = "|".join(types)
        simple = {"Integer": "int", "Float": "float", "Boolean": "bool", "String": "str", "Integer|String": "chat"}
        return simple.get(joined) or ("file" if "InputFile" in joined else "json")

    sandbox = TelegramSandbox(limits=Limits.off())
    for method in sandbox.api.methods.values():
        fields = checker.methods[method.name].get("fields", [])
        for f in fields:
            assert _PARAM_KINDS.get(f["name"]) == kind(f["types"]), (method.name, f["name"])
        required = {f["name"] for f in fields if f["required"]}
        if method.name == "setWebhook":  # an absent url removes the webhook (aiogram drops "")
            required.discard("url")
        assert set(method.required) == required, method.name
