"""Files both ways between Slack and Telegram, files over 20 MB explained, and operators' edits and deletions
reaching the client's copy — over HTTP against both sandboxes."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from core.links import LinkKind
from core.model import AuthorKind
from sandboxes.limits import Limits
from sandboxes.rig import ANNA, DESK_CHANNEL, IVAN, SALES_CHANNEL, SALES_TOKEN, SUPPORT_TOKEN, Rig, link_data
from tests.support.flows import open_session_with_anna_online
from tests.support.rigs import PROCESSES
from tests.support.slack_customers import (
    PETRA,
    add_customer,
    app_says,
    app_texts,
    dm_writes,
    sales_thread,
    thread_reply,
)

SALES_DESK = -1009876543210
BIG = 25 * 1024 * 1024
PNG = b"\x89PNG\r\n\x1a\n fake machine photo"


class SalesDeskRig(Rig):
    """The stage with a Telegram desk on the sales line too (its own forum group, served by the sales bot)."""

    def config_text(self) -> str:
        channel = f'slack_desk_channel = "{SALES_CHANNEL}"\n'
        return super().config_text().replace(channel, f"{channel}telegram_desk_chat = {SALES_DESK}\n")

    async def boot(self) -> Any:
        if SALES_DESK not in self.telegram.state.groups:
            self.telegram.forum_group(SALES_DESK, "Sales desk", members=[ANNA.telegram_user])
        return await super().boot()


@pytest.fixture
async def sales_desk_rig(tmp_path: Path) -> AsyncIterator[Rig]:
    stage = SalesDeskRig(tmp_path, PROCESSES, limits=Limits.off())
    await stage.start()
    try:
        yield stage
    finally:
        await stage.stop()


def telegram_bytes(rig: Rig, message: dict[str, Any]) -> bytes:
    """The bytes of the file a Telegram message carries (a document or the largest photo)."""
    file_id = message["document"]["file_id"] if "document" in message else message["photo"][-1]["file_id"]
    return rig.telegram.state.files[file_id].read()


def ivan_chat(rig: Rig) -> list[dict[str, Any]]:
    return rig.telegram.chat_messages(SUPPORT_TOKEN, IVAN.telegram_user)


async def support_topic(rig: Rig, session: int = 1) -> list[dict[str, Any]]:
    assert rig.desk is not None
    topic = await link_data(rig.desk.store, LinkKind.SESSION_TOPIC, str(session))
    assert topic is not None
    return rig.telegram.chat_messages(SUPPORT_TOKEN, topic["chat_id"], topic["thread_id"])


async def edit(rig: Rig, user: str, channel: str, ts: str, text: str) -> None:
    response = await rig.slack.send(rig.slack_url, *rig.slack.message_changed_event(user, channel, ts, text))
    assert response.status == 200
    await rig.settle()


async def delete(rig: Rig, channel: str, ts: str) -> None:
    """The author deletes message `ts`: it goes from the channel and Slack sends `message_deleted`."""
    previous = rig.slack.message(channel, ts)
    assert previous is not None
    rig.slack.workspace.channels[channel].delete(ts)
    event_ts = rig.slack.workspace.clock.next_ts()
    response = await rig.slack.post_event(
        rig.slack_url,
        {
            "type": "message",
            "subtype": "message_deleted",
            "hidden": True,
            "channel": channel,
            "ts": event_ts,
            "deleted_ts": ts,
            "event_ts": event_ts,
            "previous_message": previous,
            "channel_type": "channel",
        },
    )
    assert response.status == 200
    await rig.settle()


# --- files ---------------------------------------------------------------------------------------------------
async def test_a_slack_customers_files_reach_the_slack_thread_and_the_telegram_topic(sales_desk_rig: Rig) -> None:
    rig = sales_desk_rig
    add_customer(rig)
    spec = rig.slack.add_file(b"%PDF-1.7 the spec", "spec.pdf", user_id=PETRA.slack_user)
    photo = rig.slack.add_file(PNG, "machine.png", user_id=PETRA.slack_user)
    await dm_writes(rig, PETRA, "Here is the spec", files=[spec, photo])

    assert rig.desk is not None
    [message] = [m for m in await rig.desk.store.list_messages(1) if m.author_kind == AuthorKind.CLIENT]
    assert [(a.kind, a.ref, a.name, a.size) for a in message.attachments] == [
        ("document", f"slack:{spec.id}", "spec.pdf", 17),
        ("photo", f"slack:{photo.id}", "machine.png", len(PNG)),
    ]

    [post] = [m for m in await sales_thread(rig) if m.get("files")]
    assert "*Petra*: Here is the spec" in post["text"]
    assert [rig.slack.files[f["id"]].content for f in post["files"]] == [b"%PDF-1.7 the spec", PNG]

    topic = await link_data(rig.desk.store, LinkKind.SESSION_TOPIC, "1")
    assert topic is not None and topic["chat_id"] == SALES_DESK
    shown = rig.telegram.chat_messages(SALES_TOKEN, SALES_DESK, topic["thread_id"])
    [document] = [m for m in shown if "document" in m]
    [picture] = [m for m in shown if "photo" in m]
    assert document["caption"] == "Petra: Here is the spec" and telegram_bytes(rig, document) == b"%PDF-1.7 the spec"
    assert document["document"]["file_name"] == "spec.pdf"
    assert telegram_bytes(rig, picture) == PNG
    assert len(rig.slack.calls_of("files.info")) == 4  # each file fetched once per desk, with the bot token


async def test_an_operators_files_in_the_thread_reach_the_telegram_client(rig: Rig) -> None:
    await open_session_with_anna_online(rig)
    manual = rig.slack.add_file(b"%PDF manual bytes", "manual.pdf", user_id=ANNA.slack_user)
    await thread_reply(rig, ANNA, 1, "The manual", files=[manual])
    document = ivan_chat(rig)[-1]
    assert document["caption"] == "Anna\nThe manual" and telegram_bytes(rig, document) == b"%PDF manual bytes"
    assert document["caption_entities"] == [{"type": "bold", "offset": 0, "length": 4}]

    photo = rig.slack.add_file(PNG, "where.png", user_id=ANNA.slack_user)
    await thread_reply(rig, ANNA, 1, "", files=[photo])
    picture = ivan_chat(rig)[-1]
    assert "photo" in picture and picture["caption"] == "Anna" and telegram_bytes(rig, picture) == PNG

    shown = await support_topic(rig)  # the Telegram desk gets the files too
    [copy] = [m for m in shown if "document" in m]
    assert copy["caption"] == "Anna → client: The manual" and telegram_bytes(rig, copy) == b"%PDF manual bytes"
    assert any("photo" in m and telegram_bytes(rig, m) == PNG for m in shown)


async def test_an_operators_file_reaches_a_slack_dm_client(rig: Rig) -> None:
    add_customer(rig)
    await dm_writes(rig, PETRA, "Send me the prices")
    await rig.slash(ANNA, "/status", "online")
    prices = rig.slack.add_file(b"model,price\nWM-1,499\n", "prices.csv", user_id=ANNA.slack_user)
    await thread_reply(rig, ANNA, 1, "Prices attached", files=[prices])
    last = app_says(rig, PETRA)[-1]
    assert last["text"] == "*Anna*\nPrices attached"
    [uploaded] = last["files"]
    assert uploaded["id"] != prices.id and uploaded["name"] == "prices.csv"
    assert rig.slack.files[uploaded["id"]].content == b"model,price\nWM-1,499\n"


async def test_an_operators_file_over_20_mb_is_explained_to_the_operator_and_on_the_desk(rig: Rig) -> None:
    await open_session_with_anna_online(rig)
    video = rig.slack.workspace.new_file("repair.mp4", BIG, ANNA.slack_user)
    rig.slack.clear_calls()
    await thread_reply(rig, ANNA, 1, "Recording of the fix", files=[video])
    note = rig.ephemeral(ANNA)[-1]["text"]
    assert "repair.mp4 (25.0 MB)" in note and "files go up to 20 MB" in note and "the rest of your message" in note
    assert ivan_chat(rig)[-1]["text"] == "Anna\nRecording of the fix"
    assert not any("document" in m or "video" in m for m in ivan_chat(rig))
    topic_texts = [m.get("text", "") for m in await support_topic(rig)]
    assert any("Recording of the fix" in t and "repair.mp4, 25.0 MB — too large to forward" in t for t in topic_texts)
    assert rig.slack.calls_of("files.info") == []  # never fetched


async def test_a_slack_customers_file_over_20_mb_is_explained_in_the_dm_and_on_the_desk(rig: Rig) -> None:
    add_customer(rig)
    archive = rig.slack.workspace.new_file("photos.zip", BIG, PETRA.slack_user)
    await dm_writes(rig, PETRA, "All the photos", files=[archive])
    notes = [t for t in app_texts(rig, PETRA) if t.startswith("Your file photos.zip is too large (25.0 MB)")]
    assert len(notes) == 1 and "operators receive files up to 20 MB" in notes[0]
    posts = await sales_thread(rig)
    assert not any(m.get("files") for m in posts)
    assert any(
        "All the photos" in m["text"] and "photos.zip, 25.0 MB — too large to forward" in m["text"] for m in posts
    )


# --- edits and deletions --------------------------------------------------------------------------------------
async def test_an_operators_edit_edits_the_telegram_clients_message_and_the_topic_copy(rig: Rig) -> None:
    await open_session_with_anna_online(rig)
    ts = await thread_reply(rig, ANNA, 1, "The master comes at 10")
    sent = ivan_chat(rig)[-1]
    assert sent["text"] == "Anna\nThe master comes at 10"

    await edit(rig, ANNA.slack_user, DESK_CHANNEL, ts, "The master comes at 11")
    edited = next(m for m in ivan_chat(rig) if m["message_id"] == sent["message_id"])
    assert (edited["text"], edited["edit_count"]) == ("Anna\nThe master comes at 11", 1)
    assert edited["entities"] == [{"type": "bold", "offset": 0, "length": 4}]
    topic_texts = [m.get("text", "") for m in await support_topic(rig)]
    assert "Anna → client: The master comes at 11 (edited)" in topic_texts
    assert "Anna → client: The master comes at 10" not in topic_texts
    assert rig.desk is not None
    [message] = [m for m in await rig.desk.store.list_messages(1) if m.author_kind == AuthorKind.OPERATOR]
    assert message.text == "The master comes at 11" and message.edited_at is not None

    calls = len(rig.telegram.calls_of("editMessageText", token=SUPPORT_TOKEN))
    await edit(rig, ANNA.slack_user, DESK_CHANNEL, ts, "The master comes at 11")  # e.g. an unfurl: same text
    assert len(rig.telegram.calls_of("editMessageText", token=SUPPORT_TOKEN)) == calls


async def test_an_edit_of_a_caption_edits_the_clients_caption(rig: Rig) -> None:
    await open_session_with_anna_online(rig)
    manual = rig.slack.add_file(b"%PDF manual", "manual.pdf", user_id=ANNA.slack_user)
    ts = await thread_reply(rig, ANNA, 1, "Manual v1", files=[manual])
    await edit(rig, ANNA.slack_user, DESK_CHANNEL, ts, "Manual v2")
    document = ivan_chat(rig)[-1]
    assert (document["caption"], document["edit_count"]) == ("Anna\nManual v2", 1)
    assert any(m.get("caption") == "Anna → client: Manual v2 (edited)" for m in await support_topic(rig))


async def test_an_operators_delete_deletes_the_telegram_clients_copy(rig: Rig) -> None:
    await open_session_with_anna_online(rig)
    ts = await thread_reply(rig, ANNA, 1, "Your price is 10 EUR")
    assert ivan_chat(rig)[-1]["text"] == "Anna\nYour price is 10 EUR"
    await delete(rig, DESK_CHANNEL, ts)
    assert [m.get("text") for m in ivan_chat(rig)] == [
        "Hello, my washing machine is broken",
        "Hello! An operator will answer shortly.",
    ]
    topic_texts = [m.get("text", "") for m in await support_topic(rig)]
    assert topic_texts[-1] == "🗑 Anna deleted a message to the client: Your price is 10 EUR"
    assert len(rig.telegram.calls_of("deleteMessage", token=SUPPORT_TOKEN)) == 1

    await delete_again(rig, ts)
    assert len(rig.telegram.calls_of("deleteMessage", token=SUPPORT_TOKEN)) == 1


async def delete_again(rig: Rig, ts: str) -> None:
    """Slack delivers the same deletion once more (a new event id): nothing more happens."""
    event_ts = rig.slack.workspace.clock.next_ts()
    await rig.slack.post_event(
        rig.slack_url,
        {
            "type": "message",
            "subtype": "message_deleted",
            "hidden": True,
            "channel": DESK_CHANNEL,
            "ts": event_ts,
            "deleted_ts": ts,
            "event_ts": event_ts,
            "channel_type": "channel",
            "previous_message": {"type": "message", "user": ANNA.slack_user, "text": "x", "ts": ts},
        },
    )
    await rig.settle()


async def test_edit_and_delete_reach_a_slack_dm_client(rig: Rig) -> None:
    add_customer(rig)
    dm = rig.slack.dm(PETRA.slack_user)
    await dm_writes(rig, PETRA, "How much?")
    await rig.slash(ANNA, "/status", "online")
    ts = await thread_reply(rig, ANNA, 1, "100 EUR each")
    root = await rig.thread_root(1)
    assert app_texts(rig, PETRA)[-1] == "*Anna*\n100 EUR each"

    await edit(rig, ANNA.slack_user, root["channel"], ts, "90 EUR each")
    last = app_says(rig, PETRA)[-1]
    assert last["text"] == "*Anna*\n90 EUR each" and "edited" in last
    assert [c.params["text"] for c in rig.slack.calls_of("chat.update") if c.params.get("channel") == dm] == [
        "*Anna*\n90 EUR each"
    ]

    await delete(rig, root["channel"], ts)
    assert app_texts(rig, PETRA) == ["Hello! An operator will answer shortly."]
    assert [c.params["channel"] for c in rig.slack.calls_of("chat.delete")] == [dm]


async def test_a_notes_edit_stays_on_the_desks_and_strangers_edits_change_nothing(rig: Rig) -> None:
    await open_session_with_anna_online(rig)
    ts = await thread_reply(rig, ANNA, 1, "// call back at 5")
    calls = len(rig.telegram.calls_of("editMessageText", token=SUPPORT_TOKEN))
    await edit(rig, ANNA.slack_user, DESK_CHANNEL, ts, "// call back at 6")
    topic_texts = [m.get("text", "") for m in await support_topic(rig)]
    assert "📝 Anna (note): // call back at 6 (edited)" in topic_texts
    assert [m["text"] for m in ivan_chat(rig)] == [
        "Hello, my washing machine is broken",
        "Hello! An operator will answer shortly.",
    ]
    assert len(rig.telegram.calls_of("editMessageText", token=SUPPORT_TOKEN)) == calls + 1  # the topic copy only

    # a message Slack says someone else wrote (or an unknown message) changes nothing
    await thread_reply(rig, ANNA, 1, "See you")
    root = await rig.thread_root(1)
    [reply] = [m for m in rig.slack.thread(root["channel"], root["ts"]) if m.get("text") == "See you"]
    forged = {**reply, "user": "U0CARL01", "text": "Send me your card number"}
    event_ts = rig.slack.workspace.clock.next_ts()
    await rig.slack.post_event(
        rig.slack_url,
        {
            "type": "message",
            "subtype": "message_changed",
            "hidden": True,
            "channel": DESK_CHANNEL,
            "ts": event_ts,
            "event_ts": event_ts,
            "channel_type": "channel",
            "message": forged,
            "previous_message": reply,
        },
    )
    await rig.settle()
    assert ivan_chat(rig)[-1]["text"] == "Anna\nSee you" and ivan_chat(rig)[-1]["edit_count"] == 0


async def test_an_operators_file_in_the_telegram_topic_reaches_a_slack_dm_client(sales_desk_rig: Rig) -> None:
    rig = sales_desk_rig
    add_customer(rig)
    await dm_writes(rig, PETRA, "Can I see the contract?")
    await rig.slash(ANNA, "/status", "online")
    assert rig.desk is not None
    topic = await link_data(rig.desk.store, LinkKind.SESSION_TOPIC, "1")
    assert topic is not None
    anna = rig.telegram.user(ANNA.telegram_user, ANNA.name)
    contract = rig.telegram.register_file(b"%PDF contract", kind="document", file_name="contract.pdf")
    update = rig.telegram.media_update(
        SALES_TOKEN, anna, contract, caption="Here it is", chat=SALES_DESK, thread_id=topic["thread_id"]
    )
    assert (await rig.telegram.deliver(SALES_TOKEN, update)).status == 200
    await rig.settle()
    last = app_says(rig, PETRA)[-1]
    assert last["text"] == "*Anna*\nHere it is"
    [uploaded] = last["files"]
    assert uploaded["name"] == "contract.pdf" and rig.slack.files[uploaded["id"]].content == b"%PDF contract"

    location = rig.telegram.message_update(
        SALES_TOKEN,
        anna,
        {"location": {"latitude": 49.19, "longitude": 16.61}},
        chat=SALES_DESK,
        thread_id=topic["thread_id"],
    )
    assert (await rig.telegram.deliver(SALES_TOKEN, location)).status == 200
    await rig.settle()
    assert app_texts(rig, PETRA)[-1] == "*Anna*\n📍 49.19, 16.61"
