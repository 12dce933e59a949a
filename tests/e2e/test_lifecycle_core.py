"""The session lifecycle core end to end (SPEC §5 Sessions, Desks: operator status): first take wins
(two clicks at once, two desks, two linedesk instances on one Redis), closing after the client's silence
with a clock the test moves, reopening, round-robin auto-assignment, operators going offline, the
"operator joined" note, and spam.

People act over HTTP (Slack clicks and commands, Telegram updates); core is called directly only for what
no person does (the periodic idle check) and for spam marking, whose desk commands are the desk's own
tests' business."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from core.clock import ManualClock
from core.events import SessionClosed
from core.model import InstanceStatus, OperatorState, OperatorStatus, SessionStatus
from core.operators import Operators
from sandboxes.limits import Limits
from sandboxes.rig import ANNA, CARL, DESK_CHANNEL, IVAN, OLGA, SUPPORT_TOKEN, Person, Rig
from tests.support.bpmn import script, write_process
from tests.support.rigs import REDIS_URL, redis_available

DORA = Person("Dora", "U0DORA01", 444444)
EVE = Person("Eve", "U0EVE001", 555555)
GREETING = "Hello! An operator will answer shortly."
QUEUED_NOTE = "All our operators are away: we will answer as soon as one is back."
HOUR = 3600.0
LIFECYCLE = 'auto_close_after = "1h"\nreopen_within = "10m"\n'
CLOSED_RULE = '[[lines.autostart]]\nevent = "session.closed"\nprocess = "wrap_up"\n'
MESSAGE_RULE = '[[lines.autostart]]\nevent = "message.received"\nprocess = "triage"\n'
WAIT = 10.0

EXTRA_OPERATORS = """
[[operators]]
id = "dora"
name = "Dora"
slack_user = "{dora_slack}"
telegram_user = {dora_telegram}
lines = ["support"]

[[operators]]
id = "eve"
name = "Eve"
slack_user = "{eve_slack}"
telegram_user = {eve_telegram}
lines = ["support"]
"""


class LifecycleRig(Rig):
    """The rig with two more operators of the support line, Dora and Eve (Slack users too)."""

    def config_text(self) -> str:
        return super().config_text() + EXTRA_OPERATORS.format(
            dora_slack=DORA.slack_user,
            dora_telegram=DORA.telegram_user,
            eve_slack=EVE.slack_user,
            eve_telegram=EVE.telegram_user,
        )

    async def start(self) -> Any:
        for person in (DORA, EVE):
            self.slack.add_user(person.slack_user, person.name.lower(), display_name=person.name)
        return await super().start()

    async def settle(self, timeout: float = WAIT) -> None:
        """`Linedesk.settle`, then until no outbox entry is pending. On Redis, `outbox_stats()["next_due"]`
        counts a conversation the background worker has leased (delivering it right now) as due at the lease's
        end, so `settle()` can return before that delivery is done; these tests inject no failures, so
        every pending entry is one on its way."""
        assert self.desk is not None
        deadline = time.monotonic() + timeout
        await super().settle(timeout)
        while (await self.desk.store.outbox_stats(self.desk.clock.now())).get("pending", 0):
            if time.monotonic() > deadline:
                raise TimeoutError("the outbox still has pending entries")
            await asyncio.sleep(0.02)
            await super().settle(max(0.1, deadline - time.monotonic()))


MakeRig = Callable[..., Awaitable[LifecycleRig]]


def write_processes(folder: Path) -> Path:
    """Two processes that do nothing but finish: what auto-start rules name here."""
    write_process(folder, "wrap_up.bpmn", "wrap_up", "Wrap up", script("done = True"))
    write_process(folder, "triage.bpmn", "triage", "Triage", script("done = True"))
    return folder


async def _redis_url() -> tuple[str, str]:
    reason = await redis_available()
    if reason:
        pytest.skip(reason)
    prefix = f"linedesk-test-{uuid.uuid4().hex[:8]}:"
    return f"{REDIS_URL}?prefix={prefix}", prefix


async def _drop_redis_keys(prefix: str) -> None:
    import redis.asyncio as redis

    client = redis.Redis.from_url(REDIS_URL)
    keys = [key async for key in client.scan_iter(match=f"{prefix}*")]
    if keys:
        await client.delete(*keys)
    await client.aclose()


async def _rigs(tmp_path: Path, store: str) -> AsyncIterator[MakeRig]:
    rigs: list[LifecycleRig] = []
    store_url, prefix = await _redis_url() if store == "redis" else (None, "")
    processes = write_processes(tmp_path / "processes")

    async def make(extra_line_config: str = "") -> LifecycleRig:
        rig = LifecycleRig(
            tmp_path / f"rig{len(rigs)}",
            processes,
            store_url=store_url,
            clock=ManualClock(time.time()),
            extra_line_config=extra_line_config,
            limits=Limits.off(),
        )
        rig.workdir.mkdir()
        if store_url is None:
            rig.store_url = f"sqlite:///{rig.workdir / 'linedesk.db'}"
        rigs.append(rig)
        await rig.start()
        return rig

    try:
        yield make
    finally:
        for rig in rigs:
            await rig.stop()
        if prefix:
            await _drop_redis_keys(prefix)


@pytest.fixture(params=["sqlite", "redis"])
async def make_any(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[MakeRig]:
    """Rigs with a ManualClock, on SQLite and on a real Redis."""
    async for make in _rigs(tmp_path, request.param):
        yield make


@pytest.fixture
async def make(tmp_path: Path) -> AsyncIterator[MakeRig]:
    """Rigs with a ManualClock, on SQLite."""
    async for maker in _rigs(tmp_path, "sqlite"):
        yield maker


# --- helpers ------------------------------------------------------------------------------------------
def clock_of(rig: Rig) -> ManualClock:
    assert isinstance(rig.clock, ManualClock)
    return rig.clock


def desk(rig: Rig) -> Any:
    assert rig.desk is not None
    return rig.desk


async def eventually(check: Callable[[], Awaitable[bool]], what: str, timeout: float = WAIT) -> None:
    deadline = time.monotonic() + timeout
    while not await check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.02)


async def status(rig: Rig, *people: Person, word: str = "online") -> None:
    for person in people:
        response = await rig.slash(person, "/status", word)
        assert response.status == 200 and f"Your status is now *{word}*" in response.text, response.text


async def session(rig: Rig, number: int) -> Any:
    found = await desk(rig).store.get_session(number)
    assert found is not None, f"no session #{number}"
    return found


async def slack_card(rig: Rig, number: int) -> str:
    """Every text of the session's root message in the Slack desk channel."""
    root = await rig.thread_root(number)
    message = rig.slack.message(root["channel"], root["ts"])
    assert message is not None
    return "\n".join(str(b["text"]["text"]) for b in message.get("blocks", []) if isinstance(b.get("text"), dict))


async def telegram_card(rig: Rig, number: int) -> dict[str, Any]:
    found = [m for m in await rig.topic(number) if m.get("text", "").startswith(f"#{number} · ")]
    assert found, f"no card in the topic of session #{number}"
    return found[0]


async def thread_notices(rig: Rig, number: int) -> list[str]:
    return await rig.desk_thread(number)


async def topic_texts(rig: Rig, number: int) -> list[str]:
    return [m.get("text", "") for m in await rig.topic(number)]


async def click_take(rig: Rig, person: Person, number: int, *, settle: bool = True) -> Any:
    root = await rig.thread_root(number)
    if settle:
        return await rig.click(person, "session.take", str(number), channel_id=root["channel"], message_ts=root["ts"])
    return await rig.slack.click(
        rig.slack_url, person.slack_user, "session.take", str(number), channel_id=root["channel"], message_ts=root["ts"]
    )


async def press_take(rig: Rig, person: Person, number: int) -> dict[str, Any]:
    card = await telegram_card(rig, number)
    data = next(
        b["callback_data"] for row in card["reply_markup"]["inline_keyboard"] for b in row if b["text"] == "Take"
    )
    answer = await rig.press(person, card, data)
    assert answer is not None, "the press was never answered"
    return answer


def told(rig: Rig, person: Person) -> list[str]:
    """What Slack showed only to `person` (ephemeral messages)."""
    return [str(e.get("text", "")) for e in rig.ephemeral(person)]


def client(number: int) -> Person:
    return Person(f"Client{number}", telegram_user=700_000 + number)


async def clients_write(rig: Rig, numbers: range, text: str = "Hello") -> None:
    """Many clients write at the same moment (one Telegram update each, delivered concurrently)."""
    updates = [
        rig.telegram.text_update(SUPPORT_TOKEN, rig.telegram.user(client(n).telegram_user, client(n).name), text)
        for n in numbers
    ]
    results = await asyncio.gather(*(rig.telegram.deliver(SUPPORT_TOKEN, u) for u in updates))
    assert all(r.status == 200 for r in results), results
    await rig.settle(30.0)


async def load(rig: Rig) -> Counter[str]:
    """Active sessions of the support line per operator."""
    sessions = await desk(rig).store.list_sessions(status=[SessionStatus.ACTIVE], line_id="support", limit=10_000)
    return Counter(s.assignee for s in sessions)


def closed_events(rig: Rig) -> list[SessionClosed]:
    """Subscribe to `session.closed` on the running linedesk; the list fills as it fires."""
    seen: list[SessionClosed] = []

    async def record(event: SessionClosed) -> None:
        seen.append(event)

    desk(rig).bus.subscribe(SessionClosed, record)
    return seen


async def instances(rig: Rig) -> list[tuple[str, int | None, str, InstanceStatus]]:
    records = await desk(rig).store.list_instances()
    return sorted((r.process_id, r.session, r.trigger, r.status) for r in records)


# --- first take wins ----------------------------------------------------------------------------------
async def test_two_slack_clicks_at_the_same_moment_one_operator_wins(make_any: MakeRig) -> None:
    rig = await make_any()
    await status(rig, ANNA, CARL)
    for number in (1, 2, 3):  # a few rounds: the winner is whoever the mutex lets in first
        await rig.client_writes(client(number), "My order is late")
        await asyncio.gather(click_take(rig, ANNA, number), click_take(rig, CARL, number))
        taken = await session(rig, number)
        assert taken.status == SessionStatus.ACTIVE and taken.assignee in ("anna", "carl")
        winner, loser = (ANNA, CARL) if taken.assignee == "anna" else (CARL, ANNA)
        assert f"🟢 active · {winner.name}" in await slack_card(rig, number)
        assert f"🟢 active · {winner.name}" in (await telegram_card(rig, number))["text"]
        refusal = f"{winner.name} already has session #{number}; ask them to transfer it."
        assert told(rig, loser).count(refusal) == 1 and refusal not in told(rig, winner)
        took = [t for t in await thread_notices(rig, number) if "took the session" in t]
        assert took == [f"✋ {winner.name} took the session."]
        assert rig.client_chat(client(number)).count(f"{winner.name} joined the conversation.") == 1
        assert not any("joined the conversation" in t and winner.name not in t for t in rig.client_chat(client(number)))


async def test_a_slack_click_and_a_telegram_press_at_the_same_moment_one_operator_wins(make_any: MakeRig) -> None:
    rig = await make_any()
    await status(rig, ANNA, CARL)
    for number in (1, 2, 3):
        await rig.client_writes(client(number), "My order is late")
        _, answer = await asyncio.gather(click_take(rig, CARL, number), press_take(rig, ANNA, number))
        taken = await session(rig, number)
        assert taken.status == SessionStatus.ACTIVE and taken.assignee in ("anna", "carl")
        if taken.assignee == "anna":
            assert answer["text"] == f"You took session #{number}." and not answer.get("show_alert")
            assert f"Anna already has session #{number}; ask them to transfer it." in told(rig, CARL)
        else:
            assert answer["show_alert"] and answer["text"] == (
                f"Carl already has session #{number}; ask them to transfer it."
            )
        name = "Anna" if taken.assignee == "anna" else "Carl"
        assert f"🟢 active · {name}" in await slack_card(rig, number)
        assert f"🟢 active · {name}" in (await telegram_card(rig, number))["text"]
        assert [t for t in await topic_texts(rig, number) if "took the session" in t] == [
            f"✋ {name} took the session."
        ]


async def test_two_linedesk_instances_on_one_redis_one_take_wins(tmp_path: Path) -> None:
    """Two linedesk processes share a Redis: a click reaching each at the same moment — one wins."""
    store_url, prefix = await _redis_url()
    processes = write_processes(tmp_path / "processes")
    clock = ManualClock(time.time())
    first = LifecycleRig(tmp_path, processes, store_url=store_url, clock=clock, limits=Limits.off())
    second = LifecycleRig(tmp_path / "second", processes, store_url=store_url, clock=clock, limits=Limits.off())
    second.workdir.mkdir()
    await first.start()
    try:
        second.telegram, second.slack = first.telegram, first.slack  # the same Telegram and Slack
        second.config_path().write_text(second.config_text())
        await second.boot()
        try:
            await status(first, ANNA)
            await status(second, CARL)
            for number in (1, 2, 3):
                await first.client_writes(client(number), "My order is late")
                await second.settle()
                root = await first.thread_root(number)
                await asyncio.gather(
                    first.slack.click(
                        first.slack_url,
                        ANNA.slack_user,
                        "session.take",
                        str(number),
                        channel_id=root["channel"],
                        message_ts=root["ts"],
                    ),
                    first.slack.click(
                        second.slack_url,
                        CARL.slack_user,
                        "session.take",
                        str(number),
                        channel_id=root["channel"],
                        message_ts=root["ts"],
                    ),
                )
                await first.settle()
                await second.settle()
                for rig in (first, second):
                    taken = await session(rig, number)
                    assert taken.status == SessionStatus.ACTIVE and taken.assignee in ("anna", "carl")
                winner, loser = (ANNA, CARL) if taken.assignee == "anna" else (CARL, ANNA)
                assert f"🟢 active · {winner.name}" in await slack_card(first, number)
                assert f"{winner.name} already has session #{number}; ask them to transfer it." in told(first, loser)
                assert [t for t in await first.desk_thread(number) if "took the session" in t] == [
                    f"✋ {winner.name} took the session."
                ]
                assert first.client_chat(client(number)).count(f"{winner.name} joined the conversation.") == 1
        finally:
            await second.shutdown()
    finally:
        await first.stop()
        await _drop_redis_keys(prefix)


# --- closing after the client's silence, reopening -------------------------------------------------
async def test_silence_closes_the_session_and_fires_session_closed_once(make_any: MakeRig) -> None:
    rig = await make_any(LIFECYCLE + CLOSED_RULE)
    clock = clock_of(rig)
    events = closed_events(rig)
    await status(rig, ANNA)
    await rig.client_writes(IVAN, "Hello, my washing machine is broken")
    await click_take(rig, ANNA, 1)

    clock.advance(HOUR - 1)
    assert await desk(rig).sessions.close_idle() == 0
    assert (await session(rig, 1)).status == SessionStatus.ACTIVE

    clock.advance(1)
    closed = await asyncio.gather(desk(rig).sessions.close_idle(), desk(rig).sessions.close_idle())
    await rig.settle()
    assert sorted(closed) == [0, 1], "two checks at the same moment close it once"
    after = await session(rig, 1)
    assert after.status == SessionStatus.CLOSED and after.closed_at == clock.now()
    assert len(events) == 1 and events[0].session.number == 1
    notice = "■ Session closed by inactivity (no message from the client for 1 h)."
    assert (await thread_notices(rig, 1)).count(notice) == 1
    assert (await topic_texts(rig, 1)).count(notice) == 1
    assert "⚪ closed" in await slack_card(rig, 1)
    card = await telegram_card(rig, 1)
    assert "⚪ closed" in card["text"] and not card.get("reply_markup")
    assert await instances(rig) == [("wrap_up", 1, "session.closed", InstanceStatus.COMPLETED)]

    clock.advance(HOUR)
    assert await desk(rig).sessions.close_idle() == 0  # closed stays closed, nothing fires again
    await rig.settle()
    assert len(events) == 1 and len(await instances(rig)) == 1


async def test_a_click_on_close_and_the_idle_check_at_once_close_once(make_any: MakeRig) -> None:
    rig = await make_any(LIFECYCLE + CLOSED_RULE)
    events = closed_events(rig)
    await status(rig, ANNA)
    await rig.client_writes(IVAN, "Hello")
    root = await rig.thread_root(1)
    clock_of(rig).advance(HOUR)
    await asyncio.gather(
        rig.click(ANNA, "session.close", "1", channel_id=root["channel"], message_ts=root["ts"]),
        desk(rig).sessions.close_idle(),
    )
    await rig.settle()
    assert (await session(rig, 1)).status == SessionStatus.CLOSED
    assert len(events) == 1
    assert len([t for t in await thread_notices(rig, 1) if t.startswith("■ Session closed by")]) == 1
    assert await instances(rig) == [("wrap_up", 1, "session.closed", InstanceStatus.COMPLETED)]


async def test_a_message_just_before_the_limit_keeps_the_session_open(make_any: MakeRig) -> None:
    rig = await make_any(LIFECYCLE)
    clock = clock_of(rig)
    await rig.client_writes(IVAN, "Hello")
    clock.advance(HOUR - 1)
    await rig.client_writes(IVAN, "Anyone there?")
    clock.advance(HOUR - 1)
    assert await desk(rig).sessions.close_idle() == 0
    assert (await session(rig, 1)).status == SessionStatus.QUEUED
    clock.advance(1)
    assert await desk(rig).sessions.close_idle() == 1
    await rig.settle()
    assert (await session(rig, 1)).status == SessionStatus.CLOSED


async def test_a_message_within_reopen_within_reopens_the_same_session(make_any: MakeRig) -> None:
    rig = await make_any(LIFECYCLE)
    clock = clock_of(rig)
    await status(rig, ANNA)
    await rig.client_writes(IVAN, "Hello")
    await rig.client_writes(OLGA, "Hi")
    await click_take(rig, ANNA, 1)  # Ivan's is active with Anna, Olga's queued
    clock.advance(HOUR)
    assert await desk(rig).sessions.close_idle() == 2
    await rig.settle()

    clock.advance(10 * 60)  # exactly reopen_within
    await rig.client_writes(IVAN, "One more thing")
    await rig.client_writes(OLGA, "Still there?")
    ivan, olga = await session(rig, 1), await session(rig, 2)
    assert (ivan.status, ivan.assignee, ivan.closed_at) == (SessionStatus.ACTIVE, "anna", None)
    assert (olga.status, olga.assignee, olga.closed_at) == (SessionStatus.QUEUED, None, None)
    assert await desk(rig).store.get_session(3) is None, "no new session"
    assert "🟢 active · Anna" in await slack_card(rig, 1)
    assert "🟡 queued · unassigned" in await slack_card(rig, 2)
    assert "↺ The client wrote again: session reopened." in await thread_notices(rig, 1)
    assert "↺ The client wrote again: session reopened." in await topic_texts(rig, 2)
    assert (await rig.desk_thread(1))[-2:] == ["↺ The client wrote again: session reopened.", "*Ivan*: One more thing"]
    assert rig.client_chat(IVAN).count(GREETING) == 1, "a reopened session does not greet again"


async def test_a_later_message_opens_a_new_session_that_links_the_previous_one(make_any: MakeRig) -> None:
    rig = await make_any(LIFECYCLE)
    clock = clock_of(rig)
    await rig.client_writes(IVAN, "Hello")
    clock.advance(HOUR)
    assert await desk(rig).sessions.close_idle() == 1
    await rig.settle()
    clock.advance(10 * 60 + 1)
    await rig.client_writes(IVAN, "Hello again")
    first, second = await session(rig, 1), await session(rig, 2)
    assert first.status == SessionStatus.CLOSED
    assert (second.status, second.previous_session, second.client_id) == (SessionStatus.QUEUED, 1, first.client_id)
    assert "Previous session: #1" in await slack_card(rig, 2)
    assert "Previous session: #1" in (await telegram_card(rig, 2))["text"]
    assert "Previous session" not in await slack_card(rig, 1)
    assert await rig.desk_thread(2) == ["*Ivan*: Hello again"]
    assert rig.client_chat(IVAN).count(GREETING) == 2


async def test_reopening_does_not_hand_the_session_back_to_an_operator_gone_offline(make_any: MakeRig) -> None:
    rig = await make_any(LIFECYCLE)
    clock = clock_of(rig)
    await status(rig, ANNA)
    await rig.client_writes(IVAN, "Hello")
    await click_take(rig, ANNA, 1)
    root = await rig.thread_root(1)
    await rig.click(ANNA, "session.close", "1", channel_id=root["channel"], message_ts=root["ts"])
    await status(rig, ANNA, word="offline")
    clock.advance(60)
    await rig.client_writes(IVAN, "Sorry, one more question")
    reopened = await session(rig, 1)
    assert (reopened.status, reopened.assignee) == (SessionStatus.QUEUED, None)
    assert "🟡 queued · unassigned" in await slack_card(rig, 1)


async def test_a_reopened_session_on_an_auto_assign_line_goes_to_an_online_operator(make_any: MakeRig) -> None:
    rig = await make_any(LIFECYCLE + "auto_assign = true\n")
    clock = clock_of(rig)
    await status(rig, ANNA)
    await rig.client_writes(IVAN, "Hello")
    assert (await session(rig, 1)).assignee == "anna"
    clock.advance(HOUR)
    assert await desk(rig).sessions.close_idle() == 1
    await status(rig, ANNA, word="offline")
    await status(rig, CARL)
    clock.advance(60)
    await rig.client_writes(IVAN, "Sorry, one more question")
    reopened = await session(rig, 1)
    assert (reopened.status, reopened.assignee) == (SessionStatus.ACTIVE, "carl")
    assert "🟢 active · Carl" in await slack_card(rig, 1)
    assert rig.client_chat(IVAN)[-1] == "Carl joined the conversation."


async def test_an_overdue_session_is_closed_by_the_check_at_start(make_any: MakeRig) -> None:
    rig = await make_any(LIFECYCLE + CLOSED_RULE)
    await rig.client_writes(IVAN, "Hello")
    await rig.client_writes(OLGA, "Hi")
    await rig.shutdown()
    clock_of(rig).advance(HOUR + 5)  # it fell due while linedesk was stopped
    await rig.boot()

    async def both_closed() -> bool:
        return all(s.status == SessionStatus.CLOSED for s in (await session(rig, 1), await session(rig, 2)))

    await eventually(both_closed, "the check at start to close the overdue sessions")
    await rig.settle()
    assert "⚪ closed" in await slack_card(rig, 1) and "⚪ closed" in (await telegram_card(rig, 2))["text"]
    assert await instances(rig) == [
        ("wrap_up", 1, "session.closed", InstanceStatus.COMPLETED),
        ("wrap_up", 2, "session.closed", InstanceStatus.COMPLETED),
    ]


# --- round-robin auto-assignment -----------------------------------------------------------------------
async def test_round_robin_over_100_sessions_shares_them_evenly_and_skips_busy(make_any: MakeRig) -> None:
    rig = await make_any(f'auto_assign = true\nqueued_note = "{QUEUED_NOTE}"\n')
    await status(rig, ANNA, CARL, DORA)
    await status(rig, EVE, word="busy")
    for first in range(1, 101, 20):  # clients writing at the same moment, 20 at a time
        await clients_write(rig, range(first, first + 20))
    shares = await load(rig)
    assert sorted(shares.values()) == [33, 33, 34] and set(shares) == {"anna", "carl", "dora"}, shares
    assert shares["eve"] == 0
    everyone = await desk(rig).store.list_sessions(line_id="support", limit=1000)
    assert len(everyone) == 100 and all(s.status == SessionStatus.ACTIVE for s in everyone)
    for number in (1, 50, 100):
        assignee = (await session(rig, number)).assignee
        name = {"anna": "Anna", "carl": "Carl", "dora": "Dora"}[str(assignee)]
        assert f"🟢 active · {name}" in await slack_card(rig, number)
        assert f"🤖 Assigned to {name} (auto-assign)." in await thread_notices(rig, number)
    assert not any(QUEUED_NOTE in t for n in range(1, 101) for t in rig.client_chat(client(n)))


async def test_nobody_online_the_session_stays_queued_and_the_client_is_told(make_any: MakeRig) -> None:
    rig = await make_any(f'auto_assign = true\nqueued_note = "{QUEUED_NOTE}"\n')
    await rig.client_writes(IVAN, "Hello")
    await status(rig, ANNA, word="busy")  # busy operators get no automatic assignments either
    await rig.client_writes(OLGA, "Hi")
    for number, person in ((1, IVAN), (2, OLGA)):
        queued = await session(rig, number)
        assert (queued.status, queued.assignee) == (SessionStatus.QUEUED, None)
        assert rig.client_chat(person) == [rig.client_chat(person)[0], GREETING, QUEUED_NOTE]
        assert "🟡 queued · unassigned" in await slack_card(rig, number)
    await rig.client_writes(IVAN, "Hello?")
    assert rig.client_chat(IVAN).count(QUEUED_NOTE) == 1, "told once, when the session opened"


async def test_no_queued_note_configured_says_nothing(make: MakeRig) -> None:
    rig = await make("auto_assign = true\n")
    await rig.client_writes(IVAN, "Hello")
    assert rig.client_chat(IVAN) == ["Hello", GREETING]
    assert (await session(rig, 1)).status == SessionStatus.QUEUED


async def test_the_operator_with_the_fewest_active_sessions_gets_the_next_one(make_any: MakeRig) -> None:
    rig = await make_any("auto_assign = true\n")
    await status(rig, ANNA, CARL, DORA)
    for number in range(1, 7):
        await rig.client_writes(client(number), "Hello")
    assert await load(rig) == Counter({"anna": 2, "carl": 2, "dora": 2})
    mine = {s.number for s in await desk(rig).store.list_sessions(status=[SessionStatus.ACTIVE], assignee="carl")}
    for number in sorted(mine):  # Carl closes both of his
        root = await rig.thread_root(number)
        await rig.click(CARL, "session.close", str(number), channel_id=root["channel"], message_ts=root["ts"])
    for number in (7, 8):
        await rig.client_writes(client(number), "Hello")
        assert (await session(rig, number)).assignee == "carl", "fewest active sessions first"
    await rig.client_writes(client(9), "Hello")
    assert await load(rig) == Counter({"anna": 3, "carl": 2, "dora": 2}) or await load(rig) == Counter(
        {"anna": 2, "carl": 2, "dora": 3}
    )


async def test_ties_go_to_the_operator_whose_last_automatic_assignment_is_the_oldest(make_any: MakeRig) -> None:
    """The clock does not move here (as when assignments share a timestamp): the order of assignments decides."""
    rig = await make_any("auto_assign = true\n")
    await status(rig, ANNA, CARL, DORA)
    for number in range(1, 5):
        await rig.client_writes(client(number), "Hello")
    order = [(await session(rig, n)).assignee for n in range(1, 5)]
    assert order[:3] == ["anna", "carl", "dora"] and order[3] == "anna"
    for number in range(1, 5):  # everybody closes everything: all three have none again
        assignee = (await session(rig, number)).assignee
        person = {"anna": ANNA, "carl": CARL, "dora": DORA}[str(assignee)]
        root = await rig.thread_root(number)
        await rig.click(person, "session.close", str(number), channel_id=root["channel"], message_ts=root["ts"])
    assert await load(rig) == Counter()
    for number in range(5, 8):
        await rig.client_writes(client(number), "Hello")
    assert [(await session(rig, n)).assignee for n in range(5, 8)] == ["carl", "dora", "anna"]


# --- operators going offline ---------------------------------------------------------------------------
async def test_going_offline_puts_the_operators_sessions_back_in_the_queue(make_any: MakeRig) -> None:
    rig = await make_any()
    await status(rig, ANNA, CARL)
    for person in (IVAN, OLGA, client(3)):
        await rig.client_writes(person, "Hello")
    await click_take(rig, ANNA, 1)
    await click_take(rig, ANNA, 2)
    await click_take(rig, CARL, 3)
    await status(rig, ANNA, word="offline")
    for number in (1, 2):
        back = await session(rig, number)
        assert (back.status, back.assignee) == (SessionStatus.QUEUED, None)
        assert "🟡 queued · unassigned" in await slack_card(rig, number)
        assert "🟡 queued · unassigned" in (await telegram_card(rig, number))["text"]
        notice = "↩ Anna went offline: the session is back in the queue."
        assert notice in await thread_notices(rig, number) and notice in await topic_texts(rig, number)
    assert (await session(rig, 3)).assignee == "carl", "other operators keep theirs"
    await status(rig, CARL, word="busy")
    assert (await session(rig, 3)).assignee == "carl", "busy keeps its sessions"
    await click_take(rig, CARL, 1)  # queued again: anyone online may take it
    assert (await session(rig, 1)).assignee == "carl"


async def test_going_offline_on_an_auto_assign_line_hands_the_sessions_to_online_operators(make_any: MakeRig) -> None:
    rig = await make_any(f'auto_assign = true\nqueued_note = "{QUEUED_NOTE}"\n')
    await status(rig, ANNA)
    for number in range(1, 5):
        await rig.client_writes(client(number), "Hello")
    assert await load(rig) == Counter({"anna": 4})
    await status(rig, CARL, DORA)
    await status(rig, EVE, word="busy")
    await status(rig, ANNA, word="offline")
    assert await load(rig) == Counter({"carl": 2, "dora": 2})
    for number in range(1, 5):
        after = await session(rig, number)
        name = {"carl": "Carl", "dora": "Dora"}[str(after.assignee)]
        notices = await thread_notices(rig, number)
        assert notices[-2:] == [
            "↩ Anna went offline: the session is back in the queue.",
            f"🤖 Assigned to {name} (auto-assign).",
        ]
        assert f"🟢 active · {name}" in await slack_card(rig, number)
        assert rig.client_chat(client(number))[-1] == f"{name} joined the conversation."
    await status(rig, CARL, DORA, word="offline")  # nobody online now: queued, and the clients are told
    for number in range(1, 5):
        assert (await session(rig, number)).status == SessionStatus.QUEUED
        assert rig.client_chat(client(number))[-1] == QUEUED_NOTE


async def test_an_operator_going_offline_while_a_take_is_under_way_does_not_keep_it(make_any: MakeRig) -> None:
    """The take has checked Anna is online and is saving the session when her /status offline lands: the
    session must not stay active with an offline operator."""
    rig = await make_any()
    await status(rig, ANNA)
    await rig.client_writes(IVAN, "Hello")
    store = desk(rig).store
    real_save = store.save_session
    saving, go_on = asyncio.Event(), asyncio.Event()

    async def slow_save(record: Any) -> None:
        if record.status == SessionStatus.ACTIVE and record.assignee == "anna" and not go_on.is_set():
            saving.set()
            await asyncio.wait_for(go_on.wait(), WAIT)
        await real_save(record)

    store.save_session = slow_save
    try:
        click = asyncio.create_task(click_take(rig, ANNA, 1, settle=False))
        await asyncio.wait_for(saving.wait(), WAIT)
        response = await rig.slack.post_slash(rig.slack_url, "/status", "offline", ANNA.slack_user, DESK_CHANNEL)
        assert "Your status is now *offline*" in response.text
        go_on.set()
        assert (await asyncio.wait_for(click, WAIT)).status == 200
    finally:
        store.save_session = real_save
    await rig.settle()
    after = await session(rig, 1)
    assert (after.status, after.assignee) == (SessionStatus.QUEUED, None)
    assert "🟡 queued · unassigned" in await slack_card(rig, 1)
    assert "↩ Anna went offline: the session is back in the queue." in await thread_notices(rig, 1)
    assert "You are offline: you cannot take sessions. Type /status online first." in told(rig, ANNA)


async def test_a_status_change_is_not_lost_to_a_concurrent_write_of_the_operators_state(make_any: MakeRig) -> None:
    """`remember_session` (an operator writes in a thread, takes a session) and `/status` both rewrite the
    operator's state: the one that saves last must not undo the other."""
    rig = await make_any()
    await status(rig, ANNA)
    real = desk(rig).store

    class HeldStore:
        """The store, with the first read of Anna's state held until the test lets it go."""

        def __init__(self) -> None:
            self.reading, self.go_on = asyncio.Event(), asyncio.Event()

        def __getattr__(self, name: str) -> Any:
            return getattr(real, name)

        async def get_operator(self, operator_id: str) -> OperatorState:
            state = await real.get_operator(operator_id)
            if not self.reading.is_set():
                self.reading.set()
                await asyncio.wait_for(self.go_on.wait(), WAIT)
            return state

    held = HeldStore()
    operators = Operators(held, desk(rig).config, rig.clock or ManualClock(), desk(rig).bus)  # type: ignore[arg-type]
    remember = asyncio.create_task(operators.remember_session("anna", 7))
    await asyncio.wait_for(held.reading.wait(), WAIT)
    change = asyncio.create_task(operators.set_status("anna", OperatorStatus.OFFLINE))
    await asyncio.sleep(0.2)  # the status change gets every chance to run before the held read goes on
    held.go_on.set()
    await asyncio.wait_for(asyncio.gather(remember, change), WAIT)
    state = await real.get_operator("anna")
    assert (state.status, state.last_session) == (OperatorStatus.OFFLINE, 7)


# --- the client is told who joined --------------------------------------------------------------------
async def test_the_client_is_told_which_operator_joined(make_any: MakeRig) -> None:
    rig = await make_any()
    await status(rig, ANNA, CARL)
    await rig.client_writes(IVAN, "Hello")
    await click_take(rig, ANNA, 1)
    assert rig.client_chat(IVAN) == ["Hello", GREETING, "Anna joined the conversation."]
    await click_take(rig, ANNA, 1)  # taking it again changes nothing and says nothing
    assert rig.client_chat(IVAN).count("Anna joined the conversation.") == 1
    messages = await desk(rig).store.list_messages(1)
    assert [(m.author_kind.value, m.text) for m in messages][-1] == ("system", "Anna joined the conversation.")


async def test_a_custom_operator_joined_text_names_the_operator(make: MakeRig) -> None:
    rig = await make('operator_joined = "You are now talking to {operator} from Support."\nauto_assign = true\n')
    await status(rig, CARL)
    await rig.client_writes(IVAN, "Hello")
    assert rig.client_chat(IVAN) == ["Hello", GREETING, "You are now talking to Carl from Support."]


async def test_an_empty_operator_joined_says_nothing(make: MakeRig) -> None:
    rig = await make('operator_joined = ""\n')
    await status(rig, ANNA)
    await rig.client_writes(IVAN, "Hello")
    await click_take(rig, ANNA, 1)
    assert (await session(rig, 1)).assignee == "anna"
    assert rig.client_chat(IVAN) == ["Hello", GREETING]
    assert [m.text for m in await desk(rig).store.list_messages(1)] == ["Hello", GREETING]


# --- spam ------------------------------------------------------------------------------------------------
async def test_spam_mirrors_nothing_starts_nothing_and_unmarking_restores_the_queue(make_any: MakeRig) -> None:
    rig = await make_any(MESSAGE_RULE)
    await status(rig, ANNA)
    await rig.client_writes(IVAN, "Buy cheap watches")
    assert await instances(rig) == [("triage", 1, "message.received", InstanceStatus.COMPLETED)]
    marked = await desk(rig).sessions.mark_spam(1, "anna")
    await rig.settle()
    assert (marked.status, marked.previous_status) == (SessionStatus.SPAM, SessionStatus.QUEUED)
    assert "🚫 spam" in await slack_card(rig, 1) and "🚫 spam" in (await telegram_card(rig, 1))["text"]
    thread_before, topic_before = await rig.desk_thread(1), await topic_texts(rig, 1)

    await rig.client_writes(IVAN, "Really cheap watches")
    assert [m.text for m in await desk(rig).store.list_messages(1)][-1] == "Really cheap watches"  # stored
    assert await rig.desk_thread(1) == thread_before and await topic_texts(rig, 1) == topic_before  # not mirrored
    assert len(await instances(rig)) == 1, "no auto-start on a spam session"
    assert rig.client_chat(IVAN)[-1] == "Really cheap watches", "nothing answers the client"

    response = await rig.slash(ANNA, "/startprocess", "1")
    assert response.text == "Session #1 is marked as spam: you cannot start processes."
    assert len(await instances(rig)) == 1, "no process start on a spam session"
    root = await rig.thread_root(1)
    await rig.click(ANNA, "session.take", "1", channel_id=root["channel"], message_ts=root["ts"])
    assert "Session #1 is marked as spam: you cannot take sessions." in told(rig, ANNA)

    restored = await desk(rig).sessions.unmark_spam(1, "anna")
    await rig.settle()
    assert (restored.status, restored.assignee, restored.previous_status) == (SessionStatus.QUEUED, None, None)
    assert "🟡 queued · unassigned" in await slack_card(rig, 1)
    await rig.client_writes(IVAN, "Sorry, a real question now")
    assert "*Ivan*: Sorry, a real question now" in await rig.desk_thread(1)
    assert len(await instances(rig)) == 2, "auto-start fires again once unmarked"


async def test_unmarking_spam_gives_the_session_back_to_its_operator(make_any: MakeRig) -> None:
    rig = await make_any()
    await status(rig, ANNA, CARL)
    await rig.client_writes(IVAN, "Hello")
    await click_take(rig, ANNA, 1)
    await desk(rig).sessions.mark_spam(1, "carl")
    await rig.settle()
    restored = await desk(rig).sessions.unmark_spam(1, "carl")
    await rig.settle()
    assert (restored.status, restored.assignee) == (SessionStatus.ACTIVE, "anna")
    assert "🟢 active · Anna" in await slack_card(rig, 1)
    assert "✅ Carl unmarked spam." in await thread_notices(rig, 1)


async def test_unmarking_spam_of_an_offline_operators_session_puts_it_in_the_queue(make_any: MakeRig) -> None:
    rig = await make_any()
    await status(rig, ANNA, CARL)
    await rig.client_writes(IVAN, "Hello")
    await click_take(rig, ANNA, 1)
    await desk(rig).sessions.mark_spam(1, "carl")
    await status(rig, ANNA, word="offline")  # a spam session is not hers to hand back now: it is not active
    assert (await session(rig, 1)).status == SessionStatus.SPAM
    restored = await desk(rig).sessions.unmark_spam(1, "carl")
    await rig.settle()
    assert (restored.status, restored.assignee) == (SessionStatus.QUEUED, None)
    assert "🟡 queued · unassigned" in await slack_card(rig, 1)
    assert (
        "✅ Carl unmarked spam. Its operator is not available any more: the session is back in the queue."
        in await thread_notices(rig, 1)
    )
