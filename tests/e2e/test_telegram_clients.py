"""Telegram customers: every kind of message, albums, edits, replies, big files, blocking, long texts and a
deleted desk topic — over HTTP with the real aiogram client against the sandbox."""

from __future__ import annotations

from typing import Any

from core.links import LinkKind
from core.model import AuthorKind
from sandboxes.rig import ANNA, IVAN, SUPPORT_TOKEN, TELEGRAM_DESK, Rig, link_data
from tests.support.flows import open_session_with_anna_online


def ivan(rig: Rig) -> dict[str, Any]:
    return rig.telegram.user(IVAN.telegram_user, "Ivan")


async def send(rig: Rig, update: dict[str, Any]) -> None:
    result = await rig.telegram.deliver(SUPPORT_TOKEN, update)
    assert result.status == 200, result
    await rig.settle()


async def thread_messages(rig: Rig, session: int = 1) -> list[dict[str, Any]]:
    root = await rig.thread_root(session)
    return rig.slack.thread(root["channel"], root["ts"])


async def topic_messages(rig: Rig, session: int = 1) -> list[dict[str, Any]]:
    assert rig.desk is not None
    topic = await link_data(rig.desk.store, LinkKind.SESSION_TOPIC, str(session))
    assert topic is not None
    return rig.telegram.chat_messages(SUPPORT_TOKEN, TELEGRAM_DESK, topic["thread_id"])


async def test_a_photo_reaches_the_slack_thread_as_a_file_and_the_topic_as_a_copy(rig: Rig) -> None:
    await rig.client_writes(IVAN, "Hello")
    photo = rig.telegram.register_file(b"\x89PNG fake photo bytes", kind="photo")
    await send(rig, rig.telegram.media_update(SUPPORT_TOKEN, ivan(rig), photo, caption="The broken part"))
    posts = await thread_messages(rig)
    [with_file] = [m for m in posts if m.get("files")]
    assert "*Ivan*: The broken part" in with_file["text"]
    [uploaded] = with_file["files"]
    assert rig.slack.workspace.files[uploaded["id"]].content == b"\x89PNG fake photo bytes"
    copies = rig.telegram.calls_of("copyMessage", token=SUPPORT_TOKEN)
    assert [c.params["from_chat_id"] for c in copies] == [IVAN.telegram_user]
    assert any(m.get("photo") and m.get("caption") == "Ivan: The broken part" for m in await topic_messages(rig))
    assert rig.desk is not None
    [_, message] = [m for m in await rig.desk.store.list_messages(1) if m.author_kind == AuthorKind.CLIENT]
    assert message.attachments[0].kind == "photo" and message.text == "The broken part"


async def test_every_other_kind_of_message_arrives(rig: Rig) -> None:
    await rig.client_writes(IVAN, "Hello")
    user = ivan(rig)
    for kind in ("document", "voice", "video"):
        file = rig.telegram.register_file(f"{kind} bytes".encode(), kind=kind, file_name=f"{kind}.bin")
        await send(rig, rig.telegram.media_update(SUPPORT_TOKEN, user, file))
    round_video = rig.telegram.register_file(b"round video bytes", kind="video", file_name="video_note.bin")
    video = round_video.content("video")["video"]
    await send(
        rig,
        rig.telegram.message_update(
            SUPPORT_TOKEN,
            user,
            {
                "video_note": {
                    "file_id": video["file_id"],
                    "file_unique_id": video["file_unique_id"],
                    "length": 240,
                    "duration": 3,
                    "file_size": video["file_size"],
                }
            },
        ),
    )
    await send(
        rig,
        rig.telegram.message_update(
            SUPPORT_TOKEN,
            user,
            {
                "sticker": {
                    "file_id": "stk1",
                    "file_unique_id": "u1",
                    "type": "regular",
                    "width": 512,
                    "height": 512,
                    "is_animated": False,
                    "is_video": False,
                    "emoji": "👍",
                }
            },
        ),
    )
    await send(
        rig, rig.telegram.message_update(SUPPORT_TOKEN, user, {"location": {"latitude": 55.75, "longitude": 37.62}})
    )
    await send(
        rig,
        rig.telegram.message_update(
            SUPPORT_TOKEN,
            user,
            {"contact": {"phone_number": "+79001234567", "first_name": "Ivan", "last_name": "Petrov"}},
        ),
    )
    posts = await thread_messages(rig)
    uploaded = sorted(f["name"] for m in posts for f in m.get("files", []))
    assert uploaded[:2] == ["document.bin", "video.bin"] and len(uploaded) == 4
    assert uploaded[2].startswith("video_note_") and uploaded[2].endswith(".mp4")
    assert uploaded[3].startswith("voice_") and uploaded[3].endswith((".oga", ".ogg", ".opus"))
    texts = [m["text"] for m in posts]
    assert "*Ivan*: 👍" in texts
    assert "*Ivan*: 📍 55.75, 37.62" in texts
    assert "*Ivan*: 👤 Ivan Petrov +79001234567" in texts
    topic_texts = [m.get("text", "") for m in await topic_messages(rig)]
    assert "Ivan: 👍" in topic_texts and "Ivan: 📍 55.75, 37.62" in topic_texts


async def test_a_file_over_20_mb_is_explained_on_both_sides(rig: Rig) -> None:
    await rig.client_writes(IVAN, "Hello")
    big = rig.telegram.register_file(kind="document", size=25 * 1024 * 1024, file_name="scan.pdf")
    await send(rig, rig.telegram.media_update(SUPPORT_TOKEN, ivan(rig), big))
    assert rig.client_chat(IVAN)[-1].startswith("Your file scan.pdf is too large (25.0 MB)")
    posts = await thread_messages(rig)
    assert not any(m.get("files") for m in posts)
    assert any("scan.pdf, 25.0 MB — too large to forward (files up to 20 MB)" in m["text"] for m in posts)
    assert rig.telegram.calls_of("getFile") == []


async def test_an_album_is_one_desk_post(rig: Rig) -> None:
    await rig.client_writes(IVAN, "Hello")
    user = ivan(rig)
    for index in range(3):
        photo = rig.telegram.register_file(f"photo {index}".encode(), kind="photo")
        content = {"photo": photo.content("photo")["photo"], "media_group_id": "album-1"}
        if index == 0:
            content["caption"] = "Three angles"
        await rig.telegram.deliver(SUPPORT_TOKEN, rig.telegram.message_update(SUPPORT_TOKEN, user, content))
    await rig.settle()  # the album's post waits a second for the rest of the album
    posts = [m for m in await thread_messages(rig) if m.get("files")]
    assert len(rig.slack.calls_of("files.completeUploadExternal")) == 1
    [album] = posts
    assert len(album["files"]) == 3 and "Three angles" in album["text"]
    assert rig.desk is not None
    stored = [m for m in await rig.desk.store.list_messages(1) if m.media_group == "album-1"]
    assert len(stored) == 3


async def test_an_edit_edits_the_mirrored_messages(rig: Rig) -> None:
    result = await rig.client_writes(IVAN, "My adress is Lenina 1")
    assert result.status == 200
    original = next(
        m
        for m in rig.telegram.chat_messages(SUPPORT_TOKEN, IVAN.telegram_user)
        if m.get("text") == "My adress is Lenina 1"
    )
    await send(
        rig, rig.telegram.edited_text_update(SUPPORT_TOKEN, ivan(rig), original["message_id"], "My address is Lenina 1")
    )
    posts = [m["text"] for m in await thread_messages(rig)]
    assert "*Ivan*: My address is Lenina 1 (edited)" in posts
    assert "*Ivan*: My adress is Lenina 1" not in posts
    topic_texts = [m.get("text", "") for m in await topic_messages(rig)]
    assert "Ivan: My address is Lenina 1 (edited)" in topic_texts
    assert rig.desk is not None
    [message] = [m for m in await rig.desk.store.list_messages(1) if m.author_kind == AuthorKind.CLIENT]
    assert message.text == "My address is Lenina 1" and message.edited_at is not None


async def test_a_reply_is_linked_to_the_message_it_answers(rig: Rig) -> None:
    await rig.client_writes(IVAN, "Order 42")
    chat = rig.telegram.chat_messages(SUPPORT_TOKEN, IVAN.telegram_user)
    first = next(m for m in chat if m.get("text") == "Order 42")
    await send(rig, rig.telegram.text_update(SUPPORT_TOKEN, ivan(rig), "this one", reply_to=first["message_id"]))
    assert rig.desk is not None
    messages = [m for m in await rig.desk.store.list_messages(1) if m.author_kind == AuthorKind.CLIENT]
    assert messages[1].reply_to == messages[0].id


async def test_group_chats_of_customers_and_unknown_updates_are_ignored(rig: Rig) -> None:
    user = ivan(rig)
    group = rig.telegram.group(-100777, "Ivan's friends", members=[IVAN.telegram_user])
    status, _ = await rig.telegram.post_update(
        rig.webhook_url(),
        rig.telegram.text_update(SUPPORT_TOKEN, user, "hi all", chat=group),
        secret="support-webhook-secret",
    )
    assert status == 200
    status, _ = await rig.telegram.post_update(
        rig.webhook_url(), {"update_id": 9_000_001, "new_kind": {"x": 1}}, secret="support-webhook-secret"
    )
    assert status == 200
    await rig.settle()
    assert rig.desk is not None
    assert await rig.desk.store.list_sessions() == []
    assert await rig.desk.store.inbound_pending() == []


async def test_blocking_the_bot_marks_the_client_and_writing_again_clears_it(rig: Rig) -> None:
    await open_session_with_anna_online(rig)
    await send(rig, rig.telegram.my_chat_member_update(SUPPORT_TOKEN, ivan(rig), "member", "kicked"))
    assert rig.desk is not None
    client = await rig.desk.store.get_client("telegram:501")
    assert client is not None and client.unreachable
    assert "⚠ The client blocked the bot: nothing more reaches them until they write again." in await rig.desk_thread(1)
    before = len(rig.telegram.calls_of("sendMessage", token=SUPPORT_TOKEN))
    await rig.thread_reply(ANNA, 1, "Hello?")
    assert "blocked the bot" in rig.ephemeral(ANNA)[-1]["text"]
    sends_to_ivan = [
        c
        for c in rig.telegram.calls_of("sendMessage", token=SUPPORT_TOKEN)[before:]
        if c.params.get("chat_id") == IVAN.telegram_user
    ]
    assert sends_to_ivan == []

    rig.telegram.unblock_user(SUPPORT_TOKEN, IVAN.telegram_user)
    await rig.client_writes(IVAN, "Sorry, I'm back")
    client = await rig.desk.store.get_client("telegram:501")
    assert client is not None and not client.unreachable
    await rig.thread_reply(ANNA, 1, "Welcome back")
    assert rig.client_chat(IVAN)[-1] == "Anna\nWelcome back"


async def test_long_texts_are_split_not_refused(rig: Rig) -> None:
    await open_session_with_anna_online(rig)
    long = ("word " * 1500).strip()  # 7,499 characters
    await rig.thread_reply(ANNA, 1, long)
    sent = [
        c.params["text"]
        for c in rig.telegram.calls_of("sendMessage", token=SUPPORT_TOKEN)
        if c.params.get("chat_id") == IVAN.telegram_user and c.params["text"].startswith(("Anna\nword", "word"))
    ]
    assert len(sent) == 2 and all(len(chunk) <= 4096 for chunk in sent)
    assert " ".join(sent) == f"Anna\n{long}"  # signed once, on the first part


async def test_a_deleted_topic_is_recreated_on_the_next_message(rig: Rig) -> None:
    await rig.client_writes(IVAN, "Hello")
    assert rig.desk is not None
    topic = await link_data(rig.desk.store, LinkKind.SESSION_TOPIC, "1")
    assert topic is not None
    bot = rig.desk.telegram_bots.get("support")
    assert bot is not None
    await bot.delete_forum_topic(chat_id=TELEGRAM_DESK, message_thread_id=topic["thread_id"])
    await rig.client_writes(IVAN, "Anyone?")
    reopened = await link_data(rig.desk.store, LinkKind.SESSION_TOPIC, "1")
    assert reopened is not None and reopened["thread_id"] != topic["thread_id"]
    texts = [m.get("text", "") for m in await topic_messages(rig)]
    assert texts[-1] == "Ivan: Anyone?" and any(t.startswith("#1 · Ivan") for t in texts)
    names = [c.params["name"] for c in rig.telegram.calls_of("createForumTopic")]
    assert names == ["#1 Ivan", "#1 Ivan"]


async def test_an_edited_caption_reaches_the_slack_desk_escaped(rig: Rig) -> None:
    """Issue 12, point 11: after a file upload the desk has no copy to edit, so linedesk posts "✏ … edited a
    message: …" instead — with the client's words unescaped, "<!channel>" in a caption notified the whole desk."""
    photo = rig.telegram.register_file(b"\x89PNG receipt", kind="photo")
    sent = rig.telegram.media_update(SUPPORT_TOKEN, ivan(rig), photo, caption="Receipt")
    await send(rig, sent)
    message = dict(sent["message"])
    message.update(caption="<!channel> look at this <https://evil.example|receipt>", edit_date=message["date"] + 5)
    await send(rig, {"update_id": sent["update_id"] + 1, "edited_message": message})
    posts = [m.get("text", "") for m in await thread_messages(rig)]
    [notice] = [p for p in posts if "edited a message" in p]
    assert "<!channel>" not in notice and "<https://" not in notice
    assert "&lt;!channel&gt; look at this" in notice
