"""Transcripts and the client's history as operators and admins ask for them (SPEC §14).

`TranscriptReader` reads a session's records and renders them (the admin API and the CLI need nothing
more). `Transcripts` also posts them: `/transcript` puts the full transcript as a text file into the
thread/topic it was asked in; `/transcript client` sends the client's view to the client. Both go through
the outbox as a session message with a document attached whose `ref` ("transcript:<session>:<view>:<last
message id>") this module's `TranscriptFiles` turns into the file's bytes when a deliverer fetches it — the
transcript as it was when asked for, whenever it is delivered.
"""

from __future__ import annotations

import re

from core.clock import Clock
from core.config import Config, OperatorConfig
from core.courier import Courier, desk_routes
from core.errors import Refusal
from core.files import FileUnavailable
from core.model import AuthorKind, Message, Session
from core.operators import Operators
from core.record import Attachment
from core.store.base import Store
from core.transcripts.history import card_line, client_history, history_text
from core.transcripts.model import SessionRecords, Transcript, View, build_transcript
from core.transcripts.render import transcript_text
from core.transcripts.zone import line_zone

PREFIX = "transcript"
"""The `Files` source prefix of transcript documents."""
MAX_MESSAGES = 100_000
_REF = re.compile(rf"^{PREFIX}:([0-9]{{1,12}}):(full|client):([0-9]{{1,18}})$")


class TranscriptReader:
    def __init__(self, store: Store, config: Config):
        self._store = store
        self._config = config

    async def read(self, number: int, view: View = View.FULL, upto: int | None = None) -> Transcript | None:
        """The session's transcript (its messages up to id `upto`), or None when there is no such session."""
        session = await self._store.get_session(number)
        if session is None:
            return None
        messages = await self._store.list_messages(number, limit=MAX_MESSAGES)
        if upto is not None:
            messages = [m for m in messages if m.id <= upto]
        instances = await self._store.list_instances(session=number, limit=1000) if view == View.FULL else []
        line = self._config.line(session.line_id)
        records = SessionRecords(
            session=session,
            client=await self._store.get_client(session.client_id),
            line_name=line.name if line is not None else session.line_id,
            messages=messages,
            instances=sorted(instances, key=lambda i: i.created_at),
            operator_names={o.id: o.name for o in self._config.operators},
        )
        return build_transcript(records, line_zone(line), view)

    async def text(self, number: int, view: View = View.FULL, upto: int | None = None) -> str | None:
        transcript = await self.read(number, view, upto)
        return transcript_text(transcript) if transcript is not None else None

    async def card_line(self, session: Session) -> str | None:
        """The card's line naming the client's earlier sessions (None: a first-time client)."""
        history = await client_history(self._store, session)
        return card_line(history, line_zone(self._config.line(session.line_id)))


class TranscriptFiles:
    """The `Files` source of "transcript:…" refs: the transcript's text, as a UTF-8 file."""

    def __init__(self, reader: TranscriptReader):
        self._reader = reader

    async def fetch(self, ref: str) -> bytes:
        found = _REF.match(ref)
        if found is None:
            raise FileUnavailable(f"not a transcript: {ref!r}")
        text = await self._reader.text(int(found[1]), View(found[2]), int(found[3]))
        if text is None:
            raise FileUnavailable(f"no session #{found[1]}")
        return text.encode()


class Transcripts:
    def __init__(self, store: Store, config: Config, clock: Clock, courier: Courier, operators: Operators):
        self._store = store
        self._config = config
        self._clock = clock
        self._courier = courier
        self._operators = operators
        self.reader = TranscriptReader(store, config)
        self.files = TranscriptFiles(self.reader)

    async def _session(self, number: int, operator: OperatorConfig | None) -> Session:
        session = await self._store.get_session(number)
        if session is None:
            raise Refusal(f"There is no session #{number}.", "no_session")
        if operator is None:
            raise Refusal("You are not a linedesk operator.", "not_operator")
        if not operator.serves(session.line_id):
            raise Refusal(f"You are not an operator of line {session.line_id!r}.", "wrong_line")
        return session

    async def _document(self, session: Session, view: View) -> Attachment:
        messages = await self._store.list_messages(session.number, limit=MAX_MESSAGES)
        upto = max((m.id for m in messages), default=0)
        text = await self.reader.text(session.number, view, upto) or ""
        suffix = "" if view == View.FULL else "-client"
        return Attachment(
            kind="document",
            ref=f"{PREFIX}:{session.number}:{view.value}:{upto}",
            name=f"session-{session.number}-transcript{suffix}.txt",
            mime="text/plain",
            size=len(text.encode()),
        )

    async def post_to_desk(self, number: int, operator: OperatorConfig | None, desk: str) -> Message:
        """`/transcript`: the full transcript, as a file, into the thread/topic of `desk` (a desk route) — a
        note of the operator's, so the other desks do not get the file too."""
        session = await self._session(number, operator)
        assert operator is not None
        line = self._config.line(session.line_id)
        if line is None or desk not in desk_routes(line):
            raise Refusal(f"Line {session.line_id!r} has no desk here: its transcripts go to its own desks.", "no_desk")
        document = await self._document(session, View.FULL)
        message = await self._store.add_message(
            Message(
                session=number,
                author_kind=AuthorKind.SYSTEM,
                author_id=operator.id,
                author_name=operator.name,
                text=f"📄 Transcript of session #{number}",
                internal=True,
                created_at=self._clock.now(),
                attachments=[document],
            )
        )
        await self._courier.send([e for e in self._courier.mirror(session, message) if e.route == desk])
        return message

    async def send_to_client(self, number: int, operator: OperatorConfig | None) -> Message:
        """`/transcript client`: the client's view, as a file, to the client — with the checks of any message
        to the client (an operator of the line, not offline, not spam, a client who can be reached); a closed
        session's client gets it too. The desks show that it was sent."""
        session = await self._session(number, operator)
        await self._operators.require_active(operator, session, "send the transcript to the client")
        assert operator is not None
        client = await self._store.get_client(session.client_id)
        if client is None:
            raise Refusal(f"Session #{number} has no client.", "no_client")
        if client.unreachable:
            raise Refusal("The client blocked the bot: they get nothing until they write again.", "blocked")
        document = await self._document(session, View.CLIENT)
        text = f"📄 The transcript of our conversation (session #{number})"
        message = await self._store.add_message(
            Message(
                session=number,
                author_kind=AuthorKind.SYSTEM,
                author_id=operator.id,
                author_name=operator.name,
                text=text,
                created_at=self._clock.now(),
                attachments=[document],
            )
        )
        to_client = self._courier.client_text(client, session, message.text, message, AuthorKind.SYSTEM)
        await self._courier.send([to_client, *self._courier.mirror(session, message)])
        return message

    async def history(self, number: int, operator: OperatorConfig | None) -> str:
        """`/history`: the client's earlier sessions on the line with their first message."""
        session = await self._session(number, operator)
        client = await self._store.get_client(session.client_id)
        history = await client_history(self._store, session, first_messages=10)
        zone = line_zone(self._config.line(session.line_id))
        return history_text(session, client.name if client else session.client_id, history, zone)
