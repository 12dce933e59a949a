"""The session and process instance a log line is about, carried by context variables so that every
line written while handling them names them — without passing ids to every log call.

Asyncio tasks copy the context when they are created: what one handler binds stays in its task.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

_session: ContextVar[int | None] = ContextVar("linedesk_session", default=None)
_instance: ContextVar[str | None] = ContextVar("linedesk_instance", default=None)


@contextmanager
def about(*, session: int | None = None, instance: str | None = None) -> Iterator[None]:
    """Log lines written inside name `session` and `instance` (those not given keep their current value)."""
    session_token = _session.set(session) if session is not None else None
    instance_token = _instance.set(instance) if instance is not None else None
    try:
        yield
    finally:
        if instance_token is not None:
            _instance.reset(instance_token)
        if session_token is not None:
            _session.reset(session_token)


def note_session(number: int) -> None:
    """From here on, the current task's log lines name session `number` (a handler working on one session)."""
    _session.set(number)


class ContextFilter(logging.Filter):
    """Adds `session` and `instance` (None when unknown) to every record."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.session = _session.get()
        record.instance = _instance.get()
        return True
