"""Business hours, service levels and the queue position (SPEC §14) end to end, on a clock the test moves: clients
write over the Telegram sandbox, operators act over Slack and Telegram, the desks are read back from the sandboxes.
The periodic service-level check is called directly where the test needs it at a given moment (as the idle check's
tests do); the server runs it in the background too."""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest

from core.clock import ManualClock
from core.events import SessionOverdue
from core.model import Session, SessionStatus
from sandboxes.limits import Limits
from sandboxes.rig import ANNA, IVAN, OLGA, Person, Rig
from tests.support.bpmn import block, write_process
from tests.support.rigs import REDIS_URL, drop_redis_prefix, redis_available

MOSCOW = dt.timezone(dt.timedelta(hours=3))
MINUTE = 60.0
ZOE = Person("Zoe", telegram_user=503)
GREETING = "Hello! An operator will answer shortly."
CLOSED = "We are closed now: we open at 09:00 Moscow time."
HOURS = (
    'hours = { tz = "Europe/Moscow", mon = "09:00-18:00", tue = "09:00-18:00", wed = "09:00-18:00", '
    'thu = "09:00-18:00", fri = "09:00-18:00", holidays = ["2026-12-31"] }\n'
)
SERVICE_LEVELS = HOURS + 'first_response_within = "5m"\nresolve_within = "1h"\n'
OVERDUE_RULE = '[[lines.autostart]]\nevent = "session.overdue"\nprocess = "chase"\n'


def moscow(day: int, hour: int, minute: int = 0) -> float:
    """A moment of December 2026 in Moscow (the 7th is a Monday)."""
    return dt.datetime(2026, 12, day, hour, minute, tzinfo=MOSCOW).timestamp()


@asynccontextmanager
async def hours_rig(
    tmp_path: Path, store: str, extra: str, start: float, *, prefix: str | None = None, clock: ManualClock | None = None
) -> AsyncIterator[Rig]:
    """A rig whose support line has `extra` config, on a manual clock set to `start`, on SQLite or a Redis
    prefix (`prefix` given: shared with another rig, removed by its owner)."""
    processes = tmp_path / "processes"
    write_process(processes, "chase.bpmn", "chase", "Chase", block("linedesk.reply", text="Late: {overdue}"))
    store_url = None
    own_prefix = prefix is None
    if store == "redis":
        reason = await redis_available()
        if reason:
            pytest.skip(reason)
        prefix = prefix or f"linedesk-test-sla-{uuid.uuid4().hex[:8]}:"
        store_url = f"{REDIS_URL}?prefix={prefix}"
    stage = Rig(
        tmp_path,
        processes,
        store_url=store_url,
        clock=clock or ManualClock(start),
        extra_line_config=extra,
        limits=Limits.off(),
    )
    await stage.start()
    try:
        yield stage
    finally:
        await stage.stop()
        if store == "redis" and own_prefix and prefix:
            await drop_redis_prefix(prefix)


def clock_of(rig: Rig) -> ManualClock:
    assert isinstance(rig.clock, ManualClock)
    return rig.clock


def move_to(rig: Rig, moment: float) -> None:
    clock = clock_of(rig)
    clock.advance(moment - clock.now())


async def session(rig: Rig, number: int) -> Session:
    assert rig.desk is not None
    found = await rig.desk.store.get_session(number)
    assert found is not None
    return found


async def check(rig: Rig) -> None:
    assert rig.desk is not None
    await rig.desk.sessions.service_levels.check()
    await rig.settle()


async def slack_card(rig: Rig, number: int) -> str:
    root = await rig.thread_root(number)
    card = rig.slack.workspace.message(root["channel"], root["ts"])
    assert card is not None
    return str(card["blocks"][0]["text"]["text"])


async def telegram_card(rig: Rig, number: int) -> str:
    return next(str(m["text"]) for m in await rig.topic(number) if str(m.get("text", "")).startswith(f"#{number} ·"))


def overdue_events(rig: Rig) -> list[SessionOverdue]:
    seen: list[SessionOverdue] = []

    async def note(event: SessionOverdue) -> None:
        seen.append(event)

    assert rig.desk is not None
    rig.desk.bus.subscribe(SessionOverdue, note)
    return seen


def from_bot(rig: Rig, person: Person) -> list[str]:
    return [str(m.get("text", "")) for m in rig.bot_messages(person)]


@pytest.mark.parametrize("store", ["sqlite", "redis"])
async def test_outside_hours_the_client_gets_the_out_of_hours_message_once_and_waits_for_the_opening(
    tmp_path: Path, store: str
) -> None:
    extra = HOURS + f'out_of_hours_message = "{CLOSED}"\ntell_queue_position = true\nauto_assign = true\n'
    async with hours_rig(tmp_path, store, extra, moscow(7, 8, 50)) as rig:
        await rig.slash(ANNA, "/status", "online")
        await rig.client_writes(IVAN, "Hello, is anyone there?")
        await rig.client_writes(IVAN, "Anyone?")
        await rig.client_writes(OLGA, "My parcel is lost")
        assert from_bot(rig, IVAN) == [f"{CLOSED}\nYou are number 1 in the queue."]  # once per session
        assert from_bot(rig, OLGA) == [f"{CLOSED}\nYou are number 2 in the queue."]
        assert (await session(rig, 1)).status == SessionStatus.QUEUED  # Anna is online, but the hours wait
        assert (await session(rig, 1)).assignee is None

        await rig.restart()  # the wait is kept in the store
        move_to(rig, moscow(7, 8, 59))
        await check(rig)
        assert (await session(rig, 1)).assignee is None
        move_to(rig, moscow(7, 9, 0))
        await check(rig)
        assert [(await session(rig, n)).assignee for n in (1, 2)] == ["anna", "anna"]
        assert from_bot(rig, IVAN)[-1] == "Anna joined the conversation."

        await rig.client_writes(ZOE, "Hi")  # within the hours: the greeting, assigned at once
        assert from_bot(rig, ZOE)[0] == f"{GREETING}\nYou are number 1 in the queue."
        assert (await session(rig, 3)).assignee == "anna"


@pytest.mark.parametrize("store", ["sqlite", "redis"])
async def test_the_reply_follows_daylight_saving_and_holidays_in_the_lines_time_zone(
    tmp_path: Path, store: str
) -> None:
    berlin = (
        'hours = { tz = "Europe/Berlin", mon = "08:00-17:00", thu = "08:00-17:00", holidays = ["2026-12-31"] }\n'
        f'out_of_hours_message = "{CLOSED}"\n'
    )
    utc = dt.UTC
    async with hours_rig(tmp_path, store, berlin, dt.datetime(2026, 3, 23, 6, 30, tzinfo=utc).timestamp()) as rig:
        await rig.client_writes(IVAN, "Hello")  # Monday 07:30 in Berlin (winter time): closed
        move_to(rig, dt.datetime(2026, 3, 30, 6, 30, tzinfo=utc).timestamp())
        await rig.client_writes(OLGA, "Hello")  # the same UTC time a week later is 08:30 summer time: open
        move_to(rig, dt.datetime(2026, 12, 31, 11, 0, tzinfo=utc).timestamp())
        await rig.client_writes(ZOE, "Hello")  # a Thursday noon, but a holiday
        assert [from_bot(rig, person) for person in (IVAN, OLGA, ZOE)] == [[CLOSED], [GREETING], [CLOSED]]


@pytest.mark.parametrize("store", ["sqlite", "redis"])
async def test_the_queue_position_counts_the_lines_queued_sessions_opened_before(tmp_path: Path, store: str) -> None:
    async with hours_rig(tmp_path, store, "tell_queue_position = true\n", moscow(7, 12)) as rig:
        for person in (IVAN, OLGA, ZOE):
            await rig.client_writes(person, "Hello")
        assert [from_bot(rig, p)[0] for p in (IVAN, OLGA, ZOE)] == [
            f"{GREETING}\nYou are number {n} in the queue." for n in (1, 2, 3)
        ]


@pytest.mark.parametrize("store", ["sqlite", "redis"])
async def test_service_levels_run_in_business_time_and_overdue_is_marked_once_with_mentions(
    tmp_path: Path, store: str
) -> None:
    async with hours_rig(tmp_path, store, SERVICE_LEVELS + OVERDUE_RULE, moscow(7, 17, 58)) as rig:
        events = overdue_events(rig)
        await rig.slash(ANNA, "/status", "online")
        await rig.client_writes(IVAN, "Help, please")
        # 2 minutes on Monday, 3 on Tuesday morning
        assert "⏱ First response due Tue 08 Dec 09:03 MSK" in await slack_card(rig, 1)
        assert "⏱ Resolution due Tue 08 Dec 09:58 MSK" in await telegram_card(rig, 1)

        move_to(rig, moscow(8, 9, 2))  # the night passed: 4 business minutes
        await check(rig)
        assert (await session(rig, 1)).overdue == [] and events == []
        move_to(rig, moscow(8, 9, 3))
        await asyncio.gather(check(rig), check(rig))
        await check(rig)
        assert (await session(rig, 1)).overdue == ["first_response"]
        assert [e.overdue for e in events] == ["first_response"]
        assert "⚠ First response overdue" in await slack_card(rig, 1)
        assert "⚠ First response overdue" in await telegram_card(rig, 1)

        thread = [t for t in await rig.desk_thread(1) if "overdue on" in t]
        assert thread == ["⚠ First response overdue on session #1: it was due Tue 08 Dec 09:03 MSK. <@U0ANNA01>"]
        [notice] = [m for m in await rig.topic(1) if "overdue on session" in str(m.get("text", ""))]
        mention = next(e for e in notice["entities"] if e["type"] == "text_mention")
        assert mention["user"]["id"] == ANNA.telegram_user
        assert notice["text"][mention["offset"] : mention["offset"] + mention["length"]] == "Anna"
        assert from_bot(rig, IVAN)[-1] == "Late: first_response"  # the auto-start rule on session.overdue

        move_to(rig, moscow(8, 9, 58))
        await check(rig)
        assert (await session(rig, 1)).overdue == ["first_response", "resolution"]
        assert [e.overdue for e in events] == ["first_response", "resolution"]
        assert from_bot(rig, IVAN)[-1] == "Late: resolution"
        move_to(rig, moscow(9, 12))
        await check(rig)
        assert len(events) == 2 and len([t for t in await rig.desk_thread(1) if "overdue on" in t]) == 2


@pytest.mark.parametrize("store", ["sqlite", "redis"])
async def test_the_first_operator_message_and_closing_stop_the_clocks(tmp_path: Path, store: str) -> None:
    async with hours_rig(tmp_path, store, SERVICE_LEVELS, moscow(7, 10)) as rig:
        events = overdue_events(rig)
        await rig.slash(ANNA, "/status", "online")
        await rig.client_writes(IVAN, "Help, please")
        move_to(rig, moscow(7, 10, 2))
        await rig.topic_says(ANNA, 1, "Looking into it")  # the Telegram desk answers
        assert (await session(rig, 1)).first_response_at == moscow(7, 10, 2)
        assert "✓ First response in time" in await slack_card(rig, 1)
        move_to(rig, moscow(7, 10, 30))
        await check(rig)
        assert (await session(rig, 1)).overdue == [] and events == []

        await rig.client_writes(OLGA, "Me too")
        await rig.thread_reply(ANNA, 2, "// a note is not an answer")
        assert (await session(rig, 2)).first_response_at is None
        await rig.thread_reply(ANNA, 2, "On it")  # the Slack desk answers
        assert (await session(rig, 2)).first_response_at == moscow(7, 10, 30)

        root = await rig.thread_root(1)
        await rig.click(ANNA, "session.close", "1", channel_id=root["channel"], message_ts=root["ts"])
        move_to(rig, moscow(7, 17))
        await check(rig)
        assert (await session(rig, 1)).overdue == []
        assert "✓ Resolution in time" in await slack_card(rig, 1)
        # session 2 was answered in time but is still open
        assert [(e.session.number, e.overdue) for e in events] == [(2, "resolution")]


async def test_two_instances_on_one_redis_mark_a_session_overdue_once(tmp_path: Path) -> None:
    prefix = f"linedesk-test-sla2-{uuid.uuid4().hex[:8]}:"
    clock = ManualClock(moscow(7, 10))
    try:
        async with hours_rig(tmp_path, "redis", SERVICE_LEVELS, 0, prefix=prefix, clock=clock) as first:
            second = Rig(
                tmp_path / "second",
                first.processes_dir,
                store_url=first.store_url,
                clock=clock,
                extra_line_config=SERVICE_LEVELS,
                limits=Limits.off(),
            )
            second.workdir.mkdir()
            second.telegram, second.slack = first.telegram, first.slack  # the same Telegram and Slack
            second.config_path().write_text(second.config_text())
            await second.boot()
            try:
                seen = [*[overdue_events(rig) for rig in (first, second)]]
                await first.slash(ANNA, "/status", "online")
                await first.client_writes(IVAN, "Help, please")
                # the bot's webhook is the second instance's now (it set it last): the session opens there
                await second.settle()
                assert (await session(first, 1)).created_at == moscow(7, 10)
                clock.advance(6 * MINUTE)
                desks: list[Any] = [first.desk, second.desk]
                for _ in range(2):  # two rounds of three checks at once on each instance
                    await asyncio.gather(*(d.sessions.service_levels.check() for d in desks for _ in range(3)))
                await first.settle()
                await second.settle()
                assert sum(len(events) for events in seen) == 1
                assert len([t for t in await first.desk_thread(1) if "overdue on" in t]) == 1
                assert (await session(first, 1)).overdue == ["first_response"]
            finally:
                await second.shutdown()
    finally:
        await drop_redis_prefix(prefix)
