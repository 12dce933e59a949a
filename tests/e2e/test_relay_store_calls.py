"""Store calls of one client message in an open session, relayed to a Slack desk (SPEC §10: at most 6 round
trips), on both stores: the intake's three, one read and one write for the message, and the delivery's
completion — the rules come from a cache, waiting instances are looked for only when there are some, and the
desk's thread is known to its deliverer."""

from __future__ import annotations

import contextvars
import functools
import inspect
import sys
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest

from core.config import Config
from core.store.base import Store
from sandboxes.limits import Limits
from sandboxes.rig import IVAN, Rig
from tests.support.rigs import PROCESSES, REDIS_URL, drop_redis_prefix, redis_available

ROOT = Path(__file__).resolve().parents[2]
OURS = tuple(str(ROOT / part) + "/" for part in ("core", "adapters", "bots"))
STORE = str(ROOT / "core" / "store") + "/"
BACKGROUND = {"outbox_claim", "outbox_stats", "due_instances", "inbound_pending", "outbox_extend", "quiet_sessions"}
"""Calls of the background loops and of the test's `settle`, not of the message (but `inbound_pending` by the
intake taking the message's chat is)."""
TAKING = "Intake._take_when_free"


def _caller() -> str:
    frame = sys._getframe(2)
    while frame is not None:
        file = frame.f_code.co_filename
        if file.startswith(OURS) and not file.startswith(STORE):
            return frame.f_code.co_qualname
        frame = frame.f_back  # type: ignore[assignment]
    return "?"


def count_calls(store: Store) -> Counter[str]:
    """Count the store's calls from here on (outermost only: a store method calling another is one call)."""
    calls: Counter[str] = Counter()
    inside: contextvars.ContextVar[bool] = contextvars.ContextVar("inside", default=False)

    def counted(name: str, method: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
        @functools.wraps(method)
        async def wrapper(*args: Any, **kwargs: Any) -> Any:
            if inside.get():
                return await method(*args, **kwargs)
            caller = _caller()
            if (name not in BACKGROUND or caller == TAKING) and caller != "Processes.resume":
                calls[f"{name} <- {caller}"] += 1
            token = inside.set(True)
            try:
                return await method(*args, **kwargs)
            finally:
                inside.reset(token)

        return wrapper

    for name in dir(type(store)):
        if not name.startswith("_") and inspect.iscoroutinefunction(inspect.getattr_static(type(store), name, None)):
            setattr(store, name, counted(name, getattr(store, name)))
    return calls


@asynccontextmanager
async def slack_desk_rig(store: str, tmp_path: Path) -> AsyncIterator[Rig]:
    """A rig whose support line has the Slack desk only (the relay benchmark's shape)."""
    prefix = f"linedesk-test-{uuid.uuid4().hex[:8]}:"
    store_url = None
    if store == "redis":
        reason = await redis_available()
        if reason:
            pytest.skip(reason)
        store_url = f"{REDIS_URL}?prefix={prefix}"
    stage = Rig(tmp_path, PROCESSES, store_url=store_url, limits=Limits.off())
    load = stage.load_config

    def slack_desk_only() -> Config:
        config = load()
        for line in config.lines:
            if line.id == "support":
                line.telegram_desk_chat = None
        return config

    stage.load_config = slack_desk_only  # type: ignore[method-assign]
    await stage.start()
    try:
        yield stage
    finally:
        await stage.stop()
        if store == "redis":
            await drop_redis_prefix(prefix)


@pytest.mark.parametrize("store", ["sqlite", "redis"])
async def test_a_message_in_an_open_session_costs_six_store_calls_at_most(store: str, tmp_path: Path) -> None:
    async with slack_desk_rig(store, tmp_path) as rig:
        assert rig.desk is not None
        await rig.client_writes(IVAN, "Hello")  # opens the session: card, greeting, thread
        # the session's second message looks whether the first one's handling stored anything (a greeting owed)
        await rig.client_writes(IVAN, "Second")
        calls = count_calls(rig.desk.store)
        await rig.client_writes(IVAN, "Third")
        assert (await rig.desk_thread(1))[-1] == "*Ivan*: Third"
        calls.pop("link_of <- ?", None)  # the test's look at the thread
        # SQLite serves one process: the chat's lock in it is the lease, its pending records a plain read
        take = "inbound_pending" if store == "sqlite" else "inbound_take"
        assert dict(calls) == {
            "inbound_add <- Intake.accept": 1,
            f"{take} <- {TAKING}": 1,
            "inbound_finish <- Backoff.call": 1,
            "client_context <- ClientIntake.client_text": 1,
            "client_message <- ClientIntake._store_message": 1,
            "outbox_complete <- Backoff.call": 1,
        }
        assert sum(calls.values()) <= 6
