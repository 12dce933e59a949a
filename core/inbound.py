"""What adapters hand to the core: one small vocabulary for every platform.

Each event keeps the platform's id of the thing (`platform_ref`) so that replies,
edits and dedupe can find it again.
"""

from __future__ import annotations

from dataclasses import dataclass

from core.model import Channel


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


@dataclass(frozen=True)
class OperatorText:
    """An operator wrote in a session's thread/topic."""

    session: int
    operator_id: str
    text: str
    platform_ref: str | None = None
    desk: str | None = None
    """The desk route it was typed on ("slack.desk", "telegram.desk"): the other desks get a copy."""
