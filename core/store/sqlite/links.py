"""SQLite's platform links (`core.links`): the links table (migration 7) and `SqliteStore`'s link methods.

One row per link holds both directions (primary key: kind and ours; unique: kind and platform), so one
statement in one transaction writes them both, and `INSERT OR REPLACE` drops the kind's row of the same ours
or the same platform key.
"""

from __future__ import annotations

import json

from core.links import LEGACY_FORWARD, LEGACY_REVERSE, Link, LinkKind, from_legacy
from core.store.sqlite.connection import InlineConnection, SqliteBase

_PUT = "INSERT OR REPLACE INTO links (kind, ours, platform, data) VALUES (?, ?, ?, ?)"


def _row(link: Link) -> tuple[str, str, str, str]:
    return (link.kind.value, link.ours, link.platform, json.dumps(link.data))


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
        await db.executemany(_PUT, [_row(from_legacy(kind, str(key), json.loads(value))) for key, value in rows])
        await db.execute("DELETE FROM refs WHERE namespace IN (?, ?)", (namespace, LEGACY_REVERSE[kind]))


class SqliteLinks(SqliteBase):
    """Platform links over `SqliteBase`'s connection (a mixin of `SqliteStore`)."""

    async def link(self, link: Link) -> None:
        async with self._tx() as db:
            await db.execute(_PUT, _row(link))

    async def link_of(self, kind: LinkKind, ours: str) -> Link | None:
        row = await self._row("SELECT platform, data FROM links WHERE kind = ? AND ours = ?", (kind.value, ours))
        return Link(kind, ours, str(row[0]), dict(json.loads(row[1]))) if row else None

    async def link_to(self, kind: LinkKind, platform: str) -> Link | None:
        row = await self._row("SELECT ours, data FROM links WHERE kind = ? AND platform = ?", (kind.value, platform))
        return Link(kind, str(row[0]), platform, dict(json.loads(row[1]))) if row else None

    async def unlink(self, kind: LinkKind, ours: str) -> None:
        async with self._tx() as db:
            await db.execute("DELETE FROM links WHERE kind = ? AND ours = ?", (kind.value, ours))
