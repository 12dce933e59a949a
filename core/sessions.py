"""Sessions: a client's conversation with a line, from first message to closing (SPEC §5)."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from core.clock import Clock
from core.config import Config, LineConfig, OperatorConfig
from core.courier import Courier, to_client, to_desk
from core.errors import Refusal
from core.events import EventBus, MessageReceived, OperatorStatusChanged, SessionClosed, SessionCreated
from core.inbound import ClientBlocked, ClientEdit, ClientText, OperatorDelete, OperatorEdit, OperatorText
from core.locks import Busy, KeyedLocks, store_mutex
from core.log_context import note_session
from core.model import (
    MAX_FILE_BYTES,
    AuthorKind,
    Client,
    Message,
    OperatorStatus,
    OutboxEntry,
    Session,
    SessionStatus,
)
from core.operators import Operators
from core.outbox_actions import DeleteText, Edit, EditText, Notice, OpenSession, RefreshCard, ToClient
from core.store.base import Store, steadily
from core.telemetry import NO_TELEMETRY, Telemetry

log = logging.getLogger(__name__)

NOTE_PREFIX = "//"
MESSAGE_REF = "message"
"""ref namespace: a message's platform_ref → {"session", "id"} (edits and replies find it); clients' and
operators' messages alike (their platform refs differ: a client chat vs a desk thread/topic)"""
ALBUM_WAIT = 1.0
"""Seconds an album's desk post waits for the album's other messages."""
ALBUM_CLAIM_TTL = 24 * 3600.0
OPEN_STATUSES = (SessionStatus.QUEUED, SessionStatus.ACTIVE)
IDLE_PAGE = 1000
"""Idle sessions closed per line per check (every 30 s): a backlog is worked off over a few checks."""
LAST_ASSIGNED_REF = "operator.last_assigned"
"""ref namespace: operator id → {"at", "seq"} of their last automatic assignment (round-robin ties)"""
BLOCKED_NOTICE = "⚠ The client blocked the bot: nothing more reaches them until they write again."


class Sessions:
    def __init__(
        self,
        store: Store,
        config: Config,
        clock: Clock,
        bus: EventBus,
        courier: Courier,
        operators: Operators,
        telemetry: Telemetry = NO_TELEMETRY,
    ):
        self._store = store
        self._config = config
        self._telemetry = telemetry
        self._clock = clock
        self._bus = bus
        self._courier = courier
        self._operators = operators
        self._locks = KeyedLocks()

    async def get(self, number: int) -> Session | None:
        return await self._store.get_session(number)

    async def require(self, number: int) -> Session:
        session = await self._store.get_session(number)
        if session is None:
            raise Refusal(f"Session #{number} does not exist.", "no_session")
        note_session(session.number)
        return session

    # --- the client side ---------------------------------------------------------------
    async def client_text(self, incoming: ClientText) -> Session:
        """Store a client's message in their open session, opening (or reopening) one if needed."""
        line = self._config.line(incoming.line_id)
        if line is None:
            raise LookupError(f"unknown line {incoming.line_id!r}")
        now = self._clock.now()
        client_id = Client.make_id(incoming.channel, incoming.user_id)
        async with self._locks.hold((incoming.line_id, client_id)):
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
            await self._courier.send(outbox)
            if message is not None:
                await self._remember(incoming.platform_ref, message)
                self._telemetry.client_message(line.id, incoming.channel)
        if session.status == SessionStatus.SPAM:
            return session
        if (
            line.auto_assign
            and session.status == SessionStatus.QUEUED
            and session.assignee is None
            and (created or reopened)
        ):
            session = await self.auto_assign(session)
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
        reply_to = await self._store.get_ref(MESSAGE_REF, incoming.reply_to_ref) if incoming.reply_to_ref else None
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
        ref = await self._store.get_ref(MESSAGE_REF, platform_ref) if platform_ref else None
        if ref is None:
            return None
        log.info("message %s was handled before: not stored or sent again", platform_ref)
        return await self._store.get_session(int(ref["session"]))

    async def _remember(self, platform_ref: str | None, message: Message) -> None:
        if platform_ref:  # its deliveries are stored: a store blip now must not make a retry send them again
            await steadily(
                self._store.set_ref, MESSAGE_REF, platform_ref, {"session": message.session, "id": message.id}
            )

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
        ref = await self._store.get_ref(MESSAGE_REF, edit.platform_ref)
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
                        **to_desk(session), message_id=message.id, text=edit.text, author_name=message.author_name or ""
                    ),
                )
            )
        return message

    async def client_blocked(self, blocked: ClientBlocked) -> None:
        """The client blocked the bot: nothing more is sent to them until they write again; desks are told."""
        client = await self._store.get_client(Client.make_id(blocked.channel, blocked.user_id))
        if client is None or client.unreachable:
            return
        await self._store.save_client(client.model_copy(update={"unreachable": True}))
        for session in await self._store.list_sessions(client_id=client.id, status=OPEN_STATUSES, limit=20):
            await self._courier.send(self._courier.notice(session, BLOCKED_NOTICE))

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
                # back to its operator — unless they went offline (or left the line) while it was closed
                keeps = await self._may_hold(latest.assignee, line.id)
                latest.status = SessionStatus.ACTIVE if keeps else SessionStatus.QUEUED
                latest.assignee = latest.assignee if keeps else None
                latest.closed_at = None
                await self._store.save_session(latest)
                await self._courier.send(
                    self._courier.desk_entries(latest, RefreshCard(**to_desk(latest)))
                    + self._courier.notice(latest, "↺ The client wrote again: session reopened.")
                )
                return latest, False, True
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

    async def open_outbound(self, line_id: str, client: Client) -> Session:
        """The client's open session on the line, or a new outbound one (initiative messages)."""
        line = self._config.line(line_id)
        if line is None:
            raise Refusal(f"unknown line {line_id!r}", "no_line")
        async with self._locks.hold((line_id, client.id)):
            latest = await self._store.latest_session(line_id, client.id)
            if latest is not None and latest.is_open:
                return latest
            if latest is not None and latest.status == SessionStatus.SPAM:
                raise Refusal(f"the client's session #{latest.number} is marked as spam", "spam")
            now = self._clock.now()
            session = await self._store.create_session(
                Session(
                    number=0,
                    line_id=line_id,
                    client_id=client.id,
                    status=SessionStatus.QUEUED,
                    created_at=now,
                    updated_at=now,
                    outbound=True,
                    previous_session=latest.number if latest else None,
                )
            )
            await self._courier.send(self._courier.desk_entries(session, OpenSession(**to_desk(session))))
        await self._bus.publish(SessionCreated(session=session, client=client))
        return session

    async def undeliverable(self, entry: OutboxEntry, reason: str | None, error: str) -> None:
        """The outbox gave up on an entry: mark a client who blocked the bot, tell the desk."""
        if not entry.route.endswith(".client") or not isinstance(entry.action, ToClient):
            return
        session = await self._store.get_session(entry.action.session)
        if session is None:
            return
        client = await self._store.get_client(session.client_id)
        if reason == "blocked" and client is not None and not client.unreachable:
            await self._store.save_client(client.model_copy(update={"unreachable": True}))
            text = BLOCKED_NOTICE
        else:
            text = f"⚠ Not delivered to the client: {error}"
        await self._courier.send(self._courier.notice(session, text))

    # --- the operator side ---------------------------------------------------------------
    async def operator_text(self, incoming: OperatorText) -> Message:
        """An operator's message in a session's thread/topic: to the client, or an internal note."""
        session = await self.require(incoming.session)
        if incoming.platform_ref:
            ref = await self._store.get_ref(MESSAGE_REF, incoming.platform_ref)
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
        await self._courier.send(outbox)
        await self._remember(incoming.platform_ref, message)
        return message

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
        await self._store.delete_ref(MESSAGE_REF, delete.platform_ref)  # a repeated event finds nothing
        message = message.model_copy(update={"deleted_at": self._clock.now()})
        await self._store.update_message(message)
        what = "note" if message.internal else "message to the client"
        said = f": {message.text}" if message.text else ""
        outbox = self._courier.desk_entries(
            session,
            Notice(**to_desk(session), text=f"🗑 {message.author_name} deleted a {what}{said}"),
            skip=delete.desk,
        )
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
        ref = await self._store.get_ref(MESSAGE_REF, platform_ref)
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

    def slack_dm_line(self) -> LineConfig | None:
        """The line Slack users open sessions on by writing to the app in a DM (`slack_dm`), if any."""
        return self._config.slack_dm_line()

    async def take(self, number: int, operator_id: str) -> Session:
        """First click wins, from whichever desk: a session someone else has is transferred, not taken."""
        async with self._session_mutex(number):
            session = await self.require(number)
            operator = self._operators.get(operator_id)
            await self._operators.require_active(operator, session, "take sessions")
            assert operator is not None
            if session.status == SessionStatus.CLOSED:
                raise Refusal(f"Session #{number} is closed.", "closed")
            if session.assignee == operator.id:
                return session
            if session.assignee is not None:
                holder = self._operators.get(session.assignee)
                raise Refusal(
                    f"{holder.name if holder else session.assignee} already has session #{number}; "
                    "ask them to transfer it.",
                    "taken",
                )
            session = await self._assign(session, operator, f"✋ {operator.name} took the session.")
            if session.assignee != operator.id:  # they went offline while taking it
                raise Refusal("You are offline: you cannot take sessions. Type /status online first.", "offline")
            return session

    async def transfer(self, number: int, operator_id: str, to_operator_id: str | None) -> Session:
        """Hand the session to another operator of the line, or back to the queue (`to_operator_id` None)."""
        async with self._session_mutex(number):
            session = await self.require(number)
            operator = self._operators.get(operator_id)
            await self._operators.require_active(operator, session, "transfer sessions")
            assert operator is not None
            if session.status == SessionStatus.CLOSED:
                raise Refusal(f"Session #{number} is closed.", "closed")
            if to_operator_id is None:
                if session.assignee is None:
                    return session
                return await self._unassign(session, f"↩ {operator.name} put the session back in the queue.")
            target = self._operators.get(to_operator_id)
            if target is None or not target.serves(session.line_id):
                raise Refusal(f"{to_operator_id!r} is not an operator of line {session.line_id!r}.", "wrong_line")
            if (await self._operators.state(target.id)).status == OperatorStatus.OFFLINE:
                raise Refusal(f"{target.name} is offline.", "target_offline")
            if session.assignee == target.id:
                return session
            return await self._assign(session, target, f"➡ {operator.name} transferred the session to {target.name}.")

    async def mark_spam(self, number: int, operator_id: str) -> Session:
        """Hidden from lists, nothing mirrored or started any more; unmarking restores the previous state."""
        async with self._session_mutex(number):
            session = await self.require(number)
            operator = self._operators.get(operator_id)
            await self._operators.require_active(operator, session, "mark spam")
            assert operator is not None
            session.previous_status = session.status
            session.status = SessionStatus.SPAM
            session.updated_at = self._clock.now()
            await self._store.save_session(session)
            await self._courier.send(
                self._courier.desk_entries(session, RefreshCard(**to_desk(session)))
                + self._courier.notice(session, f"🚫 {operator.name} marked the session as spam.")
            )
            return session

    async def unmark_spam(self, number: int, operator_id: str) -> Session:
        """The session gets its previous state back — active with the same operator, unless they went offline
        (or left the line) meanwhile: then it is back in the queue (and auto-assigned on such lines)."""
        async with self._session_mutex(number):
            session = await self.require(number)
            operator = self._operators.get(operator_id)
            if operator is None or not operator.serves(session.line_id):
                raise Refusal("You are not an operator of this session's line.", "wrong_line")
            if (await self._operators.state(operator.id)).status == OperatorStatus.OFFLINE:
                raise Refusal("You are offline: you cannot unmark spam. Type /status online first.", "offline")
            if session.status != SessionStatus.SPAM:
                return session
            restored = session.previous_status or SessionStatus.QUEUED
            notice = f"✅ {operator.name} unmarked spam."
            requeued = restored == SessionStatus.ACTIVE and not await self._may_hold(session.assignee, session.line_id)
            if requeued:
                restored = SessionStatus.QUEUED
                session.assignee = None
                notice += " Its operator is not available any more: the session is back in the queue."
            session.status = restored
            session.previous_status = None
            session.updated_at = self._clock.now()
            await self._store.save_session(session)
            await self._courier.send(
                self._courier.desk_entries(session, RefreshCard(**to_desk(session)))
                + self._courier.notice(session, notice)
            )
        line = self._config.line(session.line_id)
        if requeued and line is not None and line.auto_assign:
            session = await self.auto_assign(session)
        return session

    async def _may_hold(self, operator_id: str | None, line_id: str) -> bool:
        """Whether `operator_id` may hold an active session of the line: they serve it and are not offline."""
        operator = self._operators.get(operator_id) if operator_id else None
        if operator is None or not operator.serves(line_id):
            return False
        return (await self._operators.state(operator.id)).status != OperatorStatus.OFFLINE

    async def _assign(self, session: Session, operator: OperatorConfig, notice: str) -> Session:
        """Give the session to `operator` (the caller holds the session mutex). Returns it queued instead if
        the operator went offline meanwhile — after `on_operator_status` looked for their sessions."""
        session.assignee = operator.id
        session.status = SessionStatus.ACTIVE
        session.updated_at = self._clock.now()
        await self._store.save_session(session)
        if (await self._operators.state(operator.id)).status == OperatorStatus.OFFLINE:
            log.info("session #%s: %s went offline while it was assigned to them", session.number, operator.id)
            return await self._unassign(session, f"↩ {operator.name} went offline: the session is back in the queue.")
        await self._operators.remember_session(operator.id, session.number)
        outbox = self._courier.desk_entries(session, RefreshCard(**to_desk(session))) + self._courier.notice(
            session, notice
        )
        line = self._config.line(session.line_id)
        client = await self._store.get_client(session.client_id)
        if line is not None and line.operator_joined and client is not None and not client.unreachable:
            text = line.operator_joined.replace("{operator}", operator.name)
            joined = await self._store.add_message(
                Message(
                    session=session.number,
                    author_kind=AuthorKind.SYSTEM,
                    author_name=line.name,
                    text=text,
                    created_at=self._clock.now(),
                )
            )
            outbox.append(self._courier.client_text(client, session, text, joined, AuthorKind.SYSTEM))
        await self._courier.send(outbox)
        return session

    async def _unassign(self, session: Session, notice: str) -> Session:
        session.assignee = None
        session.status = SessionStatus.QUEUED
        session.updated_at = self._clock.now()
        await self._store.save_session(session)
        await self._courier.send(
            self._courier.desk_entries(session, RefreshCard(**to_desk(session))) + self._courier.notice(session, notice)
        )
        return session

    async def auto_assign(self, session: Session) -> Session:
        """`auto_assign` lines: the online operator of the line with the fewest active sessions (ties: the
        one whose last automatic assignment is the oldest) gets it; with nobody online it stays queued and
        the client gets the line's `queued_note`.

        One line's assignments take turns (a line mutex, in the store too), so sessions opened at the same
        moment — on one linedesk or several — do not all see the same operator as the least busy."""
        async with self._session_mutex(session.number):
            fresh = await self.require(session.number)
            # a chosen operator who goes offline at that moment gets it back off (`_assign`): choose again
            for _ in range(len(self._operators.of_line(fresh.line_id)) + 1):
                if fresh.assignee is not None or fresh.status != SessionStatus.QUEUED:
                    return fresh
                async with self._line_mutex(fresh.line_id):
                    chosen = await self._least_busy(fresh.line_id)
                    if chosen is None:
                        break
                    await self._store.set_ref(
                        LAST_ASSIGNED_REF,
                        chosen.id,
                        {"at": self._clock.now(), "seq": await self._store.next_number("assign")},
                    )
                    fresh = await self._assign(fresh, chosen, f"🤖 Assigned to {chosen.name} (auto-assign).")
            if fresh.assignee is None and fresh.status == SessionStatus.QUEUED:
                line = self._config.line(fresh.line_id)
                client = await self._store.get_client(fresh.client_id)
                if line is not None and line.queued_note and client is not None and not client.unreachable:
                    await self._courier.send(
                        [self._courier.client_text(client, fresh, line.queued_note, None, AuthorKind.SYSTEM)]
                    )
            return fresh

    async def _least_busy(self, line_id: str) -> OperatorConfig | None:
        """The online operator of the line with the fewest active sessions; ties: the least recent automatic
        assignment (a store sequence, not the clock: two assignments can share a timestamp), then the id."""
        candidates = []
        for operator in self._operators.of_line(line_id):
            if (await self._operators.state(operator.id)).status != OperatorStatus.ONLINE:
                continue
            active = await self._store.list_sessions(status=[SessionStatus.ACTIVE], assignee=operator.id, limit=10_000)
            last = await self._store.get_ref(LAST_ASSIGNED_REF, operator.id)
            candidates.append((len(active), int(last.get("seq", 0)) if last else 0, operator.id, operator))
        if not candidates:
            return None
        return min(candidates, key=lambda c: c[:3])[3]

    async def on_operator_status(self, event: OperatorStatusChanged) -> None:
        """An operator who goes offline hands their active sessions back to the queue (and, on auto-assign
        lines, to whoever is online)."""
        if event.new != OperatorStatus.OFFLINE:
            return
        operator = self._operators.get(event.operator_id)
        name = operator.name if operator else event.operator_id
        for session in await self._store.list_sessions(
            status=[SessionStatus.ACTIVE], assignee=event.operator_id, limit=10_000
        ):
            async with self._session_mutex(session.number):
                fresh = await self.require(session.number)
                if fresh.assignee != event.operator_id or fresh.status != SessionStatus.ACTIVE:
                    continue
                await self._unassign(fresh, f"↩ {name} went offline: the session is back in the queue.")
            line = self._config.line(session.line_id)
            if line is not None and line.auto_assign:
                await self.auto_assign(fresh)

    async def close_idle(self) -> int:
        """Close sessions whose client has been silent for the line's `auto_close_after`. Returns how many.
        Each is checked again under its mutex: a client who just wrote, or another linedesk closing it at the
        same moment, leaves it alone."""
        closed = 0
        for line in self._config.lines:
            quiet = await self._store.quiet_sessions(
                line.id, self._clock.now() - line.auto_close_after, limit=IDLE_PAGE
            )
            if len(quiet) == IDLE_PAGE:
                log.info("line %s: over %s idle sessions; the rest are closed by the next checks", line.id, IDLE_PAGE)
            for session in quiet:
                try:
                    if await self._close_if_idle(session.number, line):
                        closed += 1
                except Busy:
                    log.warning(
                        "session #%s is locked: closing it for inactivity waits for the next check", session.number
                    )
        return closed

    async def _close_if_idle(self, number: int, line: LineConfig) -> bool:
        async with self._session_mutex(number):
            session = await self.require(number)
            if not session.is_open or not _idle(session, line, self._clock.now()):
                return False
            by = f"inactivity (no message from the client for {_duration(line.auto_close_after)})"
            session = await self._close_locked(session, by)
        await self._publish_closed(session, by)
        return True

    @asynccontextmanager
    async def _session_mutex(self, number: int) -> AsyncIterator[None]:
        async with (
            self._locks.hold(("session", number)),
            store_mutex(self._store, self._clock, f"lock:session:{number}"),
        ):
            yield

    @asynccontextmanager
    async def _line_mutex(self, line_id: str) -> AsyncIterator[None]:
        """Automatic assignment on a line, one session at a time (always taken inside a session mutex)."""
        async with self._locks.hold(("line", line_id)), store_mutex(self._store, self._clock, f"lock:assign:{line_id}"):
            yield

    async def close(self, number: int, by: str, *, operator_id: str | None = None) -> Session:
        """Close a session; `by` is who closed it as shown on the desk ("Anna", "process", …). Closing a closed
        session changes nothing and fires nothing: two closers at once (a click and the idle check, two
        linedesk instances) fire `session.closed` once."""
        async with self._session_mutex(number):
            session = await self.require(number)
            if operator_id is not None:
                await self._operators.require_active(self._operators.get(operator_id), session, "close sessions")
            if session.status == SessionStatus.CLOSED:
                return session
            session = await self._close_locked(session, by)
        await self._publish_closed(session, by)
        return session

    async def _close_locked(self, session: Session, by: str) -> Session:
        now = self._clock.now()
        session.status = SessionStatus.CLOSED
        session.closed_at = now
        session.updated_at = now
        await self._store.save_session(session)
        await self._courier.send(
            self._courier.desk_entries(session, RefreshCard(**to_desk(session)))
            + self._courier.notice(session, f"■ Session closed by {by}.")
        )
        return session

    async def _publish_closed(self, session: Session, by: str) -> None:
        client = await self._store.get_client(session.client_id)
        if client is not None:
            await self._bus.publish(SessionClosed(session=session, client=client, by=by))


def _idle(session: Session, line: LineConfig, now: float) -> bool:
    """The client has been silent for the line's `auto_close_after`."""
    return now - session.quiet_since >= line.auto_close_after


def _duration(seconds: float) -> str:
    if seconds >= 3600 and seconds % 3600 == 0:
        return f"{int(seconds // 3600)} h"
    if seconds >= 60 and seconds % 60 == 0:
        return f"{int(seconds // 60)} min"
    return f"{seconds:g} s"
