"""The Telegram sandbox's `copyMessages` and `sendMediaGroup`, driven by the real aiogram client (no mocks)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest
from aiogram import Bot
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.exceptions import TelegramBadRequest, TelegramRetryAfter
from aiogram.types import (
    BufferedInputFile,
    InputMediaAudio,
    InputMediaDocument,
    InputMediaPhoto,
    InputMediaVideo,
)

from sandboxes.limits import PLATFORM_LIMITS, TELEGRAM_GROUP_MESSAGES, Limits
from sandboxes.telegram import TelegramSandbox
from tests.support.hand_time import HandTime
from tests.support.telegram_spec import SpecChecker, load_spec

# wrong calls on purpose (400s): not checked by tests/conftest.py
pytestmark = pytest.mark.telegram_calls_unchecked

TOKEN = "123456:AAE-albums_Token"
IVAN, ANNA = 1001, 2001
DESK = -1001234567890


class FastSession(AiohttpSession):
    """aiogram's AiohttpSession.close() sleeps 250 ms for SSL shutdown; plain HTTP needs none."""

    async def close(self) -> None:
        if self._session is not None and not self._session.closed:
            await self._session.close()


async def _sandbox(limits: Limits, hand: HandTime | None = None) -> TelegramSandbox:
    sandbox = TelegramSandbox(limits=limits, clock=hand) if hand else TelegramSandbox(limits=limits)
    await sandbox.start()
    sandbox.add_bot(TOKEN, "support_bot")
    sandbox.user(IVAN, "Ivan")
    sandbox.user(ANNA, "Anna")
    sandbox.open_private_chat(TOKEN, IVAN)
    sandbox.forum_group(DESK, "Support desk", members=[ANNA])
    return sandbox


@pytest.fixture
async def sandbox() -> AsyncIterator[TelegramSandbox]:
    sandbox = await _sandbox(Limits.off())
    yield sandbox
    await sandbox.stop()


@pytest.fixture
async def bot(sandbox: TelegramSandbox) -> AsyncIterator[Bot]:
    b = Bot(TOKEN, session=FastSession(api=TelegramAPIServer.from_base(sandbox.base_url), timeout=5))
    yield b
    await b.session.close()


def conforms(sandbox: TelegramSandbox) -> None:
    checker = SpecChecker(load_spec())
    problems = [f"{c.method}: {e}" for c in sandbox.calls if c.ok for e in checker.check_result(c.method, c.result)]
    assert problems == []


def client_photos(sandbox: TelegramSandbox, count: int) -> list[int]:
    """The client sends `count` photos to the bot, each with a caption: their message ids."""
    ids = []
    for n in range(count):
        record = sandbox.register_file(f"jpeg {n}".encode(), kind="photo")
        ids.append(sandbox.media_update(TOKEN, IVAN, record, caption=f"photo {n}")["message"]["message_id"])
    return ids


# --- copyMessages ------------------------------------------------------------------------------------------
async def test_copy_messages_copies_in_order_into_a_topic_and_skips_what_cannot_be_copied(
    sandbox: TelegramSandbox, bot: Bot
) -> None:
    topic = await bot.create_forum_topic(DESK, "#1 Ivan")
    ids = client_photos(sandbox, 3)
    text = sandbox.text_update(TOKEN, IVAN, "and a word")["message"]["message_id"]
    copied = await bot.copy_messages(DESK, IVAN, [*ids, text, 999], message_thread_id=topic.message_thread_id)
    shown = sandbox.chat_messages(TOKEN, DESK, thread_id=topic.message_thread_id)[1:]  # after the topic's start
    assert [c.message_id for c in copied] == [m["message_id"] for m in shown]  # 999 does not exist: skipped
    assert [m.get("caption") or m.get("text") for m in shown] == ["photo 0", "photo 1", "photo 2", "and a word"]
    assert all(m["message_thread_id"] == topic.message_thread_id and "forward_origin" not in m for m in shown)
    originals = {m["message_id"]: m for m in sandbox.chat_messages(TOKEN, IVAN)}
    assert [m["photo"][0]["file_id"] for m in shown[:3]] == [originals[i]["photo"][0]["file_id"] for i in ids]
    bare = await bot.copy_messages(DESK, IVAN, ids[:2], message_thread_id=topic.message_thread_id, remove_caption=True)
    assert len(bare) == 2
    assert all("caption" not in m for m in sandbox.chat_messages(TOKEN, DESK, thread_id=topic.message_thread_id)[-2:])
    conforms(sandbox)


async def test_copy_messages_skips_service_messages_and_keeps_albums_together(
    sandbox: TelegramSandbox, bot: Bot
) -> None:
    topic = await bot.create_forum_topic(DESK, "#1 Ivan")
    album = await bot.send_media_group(
        IVAN,
        [
            InputMediaPhoto(media=BufferedInputFile(b"a", "a.jpg")),
            InputMediaPhoto(media=BufferedInputFile(b"b", "b.jpg")),
        ],
    )
    other = await bot.create_forum_topic(DESK, "#2 Olga")  # its creation is a service message
    note = await bot.send_message(DESK, "a note", message_thread_id=other.message_thread_id)
    copied = await bot.copy_messages(IVAN, DESK, [other.message_thread_id, note.message_id])
    assert len(copied) == 1 and sandbox.chat_messages(TOKEN, IVAN)[-1]["text"] == "a note"
    with pytest.raises(TelegramBadRequest, match="message to copy not found"):
        await bot.copy_messages(IVAN, DESK, [other.message_thread_id])  # nothing left to copy
    again = await bot.copy_messages(
        DESK, IVAN, [m.message_id for m in album], message_thread_id=topic.message_thread_id
    )
    copies = sandbox.chat_messages(TOKEN, DESK, thread_id=topic.message_thread_id)[-2:]
    assert [c["message_id"] for c in copies] == [m.message_id for m in again]
    groups = {c["media_group_id"] for c in copies}
    assert len(groups) == 1 and groups != {album[0].media_group_id}  # a new album of their own


@pytest.mark.parametrize(
    ("ids", "error"),
    [
        ([], "message identifiers are not specified"),
        ([3, 2], "message identifiers must be in a strictly increasing order"),
        ([2, 2], "message identifiers must be in a strictly increasing order"),
        (list(range(1, 102)), "too many messages to copy"),
    ],
)
async def test_copy_messages_refuses_bad_identifiers_as_telegram_words_it(
    sandbox: TelegramSandbox, bot: Bot, ids: list[int], error: str
) -> None:
    client_photos(sandbox, 3)
    with pytest.raises(TelegramBadRequest, match=error):
        await bot.copy_messages(DESK, IVAN, ids)
    assert sandbox.chat_messages(TOKEN, DESK) == []


# --- sendMediaGroup ----------------------------------------------------------------------------------------
async def test_send_media_group_uploads_and_file_ids_share_one_album_with_captions(
    sandbox: TelegramSandbox, bot: Bot
) -> None:
    topic = await bot.create_forum_topic(DESK, "#1 Ivan")
    known = sandbox.register_file(b"known", kind="photo")
    sent = await bot.send_media_group(
        DESK,
        [
            InputMediaPhoto(media=BufferedInputFile(b"\xff\xd8one", "one.jpg"), caption="Slack: Ivan: look"),
            InputMediaPhoto(media=known.file_id),
            InputMediaVideo(media=BufferedInputFile(b"mp4", "clip.mp4"), caption="<b>clip</b>", parse_mode="HTML"),
        ],
        message_thread_id=topic.message_thread_id,
    )
    assert len(sent) == 3 and len({m.media_group_id for m in sent}) == 1 and sent[0].media_group_id
    assert [m.caption for m in sent] == ["Slack: Ivan: look", None, "clip"]
    assert sent[2].caption_entities and sent[2].caption_entities[0].type == "bold"
    assert sent[1].photo and sent[1].photo[0].file_id == known.file_id
    shown = sandbox.chat_messages(TOKEN, DESK, thread_id=topic.message_thread_id)[1:]
    assert [m["message_id"] for m in shown] == [m.message_id for m in sent]
    assert sent[0].photo is not None
    downloaded = await bot.download_file((await bot.get_file(sent[0].photo[-1].file_id)).file_path or "")
    assert downloaded is not None and downloaded.read() == b"\xff\xd8one"
    documents = await bot.send_media_group(
        IVAN,
        [InputMediaDocument(media=BufferedInputFile(b"%PDF", f"{n}.pdf")) for n in range(2)],
    )
    assert [m.document.file_name for m in documents if m.document] == ["0.pdf", "1.pdf"]
    songs = await bot.send_media_group(
        IVAN, [InputMediaAudio(media=BufferedInputFile(b"ID3", f"{n}.mp3")) for n in range(2)]
    )
    assert all(m.audio is not None for m in songs) and songs[0].media_group_id != documents[0].media_group_id
    alone = await bot.send_media_group(IVAN, [InputMediaPhoto(media=known.file_id)])
    assert len(alone) == 1 and alone[0].media_group_id is None  # one item is a message of its own
    conforms(sandbox)


def photo(name: str = "p.jpg") -> InputMediaPhoto:
    return InputMediaPhoto(media=BufferedInputFile(b"\xff\xd8", name))


@pytest.mark.parametrize(
    ("media", "error"),
    [
        ([photo() for _ in range(11)], "too many messages to send as an album"),
        ([photo(), InputMediaDocument(media=BufferedInputFile(b"%PDF", "a.pdf"))], "document can't be mixed"),
        ([InputMediaAudio(media=BufferedInputFile(b"ID3", "a.mp3")), photo()], "audio can't be mixed"),
        ([photo(), InputMediaPhoto(media="no-such-file-id")], "wrong file identifier"),
    ],
)
async def test_send_media_group_refuses_bad_albums_and_sends_nothing(
    sandbox: TelegramSandbox, bot: Bot, media: list[InputMediaPhoto | InputMediaDocument | InputMediaAudio], error: str
) -> None:
    with pytest.raises(TelegramBadRequest, match=error):
        await bot.send_media_group(IVAN, list(media))
    assert sandbox.chat_messages(TOKEN, IVAN) == []


async def test_send_media_group_with_no_items_or_a_sticker(sandbox: TelegramSandbox) -> None:
    async with aiohttp.ClientSession() as http:
        url = f"{sandbox.base_url}/bot{TOKEN}/sendMediaGroup"
        for media, error in (
            ([], "Bad Request: there are no messages to send"),
            (
                [{"type": "sticker", "media": "x"}],
                'Bad Request: can\'t parse InputMedia: type "sticker" is unsupported',
            ),
            ([{"type": "photo", "media": "attach://gone"}], "Bad Request: can't parse InputMedia: media not found"),
        ):
            async with http.post(url, json={"chat_id": IVAN, "media": media}) as response:
                assert (response.status, (await response.json())["description"]) == (400, error)


# --- the group's limit counts every message -----------------------------------------------------------------
async def test_an_album_or_a_copy_of_several_counts_one_per_message_against_the_group() -> None:
    hand = HandTime()
    sandbox = await _sandbox(PLATFORM_LIMITS, hand)
    bot = Bot(TOKEN, session=FastSession(api=TelegramAPIServer.from_base(sandbox.base_url), timeout=5))
    try:
        ids = client_photos(sandbox, 10)
        await bot.copy_messages(DESK, IVAN, ids)  # 10 of the group's 20 a minute
        await bot.send_media_group(DESK, [photo(f"{n}.jpg") for n in range(9)])  # 19
        with pytest.raises(TelegramRetryAfter):
            await bot.send_media_group(DESK, [photo(), photo()])  # 21: refused whole
        await bot.send_message(DESK, "the twentieth")
        assert len(sandbox.chat_messages(TOKEN, DESK)) == TELEGRAM_GROUP_MESSAGES
    finally:
        await bot.session.close()
        await sandbox.stop()
