"""Helpers of the tests that make a desk busy under the platforms' real limits (SPEC §13): clients writing in
waves until a Telegram desk group's minute is spent, and waiting in real time."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

from sandboxes.rig import SUPPORT_TOKEN, TELEGRAM_DESK, Person, Rig
from sandboxes.telegram.limiting import messages_created
from sandboxes.telegram.params import Params
from sandboxes.telegram.records import SandboxCall

GROUP_MINUTE = 20
"""Messages a Telegram group takes a minute (all its topics together)."""


def clients(count: int, first: int = 7000) -> list[Person]:
    return [Person(f"Client{n}", telegram_user=first + n) for n in range(1, count + 1)]


async def wait_for(check: Callable[[], Awaitable[bool]], timeout: float, what: str) -> float:
    started = time.monotonic()
    while not await check():
        assert time.monotonic() - started < timeout, f"timed out after {timeout:.0f}s waiting for {what}"
        await asyncio.sleep(0.05)
    return time.monotonic() - started


def group_calls(rig: Rig, chat: int = TELEGRAM_DESK) -> list[SandboxCall]:
    """The calls the Telegram sandbox accepted that posted into the desk group `chat`."""
    return [
        c
        for c in rig.telegram.calls
        if c.ok and str(c.params.get("chat_id")) == str(chat) and messages_created(c.method, Params(c.params))
    ]


def group_messages(rig: Rig, chat: int = TELEGRAM_DESK) -> int:
    """Messages posted into the group `chat` (an album or a copy of several counts each of its messages)."""
    return sum(messages_created(c.method, Params(c.params)) for c in group_calls(rig, chat))


def wave_pause(sent: int) -> float:
    """Seconds between two waves of client messages that spend a desk group's minute, `sent` messages in: past
    three quarters of the window linedesk spaces the group's backlog (2.9 s a send, what waited merged), so a
    wave then comes as often as a send goes and the backlog is never empty."""
    return 2.9 if 4 * sent >= 3 * GROUP_MINUTE else 0.3


async def spend_group_minute(rig: Rig, people: list[Person], token: str = SUPPORT_TOKEN) -> int:
    """Every one of `people` writes a line, wave after wave, until the desk group's minute is spent: what
    comes next waits behind the group's limit. Returns the number of waves."""
    wave = 0
    deadline = time.monotonic() + 60.0
    while group_messages(rig) < GROUP_MINUTE:
        assert time.monotonic() < deadline, f"the group's minute is not spent: {group_messages(rig)} messages"

        async def write(person: Person, seq: int) -> None:
            user = rig.telegram.user(person.telegram_user, person.name)
            result = await rig.telegram.deliver(token, rig.telegram.text_update(token, user, f"wave {seq}"))
            assert result.status == 200, result

        await asyncio.gather(*(write(person, wave) for person in people))
        wave += 1
        await asyncio.sleep(wave_pause(group_messages(rig)))
    return wave


async def thread_reply_now(rig: Rig, person: Person, session: int, text: str, **kwargs: Any) -> str:
    """An operator writes in the session's thread, not waiting for the outbox (the desk or the client's chat is
    busy); returns the message's ts."""
    root = await rig.thread_root(session)
    ts = rig.slack.workspace.clock.next_ts()
    response = await rig.slack.post_message(
        rig.slack_url, person.slack_user, root["channel"], text, thread_ts=root["ts"], ts=ts, **kwargs
    )
    assert response.status == 200, response
    return ts


async def session_of(rig: Rig, person: Person) -> int:
    assert rig.desk is not None
    for session in await rig.desk.store.list_sessions():
        client = await rig.desk.store.get_client(session.client_id)
        if client is not None and client.chat_id == str(person.telegram_user):
            return session.number
    raise AssertionError(f"{person.name} has no session")
