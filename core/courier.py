"""Turns what the domain wants said into outbox entries, addressed by route and conversation.

Routes name deliverers that adapters register: "<channel>.client" reaches a client,
"<desk>.desk" a desk. Client conversations are per (line, chat) so a client's
messages keep their order; desk conversations are per session thread/topic so the
card is opened before anything is posted under it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from core.clock import Clock
from core.config import Config, LineConfig
from core.model import MAX_FILE_BYTES, Attachment, AuthorKind, Client, Message, OutboxEntry, Session
from core.store.base import Store

SLACK_DESK = "slack.desk"
TELEGRAM_DESK = "telegram.desk"


def attachments_of(payload: dict[str, Any]) -> list[Attachment]:
    return [Attachment.model_validate(a) for a in payload.get("attachments") or []]


def _same(text: str) -> str:
    return text


def mirror_line(
    payload: dict[str, Any],
    emphasis: Callable[[str], str] = _same,
    *,
    files_shown: bool = False,
    escape: Callable[[str], str] = _same,
) -> str:
    """How a mirrored session message reads on a desk: who wrote it, and whether the client got it.
    Attachments the desk does not show as themselves (`files_shown` False, or not files) become text.
    `escape` makes people's words safe for the desk's markup (Slack's `&`, `<`, `>`)."""
    kind = payload.get("author_kind")
    name = emphasis(escape(str(payload.get("author_name") or kind)))
    parts = [escape(str(payload.get("text", "")))] if payload.get("text") else []
    for attachment in attachments_of(payload):
        if attachment.too_large:
            parts.append(
                f"{escape(attachment.describe())} — too large to forward (files up to "
                f"{MAX_FILE_BYTES // 1024 // 1024} MB)"
            )
        elif not files_shown or attachment.ref is None:
            parts.append(escape(attachment.describe()))
    if payload.get("edited"):
        parts.append("(edited)")
    text = " ".join(parts)
    if payload.get("internal"):
        return f"📝 {name} (note): {text}"
    if kind == "process":
        return f"⚙ {name} → client: {text}"
    if kind in ("operator", "system"):
        return f"{name} → client: {text}"
    return f"{name}: {text}"


def mirror_payload(message: Message) -> dict[str, Any]:
    """What a desk needs to show a session message."""
    return {
        "message_id": message.id,
        "author_kind": message.author_kind.value,
        "author_name": message.author_name or "",
        "text": message.text,
        "internal": message.internal,
        "source_ref": message.source_ref,
        "media_group": message.media_group,
        "reply_to": message.reply_to,
        "attachments": [a.model_dump(mode="json") for a in message.attachments],
    }


def client_route(client: Client) -> str:
    return f"{client.channel.value}.client"


def desk_routes(line: LineConfig) -> list[str]:
    routes = []
    if line.slack_desk_channel:
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

    def set_wake(self, wake: Callable[[], None]) -> None:
        self._wake = wake

    # --- building entries ------------------------------------------------------------
    def client_entry(self, client: Client, line_id: str, action: str, payload: dict[str, Any]) -> OutboxEntry:
        now = self._clock.now()
        return OutboxEntry(
            conversation=f"{client_route(client)}:{line_id}:{client.chat_id}",
            route=client_route(client),
            action=action,
            payload={"line_id": line_id, "client_id": client.id, "chat_id": client.chat_id, **payload},
            due_at=now,
            created_at=now,
        )

    def desk_entries(
        self,
        session: Session,
        action: str,
        payload: dict[str, Any] | None = None,
        *,
        skip: str | None = None,
        delay: float = 0.0,
    ) -> list[OutboxEntry]:
        line = self._config.line(session.line_id)
        if line is None:
            return []
        now = self._clock.now()
        return [
            OutboxEntry(
                conversation=f"{route}:{session.number}",
                route=route,
                action=action,
                payload={"session": session.number, "line_id": session.line_id, **(payload or {})},
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
        payload: dict[str, Any] = {
            "session": session.number,
            "text": text,
            "message_id": message.id if message else None,
            "kind": kind.value,
        }
        if message is not None and message.author_name:
            payload["author_name"] = message.author_name  # operators' messages are signed with it
        if message is not None and message.attachments:
            payload["attachments"] = [a.model_dump(mode="json") for a in message.attachments]
        if copy_from is not None:
            payload["copy_from"] = copy_from
        return self.client_entry(client, session.line_id, "send_text", payload)

    def mirror(
        self, session: Session, message: Message, *, skip: str | None = None, delay: float = 0.0
    ) -> list[OutboxEntry]:
        """Show a session message on the line's desks (but `skip`, where it was typed)."""
        return self.desk_entries(session, "mirror", mirror_payload(message), skip=skip, delay=delay)

    def notice(self, session: Session, text: str) -> list[OutboxEntry]:
        """A line of the system's in the session's thread/topic (process started, failures …)."""
        return self.desk_entries(session, "notice", {"text": text})

    # --- sending -------------------------------------------------------------------------
    async def send(self, entries: Sequence[OutboxEntry]) -> list[OutboxEntry]:
        if not entries:
            return []
        stored = await self._store.outbox_add(entries)
        self._wake()
        return stored

    def woke(self) -> None:
        self._wake()
