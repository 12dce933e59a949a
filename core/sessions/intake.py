"""Client intake: a client's message is stored in their open session — opening (or reopening) one for it,
with its desk card and the line's greeting — mirrored to the desks, and assigned on `auto_assign` lines;
a client's edit reaches the desks' copies."""

from __future__ import annotations

import logging

from core.config import LineConfig
from core.courier import to_desk
from core.events import MessageReceived, SessionCreated
from core.inbound import ClientEdit, ClientText
from core.log_context import note_session
from core.model import MAX_FILE_BYTES, AuthorKind, Client, Message, OutboxEntry, Session, SessionStatus
from core.outbox_actions import Edit, OpenSession, RefreshCard
from core.sessions.assignment import Assignment
from core.sessions.common import SessionParts, SessionService
from core.sessions.locking import SessionLocks

log = logging.getLogger(__name__)

ALBUM_WAIT = 1.0
"""Seconds an album's desk post waits for the album's other messages."""
ALBUM_CLAIM_TTL = 24 * 3600.0


class ClientIntake(SessionService):
    def __init__(self, parts: SessionParts, locks: SessionLocks, assignment: Assignment):
        super().__init__(parts, locks)
        self._assignment = assignment

    async def client_text(self, incoming: ClientText) -> Session:
        """Store a client's message in their open session, opening (or reopening) one if needed."""
        line = self._config.line(incoming.line_id)
        if line is None:
            raise LookupError(f"unknown line {incoming.line_id!r}")
        now = self._clock.now()
        client_id = Client.make_id(incoming.channel, incoming.user_id)
        async with self._locks.client(incoming.line_id, client_id):
            replayed = await self._already_stored(incoming.platform_ref)
            if replayed is not None:
                return replayed
            client = await self._upsert_client(client_id, incoming, now)
            session, created, reopened = await self._open_session(line, client, now)
            note_session(session.number)
            greet = bool(line.greeting) and (created or await self._first_try_failed(session))
            session.last_client_message_at = now
            session.updated_at = now
            await self._store.save_session(session)
            if created:  # the card goes now: if storing the message fails, the retry finds the session open
                await self._courier.send(self._courier.desk_entries(session, OpenSession(**to_desk(session))))
            outbox: list[OutboxEntry] = []
            message = None
            if incoming.attachments or not (incoming.is_start and incoming.text.strip() in ("", "/start")):
                message = await self._store_client_message(session, client, incoming, now)
                if session.status != SessionStatus.SPAM:
                    outbox += await self._mirror_client_message(session, message)
            if greet:
                outbox.append(await self._greeting(session, client, line, now))
            if message is not None and session.status != SessionStatus.SPAM:
                outbox += self._too_large_notes(client, session, message)
            await self._courier.send(outbox, self._source_links(incoming.platform_ref, message))
            if message is not None:
                self._telemetry.client_message(line.id, incoming.channel)
        if session.status == SessionStatus.SPAM:
            return session
        if (
            line.auto_assign
            and session.status == SessionStatus.QUEUED
            and session.assignee is None
            and (created or reopened)
        ):
            session = await self._assignment.auto_assign(session)
        if created:
            await self._bus.publish(SessionCreated(session=session, client=client))
        if message is not None:
            await self._bus.publish(MessageReceived(session=session, client=client, message=message))
        return session

    async def _greeting(self, session: Session, client: Client, line: LineConfig, now: float) -> OutboxEntry:
        greeting = await self._store.add_message(
            Message(
                session=session.number,
                author_kind=AuthorKind.SYSTEM,
                author_name=line.name,
                text=line.greeting,
                created_at=now,
            )
        )
        return self._courier.client_text(client, session, line.greeting, greeting, AuthorKind.SYSTEM)

    async def _first_try_failed(self, session: Session) -> bool:
        """The session was opened by a message whose handling failed before anything was stored in it (the
        retry is here now): it still owes the client its greeting."""
        return session.last_client_message_at == session.created_at and not await self._store.list_messages(
            session.number, limit=1
        )

    async def _store_client_message(
        self, session: Session, client: Client, incoming: ClientText, now: float
    ) -> Message:
        reply_to = await self._source(incoming.reply_to_ref) if incoming.reply_to_ref else None
        message = await self._store.add_message(
            Message(
                session=session.number,
                author_kind=AuthorKind.CLIENT,
                author_id=client.id,
                author_name=client.name,
                text=incoming.text,
                created_at=now,
                source_ref=incoming.platform_ref,
                attachments=list(incoming.attachments),
                media_group=incoming.media_group,
                reply_to=int(reply_to["id"]) if reply_to and reply_to.get("session") == session.number else None,
            )
        )
        return message

    async def _already_stored(self, platform_ref: str | None) -> Session | None:
        """The session of a platform message handled before — an event handled again after a crash
        (its ref is written once its outbox entries are stored): not stored or sent twice."""
        ref = await self._source(platform_ref) if platform_ref else None
        if ref is None:
            return None
        log.info("message %s was handled before: not stored or sent again", platform_ref)
        return await self._store.get_session(int(ref["session"]))

    async def _mirror_client_message(self, session: Session, message: Message) -> list[OutboxEntry]:
        """One desk post per message — per album for a Telegram media group: the album's first message
        posts it a moment later, when its other messages have arrived too."""
        if message.media_group is None:
            return self._courier.mirror(session, message)
        first = await self._store.claim(
            f"album:{session.number}:{message.media_group}", ALBUM_CLAIM_TTL, self._clock.now()
        )
        if not first:
            return []
        return self._courier.mirror(session, message, delay=ALBUM_WAIT)

    def _too_large_notes(self, client: Client, session: Session, message: Message) -> list[OutboxEntry]:
        """Files the bots cannot move: the client is told at once; the desk post says so itself."""
        notes = []
        for attachment in message.attachments:
            if attachment.too_large:
                mb = (attachment.size or 0) / 1024 / 1024
                text = (
                    f"Your file {attachment.name or attachment.kind} is too large ({mb:.1f} MB): operators "
                    f"receive files up to {MAX_FILE_BYTES // 1024 // 1024} MB. Please send a smaller one "
                    "or a link."
                )
                notes.append(self._courier.client_text(client, session, text, None, AuthorKind.SYSTEM))
        return notes

    async def client_edit(self, edit: ClientEdit) -> Message | None:
        """A client edited a message: the stored text changes and the desks' copies are edited."""
        ref = await self._source(edit.platform_ref)
        if ref is None:
            return None
        message = await self._store.get_message(int(ref["session"]), int(ref["id"]))
        session = await self._store.get_session(int(ref["session"]))
        if message is None or session is None or message.author_id != Client.make_id(edit.channel, edit.user_id):
            return None
        message = message.model_copy(update={"text": edit.text, "edited_at": self._clock.now()})
        await self._store.update_message(message)
        if session.status != SessionStatus.SPAM:
            await self._courier.send(
                self._courier.desk_entries(
                    session,
                    Edit(
                        **to_desk(session),
                        message_id=message.id,
                        text=edit.text,
                        author_name=message.author_name or "",
                    ),
                )
            )
        return message

    async def _upsert_client(self, client_id: str, incoming: ClientText, now: float) -> Client:
        client = await self._store.get_client(client_id)
        if client is None:
            client = Client(
                id=client_id,
                channel=incoming.channel,
                external_id=incoming.user_id,
                name=incoming.name,
                username=incoming.username,
                chat_id=incoming.chat_id,
                created_at=now,
            )
        elif (client.name, client.username, client.chat_id, client.unreachable) != (
            incoming.name,
            incoming.username,
            incoming.chat_id,
            False,
        ):
            client = client.model_copy(
                update={
                    "name": incoming.name,
                    "username": incoming.username,
                    "chat_id": incoming.chat_id,
                    "unreachable": False,
                }
            )
        else:
            return client
        await self._store.save_client(client)
        return client

    async def _open_session(self, line: LineConfig, client: Client, now: float) -> tuple[Session, bool, bool]:
        """The client's session to store a message in, and whether it was (created, reopened) for it."""
        latest = await self._store.latest_session(line.id, client.id)
        if latest is not None:
            if latest.is_open or latest.status == SessionStatus.SPAM:
                return latest, False, False
            if latest.closed_at is not None and now - latest.closed_at <= line.reopen_within:
                return await self._reopen(latest, line), False, True
        session = await self._store.create_session(
            Session(
                number=0,
                line_id=line.id,
                client_id=client.id,
                status=SessionStatus.QUEUED,
                created_at=now,
                updated_at=now,
                previous_session=latest.number if latest else None,
            )
        )
        log.info("session #%s opened on line %s for %s", session.number, line.id, client.id)
        return session, True, False

    async def _reopen(self, latest: Session, line: LineConfig) -> Session:
        """The client wrote again soon after their session closed: it is theirs again — back to its operator,
        unless they went offline (or left the line) while it was closed."""
        keeps = await self._assignment.may_hold(latest.assignee, line.id)
        latest.status = SessionStatus.ACTIVE if keeps else SessionStatus.QUEUED
        latest.assignee = latest.assignee if keeps else None
        latest.closed_at = None
        await self._store.save_session(latest)
        await self._courier.send(
            self._courier.desk_entries(latest, RefreshCard(**to_desk(latest)))
            + self._courier.notice(latest, "↺ The client wrote again: session reopened.")
        )
        return latest
