"""Operators' messages in a session's thread/topic: to the client (or an internal note, `//` first), and
their edits and deletions, which reach the client's copy and the other desks'."""

from __future__ import annotations

import logging

from core.courier import to_client, to_desk
from core.errors import Refusal
from core.inbound import OperatorDelete, OperatorEdit, OperatorText
from core.links import LinkKind, session_message
from core.model import AuthorKind, Message, Session, SessionStatus
from core.outbox_actions import DeleteText, Edit, EditText, Notice, RefreshCard
from core.sessions.common import SessionService

log = logging.getLogger(__name__)

NOTE_PREFIX = "//"


class OperatorMessages(SessionService):
    async def operator_text(self, incoming: OperatorText) -> Message:
        """An operator's message in a session's thread/topic: to the client, or an internal note."""
        session = await self.require(incoming.session)
        if incoming.platform_ref:
            ref = await self._source(incoming.platform_ref)
            earlier = await self._store.get_message(int(ref["session"]), int(ref["id"])) if ref else None
            if earlier is not None:
                log.info("operator message %s was handled before: not sent again", incoming.platform_ref)
                return earlier
        operator = self._operators.get(incoming.operator_id)
        internal = incoming.text.lstrip().startswith(NOTE_PREFIX)
        if internal and (operator is None or not operator.serves(session.line_id)):
            raise Refusal(f"Only operators of line {session.line_id!r} leave notes on its sessions.", "wrong_line")
        if not internal:
            await self._operators.require_active(operator, session, "reply to the client")
            if session.status == SessionStatus.CLOSED:
                raise Refusal(f"Session #{session.number} is closed: the client does not get this message.", "closed")
            client = await self._store.get_client(session.client_id)
            if client is not None and client.unreachable:
                raise Refusal("The client blocked the bot: they get nothing until they write again.", "blocked")
        assert operator is not None
        name = operator.name
        message = await self._store.add_message(
            Message(
                session=session.number,
                author_kind=AuthorKind.OPERATOR,
                author_id=incoming.operator_id,
                author_name=name,
                text=incoming.text,
                internal=internal,
                created_at=self._clock.now(),
                source_ref=incoming.platform_ref,
                attachments=list(incoming.attachments),
            )
        )
        if operator is not None:
            await self._operators.remember_session(operator.id, session.number)
        outbox = self._courier.mirror(session, message, skip=incoming.desk)
        if not internal:
            client = await self._store.get_client(session.client_id)
            if client is None:
                raise LookupError(f"client {session.client_id} of session #{session.number} is missing")
            outbox.insert(
                0, self._courier.client_text(client, session, incoming.text, message, copy_from=incoming.copy_from)
            )
        await self._courier.send(outbox, self._source_links(incoming.platform_ref, message))
        if not internal and session.first_response_at is None:
            await self._first_response(session.number, message.created_at)
        return message

    async def _first_response(self, number: int, at: float) -> None:
        """The first operator message to the client (whatever desk or saved reply it came from) stops the
        session's first-response clock (SPEC §14); the cards show it met."""
        async with self._locks.session(number):
            session = await self.require(number)
            if session.first_response_at is not None:
                return
            session.first_response_at = at
            await self._store.save_session(session)
            line = self._config.line(session.line_id)
            if line is not None and line.first_response_within is not None:
                await self._courier.send(self._courier.desk_entries(session, RefreshCard(**to_desk(session))))

    async def operator_edit(self, edit: OperatorEdit) -> Message | None:
        """An operator edited their message in a thread/topic: the stored text changes, the client's copy is
        edited (where the platform allows it) and so are the other desks' copies. None: not such a message."""
        found = await self._operator_message(edit.platform_ref, edit.operator_id)
        if found is None:
            return None
        session, message = found
        if message.text == edit.text:
            return None  # Slack also reports unfurls and thread summaries as "changed"
        message = message.model_copy(update={"text": edit.text, "edited_at": self._clock.now()})
        await self._store.update_message(message)
        outbox = self._courier.desk_entries(
            session,
            Edit(**to_desk(session), message_id=message.id, text=edit.text, author_name=message.author_name or ""),
            skip=edit.desk,
        )
        client = await self._store.get_client(session.client_id)
        if not message.internal and client is not None and not client.unreachable:
            outbox.insert(
                0,
                self._courier.client_entry(
                    client,
                    EditText(
                        **to_client(client, session),
                        message_id=message.id,
                        text=edit.text,
                        author_kind=AuthorKind.OPERATOR,
                        author_name=message.author_name or "",
                    ),
                ),
            )
        await self._courier.send(outbox)
        return message

    async def operator_delete(self, delete: OperatorDelete) -> Message | None:
        """An operator deleted their message in a thread/topic: the client's copy is deleted (where the
        platform allows it) and the other desks are told. The stored message stays: it is the session's
        record of what the client was sent."""
        found = await self._operator_message(delete.platform_ref, delete.operator_id)
        if found is None:
            return None
        session, message = found
        # a repeated event finds nothing
        await self._store.unlink(LinkKind.MESSAGE_SOURCE, session_message(session.number, message.id))
        message = message.model_copy(update={"deleted_at": self._clock.now()})
        await self._store.update_message(message)
        what = "note" if message.internal else "message to the client"
        said = f": {message.text}" if message.text else ""
        notice = Notice(**to_desk(session), text=f"🗑 {message.author_name} deleted a {what}{said}")
        outbox = self._courier.desk_entries(session, notice, skip=delete.desk)
        client = await self._store.get_client(session.client_id)
        if not message.internal and client is not None and not client.unreachable:
            outbox.insert(
                0,
                self._courier.client_entry(client, DeleteText(**to_client(client, session), message_id=message.id)),
            )
        await self._courier.send(outbox)
        return message

    async def _operator_message(self, platform_ref: str, operator_id: str) -> tuple[Session, Message] | None:
        """The session and stored message an operator's platform message became — only the author's own."""
        ref = await self._source(platform_ref)
        if ref is None:
            return None
        session = await self._store.get_session(int(ref["session"]))
        message = await self._store.get_message(int(ref["session"]), int(ref["id"]))
        if (
            session is None
            or message is None
            or message.author_kind != AuthorKind.OPERATOR
            or message.author_id != operator_id
        ):
            return None
        return session, message
