"""A form's `pattern` tried on what an operator typed, in a child process that is killed after a moment.

Python's `re` has no time limit, holds the GIL while it matches, and some patterns backtrack for ever on a
short input (`(\\w+\\s?)+$`, `a*a*a*b`). A pattern comes from a `.form` file, the value from an operator: the
match runs in a process forked from a clean fork server, so neither can stall linedesk.
"""

from __future__ import annotations

import multiprocessing
import re
from multiprocessing.connection import Connection

PATTERN_TIMEOUT = 0.5
"""Seconds a pattern may take on one value; longer, and the value is refused."""
_CONTEXT = multiprocessing.get_context("forkserver")


def _match(pattern: str, value: str, conn: Connection) -> None:
    try:
        conn.send(re.search(pattern, value) is not None)
    finally:
        conn.close()


def search(pattern: str, value: str, timeout: float = PATTERN_TIMEOUT) -> bool | None:
    """Whether `pattern` matches somewhere in `value` (as JavaScript's `RegExp.test`, which form-js uses),
    or None when it took longer than `timeout` (or could not run)."""
    receiver, sender = _CONTEXT.Pipe(duplex=False)
    worker = _CONTEXT.Process(target=_match, args=(pattern, value, sender), daemon=True)
    try:
        worker.start()
        sender.close()
        if receiver.poll(timeout):
            return bool(receiver.recv())
        return None
    except (OSError, EOFError):
        return None
    finally:
        if worker.is_alive():
            worker.kill()
        worker.join(1.0)
        receiver.close()
