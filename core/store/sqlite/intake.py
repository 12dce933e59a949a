"""A client's message in its open session, in one step: what it starts from (`client_context`) and what it
writes (`client_message`, one transaction)."""

from __future__ import annotations

from core.links import LinkKind
from core.model import InstanceStatus, Message, Session
from core.store.base import ClientContext, Deliveries, MessageLinks, StoredMessage
from core.store.sqlite.links import write_link
from core.store.sqlite.outbox import OutboxMixin
from core.store.sqlite.sessions import SessionsMixin

RULES_COUNTER = "rules"
"""The counter `save_rule` increments: `ClientContext.rules_version`."""


class ClientMessagesMixin(SessionsMixin, OutboxMixin):
    async def client_context(self, line_id: str, client_id: str, platform_ref: str | None) -> ClientContext:
        source = await self.link_to(LinkKind.MESSAGE_SOURCE, platform_ref) if platform_ref else None
        version = await self._row("SELECT value FROM counters WHERE name = ?", (RULES_COUNTER,))
        return ClientContext(
            source=source,
            client=await self.get_client(client_id),
            latest=await self.latest_session(line_id, client_id),
            rules_version=int(version[0]) if version else 0,
        )

    async def client_message(
        self, session: Session, message: Message, deliveries: Deliveries, links: MessageLinks
    ) -> StoredMessage:
        async with self._tx() as db:
            await self._put_session(db, session)
            cur = await db.execute(
                "INSERT INTO messages (session, created_at, data) VALUES (?, ?, ?)",
                (message.session, message.created_at, message.model_dump_json()),
            )
            assert cur.lastrowid is not None
            stored = message.model_copy(update={"id": cur.lastrowid})
            for link in links(stored):
                await write_link(db, link)
            outbox = await self._enqueue(db, deliveries(stored))
            waiting = await db.execute_fetchall(
                "SELECT EXISTS (SELECT 1 FROM instances WHERE session = ? AND status = ?)",
                (session.number, InstanceStatus.WAITING.value),
            )
        return StoredMessage(stored, outbox, bool(waiting[0][0]))
