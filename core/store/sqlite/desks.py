"""SQLite's desk figures: the Slack desk channel of each session (several channels per line) and each desk's
outbox backlog, each in one statement over the sessions, refs, links and outbox tables (no migration: the
chosen channel is a ref, the thread a link)."""

from __future__ import annotations

import json
from collections.abc import Sequence

from core.links import LinkKind
from core.store.base import DESK_CHANNEL_REF, DeskBacklog
from core.store.sqlite.connection import InlineConnection, SqliteBase

# The channel of an open session of the line: chosen (a ref) or, for a thread posted before the choice was
# recorded (a line that had one channel), the one its thread is linked in.
_OPEN_PER_CHANNEL = f"""
SELECT COALESCE(json_extract(r.value, '$.channel'), json_extract(l.data, '$.channel')) AS channel, COUNT(*)
FROM sessions s
LEFT JOIN refs r ON r.namespace = '{DESK_CHANNEL_REF}' AND r.key = CAST(s.number AS TEXT)
LEFT JOIN links l ON l.kind = '{LinkKind.SESSION_THREAD.value}' AND l.ours = CAST(s.number AS TEXT)
WHERE s.line_id = ? AND s.status IN ('queued', 'active')
GROUP BY channel
"""

_KNOWN = f"""
SELECT COALESCE(
  (SELECT json_extract(value, '$.channel') FROM refs WHERE namespace = '{DESK_CHANNEL_REF}' AND key = ?1),
  (SELECT json_extract(data, '$.channel') FROM links WHERE kind = '{LinkKind.SESSION_THREAD.value}' AND ours = ?1))
"""


def _backlog_sql(routes: int) -> str:
    session = "substr(o.conversation, instr(o.conversation, ':') + 1)"
    return f"""
SELECT substr(o.conversation, 1, instr(o.conversation, ':') - 1) AS route,
       json_extract(o.data, '$.action.line_id') AS line,
       COALESCE(json_extract(r.value, '$.channel'), json_extract(l.data, '$.channel'), '') AS channel,
       COUNT(*), MIN(o.created_at)
FROM outbox o
LEFT JOIN refs r ON o.conversation LIKE ?2 || ':%' AND r.namespace = '{DESK_CHANNEL_REF}' AND r.key = {session}
LEFT JOIN links l ON o.conversation LIKE ?2 || ':%' AND l.kind = '{LinkKind.SESSION_THREAD.value}'
  AND l.ours = {session}
WHERE o.status = 'pending' AND (o.due_at <= ?1 OR json_extract(o.data, '$.attempts') > 0)
  AND substr(o.conversation, 1, instr(o.conversation, ':') - 1) IN ({", ".join(f"?{3 + i}" for i in range(routes))})
GROUP BY route, line, channel
ORDER BY route, line, channel
"""


class SqliteDesks(SqliteBase):
    """Desk figures over `SqliteBase`'s connection (a mixin of `SqliteStore`)."""

    async def choose_desk_channel(self, line_id: str, session: int, channels: Sequence[str]) -> str:
        if not channels:
            raise ValueError("no desk channel to choose from")
        async with self._tx() as db:  # one write transaction: the count and the choice go together
            known = await _first(db, _KNOWN, (str(session),))
            if known:
                return known
            counts = {str(c): int(n) for c, n in await db.execute_fetchall(_OPEN_PER_CHANNEL, (line_id,))}
            chosen = min(channels, key=lambda channel: counts.get(channel, 0))  # min keeps the first of a tie
            await db.execute(
                "INSERT OR REPLACE INTO refs (namespace, key, value) VALUES (?, ?, ?)",
                (DESK_CHANNEL_REF, str(session), json.dumps({"channel": chosen})),
            )
            return chosen

    async def desk_channel_sessions(self, line_id: str) -> dict[str, int]:
        rows = await self._rows(_OPEN_PER_CHANNEL, (line_id,))
        return {str(channel): int(count) for channel, count in rows if channel}

    async def desk_backlog(self, now: float, routes: Sequence[str], slack_route: str) -> list[DeskBacklog]:
        if not routes:
            return []
        rows = await self._rows(_backlog_sql(len(routes)), (now, slack_route, *routes))
        return [
            DeskBacklog(str(route), str(line or ""), str(channel or ""), int(count), float(oldest))
            for route, line, channel, count, oldest in rows
        ]


async def _first(db: InlineConnection, sql: str, params: tuple[str, ...]) -> str | None:
    rows = list(await db.execute_fetchall(sql, params))
    return str(rows[0][0]) if rows and rows[0][0] else None
