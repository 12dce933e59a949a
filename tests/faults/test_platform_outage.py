"""A platform down for a minute, and 429 storms: the outbox retries until everything is delivered,
in order per conversation, nothing twice, nothing given up.

linedesk runs in-process (`Rig`) on a ManualClock: the outage lasts 60 s of *simulated* time, the
outbox's retries (exponential backoff with jitter, capped; `retry_after` honoured) fall due on that
clock, and `Simulator` jumps from one due moment to the next.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest

from core.clock import ManualClock
from sandboxes.limits import Limits
from sandboxes.rig import ANNA, SUPPORT_TOKEN, Person, Rig
from tests.support.faults import (
    CLIENT_BASE,
    PROCESSES,
    Event,
    Simulator,
    Storm,
    client_name,
    client_tally,
    desk_tally,
    figure,
    token,
)

OUTAGE = 60.0


@pytest.fixture
async def rig(tmp_path: Path) -> AsyncIterator[Rig]:
    stage = Rig(tmp_path, PROCESSES, clock=ManualClock(time.time()), limits=Limits.off())
    await stage.start()
    try:
        yield stage
    finally:
        await stage.stop()


def clock_of(rig: Rig) -> ManualClock:
    assert isinstance(rig.clock, ManualClock)
    return rig.clock


def person(n: int) -> Person:
    return Person(client_name(n), telegram_user=CLIENT_BASE + n)


def client_writes(rig: Rig, n: int, text: str) -> Callable[[], Awaitable[None]]:
    """A client message through the webhook (200 only once stored); its handling goes on in the background."""

    async def write() -> None:
        update = rig.telegram.text_update(SUPPORT_TOKEN, rig.telegram.user(CLIENT_BASE + n, client_name(n)), text)
        result = await rig.telegram.deliver(SUPPORT_TOKEN, update)
        assert result.ok, result

    return write


async def operator_says(rig: Rig, n: int, text: str) -> None:
    """Anna writes in client n's session thread (the Slack event is acknowledged, then handled)."""
    assert rig.desk is not None
    session = await rig.desk.store.latest_session("support", f"telegram:{CLIENT_BASE + n}")
    assert session is not None, f"client {n} has no session"
    root = await rig.thread_root(session.number)
    response = await rig.slack.post_message(rig.slack_url, ANNA.slack_user, root["channel"], text, thread_ts=root["ts"])
    assert response.status == 200, response


def operator_writes(rig: Rig, n: int, text: str) -> Callable[[], Awaitable[None]]:
    async def write() -> None:
        await operator_says(rig, n, text)

    return write


def many(*actions: Callable[[], Awaitable[None]]) -> Callable[[], Awaitable[None]]:
    async def run() -> None:
        for action in actions:
            await action()

    return run


async def no_dead_letters(rig: Rig) -> None:
    assert rig.desk is not None
    stats = await rig.desk.store.outbox_stats(clock_of(rig).now())
    assert stats["dead"] == 0 and rig.desk.outbox.killed == 0, stats
    assert stats["pending"] == 0, stats


async def test_slack_answers_500_for_a_minute_then_every_desk_message_arrives_in_order(rig: Rig) -> None:
    clock = clock_of(rig)
    clients, rounds = range(1, 9), range(6)
    started = time.monotonic()
    t0 = clock.now()
    rig.slack.fail("*", status=500, count=-1)  # every Web API method, until lifted
    lifted: list[float] = []

    async def lift() -> None:
        rig.slack.clear_failures()
        lifted.append(clock.now())

    events: list[Event] = [
        (t0 + 10.0 * r, many(*(client_writes(rig, n, token(n, r)) for n in clients))) for r in rounds
    ]
    events.append((t0 + OUTAGE, lift))
    sim = Simulator(rig, clock)
    finished = await sim.run(events, max_simulated=4 * OUTAGE)

    posts = rig.slack.calls_of("chat.postMessage")
    failed = [c for c in rig.slack.calls if c.status == 500]
    recovery = finished - lifted[0]
    assert rig.desk is not None
    figure(
        "slack-outage-500",
        messages=len(clients) * len(rounds),
        outage_s=OUTAGE,
        slack_calls=len(rig.slack.calls),
        failed_500=len(failed),
        post_attempts=len(posts),
        outbox_retries=rig.desk.outbox.retried,
        dead=rig.desk.outbox.killed,
        recovery_after_outage_sim_s=recovery,
        sim_steps=sim.steps,
        real_s=time.monotonic() - started,
    )

    desk = desk_tally(rig.slack)
    expected = {(n, r) for n in clients for r in rounds}
    assert desk.missing(expected) == [] and desk.duplicates() == 0 and desk.out_of_order() == {}, desk.seen
    assert desk.split() == {}, "a client's messages are spread over several threads"
    for n in clients:
        assert desk.seen[n] == list(rounds)
    assert failed, "the outage never hit linedesk"
    await no_dead_letters(rig)
    # exponential backoff, capped, with jitter in [d/2, d]: the retry after the outage comes within ~2× the outage
    assert recovery <= 2 * OUTAGE + 1, recovery


async def test_telegram_answers_500_for_a_minute_then_every_client_message_arrives_in_order(rig: Rig) -> None:
    clock = clock_of(rig)
    clients, rounds = range(1, 7), range(5)
    for n in clients:
        await rig.client_writes(person(n), f"hello from {client_name(n)}")
    await rig.slash(ANNA, "/status", "online")
    started = time.monotonic()
    calls_before = len(rig.telegram.calls)
    t0 = clock.now()
    rig.telegram.fail("sendMessage", status=500, count=10**9)  # client chats and the desk topics alike
    lifted: list[float] = []

    async def lift() -> None:
        rig.telegram.clear_failures()
        lifted.append(clock.now())

    events: list[Event] = [
        (t0 + 12.0 * r, many(*(operator_writes(rig, n, token(n, r, "o")) for n in clients))) for r in rounds
    ]
    events.append((t0 + OUTAGE, lift))
    sim = Simulator(rig, clock)
    finished = await sim.run(events, max_simulated=4 * OUTAGE)

    calls = rig.telegram.calls[calls_before:]
    sends = [c for c in calls if c.method == "sendMessage"]
    failed = [c for c in sends if c.status == 500]
    recovery = finished - lifted[0]
    assert rig.desk is not None
    figure(
        "telegram-outage-500",
        messages=len(clients) * len(rounds),
        outage_s=OUTAGE,
        send_attempts=len(sends),
        failed_500=len(failed),
        outbox_retries=rig.desk.outbox.retried,
        dead=rig.desk.outbox.killed,
        recovery_after_outage_sim_s=recovery,
        sim_steps=sim.steps,
        real_s=time.monotonic() - started,
    )

    chats = client_tally(rig.telegram, clients)
    expected = {(n, r) for n in clients for r in rounds}
    assert chats.missing(expected) == [] and chats.duplicates() == 0 and chats.out_of_order() == {}, chats.seen
    for n in clients:
        assert chats.seen[n] == list(rounds)
    assert failed, "the outage never hit linedesk"
    await no_dead_letters(rig)
    assert recovery <= 2 * OUTAGE + 1, recovery


async def test_429_storm_on_both_platforms_200_messages_over_10_chats_all_delivered_once_in_order(rig: Rig) -> None:
    clock = clock_of(rig)
    clients, rounds = range(1, 11), range(10)
    for n in clients:
        await rig.client_writes(person(n), f"hello from {client_name(n)}")
    await rig.slash(ANNA, "/status", "online")
    started = time.monotonic()
    telegram_storm = Storm(
        rig.telegram.calls, "sendMessage", lambda: rig.telegram.fail("sendMessage", status=429, retry_after=1, count=1)
    )
    slack_storm = Storm(
        rig.slack.calls,
        "chat.postMessage",
        lambda: rig.slack.fail("chat.postMessage", status=429, retry_after=1, count=1),
    )
    t0 = clock.now()
    telegram_storm.start()
    slack_storm.start()

    async def calm() -> None:
        await telegram_storm.stop()
        await slack_storm.stop()
        rig.telegram.clear_failures()
        rig.slack.clear_failures()

    events: list[Event] = [
        (
            t0 + 2.0 * r,
            many(
                *(
                    step
                    for n in clients
                    for step in (client_writes(rig, n, token(n, r)), operator_writes(rig, n, token(n, r, "o")))
                )
            ),
        )
        for r in rounds
    ]
    sim = Simulator(rig, clock)  # the storm blows until everything is delivered
    try:
        finished = await sim.run(events, max_simulated=600.0)
    finally:
        await calm()

    assert rig.desk is not None
    figure(
        "429-storm",
        messages=2 * len(clients) * len(rounds),
        chats=len(clients),
        telegram_sends=telegram_storm.total,
        telegram_429=telegram_storm.failed,
        telegram_429_share=telegram_storm.share,
        slack_posts=slack_storm.total,
        slack_429=slack_storm.failed,
        slack_429_share=slack_storm.share,
        outbox_retries=rig.desk.outbox.retried,
        dead=rig.desk.outbox.killed,
        sim_s=finished - t0,
        sim_steps=sim.steps,
        real_s=time.monotonic() - started,
    )

    expected = {(n, r) for n in clients for r in rounds}
    desk = desk_tally(rig.slack)
    assert desk.missing(expected) == [] and desk.duplicates() == 0 and desk.out_of_order() == {}, desk.seen
    assert desk.split() == {}
    chats = client_tally(rig.telegram, clients)
    assert chats.missing(expected) == [] and chats.duplicates() == 0 and chats.out_of_order() == {}, chats.seen
    assert 0.25 <= telegram_storm.share and 0.25 <= slack_storm.share, "the storm was too weak to mean anything"
    await no_dead_letters(rig)
