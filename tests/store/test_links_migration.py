"""The platform links' migration (SQLite migration 7, Redis layout 3), on stores as the refs left them.

Before the links, a session's Slack thread and Telegram topic were two refs each, written one after the other
by `set_ref` (unchanged since, so the refs below are written exactly as linedesk wrote them): a forward one
(session number → where) and a reverse one (platform key → {"session": n}). Opened by this version, each
session finds its thread and topic both ways, the old namespaces are gone and every other ref is kept. (The
stores are upgraded to the latest version: migration 8 / layout 4, tested in test_more_links_migration.py,
converts the other refs that became links since, so the kept refs here are the ones that stay refs.)
"""

from __future__ import annotations

import sqlite3
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from core.links import LEGACY_FORWARD, LEGACY_REVERSE, Link, LinkKind, session_thread, session_topic
from core.refs import RefSpace
from core.store import RedisStore, SqliteStore, Store
from core.store.sqlite import MIGRATIONS
from tests.support.legacy_refs import get_legacy_ref, set_legacy_ref

RedisFactory = Callable[[], Awaitable[RedisStore]]  # the `redis_stores` fixture of conftest.py

DESK_CHAT = -1001234567890

# (namespace, key, value) as SlackDeskDelivery._open_thread and TelegramDeskDelivery._open_topic/_card wrote them
LEGACY_REFS: list[tuple[str, str, dict[str, Any]]] = [
    ("slack.session", "1", {"channel": "C0DESK", "ts": "1700000000.000100"}),
    ("slack.thread", "C0DESK:1700000000.000100", {"session": 1}),
    ("slack.session", "2", {"channel": "C0SALES", "ts": "1700000001.000200"}),
    ("slack.thread", "C0SALES:1700000001.000200", {"session": 2}),
    ("telegram.topic", "1", {"chat_id": DESK_CHAT, "thread_id": 42, "card_id": 43}),
    ("telegram.topic_session", f"{DESK_CHAT}:42", {"session": 1}),
    # session 2's topic was deleted and opened anew: its first topic's reverse ref stayed behind
    ("telegram.topic_session", f"{DESK_CHAT}:50", {"session": 2}),
    ("telegram.topic", "2", {"chat_id": DESK_CHAT, "thread_id": 60, "card_id": 61}),
    ("telegram.topic_session", f"{DESK_CHAT}:60", {"session": 2}),
    # a topic opened, its card not posted yet (a crash between the two)
    ("telegram.topic", "3", {"chat_id": DESK_CHAT, "thread_id": 70, "card_id": None}),
    ("telegram.topic_session", f"{DESK_CHAT}:70", {"session": 3}),
]
# refs that are not links: kept as they are
KEPT_REFS: list[tuple[RefSpace, str, dict[str, Any]]] = [
    (RefSpace.SLACK_PERMALINK, "1", {"url": "https://example.slack.com/archives/C0DESK/p1700000000000100"}),
    (RefSpace.LAST_ASSIGNED, "anna", {"at": 100.0, "seq": 3}),
]
EXPECTED: list[Link] = [
    session_thread(1, "C0DESK", "1700000000.000100"),
    session_thread(2, "C0SALES", "1700000001.000200"),
    session_topic(1, DESK_CHAT, 42, 43),
    session_topic(2, DESK_CHAT, 60, 61),
    session_topic(3, DESK_CHAT, 70, None),
]


async def write_legacy(store: Store) -> None:
    for namespace, key, value in [*LEGACY_REFS, *KEPT_REFS]:
        await set_legacy_ref(store, namespace, key, value)


async def check_upgraded(store: Store) -> None:
    for link in EXPECTED:
        assert await store.link_of(link.kind, link.ours) == link
        assert await store.link_to(link.kind, link.platform) == link
    assert await store.link_to(LinkKind.SESSION_TOPIC, f"{DESK_CHAT}:50") is None  # the deleted topic
    assert await store.link_of(LinkKind.SESSION_THREAD, "3") is None
    for namespace, key, _value in LEGACY_REFS:
        assert await get_legacy_ref(store, namespace, key) is None
    for namespace, key, value in KEPT_REFS:
        assert await store.get_ref(namespace, key) == value


def test_the_legacy_namespaces_are_the_ones_the_old_adapters_used() -> None:
    assert set(LEGACY_FORWARD.values()) | set(LEGACY_REVERSE.values()) == {ns for ns, _k, _v in LEGACY_REFS}


async def test_sqlite_session_refs_become_links(tmp_path: Path) -> None:
    class Before(SqliteStore):
        migrations = tuple(m for m in MIGRATIONS if m[0] < 7)

    path = tmp_path / "old.db"
    old = Before(path)
    await old.open()
    assert await old.schema_version() == 6
    await write_legacy(old)
    await old.close()
    with sqlite3.connect(path) as db:
        assert db.execute("SELECT name FROM sqlite_master WHERE name = 'links'").fetchone() is None
    store = SqliteStore(path)
    await store.open()
    try:
        assert await store.schema_version() == MIGRATIONS[-1][0] == 10
        await check_upgraded(store)
    finally:
        await store.close()
    again = SqliteStore(path)  # opened again: nothing runs twice
    await again.open()
    try:
        await check_upgraded(again)
    finally:
        await again.close()


async def test_redis_session_refs_become_links(redis_stores: RedisFactory) -> None:
    first = await redis_stores()
    await first._r.set(first._k("schema"), 2)  # a store of linedesk before the links: layout 2
    await write_legacy(first)
    assert await first._r.exists(first._k("ref", "slack.session"), first._k("ref", "telegram.topic_session")) == 2
    upgraded = await redis_stores()  # the next linedesk to open the store upgrades it
    assert await upgraded._r.get(upgraded._k("schema")) == "6"  # the latest layout
    await check_upgraded(upgraded)
    for namespace in [*LEGACY_FORWARD.values(), *LEGACY_REVERSE.values()]:
        assert not await upgraded._r.exists(upgraded._k("ref", namespace))
    await check_upgraded(await redis_stores())  # opened again: nothing runs twice


async def test_redis_an_upgrade_cut_short_runs_again(redis_stores: RedisFactory) -> None:
    """A linedesk stopped half-way through the upgrade (some links written, the refs still there, the layout
    still 2) finishes it when it opens next."""
    first = await redis_stores()
    await first._r.set(first._k("schema"), 2)
    await write_legacy(first)
    await first.link(EXPECTED[0])  # written before the stop
    upgraded = await redis_stores()
    assert await upgraded._r.get(upgraded._k("schema")) == "6"  # the latest layout
    await check_upgraded(upgraded)
