"""SQLite's platform links (`core.links`): the links table (migrations 7 and 8) and `SqliteStore`'s link methods.

One row per link holds both directions (unique: kind and ours; indexed: kind and platform), so the statements
of one transaction write them both. Linking drops the kind's row of the same ours with another platform key
and, for a one-to-one kind, the rows of the same platform key with another ours; a link written again to the
same platform key keeps its row. `seq` orders the links of a platform key (`link_to` of a many-to-one kind
answers the lowest): an INTEGER PRIMARY KEY, which VACUUM does not renumber.
"""

from __future__ import annotations

import json

from core.links import (
    LEGACY_FORWARD,
    LEGACY_REFS,
    LEGACY_REVERSE,
    Link,
    LinkKind,
    from_legacy,
    from_legacy_ref,
    legacy_order,
)
from core.store.sqlite.connection import InlineConnection, SqliteBase

_PUT_7 = "INSERT OR REPLACE INTO links (kind, ours, platform, data) VALUES (?, ?, ?, ?)"
"""Migration 7's write, into the table as migration 7 made it."""
_PUT = (
    "INSERT INTO links (kind, ours, platform, data) VALUES (?, ?, ?, ?)"
    " ON CONFLICT (kind, ours) DO UPDATE SET data = excluded.data"
)


def _row(link: Link) -> tuple[str, str, str, str]:
    return (link.kind.value, link.ours, link.platform, json.dumps(link.data))


async def write_link(db: InlineConnection, link: Link) -> None:
    kind = link.kind.value
    await db.execute(
        "DELETE FROM links WHERE kind = ? AND ours = ? AND platform != ?", (kind, link.ours, link.platform)
    )
    if link.kind.one_to_one:
        await db.execute(
            "DELETE FROM links WHERE kind = ? AND platform = ? AND ours != ?", (kind, link.platform, link.ours)
        )
    await db.execute(_PUT, _row(link))


async def platform_links(db: InlineConnection) -> None:
    """Migration 7: the refs of a session's Slack thread and Telegram topic (a forward and a reverse namespace
    each, `core.links.LEGACY_FORWARD` / `LEGACY_REVERSE`) become rows of the links table."""
    await db.execute(
        """CREATE TABLE IF NOT EXISTS links (
            kind TEXT NOT NULL, ours TEXT NOT NULL, platform TEXT NOT NULL, data TEXT NOT NULL,
            PRIMARY KEY (kind, ours), UNIQUE (kind, platform))"""
    )
    for kind, namespace in LEGACY_FORWARD.items():
        rows = await db.execute_fetchall("SELECT key, value FROM refs WHERE namespace = ?", (namespace,))
        await db.executemany(_PUT_7, [_row(from_legacy(kind, str(key), json.loads(value))) for key, value in rows])
        await db.execute("DELETE FROM refs WHERE namespace IN (?, ?)", (namespace, LEGACY_REVERSE[kind]))


async def more_links(db: InlineConnection) -> None:
    """Migration 8: the links table loses UNIQUE (kind, platform) (copies of several messages share a post) and
    gains `seq`; the refs of messages' platform messages, their copies and instances' status cards
    (`core.links.LEGACY_REFS`) become links, in message order (`legacy_order`)."""
    await db.execute(
        """CREATE TABLE links_8 (
            seq INTEGER PRIMARY KEY, kind TEXT NOT NULL, ours TEXT NOT NULL, platform TEXT NOT NULL,
            data TEXT NOT NULL, UNIQUE (kind, ours))"""
    )
    await db.execute(
        "INSERT INTO links_8 (kind, ours, platform, data) SELECT kind, ours, platform, data FROM links ORDER BY rowid"
    )
    await db.execute("DROP TABLE links")
    await db.execute("ALTER TABLE links_8 RENAME TO links")
    await db.execute("CREATE INDEX links_platform ON links (kind, platform, seq)")
    for kind, namespace in LEGACY_REFS.items():
        rows = await db.execute_fetchall("SELECT key, value FROM refs WHERE namespace = ?", (namespace,))
        for link in sorted((from_legacy_ref(kind, str(k), json.loads(v)) for k, v in rows), key=legacy_order):
            await write_link(db, link)
        await db.execute("DELETE FROM refs WHERE namespace = ?", (namespace,))


class SqliteLinks(SqliteBase):
    """Platform links over `SqliteBase`'s connection (a mixin of `SqliteStore`)."""

    async def link(self, link: Link) -> None:
        async with self._tx() as db:
            await write_link(db, link)

    async def link_of(self, kind: LinkKind, ours: str) -> Link | None:
        row = await self._row("SELECT platform, data FROM links WHERE kind = ? AND ours = ?", (kind.value, ours))
        return Link(kind, ours, str(row[0]), dict(json.loads(row[1]))) if row else None

    async def link_to(self, kind: LinkKind, platform: str) -> Link | None:
        row = await self._row(
            "SELECT ours, data FROM links WHERE kind = ? AND platform = ? ORDER BY seq LIMIT 1", (kind.value, platform)
        )
        return Link(kind, str(row[0]), platform, dict(json.loads(row[1]))) if row else None

    async def unlink(self, kind: LinkKind, ours: str) -> None:
        async with self._tx() as db:
            await db.execute("DELETE FROM links WHERE kind = ? AND ours = ?", (kind.value, ours))
