"""A session opened before the platform links (its Slack thread and Telegram topic kept as two refs each) keeps
its thread and topic after the upgrade (SQLite migration 7, Redis layout 3), both ways: the client's next
message lands in them, and operators' replies there reach the client — on SQLite and on Redis."""

from __future__ import annotations

import json
import sqlite3

import redis.asyncio as aioredis

from core.links import LEGACY_FORWARD, LEGACY_REVERSE, LinkKind
from core.store import RedisStore
from sandboxes.rig import ANNA, IVAN, SUPPORT_TOKEN, TELEGRAM_DESK, Rig
from tests.support.rigs import REDIS_URL


async def back_to_refs(rig: Rig) -> None:
    """With linedesk stopped: the links turned back into the refs linedesk wrote before them (a forward ref
    and a reverse one per link, by `set_ref`: JSON values), and the store's version set back."""
    if rig.store_url.startswith("sqlite"):
        with sqlite3.connect(rig.workdir / "linedesk.db") as db:
            for kind, ours, platform, data in db.execute("SELECT kind, ours, platform, data FROM links").fetchall():
                db.execute(
                    "INSERT OR REPLACE INTO refs (namespace, key, value) VALUES (?, ?, ?)",
                    (LEGACY_FORWARD[LinkKind(kind)], ours, data),
                )
                db.execute(
                    "INSERT OR REPLACE INTO refs (namespace, key, value) VALUES (?, ?, ?)",
                    (LEGACY_REVERSE[LinkKind(kind)], platform, json.dumps({"session": int(ours)})),
                )
            db.execute("DROP TABLE links")
            db.execute("PRAGMA user_version = 6")
        return
    prefix = rig.store_url.split("prefix=", 1)[1]
    keys = RedisStore(REDIS_URL, prefix=prefix)._k
    client = aioredis.Redis.from_url(REDIS_URL, decode_responses=True)
    try:
        for kind in LinkKind:
            for ours, doc in (await client.hgetall(keys("link", kind.value))).items():
                stored = json.loads(doc)
                await client.hset(keys("ref", LEGACY_FORWARD[kind]), ours, json.dumps(stored["data"]))
                await client.hset(
                    keys("ref", LEGACY_REVERSE[kind]), stored["platform"], json.dumps({"session": int(ours)})
                )
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
    assert await rig.desk.store.get_ref(LEGACY_FORWARD[LinkKind.SESSION_TOPIC], "1") is None  # converted

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
