"""What a session's card shows, gathered once for every desk: the same facts whether the card is drawn by the
outbox (a refresh after any change) or straight from the click of one of its buttons (SPEC §13: the clicked
card shows the outcome at once, without waiting for the desk's queue)."""

from __future__ import annotations

from collections import OrderedDict
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass

from core.config import Config
from core.locks import KeyedLocks
from core.model import Client, Session
from core.service_levels import card_lines
from core.store.base import Store
from core.transcripts.service import TranscriptReader


@dataclass(frozen=True)
class CardFacts:
    session: Session
    client: Client | None
    """None: the client's record is gone (each desk says so its own way)."""
    line_name: str
    assignee: str | None
    """The assigned operator's name (None: in the queue)."""
    earlier: str | None
    """The line naming the client's earlier sessions (SPEC §14; None: a first-time client)."""
    levels: list[str]
    """The service levels' lines (`core.service_levels.card_lines`)."""


async def card_facts(store: Store, config: Config, transcripts: TranscriptReader, session: Session) -> CardFacts:
    line = config.line(session.line_id)
    assignee = config.operator(session.assignee) if session.assignee else None
    return CardFacts(
        session=session,
        client=await store.get_client(session.client_id),
        line_name=line.name if line is not None else session.line_id,
        assignee=assignee.name if assignee is not None else None,
        earlier=await transcripts.card_line(session),
        levels=card_lines(session, line) if line is not None else [],
    )


class Cards:
    """Sessions' cards for the desks: their facts, and the card each session's message shows now, as this process
    last drew it (by the click or by the outbox) — the outbox's refresh after a click that already redrew the card
    sends nothing (Telegram would refuse the same text as "not modified"; Slack would spend a `chat.update` of the
    workspace's per-minute budget). Another instance does not know what this one drew: it draws again, which is
    harmless."""

    LIMIT = 10_000

    def __init__(self, store: Store, config: Config) -> None:
        self._store = store
        self._config = config
        self._transcripts = TranscriptReader(store, config)
        self._shown: OrderedDict[tuple[str, int], str] = OrderedDict()
        self._drawing = KeyedLocks()

    def drawing(self, desk: str, number: int) -> AbstractAsyncContextManager[None]:
        """Held while a card is drawn (by a click or by the outbox), so that the second of two draws at once
        sees what the first drew."""
        return self._drawing.hold((desk, number))

    async def facts(self, session: Session) -> CardFacts:
        return await card_facts(self._store, self._config, self._transcripts, session)

    def drawn(self, desk: str, number: int, content: object) -> None:
        key = (desk, number)
        self._shown[key] = repr(content)
        self._shown.move_to_end(key)
        if len(self._shown) > self.LIMIT:
            self._shown.popitem(last=False)

    def shows(self, desk: str, number: int, content: object) -> bool:
        """Whether the card already shows `content` (as this process last drew it)."""
        return self._shown.get((desk, number)) == repr(content)

    def forget(self, desk: str, number: int) -> None:
        """The card may show something else now (a draw failed half-way): the next refresh draws it."""
        self._shown.pop((desk, number), None)
