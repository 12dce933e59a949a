"""The second platform links' migration (SQLite migration 8, Redis layout 4), on stores as the refs left them.

Before it, a message's platform message, its copies on the desks and in the client's chat and an instance's
status cards were one ref each, written by `set_ref` (unchanged since, so the refs below are written exactly as
linedesk wrote them). Opened by this version, each is a link found both ways, a Slack album's messages share
their post (the post finds the album's first message), the links made by migration 7 / layout 3 are kept, the
old namespaces are gone and every other ref is kept.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from core.links import (
    LEGACY_REFS,
    Link,
    LinkKind,
    message_source,
    session_thread,
    session_topic,
    slack_client_copy,
    slack_client_status,
    slack_desk_copy,
    slack_desk_status,
    telegram_client_copy,
    telegram_client_status,
    telegram_desk_copy,
    telegram_desk_status,
)
from core.refs import RefSpace
from core.store import RedisStore, SqliteStore, Store
from core.store.sqlite import MIGRATIONS
from tests.support.legacy_refs import Ref, get_legacy_ref, set_legacy_ref

RedisFactory = Callable[[], Awaitable[RedisStore]]  # the `redis_stores` fixture of conftest.py

DESK_CHAT = -1001234567890
IVAN_CHAT = 501
ALBUM_TS = "1700000005.000600"

# as Sessions._remember, the desk deliveries' _mirror/_status_card and the client deliveries' deliver/_status_card
# wrote them
LEGACY: list[Ref] = [
    ("message", "telegram:support:501:9", {"session": 1, "id": 5}),
    ("message", "slack:C0DESK:1700000003.000400", {"session": 1, "id": 6}),
    ("slack.mirrored", "1:5", {"channel": "C0DESK", "ts": "1700000002.000300"}),
    # an album of three messages: one post (keys in the text order the refs table keeps them: "1:10" < "1:9")
    ("slack.mirrored", "1:10", {"channel": "C0DESK", "ts": ALBUM_TS}),
    ("slack.mirrored", "1:11", {"channel": "C0DESK", "ts": ALBUM_TS}),
    ("slack.mirrored", "1:9", {"channel": "C0DESK", "ts": ALBUM_TS}),
    ("telegram.mirrored", "1:5", {"chat_id": DESK_CHAT, "message_id": 44, "caption": False}),
    ("slack.sent", "sales:6", {"channel": "D0IVAN", "ts": "1700000004.000500"}),
    (
        "telegram.sent",
        "support:6",
        {"chat_id": IVAN_CHAT, "message_id": 30, "caption": False, "text_id": 30, "ids": [30]},
    ),
    ("slack.status_card", "inst-1", {"channel": "C0DESK", "ts": "1700000006.000700"}),
    ("telegram.desk_status", "inst-1", {"chat_id": DESK_CHAT, "message_id": 45}),
    ("slack.client_status", "inst-1", {"channel": "D0IVAN", "ts": "1700000007.000800"}),
    ("telegram.status_card", "inst-1", {"chat_id": IVAN_CHAT, "message_id": 32}),
]
KEPT_REFS: list[tuple[RefSpace, str, dict[str, Any]]] = [
    (RefSpace.SLACK_PERMALINK, "1", {"url": "https://example.slack.com/archives/C0DESK/p1700000000000100"}),
    (RefSpace.LAST_ASSIGNED, "anna", {"at": 100.0, "seq": 3}),
    (RefSpace.TELEGRAM_FORM, f"{DESK_CHAT}:42:7001", {"step": 1}),
    (RefSpace.ITEM_BY_TASK, "inst-1:task-1:1", {"app": "leads", "number": 1}),
    (RefSpace.HTTP_BY_TASK, "inst-1:task-2:1", {"result": {"ok": True}}),
]
EARLIER_LINKS = [session_thread(1, "C0DESK", "1700000000.000100"), session_topic(1, DESK_CHAT, 42, 43)]
"""Written by migration 7 / layout 3 (or by the version between)."""
ALBUM = [slack_desk_copy(1, n, "C0DESK", ALBUM_TS) for n in (9, 10, 11)]
EXPECTED: list[Link] = [
    message_source(1, 5, "telegram:support:501:9"),
    message_source(1, 6, "slack:C0DESK:1700000003.000400"),
    slack_desk_copy(1, 5, "C0DESK", "1700000002.000300"),
    telegram_desk_copy(1, 5, DESK_CHAT, 44, caption=False),
    slack_client_copy("sales", 6, "D0IVAN", "1700000004.000500"),
    telegram_client_copy("support", 6, IVAN_CHAT, {"message_id": 30, "caption": False, "text_id": 30, "ids": [30]}),
    slack_desk_status("inst-1", "C0DESK", "1700000006.000700"),
    telegram_desk_status("inst-1", DESK_CHAT, 45),
    slack_client_status("inst-1", "D0IVAN", "1700000007.000800"),
    telegram_client_status("inst-1", IVAN_CHAT, 32),
    *EARLIER_LINKS,
]


async def write_legacy(store: Store) -> None:
    for link in EARLIER_LINKS:
        await store.link(link)
    for namespace, key, value in LEGACY:
        await set_legacy_ref(store, namespace, key, value)
    for space, key, value in KEPT_REFS:
        await store.set_ref(space, key, value)


async def check_upgraded(store: Store) -> None:
    for link in EXPECTED:
        assert await store.link_of(link.kind, link.ours) == link
        assert await store.link_to(link.kind, link.platform) == link
    for copy in ALBUM:
        assert await store.link_of(LinkKind.SLACK_DESK_COPY, copy.ours) == copy
    assert await store.link_to(LinkKind.SLACK_DESK_COPY, f"C0DESK:{ALBUM_TS}") == ALBUM[0]  # the album's first
    for namespace, key, _value in LEGACY:
        assert await get_legacy_ref(store, namespace, key) is None
    for space, key, value in KEPT_REFS:
        assert await store.get_ref(space, key) == value


def test_the_legacy_namespaces_are_the_ones_the_old_adapters_used() -> None:
    assert set(LEGACY_REFS.values()) == {namespace for namespace, _k, _v in LEGACY}
    assert not set(LEGACY_REFS.values()) & {space.value for space in RefSpace}


async def test_sqlite_message_copy_and_status_refs_become_links(tmp_path: Path) -> None:
    class Before(SqliteStore):
        migrations = tuple(m for m in MIGRATIONS if m[0] < 8)

    path = tmp_path / "old.db"
    old = Before(path)
    await old.open()
    assert await old.schema_version() == 7
    await write_legacy(old)
    await old.close()
    store = SqliteStore(path)
    await store.open()
    try:
        assert await store.schema_version() == MIGRATIONS[-1][0] == 10
        await check_upgraded(store)
    finally:
        await store.close()
    with sqlite3.connect(path) as db:  # the links table as migration 8 makes it: a platform key may repeat
        (sql,) = db.execute("SELECT sql FROM sqlite_master WHERE name = 'links'").fetchone()
        assert "UNIQUE (kind, ours)" in sql and "UNIQUE (kind, platform)" not in sql
    again = SqliteStore(path)  # opened again: nothing runs twice
    await again.open()
    try:
        await check_upgraded(again)
    finally:
        await again.close()


async def test_redis_message_copy_and_status_refs_become_links(redis_stores: RedisFactory) -> None:
    first = await redis_stores()
    await first._r.set(first._k("schema"), 3)  # a store of linedesk before these links: layout 3
    await write_legacy(first)
    assert await first._r.exists(first._k("ref", "message"), first._k("ref", "slack.mirrored")) == 2
    upgraded = await redis_stores()  # the next linedesk to open the store upgrades it
    assert await upgraded._r.get(upgraded._k("schema")) == "6"  # the latest layout
    await check_upgraded(upgraded)
    for namespace in LEGACY_REFS.values():
        assert not await upgraded._r.exists(upgraded._k("ref", namespace))
    await check_upgraded(await redis_stores())  # opened again: nothing runs twice


async def test_redis_an_upgrade_cut_short_runs_again(redis_stores: RedisFactory) -> None:
    """A linedesk stopped half-way through layout 4 (some links written, the refs still there, the layout still
    3) finishes it when it opens next — the album's links written again keep their order."""
    first = await redis_stores()
    await first._r.set(first._k("schema"), 3)
    await write_legacy(first)
    await first.link(EXPECTED[0])  # written before the stop
    for copy in ALBUM[:2]:
        await first.link(copy)
    upgraded = await redis_stores()
    assert await upgraded._r.get(upgraded._k("schema")) == "6"  # the latest layout
    await check_upgraded(upgraded)
