"""Clients nothing reaches: the outbox gave up on a delivery to one, or one blocked the bot. The client is
marked unreachable where they blocked the bot (until they write again) and the desks are told."""

from __future__ import annotations

from core.inbound import ClientBlocked
from core.model import Client, OutboxEntry
from core.outbox_actions import ToClient
from core.sessions.common import BLOCKED_NOTICE, OPEN_STATUSES, SessionService


class Undeliverable(SessionService):
    async def undeliverable(self, entry: OutboxEntry, reason: str | None, error: str) -> None:
        """The outbox gave up on an entry: mark a client who blocked the bot, tell the desk."""
        if not isinstance(entry.action, ToClient):
            return
        session = await self._store.get_session(entry.action.session)
        if session is None:
            return
        client = await self._store.get_client(session.client_id)
        if reason == "blocked" and client is not None and not client.unreachable:
            await self._store.save_client(client.model_copy(update={"unreachable": True}))
            text = BLOCKED_NOTICE
        else:
            text = f"⚠ Not delivered to the client: {error}"
        await self._courier.send(self._courier.notice(session, text))

    async def client_blocked(self, blocked: ClientBlocked) -> None:
        """The client blocked the bot: nothing more is sent to them until they write again; desks are told."""
        client = await self._store.get_client(Client.make_id(blocked.channel, blocked.user_id))
        if client is None or client.unreachable:
            return
        await self._store.save_client(client.model_copy(update={"unreachable": True}))
        for session in await self._store.list_sessions(client_id=client.id, status=OPEN_STATUSES, limit=20):
            await self._courier.send(self._courier.notice(session, BLOCKED_NOTICE))
