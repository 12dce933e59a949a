"""The client rates a closed session (SPEC §14): on lines with `rating = true`, a session closed by an operator,
a process or the idle check asks the client "How did we do?" with 1–5 buttons; the first click is stored once,
shown on the card and in the API, and fires `session.rated`."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from core.courier import to_client, to_desk
from core.errors import Refusal
from core.events import SessionClosed, SessionRated
from core.model import Session
from core.outbox_actions import AskRating, RefreshCard
from core.sessions.common import SessionService

log = logging.getLogger(__name__)

QUESTION = "How did we do? Rate this conversation from 1 (poor) to 5 (excellent)."
SCORES = range(1, 6)


def stars(rating: int) -> str:
    return "★" * rating + "☆" * (5 - rating)


@dataclass(frozen=True)
class Rated:
    """What a click did: `first` when this click's score is the one stored."""

    session: Session
    rating: int
    first: bool

    @property
    def answer(self) -> str:
        if self.first:
            return f"Thank you! You rated us {stars(self.rating)} ({self.rating}/5)."
        return f"You already rated this conversation {stars(self.rating)} ({self.rating}/5): nothing changed."


class Rating(SessionService):
    async def on_closed(self, event: SessionClosed) -> None:
        """Ask the client, on lines that rate. Not for a session the line opened (a process's initiative, which
        no client asked for) nor one rated already (closed again after a reopen), nor an unreachable client."""
        session, client = event.session, event.client
        line = self._config.line(session.line_id)
        if line is None or not line.rating or session.outbound or session.rating is not None or client.unreachable:
            return
        ask = AskRating(**to_client(client, session), text=QUESTION)
        await self._courier.send([self._courier.client_entry(client, ask)])

    async def rate(self, number: int, client_id: str, rating: int) -> Rated:
        """The client's click. Only the session's own client rates it, once: the session's turn (in the store,
        so two clicks racing on two linedesk instances too) makes the first score the one kept."""
        if rating not in SCORES:
            raise Refusal("This button is not valid (stale or tampered with).", "tampered")
        async with self._locks.session(number):
            session = await self._store.get_session(number)
            if session is None or session.client_id != client_id:
                raise Refusal("This button is not valid (stale or tampered with).", "tampered")
            if session.rating is not None:
                return Rated(session, session.rating, first=False)
            session.rating = rating
            session.rated_at = self._clock.now()
            await self._store.save_session(session)
            await self._courier.send(
                self._courier.desk_entries(session, RefreshCard(**to_desk(session)))
                + self._courier.notice(session, f"⭐ The client rated the session {stars(rating)} ({rating}/5).")
            )
        client = await self._store.get_client(session.client_id)
        if client is not None:
            await self._bus.publish(SessionRated(session=session, client=client, rating=rating))
        log.info("session #%s rated %s", number, rating)
        return Rated(session, rating, first=True)
