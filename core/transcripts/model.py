"""A session's transcript (SPEC §14), built from what the store holds — pure: no store, no platform.

Two views: `FULL` for the desk and admins (notes marked as such, processes started and ended, deleted
messages kept with their deletion shown) and `CLIENT` for the client (only what they were sent and wrote).
"""

from __future__ import annotations

import datetime
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum

from pydantic import BaseModel, Field

from core.model import Client, InstanceRecord, InstanceStatus, Message, Session, SessionStatus
from core.record import Attachment, AuthorKind
from core.sessions.operator_messages import NOTE_PREFIX
from core.transcripts.zone import LineZone


class View(StrEnum):
    FULL = "full"
    CLIENT = "client"


class EntryKind(StrEnum):
    CLIENT = "client"
    OPERATOR = "operator"
    PROCESS = "process"
    SYSTEM = "system"
    NOTE = "note"
    """An internal message: operators and linedesk only, never the client."""
    INSTANCE = "instance"
    """A process instance started or ended (full view only)."""


class FileShown(BaseModel):
    """An attachment, named: the transcript carries no file, it says what was sent."""

    kind: str
    name: str | None = None
    mime: str | None = None
    size: int | None = None
    text: str


class Entry(BaseModel):
    at: datetime.datetime
    kind: EntryKind
    author: str
    text: str
    attachments: list[FileShown] = Field(default_factory=list)
    edited_at: datetime.datetime | None = None
    deleted_at: datetime.datetime | None = None
    message_id: int | None = None
    instance_id: str | None = None


class Transcript(BaseModel):
    view: View
    session: int
    line_id: str
    line_name: str
    client_id: str
    client_name: str
    channel: str
    status: SessionStatus
    operators: list[str]
    opened_at: datetime.datetime
    closed_at: datetime.datetime | None = None
    rating: int | None = None
    time_zone: str
    time_zone_assumed: bool
    """True: the line sets no time zone and the times are UTC."""
    entries: list[Entry]


@dataclass(frozen=True)
class SessionRecords:
    """What a transcript is made of, as the store holds it."""

    session: Session
    client: Client | None
    line_name: str
    messages: Sequence[Message]
    instances: Sequence[InstanceRecord]
    operator_names: Mapping[str, str]
    """Operator id → name (the config's), for the assignee and who started a process."""


_ENDED = {
    InstanceStatus.COMPLETED: "■ {name} completed",
    InstanceStatus.FAILED: "✖ {name} failed",
    InstanceStatus.CANCELLED: "■ {name} cancelled",
}


def build_transcript(records: SessionRecords, zone: LineZone, view: View) -> Transcript:
    """The session's transcript in `view`, with its times in `zone`."""
    session, client = records.session, records.client
    entries: list[tuple[float, int, Entry]] = []
    for message in records.messages:
        entry = _message_entry(message, zone, view, records.line_name)
        if entry is not None:
            entries.append((message.created_at, 0, entry))
    if view == View.FULL:
        for instance in records.instances:
            entries.extend((at, 1, entry) for at, entry in _instance_entries(instance, zone, records.operator_names))
    entries.sort(key=lambda item: (item[0], item[1]))
    operators = _operators(records, view)
    return Transcript(
        view=view,
        session=session.number,
        line_id=session.line_id,
        line_name=records.line_name,
        client_id=session.client_id,
        client_name=client.name if client is not None else session.client_id,
        channel=client.channel.value if client is not None else session.client_id.split(":", 1)[0],
        status=session.status,
        operators=operators,
        opened_at=zone.local(session.created_at),
        closed_at=zone.local(session.closed_at) if session.closed_at and not session.is_open else None,
        rating=session.rating,
        time_zone=zone.name,
        time_zone_assumed=zone.assumed,
        entries=[entry for _, _, entry in entries],
    )


def _operators(records: SessionRecords, view: View) -> list[str]:
    """Who worked the session: the operators who wrote (to the client only, in the client's view) and, in
    the full view, the assignee."""
    names: list[str] = []
    for message in records.messages:
        if message.author_kind != AuthorKind.OPERATOR or not message.author_name:
            continue
        if view == View.CLIENT and (message.internal or message.deleted_at is not None):
            continue
        if message.author_name not in names:
            names.append(message.author_name)
    assignee = records.session.assignee
    if view == View.FULL and assignee:
        name = records.operator_names.get(assignee, assignee)
        if name not in names:
            names.append(name)
    return names


def _message_entry(message: Message, zone: LineZone, view: View, line_name: str) -> Entry | None:
    if view == View.CLIENT and (message.internal or message.deleted_at is not None):
        return None  # notes never reached the client; a deleted message's copy was deleted from their chat
    text = message.text
    if message.internal:
        kind = EntryKind.NOTE
        text = text.lstrip().removeprefix(NOTE_PREFIX).lstrip()
    else:
        kind = EntryKind(message.author_kind.value)
    author = message.author_name or message.author_kind.value
    if message.author_kind == AuthorKind.PROCESS and view == View.CLIENT:
        author = line_name  # the client got it from the line's bot, not from a named process
    return Entry(
        at=zone.local(message.created_at),
        kind=kind,
        author=author,
        text=text,
        attachments=[_file(a) for a in message.attachments],
        edited_at=zone.local(message.edited_at) if message.edited_at else None,
        deleted_at=zone.local(message.deleted_at) if message.deleted_at and view == View.FULL else None,
        message_id=message.id,
    )


def _file(attachment: Attachment) -> FileShown:
    text = attachment.describe()
    if attachment.kind not in ("sticker", "location", "contact"):
        size = f" ({_size(attachment.size)})" if attachment.size else ""
        text = f"📎 {attachment.kind}{': ' + attachment.name if attachment.name else ''}{size}"
    return FileShown(kind=attachment.kind, name=attachment.name, mime=attachment.mime, size=attachment.size, text=text)


def _size(size: int) -> str:
    if size < 1024:
        return f"{size} B"
    if size < 1024 * 1024:
        return f"{size / 1024:.1f} KB"
    return f"{size / 1024 / 1024:.1f} MB"


def _instance_entries(
    instance: InstanceRecord, zone: LineZone, operator_names: Mapping[str, str]
) -> list[tuple[float, Entry]]:
    name = instance.process_name or instance.process_id
    who = operator_names.get(instance.started_by, instance.started_by)
    how = f"by {who}" if instance.started_by != "automation" else f"automatically ({instance.trigger})"
    started = Entry(
        at=zone.local(instance.created_at),
        kind=EntryKind.INSTANCE,
        author=name,
        text=f"▶ {name} started {how}",
        instance_id=instance.id,
    )
    found = [(instance.created_at, started)]
    ended = _ENDED.get(instance.status)
    if ended is not None:
        text = ended.format(name=name) + (f": {instance.error}" if instance.error else "")
        at = instance.updated_at or instance.created_at
        found.append(
            (at, Entry(at=zone.local(at), kind=EntryKind.INSTANCE, author=name, text=text, instance_id=instance.id))
        )
    return found
