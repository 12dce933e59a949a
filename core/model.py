"""Records of the domain, as the store keeps them.

Every record is a pydantic model so that both stores serialise it the same way
(`model_dump(mode="json")` / `model_validate`). Times are POSIX seconds (float).
"""

from __future__ import annotations

import re
from enum import StrEnum
from typing import Any

from pydantic import Field

from core.outbox_actions import OutboxAction
from core.record import MAX_FILE_BYTES as MAX_FILE_BYTES
from core.record import Attachment, AuthorKind, Record
from core.record import without_lone_surrogates as without_lone_surrogates


class Channel(StrEnum):
    TELEGRAM = "telegram"
    SLACK = "slack"


class SessionStatus(StrEnum):
    QUEUED = "queued"
    ACTIVE = "active"
    CLOSED = "closed"
    SPAM = "spam"


def listed_statuses() -> list[SessionStatus]:
    """What session lists (the CLI, the admin API) show unless a status is asked for: everything but spam."""
    return [status for status in SessionStatus if status != SessionStatus.SPAM]


class OperatorStatus(StrEnum):
    ONLINE = "online"
    BUSY = "busy"
    OFFLINE = "offline"


class InstanceStatus(StrEnum):
    RUNNING = "running"
    WAITING = "waiting"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"


class OutboxStatus(StrEnum):
    PENDING = "pending"
    DONE = "done"
    DEAD = "dead"


class Client(Record):
    """A customer on one channel. `id` is "<channel>:<platform user id>"."""

    id: str
    channel: Channel
    external_id: str
    name: str
    username: str | None = None
    chat_id: str
    """Where the client is reached: the Telegram private chat id, or the Slack DM channel id."""
    unreachable: bool = False
    created_at: float = 0.0

    @staticmethod
    def make_id(channel: Channel, external_id: str | int) -> str:
        return f"{channel.value}:{external_id}"


class Session(Record):
    number: int
    line_id: str
    client_id: str
    status: SessionStatus = SessionStatus.QUEUED
    assignee: str | None = None
    previous_status: SessionStatus | None = None
    created_at: float = 0.0
    updated_at: float = 0.0
    last_client_message_at: float | None = None
    closed_at: float | None = None
    previous_session: int | None = None
    outbound: bool = False
    first_response_at: float | None = None
    """When an operator first wrote to the client (SPEC §14: stops the first-response clock; §15 reports)."""
    rating: int | None = None
    """The client's 1–5 rating after close (SPEC §14), stored once."""
    rated_at: float | None = None
    overdue: list[str] = Field(default_factory=list)
    """Service-level targets passed (SPEC §14): "first_response", "resolution" — each marked once."""

    @property
    def is_open(self) -> bool:
        return self.status in (SessionStatus.QUEUED, SessionStatus.ACTIVE)

    @property
    def quiet_since(self) -> float:
        """When the client last wrote (or the session opened): what `auto_close_after` counts from."""
        return self.last_client_message_at or self.created_at


class Message(Record):
    """One message of a session, from whichever side wrote it."""

    id: int = 0
    session: int
    author_kind: AuthorKind
    author_id: str | None = None
    author_name: str | None = None
    text: str
    internal: bool = False
    created_at: float = 0.0
    source_ref: str | None = None
    """The platform's id of the message, e.g. "telegram:support:42:1337" (chat, message id)."""
    attachments: list[Attachment] = Field(default_factory=list)
    media_group: str | None = None
    """Telegram's media_group_id: the messages of one album, shown on desks as one post."""
    reply_to: int | None = None
    """The id of the session message this one answers."""
    edited_at: float | None = None
    deleted_at: float | None = None
    """Set when its author deleted it on a desk: kept as the record of what the client was sent."""


class OperatorState(Record):
    operator_id: str
    status: OperatorStatus = OperatorStatus.OFFLINE
    last_session: int | None = None
    """The session whose thread/topic the operator last wrote in or took: the default of `/startprocess`."""
    updated_at: float = 0.0


class InstanceRecord(Record):
    """One run of a process. `state` is SpiffWorkflow's serialised workflow (JSON text)."""

    id: str
    process_id: str
    process_name: str = ""
    session: int | None = None
    line_id: str | None = None
    client_id: str | None = None
    started_by: str = "automation"
    trigger: str = "manual"
    status: InstanceStatus = InstanceStatus.RUNNING
    state: str = ""
    current_task: str | None = None
    """bpmn id of the task the instance waits on (user task, block, message or timer)."""
    task_id: str | None = None
    """SpiffWorkflow's id of the user task it waits on (forms name it, so a stale form is recognised)."""
    waiting_for: str | None = None
    """What the instance waits for: "user_task", "client_message", "timer", "event" or None."""
    wake_at: float | None = None
    """When its earliest timer is due (POSIX seconds), while it waits on one."""
    assignee: str | None = None
    """Operator id the current user task belongs to (None: any online operator of the line)."""
    candidates: list[str] = Field(default_factory=list)
    """Operator ids that may take the current unassigned user task (empty: any operator of the line)."""
    task_note: str | None = None
    """Why the current user task went to whom it went (an assignee or candidates nobody here knows)."""
    error: str | None = None
    seen_message: int = 0
    """Id of the session's latest client message when the instance started: a wait for the client takes only
    later ones (not the message whose arrival started it)."""
    created_at: float = 0.0
    updated_at: float = 0.0
    worker_tasks: list[str] = Field(default_factory=list)
    """Ids of the external tasks the instance waits on for workers (SPEC §12; `core.workers`)."""
    business_key: str | None = None
    """Camunda's business key: the session number, or the one given when started over REST without a session."""


class OutboxEntry(Record):
    """One side effect waiting to reach a platform.

    `conversation` is the ordering key: entries of one conversation are delivered
    strictly in `id` order, one at a time. `route` names the deliverer (an adapter
    registers e.g. "telegram.client", "slack.desk"); `action` is what it asks the
    deliverer to do (`core.outbox_actions`).
    """

    id: int = 0
    conversation: str
    route: str
    action: OutboxAction
    status: OutboxStatus = OutboxStatus.PENDING
    attempts: int = 0
    due_at: float = 0.0
    created_at: float = 0.0
    last_error: str | None = None
    retaken: bool = Field(default=False, exclude=True)
    """Set by a claim (never stored): the entry was claimed before and its lease ran out with no result, so
    it may have reached the platform already (linedesk died mid-delivery). Deliverers that can look up what
    they posted do so before posting again."""


class InboundRecord(Record):
    """A platform request accepted and stored before it is acknowledged."""

    id: int = 0
    source: str
    """e.g. "telegram:support" or "slack"."""
    key: str
    """Dedupe key within the source, e.g. the Telegram update_id or the Slack event_id."""
    payload: dict[str, Any]
    created_at: float = 0.0
    conversation: str = ""
    """The chat or thread it belongs to: a conversation's records are handled in id order."""


class AutostartRule(Record):
    line_id: str
    event: str
    process_id: str
    enabled: bool = True
    source: str = "file"
    """"file" or who changed it at run time ("cli", "api", "slack:U…", "telegram:…")."""
    file_rule: str | None = None
    """For a runtime rule: the file's rule ("process:on|off") when it was changed, so a later
    change of the file's rule wins again."""
    updated_at: float = 0.0


class Item(Record):
    app: str
    number: int
    fields: dict[str, Any] = Field(default_factory=dict)
    instance_id: str | None = None
    session: int | None = None
    created_at: float = 0.0


_NUMBER = re.compile(r"[0-9]{1,12}")


def parse_number(text: object) -> int | None:
    """A session (or other) number as people and buttons write it — ASCII digits, at most 12 — else None.
    Stricter than `str.isdigit()`, which accepts "²" and numbers too big for the store."""
    if isinstance(text, str) and _NUMBER.fullmatch(text):
        return int(text)
    return None
