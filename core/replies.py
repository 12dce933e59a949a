"""Saved replies (SPEC §14): the config's `[[replies]]` offered on a session, and sending one — as the operator,
through exactly the path and checks of an operator's message in the thread/topic (`Sessions.operator_text`):
allowed on the line, not offline, the session open, the client reachable; stored, sent, mirrored to every desk."""

from __future__ import annotations

from dataclasses import dataclass

from core.clock import Clock
from core.config import Config, OperatorConfig
from core.config.replies import ReplyConfig
from core.errors import Refusal
from core.inbound import OperatorText
from core.model import Message, Session
from core.operators import Operators
from core.sessions import Sessions
from core.store.base import Store


@dataclass(frozen=True)
class Offer:
    """The saved replies a session's line offers, for one operator."""

    session: Session
    replies: list[ReplyConfig]


DOUBLE_CLICK_WINDOW = 5.0
"""Seconds in which the same operator sending the same saved reply on the same session is a double click."""


@dataclass(frozen=True)
class ReplyParts:
    config: Config
    sessions: Sessions
    operators: Operators
    store: Store
    clock: Clock


class SavedReplies:
    def __init__(self, parts: ReplyParts):
        self._config = parts.config
        self._sessions = parts.sessions
        self._operators = parts.operators
        self._store = parts.store
        self._clock = parts.clock

    def on_line(self, line_id: str) -> list[ReplyConfig]:
        return [reply for reply in self._config.replies if reply.offered_on(line_id)]

    async def offer(self, number: int, operator: OperatorConfig | None) -> Offer:
        """The replies of the session's line; only its operators see them (offline ones too: the list is theirs to
        read, sending is what `send` checks)."""
        session = await self._sessions.require(number)
        if operator is None:
            raise Refusal("You are not a linedesk operator.", "not_operator")
        if not operator.serves(session.line_id):
            raise Refusal(f"You are not an operator of line {session.line_id!r}.", "wrong_line")
        return Offer(session, self.on_line(session.line_id))

    async def send(self, number: int, reply_id: str, operator_id: str) -> Message:
        """The reply's text, its placeholders filled in, to the client as the operator's message."""
        session = await self._sessions.require(number)
        reply = self._config.reply(reply_id)
        if reply is None:
            known = ", ".join(r.id for r in self._config.replies if r.offered_on(session.line_id)) or "none"
            raise Refusal(f"There is no saved reply {reply_id!r} (saved replies of this line: {known}).", "no_reply")
        if not reply.offered_on(session.line_id):
            raise Refusal(f"The saved reply {reply_id!r} is not for line {session.line_id!r}.", "wrong_line")
        operator = self._operators.get(operator_id)
        await self._operators.require_active(operator, session, "reply to the client")
        key = f"saved-reply:{operator_id}:{number}:{reply.id}"
        if not await self._store.claim(key, DOUBLE_CLICK_WINDOW, self._clock.now()):
            raise Refusal(f"“{reply.title}” was just sent to session #{number}: not sending it twice.", "double_click")
        client = await self._sessions.client_of(session)
        line = self._config.line(session.line_id)
        text = reply.render(
            {
                "client_name": client.name if client else "",
                "operator_name": operator.name if operator else "",
                "session": str(session.number),
                "line_name": line.name if line else session.line_id,
            }
        )
        try:  # no desk: the text was typed on none, every desk gets its copy
            return await self._sessions.operator_text(OperatorText(session=number, operator_id=operator_id, text=text))
        except Refusal:
            await self._store.release(key)  # not sent: trying again at once is no double click
            raise
