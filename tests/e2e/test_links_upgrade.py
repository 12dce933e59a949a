"""A session opened before the platform links (its Slack thread and Telegram topic kept as two refs each, its
messages' platform messages and copies as one ref each) keeps its thread and topic after the upgrade (SQLite
migrations 7 and 8, Redis layouts 3 and 4), both ways: the client's next message lands in them, and operators'
replies there reach the client; an edit of a message from before the upgrade edits its copies in place — on
SQLite and on Redis."""

from __future__ import annotations

import json
import sqlite3

import redis.asyncio as aioredis

from core.links import LEGACY_FORWARD, Link, LinkKind
from core.store import RedisStore
from sandboxes.rig import ANNA, IVAN, SUPPORT_TOKEN, TELEGRAM_DESK, Rig
from tests.support.legacy_refs import get_legacy_ref, legacy_refs_of
from tests.support.rigs import REDIS_URL
from tests.support.schema import set_back
from tests.support.slack_customers import thread_reply


async def back_to_refs(rig: Rig) -> None:
    """With linedesk stopped: the links turned back into the refs linedesk wrote before them (for a session's
    thread or topic a forward ref and a reverse one, for the others one: `legacy_refs_of`; by `set_ref`: JSON
    values), and the store's version set back to before migration 7 / layout 3."""
    if rig.store_url.startswith("sqlite"):
        with sqlite3.connect(rig.workdir / "linedesk.db") as db:
            rows = db.execute("SELECT kind, ours, platform, data FROM links").fetchall()
            for kind, ours, platform, data in rows:
                for namespace, key, value in legacy_refs_of(Link(LinkKind(kind), ours, platform, json.loads(data))):
                    db.execute(
                        "INSERT OR REPLACE INTO refs (namespace, key, value) VALUES (?, ?, ?)",
                        (namespace, key, json.dumps(value)),
                    )
            db.execute("DROP TABLE links")
            set_back(db, 6)
        return
    prefix = rig.store_url.split("prefix=", 1)[1]
    keys = RedisStore(REDIS_URL, prefix=prefix)._k
    client = aioredis.Redis.from_url(REDIS_URL, decode_responses=True)
    try:
        for kind in LinkKind:
            for ours, doc in (await client.hgetall(keys("link", kind.value))).items():
                stored = json.loads(doc)
                for namespace, key, value in legacy_refs_of(Link(kind, str(ours), stored["platform"], stored["data"])):
                    await client.hset(keys("ref", namespace), key, json.dumps(value))
            await client.delete(keys("link", kind.value), keys("link", kind.value, "to"))
        await client.set(keys("schema"), 2)
    finally:
        await client.aclose()


async def test_a_session_opened_before_the_upgrade_keeps_its_thread_and_topic(any_store_rig: Rig) -> None:
    rig = any_store_rig
    await rig.slash(ANNA, "/status", "online")
    await rig.client_writes(IVAN, "Hello, my washing machine is broken")
    root = await rig.thread_root(1)
    thread = await rig.topic_thread(1)
    await rig.click(ANNA, "session.take", "1", channel_id=root["channel"], message_ts=root["ts"])
    await rig.shutdown()
    await back_to_refs(rig)
    await rig.boot()
    await rig.settle()
    assert rig.desk is not None
    assert await get_legacy_ref(rig.desk.store, LEGACY_FORWARD[LinkKind.SESSION_TOPIC], "1") is None  # converted

    await rig.client_writes(IVAN, "It is still broken")
    assert await rig.thread_root(1) == root  # the same thread, no second card
    assert await rig.topic_thread(1) == thread
    assert [c.params["name"] for c in rig.telegram.calls_of("createForumTopic")] == ["#1 Ivan"]
    assert (await rig.desk_thread(1))[-1] == "*Ivan*: It is still broken"
    topic = [m.get("text", "") for m in rig.telegram.chat_messages(SUPPORT_TOKEN, TELEGRAM_DESK, thread)]
    assert topic[-1] == "Ivan: It is still broken"

    # the other way: the thread and the topic still know their session
    await rig.thread_reply(ANNA, 1, "A technician comes today")
    assert rig.client_chat(IVAN)[-1] == "Anna\nA technician comes today"
    await rig.topic_says(ANNA, 1, "Between 2 and 4 pm")
    assert rig.client_chat(IVAN)[-1] == "Anna\nBetween 2 and 4 pm"


async def test_an_edit_after_the_upgrade_edits_the_copies_made_before_it(any_store_rig: Rig) -> None:
    rig = any_store_rig
    await rig.slash(ANNA, "/status", "online")
    await rig.client_writes(IVAN, "My adress is Lenina 1")
    root = await rig.thread_root(1)
    await rig.click(ANNA, "session.take", "1", channel_id=root["channel"], message_ts=root["ts"])
    reply_ts = await thread_reply(rig, ANNA, 1, "The master comes at 10")
    assert rig.client_chat(IVAN)[-1] == "Anna\nThe master comes at 10"
    await rig.shutdown()
    await back_to_refs(rig)
    await rig.boot()
    await rig.settle()
    assert rig.desk is not None
    assert await get_legacy_ref(rig.desk.store, "slack.mirrored", "1:1") is None  # converted

    # the client edits their message: its copies in the thread and the topic are edited in place
    posts_before = len(await rig.desk_thread(1))
    ivan_chat = rig.telegram.chat_messages(SUPPORT_TOKEN, IVAN.telegram_user)
    original = next(m for m in ivan_chat if m.get("text") == "My adress is Lenina 1")
    edited = rig.telegram.edited_text_update(
        SUPPORT_TOKEN, rig.telegram.user(IVAN.telegram_user, "Ivan"), original["message_id"], "My address is Lenina 1"
    )
    assert (await rig.telegram.deliver(SUPPORT_TOKEN, edited)).status == 200
    await rig.settle()
    thread = await rig.desk_thread(1)
    assert len(thread) == posts_before
    assert "*Ivan*: My address is Lenina 1 (edited)" in thread and "*Ivan*: My adress is Lenina 1" not in thread
    topic = [m.get("text", "") for m in await rig.topic(1)]
    assert "Ivan: My address is Lenina 1 (edited)" in topic and "Ivan: My adress is Lenina 1" not in topic

    # Anna edits her reply: the message finds its thread post, the client's copy is edited
    changed = rig.slack.message_changed_event(ANNA.slack_user, root["channel"], reply_ts, "The master comes at 11")
    assert (await rig.slack.send(rig.slack_url, *changed)).status == 200
    await rig.settle()
    assert rig.client_chat(IVAN)[-1] == "Anna\nThe master comes at 11"
