"""Client intake: a client's message is stored in their open session — opening (or reopening) one for it,
with its desk card and the line's greeting — mirrored to the desks, and assigned on `auto_assign` lines;
a client's edit reaches the desks' copies."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from core.config import LineConfig
from core.courier import to_desk
from core.events import MessageReceived, SessionCreated
from core.inbound import ClientEdit, ClientText
from core.log_context import note_session
from core.model import MAX_FILE_BYTES, AuthorKind, Client, Message, OutboxEntry, Session, SessionStatus
from core.outbox_actions import Edit, OpenSession, RefreshCard
from core.sessions.assignment import Assignment
from core.sessions.common import SessionParts, SessionService
from core.sessions.greeting import greeting_text
from core.sessions.locking import SessionLocks

log = logging.getLogger(__name__)

ALBUM_WAIT = 1.0
"""Seconds an album's desk post waits for the album's other messages."""
ALBUM_CLAIM_TTL = 24 * 3600.0


@dataclass(frozen=True)
class _Arrival:
    """A client's message on its way into its session."""

    incoming: ClientText
    line: LineConfig
    client: Client
    session: Session
    now: float


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
            context = await self._store.client_context(line.id, client_id, incoming.platform_ref)
            replayed = await self._replayed(incoming.platform_ref, context.source.data) if context.source else None
            if replayed is not None:
                return replayed
            client = await self._upsert_client(client_id, incoming, now, context.client)
            session, created, reopened = await self._open_session(line, client, now, context.latest)
            note_session(session.number)
            greet = bool(line.greeting or line.out_of_hours_message or line.tell_queue_position) and (
                created or await self._first_try_failed(session)
            )
            session.last_client_message_at = now
            session.updated_at = now
            message, waiting = await self._store_message(_Arrival(incoming, line, client, session, now), created, greet)
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
            session = await self._assignment.auto_assign_in_hours(session)
        version = context.rules_version
        if created:
            await self._bus.publish(SessionCreated(session=session, client=client, rules_version=version))
        if message is not None:
            await self._bus.publish(
                MessageReceived(
                    session=session,
                    client=client,
                    message=message,
                    rules_version=version,
                    instances_waiting=waiting,
                )
            )
        return session

    async def _store_message(self, arrival: _Arrival, created: bool, greet: bool) -> tuple[Message | None, bool | None]:
        """Store the session and the message with what goes out for it; the message stored (None: a bare
        /start) and whether an instance of the session was waiting then (None: not known). A message in a session
        that was open already goes in one store call (`Store.client_message`); a new session's card, a greeting or
        an album take the longer way, one record at a time."""
        incoming, session = arrival.incoming, arrival.session
        stores_message = bool(incoming.attachments) or not (
            incoming.is_start and incoming.text.strip() in ("", "/start")
        )
        if stores_message and not created and not greet and incoming.media_group is None:
            draft = await self._client_message(session, arrival.client, incoming, arrival.now)

            def deliveries(message: Message) -> list[OutboxEntry]:
                if session.status == SessionStatus.SPAM:
                    return []
                return [
                    *self._courier.mirror(session, message),
                    *self._too_large_notes(arrival.client, session, message),
                ]

            stored = await self._store.client_message(
                session, draft, deliveries, lambda message: self._source_links(incoming.platform_ref, message)
            )
            self._courier.woke()
            return stored.message, stored.instances_waiting
        return await self._store_stepwise(arrival, created, greet, stores_message), None

    async def _store_stepwise(
        self, arrival: _Arrival, created: bool, greet: bool, stores_message: bool
    ) -> Message | None:
        incoming, session, client = arrival.incoming, arrival.session, arrival.client
        await self._store.save_session(session)
        if created:  # the card goes now: if storing the message fails, the retry finds the session open
            await self._courier.send(self._courier.desk_entries(session, OpenSession(**to_desk(session))))
        outbox: list[OutboxEntry] = []
        message = None
        if stores_message:
            message = await self._store.add_message(await self._client_message(session, client, incoming, arrival.now))
            if session.status != SessionStatus.SPAM:
                outbox += await self._mirror_client_message(session, message)
        greeting = await self._greeting(session, client, arrival.line, arrival.now) if greet else None
        if greeting is not None:
            outbox.append(greeting)
        if message is not None and session.status != SessionStatus.SPAM:
            outbox += self._too_large_notes(client, session, message)
        await self._courier.send(outbox, self._source_links(incoming.platform_ref, message))
        return message

    async def _greeting(self, session: Session, client: Client, line: LineConfig, now: float) -> OutboxEntry | None:
        text = await greeting_text(self._store, line, session, now)
        if not text:
            return None
        greeting = await self._store.add_message(
            Message(
                session=session.number,
                author_kind=AuthorKind.SYSTEM,
                author_name=line.name,
                text=text,
                created_at=now,
            )
        )
        return self._courier.client_text(client, session, text, greeting, AuthorKind.SYSTEM)

    async def _first_try_failed(self, session: Session) -> bool:
        """The session was opened by a message whose handling failed before anything was stored in it (the
        retry is here now): it still owes the client its greeting."""
        return session.last_client_message_at == session.created_at and not await self._store.list_messages(
            session.number, limit=1
        )

    async def _client_message(self, session: Session, client: Client, incoming: ClientText, now: float) -> Message:
        """The client's message as it is to be stored (numbered by the store)."""
        reply_to = await self._source(incoming.reply_to_ref) if incoming.reply_to_ref else None
        return Message(
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

    async def _replayed(self, platform_ref: str | None, source: dict[str, Any]) -> Session | None:
        """The session of a platform message handled before — an event handled again after a crash (its link
        is written with its outbox entries): not stored or sent twice."""
        log.info("message %s was handled before: not stored or sent again", platform_ref)
        return await self._store.get_session(int(source["session"]))

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

    async def _upsert_client(self, client_id: str, incoming: ClientText, now: float, client: Client | None) -> Client:
        """The client as stored (`client`, read with the message's context), brought up to date."""
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

    async def _open_session(
        self, line: LineConfig, client: Client, now: float, latest: Session | None
    ) -> tuple[Session, bool, bool]:
        """The client's session to store a message in (`latest`: their latest session on the line), and whether
        it was (created, reopened) for it."""
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
