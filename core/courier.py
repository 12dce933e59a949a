"""Turns what the domain wants said into outbox entries, addressed by route and conversation.

Routes name deliverers that adapters register: "<channel>.client" reaches a client,
"<desk>.desk" a desk. Client conversations are per (line, chat) so a client's
messages keep their order; desk conversations are per session thread/topic so the
card is opened before anything is posted under it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TypedDict

from core.clock import Clock
from core.config import Config, LineConfig
from core.links import Link
from core.model import MAX_FILE_BYTES, AuthorKind, Client, Message, OutboxEntry, Session
from core.outbox_actions import ClientAction, CopyFrom, DeskAction, Mirror, Notice, RefreshCard, SendText
from core.store.base import Store


class ToDeskFields(TypedDict):
    session: int
    line_id: str


class ToClientFields(TypedDict):
    session: int
    line_id: str
    client_id: str
    chat_id: str


CARD_LANE = ":card"
"""What a session's card-refresh conversation adds to its desk conversation's name."""

SLACK_DESK = "slack.desk"
TELEGRAM_DESK = "telegram.desk"


def _same(text: str) -> str:
    return text


def mirror_line(
    item: Mirror,
    emphasis: Callable[[str], str] = _same,
    *,
    files_shown: bool = False,
    escape: Callable[[str], str] = _same,
    edited: bool = False,
) -> str:
    """How a mirrored session message reads on a desk: who wrote it, and whether the client got it.
    Attachments the desk does not show as themselves (`files_shown` False, or not files) become text.
    `escape` makes people's words safe for the desk's markup (Slack's `&`, `<`, `>`)."""
    kind = item.author_kind
    name = emphasis(escape(str(item.author_name or kind)))
    parts = [escape(item.text)] if item.text else []
    for attachment in item.attachments:
        if attachment.too_large:
            parts.append(
                f"{escape(attachment.describe())} — too large to forward (files up to "
                f"{MAX_FILE_BYTES // 1024 // 1024} MB)"
            )
        elif not files_shown or attachment.ref is None:
            parts.append(escape(attachment.describe()))
    if edited:
        parts.append("(edited)")
    text = " ".join(parts)
    if item.internal:
        return f"📝 {name} (note): {text}"
    if kind == AuthorKind.PROCESS:
        return f"⚙ {name} → client: {text}"
    if kind in (AuthorKind.OPERATOR, AuthorKind.SYSTEM):
        return f"{name} → client: {text}"
    return f"{name}: {text}"


def mirror_of(message: Message, line_id: str) -> Mirror:
    """What a desk needs to show a session message."""
    return Mirror(
        session=message.session,
        line_id=line_id,
        message_id=message.id,
        author_kind=message.author_kind,
        author_name=message.author_name or "",
        text=message.text,
        internal=message.internal,
        source_ref=message.source_ref,
        media_group=message.media_group,
        attachments=message.attachments,
        sent_at=message.created_at,
    )


def desk_merge(head: OutboxEntry, later: OutboxEntry) -> bool:
    """What a desk delivers together with the head of a session's conversation: the session's mirrored
    messages and notices that waited behind the desk's limit (one post, in order), and card refreshes (the card
    is drawn from the session as it is now, so one refresh stands for all)."""
    a, b = head.action, later.action
    if isinstance(a, Mirror | Notice) and isinstance(b, Mirror | Notice):
        return a.session == b.session  # a notice ("✋ Anna took the session") is a line of the post too
    return isinstance(a, RefreshCard) and isinstance(b, RefreshCard) and a.session == b.session


def to_client(client: Client, session: Session) -> ToClientFields:
    """The address every client action about `session` carries: `SendText(**to_client(client, session), …)`."""
    return {"session": session.number, "line_id": session.line_id, "client_id": client.id, "chat_id": client.chat_id}


def to_desk(session: Session) -> ToDeskFields:
    """The address every desk action about `session` carries: `Notice(**to_desk(session), text=…)`."""
    return {"session": session.number, "line_id": session.line_id}


def client_route(client: Client) -> str:
    return f"{client.channel.value}.client"


def desk_routes(line: LineConfig) -> list[str]:
    routes = []
    if line.desk_channels:
        routes.append(SLACK_DESK)
    if line.telegram_desk_chat is not None:
        routes.append(TELEGRAM_DESK)
    return routes


class Courier:
    def __init__(self, store: Store, config: Config, clock: Clock, wake: Callable[[], None] = lambda: None):
        self._store = store
        self._config = config
        self._clock = clock
        self._wake = wake

    # --- building entries ------------------------------------------------------------
    def client_entry(self, client: Client, action: ClientAction) -> OutboxEntry:
        """An entry to `client`, whom `action` must address (`to_client` gives the address)."""
        now = self._clock.now()
        return OutboxEntry(
            conversation=f"{client_route(client)}:{action.line_id}:{client.chat_id}",
            route=client_route(client),
            action=action,
            due_at=now,
            created_at=now,
        )

    def desk_entries(
        self, session: Session, action: DeskAction, *, skip: str | None = None, delay: float = 0.0
    ) -> list[OutboxEntry]:
        """`action` (about `session`) for each of the line's desks but `skip`."""
        line = self._config.line(session.line_id)
        if line is None:
            return []
        now = self._clock.now()
        # a card refresh has a lane of its own: it never waits behind the session's posts (§13)
        lane = CARD_LANE if isinstance(action, RefreshCard) else ""
        return [
            OutboxEntry(
                conversation=f"{route}:{session.number}{lane}",
                route=route,
                action=action,
                due_at=now + delay,
                created_at=now,
            )
            for route in desk_routes(line)
            if route != skip
        ]

    def client_text(
        self,
        client: Client,
        session: Session,
        text: str,
        message: Message | None = None,
        kind: AuthorKind = AuthorKind.OPERATOR,
        *,
        copy_from: dict[str, int] | None = None,
    ) -> OutboxEntry:
        action = SendText(
            **to_client(client, session),
            text=text,
            message_id=message.id if message else None,
            author_kind=kind,
            # operators' messages are signed with it
            author_name=message.author_name if message is not None and message.author_name else None,
            attachments=message.attachments if message is not None else [],
            copy_from=CopyFrom.model_validate(copy_from) if copy_from is not None else None,
        )
        return self.client_entry(client, action)

    def mirror(
        self, session: Session, message: Message, *, skip: str | None = None, delay: float = 0.0
    ) -> list[OutboxEntry]:
        """Show a session message on the line's desks (but `skip`, where it was typed)."""
        return self.desk_entries(session, mirror_of(message, session.line_id), skip=skip, delay=delay)

    def notice(self, session: Session, text: str, *, aside: bool = False) -> list[OutboxEntry]:
        """A line of the system's in the session's thread/topic (process started, failures …); `aside`: the
        record of a card action, which may wait for a free send (`Notice.aside`)."""
        return self.desk_entries(session, Notice(**to_desk(session), text=text, aside=aside))

    # --- sending -------------------------------------------------------------------------
    async def send(self, entries: Sequence[OutboxEntry], links: Sequence[Link] = ()) -> list[OutboxEntry]:
        """Store `entries` for delivery — and `links`, in the same step — then wake the outbox."""
        if not entries and not links:
            return []
        stored = await self._store.outbox_add(entries, links)
        self._wake()
        return stored

    def woke(self) -> None:
        self._wake()
