"""What adapters hand to the core: one small vocabulary for every platform.

Each event keeps the platform's id of the thing (`platform_ref`) so that replies,
edits and dedupe can find it again.
"""

from __future__ import annotations

from dataclasses import dataclass

from core.model import Attachment, Channel


@dataclass(frozen=True)
class ClientText:
    """A client wrote on a line (or pressed /start: `is_start`)."""

    line_id: str
    channel: Channel
    user_id: str
    chat_id: str
    name: str
    text: str
    username: str | None = None
    is_start: bool = False
    platform_ref: str | None = None
    attachments: tuple[Attachment, ...] = ()
    media_group: str | None = None
    reply_to_ref: str | None = None
    """The platform id of the message this one replies to (a platform_ref)."""


@dataclass(frozen=True)
class ClientEdit:
    """A client edited a message they had sent."""

    line_id: str
    channel: Channel
    user_id: str
    platform_ref: str
    text: str


@dataclass(frozen=True)
class ClientBlocked:
    """A client blocked the line's bot (Telegram `my_chat_member` → kicked)."""

    channel: Channel
    user_id: str


@dataclass(frozen=True)
class OperatorText:
    """An operator wrote in a session's thread/topic."""

    session: int
    operator_id: str
    text: str
    platform_ref: str | None = None
    attachments: tuple[Attachment, ...] = ()
    copy_from: dict[str, int] | None = None
    """Where the client's platform can copy the message from as is (Telegram: {"chat_id", "message_id"}
    in the desk group, served by the same bot), instead of re-sending text and files."""
    desk: str | None = None
    """The desk route it was typed on ("slack.desk", "telegram.desk"): the other desks get a copy."""


@dataclass(frozen=True)
class OperatorEdit:
    """An operator edited a message they had written in a session's thread/topic (found by its platform_ref)."""

    operator_id: str
    platform_ref: str
    text: str
    desk: str | None = None
    """The desk route it was edited on: the other desks' copies are edited too."""


@dataclass(frozen=True)
class OperatorDelete:
    """An operator deleted a message they had written in a session's thread/topic."""

    operator_id: str
    platform_ref: str
    desk: str | None = None
