"""Sessions: a client's conversation with a line, from first message to closing (SPEC §5).

One service per job, sharing the session locks (`locking.SessionLocks`) and the parts they work with
(`common.SessionParts`):

- `intake.ClientIntake` — a client's message opens (or reopens) their session, greets, mirrors, edits;
- `outbound.OutboundSessions` — the line writes first;
- `undeliverable.Undeliverable` — a delivery the outbox gave up on, a client who blocked the bot;
- `operator_messages.OperatorMessages` — operators' replies and notes, their edits and deletions;
- `assignment.Assignment` — take, transfer, automatic assignment, an operator going offline;
- `closing.Closing` — close, the idle check, spam;
- `rating.Rating` — the client's rating after close.

`Sessions` puts them together behind one object: what the adapters, blocks and the app call.
"""

from __future__ import annotations

from core.config import LineConfig
from core.events import OperatorStatusChanged
from core.inbound import ClientBlocked, ClientEdit, ClientText, OperatorDelete, OperatorEdit, OperatorText
from core.model import Client, Message, OutboxEntry, Session
from core.sessions.assignment import Assignment
from core.sessions.closing import IDLE_PAGE, Closing
from core.sessions.common import (
    BLOCKED_NOTICE,
    OPEN_STATUSES,
    SessionParts,
    require,
)
from core.sessions.intake import ALBUM_CLAIM_TTL, ALBUM_WAIT, ClientIntake
from core.sessions.locking import SessionLocks
from core.sessions.operator_messages import NOTE_PREFIX, OperatorMessages
from core.sessions.outbound import OutboundSessions
from core.sessions.rating import Rated, Rating
from core.sessions.undeliverable import Undeliverable

__all__ = [
    "ALBUM_CLAIM_TTL",
    "ALBUM_WAIT",
    "BLOCKED_NOTICE",
    "IDLE_PAGE",
    "NOTE_PREFIX",
    "OPEN_STATUSES",
    "Assignment",
    "ClientIntake",
    "Closing",
    "OperatorMessages",
    "OutboundSessions",
    "Rated",
    "Rating",
    "SessionLocks",
    "SessionParts",
    "Sessions",
    "Undeliverable",
]


class Sessions:
    """The session services behind one object (one set of locks for all of them)."""

    def __init__(self, parts: SessionParts):
        self._parts = parts
        self.locks = SessionLocks(parts.store, parts.clock)
        self.assignment = Assignment(parts, self.locks)
        self.intake = ClientIntake(parts, self.locks, self.assignment)
        self.outbound = OutboundSessions(parts, self.locks)
        self.failed_deliveries = Undeliverable(parts, self.locks)
        self.operator_messages = OperatorMessages(parts, self.locks)
        self.closing = Closing(parts, self.locks, self.assignment)
        self.rating = Rating(parts, self.locks)

    async def get(self, number: int) -> Session | None:
        return await self._parts.store.get_session(number)

    async def require(self, number: int) -> Session:
        """The session, or a refusal saying it does not exist."""
        return await require(self._parts.store, number)

    async def client_of(self, session: Session) -> Client | None:
        return await self._parts.store.get_client(session.client_id)

    def slack_dm_line(self) -> LineConfig | None:
        """The line Slack users open sessions on by writing to the app in a DM (`slack_dm`), if any."""
        return self._parts.config.slack_dm_line()

    # --- the client side ---------------------------------------------------------------
    async def client_text(self, incoming: ClientText) -> Session:
        return await self.intake.client_text(incoming)

    async def client_edit(self, edit: ClientEdit) -> Message | None:
        return await self.intake.client_edit(edit)

    async def client_blocked(self, blocked: ClientBlocked) -> None:
        await self.failed_deliveries.client_blocked(blocked)

    async def open_outbound(self, line_id: str, client: Client) -> Session:
        return await self.outbound.open_outbound(line_id, client)

    async def undeliverable(self, entry: OutboxEntry, reason: str | None, error: str) -> None:
        await self.failed_deliveries.undeliverable(entry, reason, error)

    # --- the operator side ---------------------------------------------------------------
    async def operator_text(self, incoming: OperatorText) -> Message:
        return await self.operator_messages.operator_text(incoming)

    async def operator_edit(self, edit: OperatorEdit) -> Message | None:
        return await self.operator_messages.operator_edit(edit)

    async def operator_delete(self, delete: OperatorDelete) -> Message | None:
        return await self.operator_messages.operator_delete(delete)

    async def take(self, number: int, operator_id: str) -> Session:
        return await self.assignment.take(number, operator_id)

    async def transfer(self, number: int, operator_id: str, to_operator_id: str | None) -> Session:
        return await self.assignment.transfer(number, operator_id, to_operator_id)

    async def auto_assign(self, session: Session) -> Session:
        return await self.assignment.auto_assign(session)

    async def on_operator_status(self, event: OperatorStatusChanged) -> None:
        await self.assignment.on_operator_status(event)

    async def mark_spam(self, number: int, operator_id: str) -> Session:
        return await self.closing.mark_spam(number, operator_id)

    async def unmark_spam(self, number: int, operator_id: str) -> Session:
        return await self.closing.unmark_spam(number, operator_id)

    async def close(self, number: int, by: str, *, operator_id: str | None = None) -> Session:
        return await self.closing.close(number, by, operator_id=operator_id)

    async def close_idle(self) -> int:
        return await self.closing.close_idle()

    async def rate(self, number: int, client_id: str, rating: int) -> Rated:
        return await self.rating.rate(number, client_id, rating)
