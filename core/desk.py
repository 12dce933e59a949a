"""The frame every desk deliverer shares: find the entry's session and line, let the platform
act, translate the platform's failures into the outbox's terms."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any

from core.config import Config, LineConfig
from core.courier import mirror_payload
from core.errors import DeliveryError
from core.model import OutboxEntry, Session
from core.store.base import Store


class DeskDelivery(ABC):
    def __init__(self, store: Store, config: Config):
        self._store = store
        self._config = config

    async def deliver(self, entry: OutboxEntry) -> None:
        number = int(entry.payload["session"])
        session = await self._store.get_session(number)
        if session is None:
            raise DeliveryError(f"session #{number} is gone", permanent=True)
        line = self._config.line(session.line_id)
        if line is None:
            raise DeliveryError(f"line {session.line_id!r} is not configured any more", permanent=True)
        try:
            await self.perform(entry, session, line)
        except DeliveryError:
            raise
        except Exception as err:
            raise self.translate(err) from err

    async def mirrored(self, entry: OutboxEntry) -> list[dict[str, Any]]:
        """The messages a "mirror" entry shows: itself, or every message of its album (Telegram media group),
        in order — the album's first message posts them all together."""
        group = entry.payload.get("media_group")
        if not group:
            return [entry.payload]
        messages = await self._store.list_messages(int(entry.payload["session"]), limit=10_000)
        return [mirror_payload(m) for m in messages if m.media_group == group] or [entry.payload]

    @abstractmethod
    async def perform(self, entry: OutboxEntry, session: Session, line: LineConfig) -> None:
        """Do the entry's action ("open_session", "refresh_card", "mirror", "notice") on the platform."""

    @abstractmethod
    def translate(self, err: Exception) -> DeliveryError: ...
