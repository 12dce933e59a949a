"""The frame every desk deliverer shares: find the entry's session and line, let the platform
act, translate the platform's failures into the outbox's terms. A deliverer that can do an entry without the
session (`without_session`: a message mirrored into a thread it knows) is spared reading it."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence

from core.config import Config, LineConfig
from core.courier import mirror_of
from core.errors import DeliveryError
from core.links import Link
from core.model import OutboxEntry, Session
from core.outbox_actions import Mirror, Notice, ToDesk, unknown_action
from core.store.base import Store
from core.transcripts.service import TranscriptReader


class DeskDelivery(ABC):
    def __init__(self, store: Store, config: Config):
        self._store = store
        self._config = config
        self._transcripts = TranscriptReader(store, config)
        """The card's line of the client's earlier sessions (SPEC §14)."""

    async def deliver(self, entry: OutboxEntry, merged: Sequence[OutboxEntry] = ()) -> Sequence[Link] | None:
        """Do the entry; returns the links the delivery made (the outbox writes them with its completion)."""
        if not isinstance(entry.action, ToDesk):
            raise unknown_action(entry.action, "desk")
        try:
            done = await self.without_session(entry, merged)
            if done is not None:
                return done
            number = entry.action.session
            session = await self._store.get_session(number)
            if session is None:
                raise DeliveryError(f"session #{number} is gone", permanent=True)
            line = self._config.line(session.line_id)
            if line is None:
                raise DeliveryError(f"line {session.line_id!r} is not configured any more", permanent=True)
            return await self.perform(entry, session, line, merged)
        except DeliveryError:
            raise
        except Exception as err:
            raise self.translate(err) from err

    async def without_session(self, entry: OutboxEntry, merged: Sequence[OutboxEntry]) -> Sequence[Link] | None:
        """Do the entry without reading its session, where the deliverer can (what it needs it knows already):
        the links it made, as `perform`. None: it cannot, `perform` does the entry."""
        return None

    async def mirrored(self, head: Mirror | Notice, merged: Sequence[OutboxEntry] = ()) -> list[Mirror | Notice]:
        """What a post shows, in order: a `Mirror` itself, or every message of its album (Telegram media
        group: the album's first message posts them all together), then the mirrors and notices merged into it
        (`desk_merge`), each once."""
        shown: dict[int, Mirror | Notice] = {}
        for item in [head, *(e.action for e in merged if isinstance(e.action, Mirror | Notice))]:
            if isinstance(item, Notice):
                shown[-len(shown) - 1] = item
                continue
            for message in await self._album(item):
                shown.setdefault(message.message_id or -len(shown) - 1, message)
        return list(shown.values())

    async def _album(self, mirror: Mirror) -> list[Mirror]:
        group = mirror.media_group
        if not group:
            return [mirror]
        messages = await self._store.list_messages(mirror.session, limit=10_000)
        return [mirror_of(m, mirror.line_id) for m in messages if m.media_group == group] or [mirror]

    @abstractmethod
    async def perform(
        self, entry: OutboxEntry, session: Session, line: LineConfig, merged: Sequence[OutboxEntry] = ()
    ) -> Sequence[Link] | None:
        """Do the entry's action (a `DeskAction`: `OpenSession`, `Mirror`, `Notice` …) on the platform, with
        the entries merged into it; returns the links it made for the outbox to write with its completion (or
        None, having written them itself)."""

    @abstractmethod
    def translate(self, err: Exception) -> DeliveryError: ...
