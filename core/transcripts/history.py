"""The client's earlier sessions on a line (SPEC §14): named on the session's card, listed by `/history`."""

from __future__ import annotations

from dataclasses import dataclass

from core.model import AuthorKind, Session, SessionStatus
from core.store.base import Store
from core.transcripts.zone import LineZone

ON_CARD = 3
"""Earlier sessions the card names; the rest are counted ("+N more")."""
LISTED = 10
"""Earlier sessions `/history` lists with their first message."""
SCANNED = 100
"""Earlier sessions read at most (newest first, from the store's client index): "+N more" counts these."""
FIRST_MESSAGE = 120


@dataclass(frozen=True)
class PastSession:
    number: int
    opened_at: float
    status: SessionStatus
    rating: int | None = None
    first_message: str | None = None


@dataclass(frozen=True)
class ClientHistory:
    earlier: list[PastSession]
    """Newest first."""
    total: int
    """How many earlier sessions there are (up to `SCANNED`)."""

    def more(self, shown: int) -> int:
        return max(0, self.total - shown)


async def client_history(store: Store, session: Session, *, first_messages: int = 0) -> ClientHistory:
    """The client's sessions on the session's line before it (spam left out), newest first; the first
    `first_messages` of them with the client's first message."""
    found = await store.list_sessions(line_id=session.line_id, client_id=session.client_id, limit=SCANNED + 1)
    earlier = [s for s in found if s.number < session.number and s.status != SessionStatus.SPAM][:SCANNED]
    past = []
    for index, other in enumerate(earlier):
        first = await _first_message(store, other.number) if index < first_messages else None
        past.append(PastSession(other.number, other.created_at, other.status, other.rating, first))
    return ClientHistory(past, len(earlier))


async def _first_message(store: Store, number: int) -> str | None:
    for message in await store.list_messages(number, limit=20):
        if message.author_kind == AuthorKind.CLIENT and not message.internal:
            text = message.text or " ".join(a.describe() for a in message.attachments)
            return text if len(text) <= FIRST_MESSAGE else text[: FIRST_MESSAGE - 1] + "…"
    return None


def _summary(past: PastSession, zone: LineZone) -> str:
    parts = [f"#{past.number}", zone.local(past.opened_at).strftime("%Y-%m-%d")]
    if past.rating is not None:
        parts.append(f"★{past.rating}")
    if past.status != SessionStatus.CLOSED:
        parts.append(past.status.value)
    return " · ".join(parts)


def card_line(history: ClientHistory, zone: LineZone) -> str | None:
    """ "Earlier sessions: #7 · 2026-11-30 · ★5, #3 · 2026-10-02, +4 more" — None for a first-time client."""
    if not history.earlier:
        return None
    named = [_summary(past, zone) for past in history.earlier[:ON_CARD]]
    more = history.more(ON_CARD)
    return "Earlier sessions: " + ", ".join(named) + (f", +{more} more" if more else "")


def history_text(session: Session, client_name: str, history: ClientHistory, zone: LineZone) -> str:
    """What `/history` answers: the earlier sessions, newest first, each with the client's first message."""
    if not history.earlier:
        return f"{client_name} has no earlier sessions on this line (session #{session.number} is the first)."
    lines = [f"{client_name}'s earlier sessions on this line (times in {zone.describe()}):"]
    for past in history.earlier[:LISTED]:
        said = f" — “{past.first_message}”" if past.first_message else " — (no message)"
        lines.append(f"{_summary(past, zone)}{said}")
    more = history.more(LISTED)
    if more:
        lines.append(f"+{more} more: linedesk sessions --client {session.client_id} --line {session.line_id}")
    return "\n".join(lines)
