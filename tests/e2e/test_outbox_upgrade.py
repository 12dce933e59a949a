"""Entries the untyped outbox left pending (an `action` name and a `payload` dict) reach the platforms after
the upgrade to the typed outbox, through the real deliverers — on SQLite and on Redis."""

from __future__ import annotations

import json
import sqlite3
from typing import Any

import redis.asyncio as aioredis

from core.store import RedisStore
from sandboxes.rig import IVAN, Rig
from tests.support.rigs import REDIS_URL
from tests.support.schema import set_back


def legacy(client_chat: str) -> list[tuple[str, str, str, dict[str, Any]]]:
    """(route, conversation, action, payload) of pending entries, as the untyped courier built them."""
    desk = {"session": 1, "line_id": "support"}
    client = {"line_id": "support", "client_id": f"telegram:{IVAN.telegram_user}", "chat_id": client_chat}
    to_client = f"telegram.client:support:{client_chat}"
    return [
        ("telegram.desk", "telegram.desk:1", "notice", {**desk, "text": "Left by the old outbox"}),
        ("slack.desk", "slack.desk:1", "notice", {**desk, "text": "Left by the old outbox"}),
        (
            "telegram.desk",
            "telegram.desk:1",
            "status_card",
            {**desk, "instance_id": "i1", "process": "Refund", "text": "checking"},
        ),
        (
            "slack.desk",
            "slack.desk:1",
            "status_card",
            {**desk, "instance_id": "i1", "process": "Refund", "text": "checking"},
        ),
        (
            "telegram.client",
            to_client,
            "send_text",
            {**client, "session": 1, "text": "Sent after the upgrade", "message_id": None, "kind": "system"},
        ),
        (
            "telegram.client",
            to_client,
            "status_card",
            {**client, "instance_id": "i1", "session": 1, "text": "Refund: checking"},
        ),
    ]


def legacy_doc(number: int, route: str, conversation: str, action: str, payload: dict[str, Any]) -> str:
    return json.dumps(
        {
            "id": number,
            "conversation": conversation,
            "route": route,
            "action": action,
            "payload": payload,
            "status": "pending",
            "attempts": 0,
            "due_at": 0.0,
            "created_at": 0.0,
            "last_error": None,
        }
    )


async def leave_legacy_entries(rig: Rig, entries: list[tuple[str, str, str, dict[str, Any]]]) -> None:
    """With linedesk stopped: pending entries in the untyped shape, and the store's version set back."""
    if rig.store_url.startswith("sqlite"):
        with sqlite3.connect(rig.workdir / "linedesk.db") as db:
            for route, conversation, action, payload in entries:
                db.execute(
                    "INSERT INTO outbox (conversation, status, due_at, created_at, data)"
                    " VALUES (?, 'pending', 0, 0, ?)",
                    (conversation, legacy_doc(0, route, conversation, action, payload)),
                )
            set_back(db, 5)
        return
    prefix = rig.store_url.split("prefix=", 1)[1]
    keys = RedisStore(REDIS_URL, prefix=prefix)._k
    client = aioredis.Redis.from_url(REDIS_URL, decode_responses=True)
    try:
        for route, conversation, action, payload in entries:
            number = int(await client.incr(keys("seq", "outbox")))
            await client.set(keys("outbox", "entry", number), legacy_doc(number, route, conversation, action, payload))
            await client.zadd(keys("outbox", "conv", conversation), {str(number): number})
            await client.zadd(keys("outbox", "ready"), {conversation: 0.0}, nx=True)
            await client.zadd(keys("outbox", "pending"), {str(number): 0.0})
        await client.set(keys("schema"), 1)
    finally:
        await client.aclose()


async def test_entries_left_by_the_untyped_outbox_are_delivered_after_the_upgrade(any_store_rig: Rig) -> None:
    rig = any_store_rig
    await rig.client_writes(IVAN, "Hello")
    assert rig.desk is not None
    session = await rig.desk.store.get_session(1)
    assert session is not None
    client = await rig.desk.store.get_client(session.client_id)
    assert client is not None
    await rig.shutdown()
    await leave_legacy_entries(rig, legacy(client.chat_id))
    await rig.boot()
    await rig.settle()
    topic = [m.get("text", "") for m in await rig.topic(1)]
    assert topic[-2:] == ["Left by the old outbox", "⚙ Refund · status: checking"]
    assert (await rig.desk_thread(1))[-2:] == ["Left by the old outbox", "⚙ *Refund* · status: checking"]
    assert rig.client_chat(IVAN)[-2:] == ["Sent after the upgrade", "Refund: checking"]
    assert rig.desk is not None
    assert (await rig.desk.store.outbox_stats(0.0))["dead"] == 0
