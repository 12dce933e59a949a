"""Real Telegram payloads from public test suites and the official docs (tests/fixtures/reference/telegram,
provenance in ORIGINS.md), POSTed verbatim to a running linedesk's webhook with the right secret.

Every file is listed in ``EXPECTED`` with what linedesk must do with it; a new file without an entry
fails ``test_every_reference_file_has_an_expectation``. Message and ChatMemberUpdated *objects* are
wrapped into the Update their content calls for, the getUpdates response's updates are posted one by
one. Each delivery must answer 200 (never 5xx), be handled without an exception, and leave nothing
pending for replay; then each test checks, per file, what linedesk did with it.

The sandbox is prepared the way Telegram would be: a user who writes in a private chat has that chat
open, so the greeting can reach them.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import AsyncIterator
from enum import Enum
from pathlib import Path
from typing import Any

import pytest

from core.model import AuthorKind, Message, SessionStatus
from sandboxes.limits import Limits
from sandboxes.rig import SUPPORT_TOKEN, TELEGRAM_DESK, WEBHOOK_SECRET, Rig
from sandboxes.telegram import CallbackQueryState, FileRecord, StoredMessage
from tests import fixtures
from tests.support.platform_checks import call_checker
from tests.support.rigs import PROCESSES

REFERENCE = fixtures.REFERENCE / "telegram"
GREETING = "Hello! An operator will answer shortly."
BLOCKED_NOTICE = "⚠ The client blocked the bot: nothing more reaches them until they write again."
FOLLOW_UP = "Hello again, is anyone there?"
WRAPPED_UPDATE_ID = 424_242
SOURCE = "telegram:support"


class Expect(Enum):
    PRIVATE_TEXT = "a private text opens a session, stored and mirrored"
    START = "/start opens a session with the greeting"
    CUSTOMER_GROUP = "customers' group chats are ignored"
    FROM_BOT = "messages from bots are ignored"
    IGNORED_KIND = "update kinds linedesk does not handle are ignored"
    CALLBACKS = "callback queries with unknown data are ignored"
    BLOCKED = "my_chat_member → kicked marks the client unreachable"
    MEDIA = "a private photo is stored once"
    NONCONFORMANT = "a payload breaking the spec is survived"


EXPECTED: dict[str, Expect] = {
    "tg_chat_member_updated_obj__pytelegrambotapi.json": Expect.IGNORED_KIND,
    "tg_getupdates_response_callback_queries__tgbot.json": Expect.CALLBACKS,
    "tg_message_obj_document__pytelegrambotapi.json": Expect.FROM_BOT,
    "tg_message_obj_photo__pytelegrambotapi.json": Expect.FROM_BOT,
    "tg_message_obj_photo__teloxide.json": Expect.MEDIA,
    "tg_update_callback_query_inline__telegram_webhooks_guide.json": Expect.NONCONFORMANT,
    "tg_update_document__telegram_webhooks_guide.json": Expect.NONCONFORMANT,
    "tg_update_edited_message__telegram_webhooks_guide.json": Expect.NONCONFORMANT,
    "tg_update_forwarded_legacy__telegram_webhooks_guide.json": Expect.NONCONFORMANT,
    "tg_update_my_chat_member_kicked__teloxide.json": Expect.BLOCKED,
    "tg_update_reply__telegram_webhooks_guide.json": Expect.NONCONFORMANT,
    "tg_update_start_command_entity__aiogram_pr1177.json": Expect.START,
    "tg_update_supergroup_command_reply__teloxide.json": Expect.CUSTOMER_GROUP,
    "tg_update_supergroup_story_message__teloxide.json": Expect.CUSTOMER_GROUP,
    "tg_update_text__pytelegrambotapi.json": Expect.FROM_BOT,
    "tg_update_text_private__aiogram_tests.json": Expect.PRIVATE_TEXT,
    "tg_update_text_private__telegram_webhooks_guide.json": Expect.NONCONFORMANT,
    "tg_update_text_private__teloxide.json": Expect.PRIVATE_TEXT,
    "tg_update_unknown_kind__teloxide.json": Expect.IGNORED_KIND,
}
MEDIA_FILES = (
    "tg_message_obj_photo__teloxide.json",
    "tg_message_obj_photo__pytelegrambotapi.json",
    "tg_message_obj_document__pytelegrambotapi.json",
    "tg_update_document__telegram_webhooks_guide.json",
)


def files(expect: Expect) -> list[Any]:
    return [pytest.param(name, id=file_id(name)) for name, e in EXPECTED.items() if e is expect]


def file_id(name: str) -> str:
    return name.removeprefix("tg_").removesuffix(".json")


def load(name: str) -> Any:
    return json.loads((REFERENCE / name).read_text(encoding="utf-8"))


def updates_of(name: str) -> list[dict[str, Any]]:
    """The file as the Updates Telegram would POST: objects wrapped by their kind."""
    data = load(name)
    if name.startswith("tg_getupdates_response_"):
        assert data["ok"] is True
        return list(data["result"])
    if name.startswith("tg_message_obj_"):
        return [{"update_id": WRAPPED_UPDATE_ID, "message": data}]
    if name.startswith("tg_chat_member_updated_obj_"):
        # The member who changed (Pepe, promoted to administrator) is not the bot: Telegram delivers this
        # as `chat_member` (which linedesk does not subscribe to), never as `my_chat_member`.
        assert data["new_chat_member"]["user"]["first_name"] == "Pepe"
        return [{"update_id": WRAPPED_UPDATE_ID, "chat_member": data}]
    assert name.startswith("tg_update_"), name
    return [data]


def body_of(update: dict[str, Any]) -> dict[str, Any]:
    """The object an update carries (message, edited_message, callback_query, …)."""
    [kind] = [key for key in update if key != "update_id"]
    body: dict[str, Any] = update[kind]
    return body


# --------------------------------------------------------------------------------------------------
# The stage
# --------------------------------------------------------------------------------------------------


@pytest.fixture
async def rig(tmp_path: Path) -> AsyncIterator[Rig]:
    stage = Rig(tmp_path, PROCESSES, limits=Limits.off())
    await stage.start()
    try:
        yield stage
    finally:
        await stage.stop()


def open_private_chats(rig: Rig, updates: list[dict[str, Any]]) -> None:
    """As on Telegram: whoever writes to the bot in a private chat has that chat open, and the messages
    the updates carry exist in it (so that the bot can copy them)."""
    bot = rig.telegram.state.bot(SUPPORT_TOKEN)
    for update in updates:
        body = body_of(update)
        chat = body.get("chat")
        if not isinstance(chat, dict) or chat.get("type") != "private":
            continue
        owner = {"id": chat["id"], "is_bot": False, "first_name": chat.get("first_name") or "User"}
        owner.update({k: chat[k] for k in ("last_name", "username") if k in chat})
        rig.telegram.open_private_chat(SUPPORT_TOKEN, owner)
        message_id, sender = body.get("message_id"), body.get("from")
        if isinstance(message_id, int) and isinstance(sender, dict):
            state = bot.private_chats[chat["id"]]
            state.messages.setdefault(message_id, StoredMessage(dict(body), sender_id=int(sender["id"])))
            state._last_message_id = max(state._last_message_id, message_id)  # the bot's next message comes after


def know_photo(rig: Rig, sizes: list[dict[str, Any]]) -> bytes:
    """Telegram knows the files its updates name: make the largest size downloadable. Returns its bytes."""
    largest = sizes[-1]
    content = b"\xff\xd8\xff\xe0" + bytes(largest["file_size"] - 4)
    record = FileRecord(
        file_id=largest["file_id"],
        file_unique_id=largest["file_unique_id"] or "AQADreference",
        kind="photo",
        file_path="photos/reference.jpg",
        size=len(content),
        data=content,
        width=largest["width"],
        height=largest["height"],
    )
    rig.telegram.state.files[record.file_id] = record
    rig.telegram.state.files_by_path[record.file_path] = record
    return content


async def post(rig: Rig, update: dict[str, Any]) -> int:
    status, text = await rig.telegram.post_update(rig.webhook_url("support"), update, secret=WEBHOOK_SECRET)
    assert status < 500, f"update {update.get('update_id')}: {status} {text}"
    await rig.settle()
    return status


async def deliver_reference(rig: Rig, name: str, caplog: pytest.LogCaptureFixture) -> list[dict[str, Any]]:
    """POST every update of the file; each must answer 200 and be handled once, without an error."""
    updates = updates_of(name)
    open_private_chats(rig, updates)
    handled_before = handled(rig)
    statuses = [await post(rig, update) for update in updates]
    assert statuses == [200] * len(updates)
    await assert_survived(rig, caplog, handled_before + len({u["update_id"] for u in updates}))
    return updates


def handled(rig: Rig) -> int:
    assert rig.desk is not None
    return rig.desk.telegram.handled


async def assert_survived(rig: Rig, caplog: pytest.LogCaptureFixture, handled_total: int) -> None:
    """Each distinct update handled once (duplicates are not), nothing kept for replay, nothing logged
    as an error (a handler's exception is logged by linedesk as "failed; kept for replay")."""
    assert rig.desk is not None
    assert handled(rig) == handled_total
    assert await rig.desk.store.inbound_pending() == []
    errors = [f"{r.name}: {r.getMessage()}" for r in caplog.records if r.levelno >= logging.ERROR]
    assert errors == []


async def client_messages(rig: Rig, session: int = 1) -> list[Message]:
    assert rig.desk is not None
    return [m for m in await rig.desk.store.list_messages(session) if m.author_kind == AuthorKind.CLIENT]


async def assert_nothing_happened(rig: Rig, calls_before: int, slack_before: int) -> None:
    """No session, and no call to Telegram or Slack since the delivery began."""
    assert rig.desk is not None
    assert await rig.desk.store.list_sessions() == []
    assert [c.method for c in rig.telegram.calls[calls_before:]] == []
    assert [c.method for c in rig.slack.calls[slack_before:]] == []


def display_name(user: dict[str, Any]) -> str:
    return " ".join(part for part in (user.get("first_name"), user.get("last_name")) if part)


async def assert_session_for(rig: Rig, user: dict[str, Any], chat_id: int, text: str | None) -> None:
    """Session #1 of `user` on the support line: the greeting reached the client's chat, the client's
    message (None for a bare /start) is stored and mirrored to the Slack desk thread."""
    assert rig.desk is not None
    [session] = await rig.desk.store.list_sessions()
    assert (session.number, session.line_id, session.client_id) == (1, "support", f"telegram:{user['id']}")
    assert session.status == SessionStatus.QUEUED
    client = await rig.desk.store.get_client(f"telegram:{user['id']}")
    assert client is not None and client.chat_id == str(chat_id) and client.name == display_name(user)
    stored = await rig.desk.store.list_messages(1)
    assert [(m.author_kind, m.text) for m in stored if m.author_kind == AuthorKind.SYSTEM] == [
        (AuthorKind.SYSTEM, GREETING)
    ]
    assert [m.text for m in stored if m.author_kind == AuthorKind.CLIENT] == ([] if text is None else [text])
    assert GREETING in [m.get("text") for m in rig.telegram.chat_messages(SUPPORT_TOKEN, chat_id)]
    thread = await rig.desk_thread(1)
    if text is not None:
        assert f"*{display_name(user)}*: {text}" in thread
    assert [c.params["name"] for c in rig.telegram.calls_of("createForumTopic")] == [f"#1 {display_name(user)}"]


# --------------------------------------------------------------------------------------------------
# The files
# --------------------------------------------------------------------------------------------------


def test_every_reference_file_has_an_expectation() -> None:
    present = sorted(p.name for p in REFERENCE.glob("*.json"))
    assert present == sorted(EXPECTED), "a reference payload was added or removed: say what linedesk does with it"


@pytest.mark.parametrize("name", files(Expect.PRIVATE_TEXT))
async def test_a_private_text_opens_a_session_stored_and_mirrored(
    rig: Rig, name: str, caplog: pytest.LogCaptureFixture
) -> None:
    [update] = await deliver_reference(rig, name, caplog)
    message = update["message"]
    await assert_session_for(rig, message["from"], message["chat"]["id"], message["text"])
    [stored] = await client_messages(rig)
    assert stored.source_ref == f"telegram:support:{message['chat']['id']}:{message['message_id']}"


@pytest.mark.parametrize("name", files(Expect.START))
async def test_start_opens_a_session_with_the_greeting(rig: Rig, name: str, caplog: pytest.LogCaptureFixture) -> None:
    [update] = await deliver_reference(rig, name, caplog)
    message = update["message"]
    assert message["text"] == "/start" and message["entities"][0]["type"] == "bot_command"
    # The payload is anonymised: its private chat id (11111111) is not the sender's id (79923438). linedesk
    # answers in the chat the message came from.
    assert message["chat"]["id"] != message["from"]["id"]
    await assert_session_for(rig, message["from"], message["chat"]["id"], None)


@pytest.mark.parametrize("name", files(Expect.CUSTOMER_GROUP))
async def test_customers_group_chats_are_ignored(rig: Rig, name: str, caplog: pytest.LogCaptureFixture) -> None:
    calls, slack = len(rig.telegram.calls), len(rig.slack.calls)
    [update] = await deliver_reference(rig, name, caplog)
    chat = update["message"]["chat"]
    assert chat["type"] == "supergroup" and chat["id"] != TELEGRAM_DESK  # a customers' group, not the desk
    await assert_nothing_happened(rig, calls, slack)
    assert rig.desk is not None
    assert await rig.desk.store.get_client(f"telegram:{update['message']['from']['id']}") is None


@pytest.mark.parametrize("name", files(Expect.FROM_BOT))
async def test_messages_from_bots_are_ignored(rig: Rig, name: str, caplog: pytest.LogCaptureFixture) -> None:
    # Bots cannot write to bots on Telegram; these anonymised test payloads have from.is_bot = true, and linedesk
    # takes only people's private messages. (The pyTelegramBotAPI document also has an empty `thumbnail`,
    # which aiogram's model rejects: dropped either way.)
    calls, slack = len(rig.telegram.calls), len(rig.slack.calls)
    [update] = await deliver_reference(rig, name, caplog)
    assert update["message"]["from"]["is_bot"] is True and update["message"]["chat"]["type"] == "private"
    await assert_nothing_happened(rig, calls, slack)


@pytest.mark.parametrize("name", files(Expect.IGNORED_KIND))
async def test_update_kinds_linedesk_does_not_handle_are_ignored(
    rig: Rig, name: str, caplog: pytest.LogCaptureFixture
) -> None:
    calls, slack = len(rig.telegram.calls), len(rig.slack.calls)
    await deliver_reference(rig, name, caplog)
    await assert_nothing_happened(rig, calls, slack)


@pytest.mark.parametrize("name", files(Expect.CALLBACKS))
async def test_callback_queries_with_unknown_data_are_ignored_and_a_duplicate_is_stored_once(
    rig: Rig, name: str, caplog: pytest.LogCaptureFixture
) -> None:
    calls, slack = len(rig.telegram.calls), len(rig.slack.calls)
    updates = updates_of(name)
    assert [u["update_id"] for u in updates] == [1, 2, 2]  # the third delivery repeats update_id 2 (other content)
    queries = rig.telegram.state.bot(SUPPORT_TOKEN).callback_queries
    for update in updates:
        query = update["callback_query"]
        # a fresh press, as on Telegram (the synthetic file reuses one query id for every update)
        queries[query["id"]] = CallbackQueryState(query["id"], query["from"]["id"])
        assert await post(rig, update) == 200
    await assert_survived(rig, caplog, 2)  # update 2 handled once
    assert rig.desk is not None
    for update_id in (1, 2):  # both are stored: delivering them again is a duplicate
        assert await rig.desk.store.inbound_add(SOURCE, str(update_id), {}, time.time()) is None
    assert await rig.desk.store.list_sessions() == []
    sent = [c for c in rig.telegram.calls[calls:]]
    # nothing but (at most) one answer per handled press, telling the presser the button is not valid
    assert {c.method for c in sent} <= {"answerCallbackQuery"} and len(sent) <= 2 and all(c.ok for c in sent)
    assert [c.method for c in rig.slack.calls[slack:]] == []


@pytest.mark.parametrize("name", files(Expect.CALLBACKS))
async def test_a_press_too_old_to_answer_is_still_handled_once(
    rig: Rig, name: str, caplog: pytest.LogCaptureFixture
) -> None:
    # Verbatim, the file's query id is unknown to Telegram: answerCallbackQuery gets 400 "query is too old and
    # response timeout expired or query ID is invalid", as for any press answered after 15 s or replayed after a
    # restart. The update must not fail over it (it would be kept for replay and fail again at every start).
    first = updates_of(name)[0]
    assert await post(rig, first) == 200
    await assert_survived(rig, caplog, 1)


@pytest.mark.parametrize("name", files(Expect.BLOCKED))
async def test_a_block_by_an_unknown_client_changes_nothing(
    rig: Rig, name: str, caplog: pytest.LogCaptureFixture
) -> None:
    calls, slack = len(rig.telegram.calls), len(rig.slack.calls)
    [update] = await deliver_reference(rig, name, caplog)
    assert update["my_chat_member"]["new_chat_member"]["status"] == "kicked"
    await assert_nothing_happened(rig, calls, slack)
    assert rig.desk is not None
    assert await rig.desk.store.get_client(f"telegram:{update['my_chat_member']['from']['id']}") is None


@pytest.mark.parametrize("name", files(Expect.BLOCKED))
async def test_a_block_by_a_known_client_marks_them_unreachable_and_tells_the_desk(
    rig: Rig, name: str, caplog: pytest.LogCaptureFixture
) -> None:
    [kicked] = updates_of(name)
    member = kicked["my_chat_member"]
    user, chat = member["from"], member["chat"]
    open_private_chats(rig, [kicked])
    first = {
        "update_id": kicked["update_id"] + 1,
        "message": {
            "message_id": 1,
            "date": member["date"] - 60,
            "chat": chat,
            "from": user,
            "text": "My order is late",
        },
    }
    assert await post(rig, first) == 200
    await assert_session_for(rig, user, chat["id"], "My order is late")
    rig.telegram.block_user(SUPPORT_TOKEN, user["id"])  # what the kick means on Telegram's side

    assert await post(rig, kicked) == 200
    await assert_survived(rig, caplog, 2)
    assert rig.desk is not None
    client = await rig.desk.store.get_client(f"telegram:{user['id']}")
    assert client is not None and client.unreachable
    assert BLOCKED_NOTICE in await rig.desk_thread(1)


@pytest.mark.parametrize("name", [pytest.param(n, id=file_id(n)) for n in MEDIA_FILES])
async def test_media_is_acknowledged_and_stored_once(rig: Rig, name: str, caplog: pytest.LogCaptureFixture) -> None:
    """Media support is young: only "200, no crash, stored once" here (delivered twice, as Telegram may)."""
    [update] = updates_of(name)
    open_private_chats(rig, [update])
    if "photo" in update["message"]:
        know_photo(rig, update["message"]["photo"])
    assert [await post(rig, update), await post(rig, update)] == [200, 200]
    await assert_survived(rig, caplog, 1)
    assert rig.desk is not None
    sessions = await rig.desk.store.list_sessions()
    if EXPECTED[name] is Expect.MEDIA:  # a person's photo in a private chat
        [stored] = await client_messages(rig)
        assert [a.kind for a in stored.attachments] == ["photo"]
        assert len(sessions) == 1
    else:  # from a bot, or breaking the spec (see the tests of those kinds)
        assert sessions == []


@pytest.mark.parametrize("name", files(Expect.MEDIA))
async def test_a_private_photo_reaches_the_slack_thread_as_a_file(
    rig: Rig, name: str, caplog: pytest.LogCaptureFixture
) -> None:
    [update] = updates_of(name)
    content = know_photo(rig, update["message"]["photo"])
    await deliver_reference(rig, name, caplog)
    root = await rig.thread_root(1)
    shared = [f for m in rig.slack.thread(root["channel"], root["ts"]) for f in m.get("files", [])]
    assert len(shared) == 1
    assert rig.slack.workspace.files[shared[0]["id"]].content == content


@pytest.mark.parametrize("name", files(Expect.NONCONFORMANT))
async def test_a_payload_breaking_the_spec_is_survived_and_linedesk_keeps_working(
    rig: Rig, name: str, caplog: pytest.LogCaptureFixture
) -> None:
    """The official webhook guide's examples lack `from.is_bot` (and the callback query `chat_instance`;
    the forward uses the pre-7.0 `forward_from`). Real Telegram always sends them."""
    calls, slack = len(rig.telegram.calls), len(rig.slack.calls)
    [update] = await deliver_reference(rig, name, caplog)
    sender = body_of(update)["from"]
    assert "is_bot" not in sender
    # What linedesk does today: aiogram's strict models reject the update, linedesk logs a warning, marks it
    # handled (so it is not replayed forever) and drops it - nothing reaches a desk or the sender.
    await assert_nothing_happened(rig, calls, slack)

    # ... and keeps working: the same person's next (conformant) message opens a session as usual.
    user = rig.telegram.user(
        sender["id"], sender["first_name"], sender.get("last_name"), sender.get("username"), language_code=None
    )
    assert await post(rig, rig.telegram.text_update(SUPPORT_TOKEN, user, FOLLOW_UP)) == 200
    await assert_survived(rig, caplog, 2)
    await assert_session_for(rig, user, user["id"], FOLLOW_UP)


@pytest.mark.parametrize("is_bot_added", [pytest.param(False, id="verbatim"), pytest.param(True, id="with-is_bot")])
async def test_an_edited_message_makes_no_new_session_message(
    rig: Rig, is_bot_added: bool, caplog: pytest.LogCaptureFixture
) -> None:
    name = "tg_update_edited_message__telegram_webhooks_guide.json"
    [edit] = updates_of(name)
    edited = edit["edited_message"]
    sender = {**edited["from"], "is_bot": False}
    original = {key: value for key, value in edited.items() if key != "edit_date"}
    original.update({"from": sender, "text": "Original text"})
    first = {"update_id": edit["update_id"] - 1, "message": original}
    open_private_chats(rig, [first])
    assert await post(rig, first) == 200
    await assert_session_for(rig, sender, edited["chat"]["id"], "Original text")
    if is_bot_added:
        edited["from"] = sender

    assert await post(rig, edit) == 200
    await assert_survived(rig, caplog, 2)
    [stored] = await client_messages(rig)  # no new session message either way
    if is_bot_added:
        # Today the edit is applied: the stored text changes, and the desk says so.
        assert (stored.text, stored.edited_at is not None) == ("Edited text", True)
        assert any("Edited text" in text and "(edited)" in text for text in await rig.desk_thread(1))
    else:
        # Verbatim (no from.is_bot) aiogram rejects it: the edit is dropped, the message stays as it was.
        assert (stored.text, stored.edited_at) == ("Original text", None)


# --------------------------------------------------------------------------------------------------
# The same payloads at Telegram's limits: what linedesk sends on must stay within them too
# --------------------------------------------------------------------------------------------------


async def spec_problems(rig: Rig) -> list[str]:
    checker = call_checker()
    return [f"{c.method} ({c.status}): {p}" for c in rig.telegram.calls for p in checker.problems(c)]


def at_the_limit(name: str, **changes: Any) -> dict[str, Any]:
    [update] = updates_of(name)  # a fresh copy
    body_of(update).update(changes)
    return update


@pytest.mark.telegram_calls_unchecked  # checked right here instead
async def test_a_client_text_of_4096_utf16_units_reaches_the_telegram_desk(rig: Rig) -> None:
    text = "😀" * 2048  # 2,048 characters, 4,096 UTF-16 code units: the longest text a client can send
    update = at_the_limit("tg_update_text_private__teloxide.json", text=text)
    open_private_chats(rig, [update])
    assert await post(rig, update) == 200
    assert rig.desk is not None and [m.text for m in await client_messages(rig)] == [text]
    assert await spec_problems(rig) == []


@pytest.mark.telegram_calls_unchecked  # checked right here instead
async def test_a_client_with_the_longest_emoji_name_gets_a_desk_topic(rig: Rig) -> None:
    name = "tg_update_text_private__teloxide.json"
    [plain] = updates_of(name)
    sender = {**plain["message"]["from"], "first_name": "🌻" * 32, "last_name": "🌼" * 32}  # 64 units each
    update = at_the_limit(name, **{"from": sender})
    open_private_chats(rig, [update])
    assert await post(rig, update) == 200
    assert await spec_problems(rig) == []
    assert len(rig.telegram.topics(TELEGRAM_DESK)) == 1


@pytest.mark.telegram_calls_unchecked  # checked right here instead
async def test_a_photo_with_the_longest_caption_is_copied_into_the_telegram_desk(rig: Rig) -> None:
    message = load("tg_message_obj_photo__teloxide.json")
    caption = "📷" * 512  # 1,024 UTF-16 code units: the longest caption a client can send
    know_photo(rig, message["photo"])
    # built by the sandbox from the reference photo, so that the message exists in the client's chat to be copied
    content = {"photo": message["photo"], "caption": caption}
    update = rig.telegram.message_update(SUPPORT_TOKEN, message["from"], content)
    assert await post(rig, update) == 200
    assert await spec_problems(rig) == []
    copies = [c for c in rig.telegram.calls_of("copyMessage") if c.ok]
    assert len(copies) == 1
