"""Pacing keeps each bucket under its rate, never bursting beyond a window; waiters take turns (new sessions
first); a flood answer pauses the whole bucket; the outbox's reservation is spent by the call that follows;
the worker keeps other conversations moving meanwhile."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from pathlib import Path

import pytest

from core.clock import SystemClock
from core.model import OutboxEntry
from core.outbox import OutboxSettings, OutboxWorker
from core.outbox_actions import Notice
from core.pacing import Draw, MemoryWindows, Pacer, Rate
from core.store.sqlite import SqliteStore


class Hand:
    """A clock moved by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def test_a_window_never_holds_more_than_its_count_and_says_when_it_has_room() -> None:
    clock = Hand()
    windows = MemoryWindows(clock)
    rate = Rate(20, 60.0)
    for _ in range(20):
        assert await windows.take("group", rate, 1) == 0.0
        clock.now += 0.5
    # 20 in 10 s: the 21st waits until the first leaves the window, 50 s later — no refill burst
    assert await windows.take("group", rate, 1) == 50.0
    clock.now += 50.0
    assert await windows.take("group", rate, 1) == 0.0
    assert await windows.take("group", rate, 1) > 0  # only one left the window
    assert await windows.take("other group", rate, 1) == 0.0  # buckets are apart


async def test_a_draw_of_several_sends_needs_room_for_all_of_them() -> None:
    clock = Hand()
    windows = MemoryWindows(clock)
    rate = Rate(3, 3.0)
    assert await windows.take("chat", rate, 2) == 0.0
    clock.now += 1.0
    assert await windows.take("chat", rate, 2) == 2.0  # the first two must leave: at +3 s
    assert await windows.take("chat", rate, 1) == 0.0
    clock.now += 2.0
    assert await windows.take("chat", rate, 10) == 1.0  # more than a window holds: when it is empty
    clock.now += 1.0
    assert await windows.take("chat", rate, 10) == 0.0


async def test_a_spare_send_needs_the_recent_pace_under_its_share() -> None:
    clock = Hand()
    windows = MemoryWindows(clock)
    rate, spare = Rate(20, 60.0), Rate(1, 15.0)
    assert await windows.take("group", rate, 1) == 0.0
    clock.now += 5.0
    assert await windows.take("group", rate, 1, spare) == 10.0  # the send 5 s ago leaves the last 15 s in 10
    clock.now += 10.0
    assert await windows.take("group", rate, 1, spare) == 0.0
    assert await windows.take("group", rate, 1) == 0.0  # a plain send needs room in the window only


async def test_a_send_counts_from_its_answer_so_no_margin_is_needed_for_the_network() -> None:
    """The platform counts a send when it arrives, which is no later than its answer: a window whose sends
    count from their answers never admits one the platform's own window would refuse, however slow the way."""
    clock = Hand()
    windows = MemoryWindows(clock)
    rate = Rate(2, 60.0)
    assert await windows.take("group", rate, 1) == 0.0  # leaves at 1000
    clock.now += 0.8
    await windows.landed("group", rate, 1)  # answered at 1000.8: it arrived somewhere in between
    assert await windows.take("group", rate, 1) == 0.0  # leaves at 1000.8, still on its way
    clock.now += 59.5
    # at 1060.3 the first send would have left a window counted from departures; counted from its answer
    # it leaves at 1060.8
    assert await windows.take("group", rate, 1) == 0.5
    clock.now += 0.5
    assert await windows.take("group", rate, 1) == 0.0
    # the second never got an answer recorded (in flight, or lost with a crash): it counts from its departure
    clock.now = 1060.8 + 1e-6
    assert await windows.take("group", rate, 1) == 0.0


async def test_answers_move_the_oldest_sends_on_their_way_first() -> None:
    clock = Hand()
    windows = MemoryWindows(clock)
    rate = Rate(3, 10.0)
    for _ in range(3):
        assert await windows.take("group", rate, 1) == 0.0
        clock.now += 1.0
    await windows.landed("group", rate, 2)  # at 1003: the two oldest (1000, 1001) count from 1003
    # the window: 1002 (on its way), 1003, 1003 — the next room comes when 1002 leaves it, at 1012
    assert await windows.take("group", rate, 1) == 9.0
    await windows.landed("group", rate, 5)  # more answers than sends on their way: only the one left moves
    assert await windows.take("group", rate, 1) == 10.0
    await windows.landed("unknown", rate, 1)  # a bucket never drawn from: nothing to do


async def test_a_token_buckets_spare_send_needs_the_bucket_full_for_a_while() -> None:
    """At a load that uses the refill as it comes (a Slack channel at 1/s), a patient send never takes a
    token: the load would be a send short from then on. A bucket that stayed full has one to spare."""
    clock = Hand()
    windows = MemoryWindows(clock)
    rate, spare = Rate(1, 1.0, burst=2), Rate(1, 1.0)
    assert await windows.take("channel", rate, 1, spare) == 0.0  # never used: full for ever
    assert await windows.take("channel", rate, 1, spare) == 2.0  # just used: full again in 1 s, spare 1 s later
    for _ in range(5):  # the load: one a second
        clock.now += 1.0
        assert await windows.take("channel", rate, 1) == 0.0
        assert await windows.take("channel", rate, 1, spare) > 0
    clock.now += 3.0  # no send for 3 s: full for 2
    assert await windows.take("channel", rate, 1, spare) == 0.0


async def test_a_backlog_goes_out_evenly_once_the_window_is_three_quarters_full() -> None:
    """A quiet group takes a burst; a backlog that keeps the window full goes out one send per `spacing`, not
    in the bursts it first filled the window with."""
    clock = Hand()
    windows = MemoryWindows(clock)
    rate = Rate(8, 60.0, spacing=2.9)
    for _ in range(6):
        assert await windows.take("group", rate, 1) == 0.0  # a burst of three quarters of the count at once
    assert await windows.take("group", rate, 1) == pytest.approx(2.9)
    clock.now += 2.9
    assert await windows.take("group", rate, 1) == 0.0
    clock.now += 2.9
    assert await windows.take("group", rate, 1) == 0.0
    assert await windows.take("group", rate, 1) == pytest.approx(54.2)  # full: the window decides again
    # at 1060 the burst leaves the window: a burst again up to three quarters, then spaced (a backlog's bursts
    # shrink minute by minute until it goes out evenly)
    clock.now = 1060.0
    for _ in range(4):
        assert await windows.take("group", rate, 1) == 0.0
    assert await windows.take("group", rate, 1) == pytest.approx(2.9)


async def test_urgent_sends_and_direct_calls_are_not_spaced() -> None:
    """New sessions' topics and cards and an operator's own calls take whatever room the window has; the outbox's
    backlog behind them is spaced."""
    pacer = Pacer({"group": Rate(4, 60.0, spacing=30.0)})
    loop = asyncio.get_running_loop()
    started = loop.time()
    for _ in range(4):
        await pacer.acquire([Draw("group", "g", urgent=True)], backlog=True)
    assert loop.time() - started < 1.0
    # an operator's own call (not the outbox's backlog) is not spaced either; the backlog is
    direct = Pacer({"group": Rate(4, 60.0, spacing=30.0)})
    for _ in range(4):
        await direct.acquire([Draw("group", "g")])
    assert loop.time() - started < 1.0
    backlog = Pacer({"group": Rate(4, 60.0, spacing=0.2)})
    for _ in range(3):
        await backlog.acquire([Draw("group", "g")], backlog=True)
    before = loop.time()
    await backlog.acquire([Draw("group", "g")], backlog=True)
    assert loop.time() - before >= 0.15


async def test_a_pause_holds_the_whole_bucket() -> None:
    clock = Hand()
    windows = MemoryWindows(clock)
    rate = Rate(30, 1.0)
    await windows.pause("group", 5.0)
    assert await windows.take("group", rate, 1) == 5.0
    assert await windows.take("another", rate, 1) == 0.0
    clock.now += 5.0
    assert await windows.take("group", rate, 1) == 0.0


async def test_waiters_go_in_order_and_urgent_ones_first() -> None:
    pacer = Pacer({"group": Rate(1, 0.05)})
    order: list[str] = []

    async def send(name: str, *, urgent: bool = False) -> None:
        await pacer.acquire([Draw("group", "g", urgent=urgent)])
        order.append(name)

    first = asyncio.create_task(send("first"))
    await asyncio.sleep(0)
    waiting = [asyncio.create_task(send(f"mirror {n}")) for n in range(3)]
    await asyncio.sleep(0)
    card = asyncio.create_task(send("new session", urgent=True))
    await asyncio.gather(first, *waiting, card)
    # "mirror 0" already held the turn (waiting for the window) when the new session came
    assert order == ["first", "mirror 0", "new session", "mirror 1", "mirror 2"]


async def test_a_patient_waiter_lets_later_ones_go_first_until_its_patience_ends() -> None:
    """The notice of a card action takes a send nobody else wants (at a load at the limit it adds no post of
    its own), but a bucket that is never free holds it back for `patience` seconds at most."""
    pacer = Pacer({"group": Rate(1, 0.05)})
    order: list[str] = []

    async def send(name: str, *, patient: bool = False) -> None:
        await pacer.acquire([Draw("group", "g", patient=patient)])
        order.append(name)

    first = asyncio.create_task(send("first"))
    await asyncio.sleep(0)
    holder = asyncio.create_task(send("mirror 0"))  # holds the turn, waiting for the window
    await asyncio.sleep(0)
    notice = asyncio.create_task(send("notice", patient=True))
    await asyncio.sleep(0)
    mirrors = [asyncio.create_task(send(f"mirror {n}")) for n in (1, 2)]
    await asyncio.gather(first, holder, notice, *mirrors)
    assert order == ["first", "mirror 0", "mirror 1", "mirror 2", "notice"]

    # a bucket that stays busy: after its patience the notice queues as it arrived, ahead of later mirrors
    slow = Pacer({"group": Rate(1, 0.2)}, patience=0.3)
    slow_order: list[str] = []

    async def busy(name: str, *, patient: bool = False) -> None:
        await slow.acquire([Draw("group", "g", patient=patient)])
        slow_order.append(name)

    head = asyncio.create_task(busy("head"))
    await asyncio.sleep(0)
    waiting_notice = asyncio.create_task(busy("notice", patient=True))
    later: list[asyncio.Task[None]] = []
    for n in range(6):  # a mirror every 0.1 s: the bucket (one per 0.2 s) is never free
        later.append(asyncio.create_task(busy(f"mirror {n}")))
        await asyncio.sleep(0.1)
    await asyncio.gather(head, waiting_notice, *later)
    assert slow_order.index("notice") < slow_order.index("mirror 5")
    assert slow_order.index("notice") > 0


async def test_a_hurried_patient_waiter_queues_as_it_arrived() -> None:
    """Its session's next post waits behind the notice: the notice stops being patient at once."""
    pacer = Pacer({"group": Rate(1, 0.2)})  # patience: the default 30 s
    order: list[str] = []
    hurry = asyncio.Event()

    async def send(name: str, *, patient: bool = False) -> None:
        await pacer.acquire([Draw("group", "g", patient=patient)], hurry if patient else None)
        order.append(name)

    head = asyncio.create_task(send("head"))
    await asyncio.sleep(0)
    holder = asyncio.create_task(send("holder"))  # holds the turn, waiting for the window
    await asyncio.sleep(0)
    tasks = [head, holder, asyncio.create_task(send("notice", patient=True))]
    for n in range(6):
        tasks.append(asyncio.create_task(send(f"mirror {n}")))
        if n == 1:
            hurry.set()
        await asyncio.sleep(0.1)
    await asyncio.wait_for(asyncio.gather(*tasks), 10)
    assert order.index("notice") <= order.index("mirror 2")


async def test_a_patient_waiter_never_holds_the_turn_while_the_window_is_full() -> None:
    """Nobody waits, but the group's window is full: the notice lets the mirror that comes meanwhile have the
    send that frees first (else, at a load at the limit, it would be a send more than the load)."""
    pacer = Pacer({"group": Rate(2, 0.4)})
    order: list[str] = []

    async def send(name: str, *, patient: bool = False) -> None:
        await pacer.acquire([Draw("group", "g", patient=patient)])
        order.append(name)

    await send("one")
    await send("two")  # the window is full for 0.4 s
    notice = asyncio.create_task(send("notice", patient=True))
    await asyncio.sleep(0.1)
    mirror = asyncio.create_task(send("mirror"))
    await asyncio.wait_for(asyncio.gather(notice, mirror), 10)
    assert order == ["one", "two", "mirror", "notice"]


async def test_a_patient_waiter_leaves_a_per_minute_window_its_last_quarter() -> None:
    """A group's window with room now may need every place later in its minute (a load at the limit): the
    notice takes a place only while the window is at most three quarters full, else it waits (hurried: it goes)."""
    pacer = Pacer({"group": Rate(4, 60.0)}, patience=0.3)
    for _ in range(3):
        await pacer.acquire([Draw("group", "g")])  # 3 of 4: room for one more, but not a spare one
    hurry = asyncio.Event()
    notice = asyncio.create_task(pacer.acquire([Draw("group", "g", patient=True)], hurry))
    await asyncio.sleep(0.1)
    assert not notice.done()
    hurry.set()  # its session's next post queued behind it: it takes the last place
    assert await asyncio.wait_for(notice, 5) is True


async def test_the_outbox_reservation_is_spent_by_the_next_call_and_only_once() -> None:
    pacer = Pacer({"chat": Rate(2, 60.0)})
    draw = Draw("chat", "1")

    async def delivery() -> float:
        await pacer.reserve([draw])
        started = time.monotonic()
        await pacer.spend([draw])  # the reserved send
        return time.monotonic() - started

    assert await asyncio.create_task(delivery()) < 0.05
    assert await asyncio.create_task(delivery()) < 0.05
    # the window (2 per minute) is full: a third reservation would wait, and so would a call without one
    blocked = asyncio.create_task(pacer.spend([draw]))
    await asyncio.sleep(0.1)
    assert not blocked.done()
    blocked.cancel()


async def test_a_cancelled_waiter_does_not_block_the_queue() -> None:
    pacer = Pacer({"chat": Rate(1, 0.1)})
    await pacer.acquire([Draw("chat", "1")])
    gone = asyncio.create_task(pacer.acquire([Draw("chat", "1")]))
    after = asyncio.create_task(pacer.acquire([Draw("chat", "1")]))
    await asyncio.sleep(0.01)
    gone.cancel()
    await asyncio.wait_for(after, timeout=1.0)


async def test_unknown_kinds_and_unlimited_pacers_never_wait() -> None:
    started = time.monotonic()
    for _ in range(50):
        await Pacer.unlimited().acquire([Draw("chat", "1")])
        await Pacer({"chat": Rate(1, 10)}).acquire([Draw("bot", "x")])
    assert time.monotonic() - started < 0.1


class Recorder:
    def __init__(self) -> None:
        self.sent: list[tuple[str, float]] = []
        self.started = time.monotonic()

    async def deliver(self, entry: OutboxEntry, merged: Sequence[OutboxEntry] = ()) -> None:
        assert isinstance(entry.action, Notice)
        self.sent.append((entry.action.text, time.monotonic() - self.started))


async def test_a_paced_conversation_does_not_hold_up_the_others(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "pace.db")
    await store.open()
    try:
        pacer = Pacer({"chat": Rate(1, 0.4)})
        worker = OutboxWorker(store, SystemClock(), OutboxSettings(poll_interval=0.02), pacer=pacer)
        recorder = Recorder()
        worker.register("r", recorder, pace=lambda e: [Draw("chat", e.conversation)])
        entries = [
            OutboxEntry(conversation="busy", route="r", action=Notice(session=1, line_id="x", text=f"busy {n}"))
            for n in range(4)
        ]
        entries += [
            OutboxEntry(conversation=f"quiet {n}", route="r", action=Notice(session=1, line_id="x", text=f"quiet {n}"))
            for n in range(5)
        ]
        await store.outbox_add(entries)
        runner = asyncio.create_task(worker.run())
        for _ in range(200):
            if len(recorder.sent) == 9:
                break
            await asyncio.sleep(0.02)
        worker.stop()
        await runner
        texts = [text for text, _ in recorder.sent]
        assert [t for t in texts if t.startswith("busy")] == ["busy 0", "busy 1", "busy 2", "busy 3"]  # in order
        quiet_done = max(at for text, at in recorder.sent if text.startswith("quiet"))
        busy_done = max(at for text, at in recorder.sent if text.startswith("busy"))
        assert quiet_done < 0.3 < 1.2 <= busy_done  # the quiet chats went through while "busy" was paced
    finally:
        await store.close()


async def test_pace_keys_may_be_looked_up_asynchronously(tmp_path: Path) -> None:
    """A route whose bucket is found in the store (the Slack channel of a session's thread) paces by it."""
    store = SqliteStore(tmp_path / "pace.db")
    await store.open()
    try:
        pacer = Pacer({"channel": Rate(1, 0.3)})
        worker = OutboxWorker(store, SystemClock(), OutboxSettings(poll_interval=0.02), pacer=pacer)
        recorder = Recorder()

        async def channel_of(entry: OutboxEntry) -> list[Draw]:
            await asyncio.sleep(0)
            return [Draw("channel", "C1" if (entry.action.session or 0) % 2 else "C2")]

        worker.register("r", recorder, pace=channel_of)
        await store.outbox_add(
            [
                OutboxEntry(conversation=f"s{n}", route="r", action=Notice(session=n, line_id="x", text=f"{n}"))
                for n in range(1, 7)
            ]
        )
        runner = asyncio.create_task(worker.run())
        for _ in range(200):
            if len(recorder.sent) == 6:
                break
            await asyncio.sleep(0.02)
        worker.stop()
        await runner
        at = dict(recorder.sent)
        assert sorted(at) == ["1", "2", "3", "4", "5", "6"]
        for channel in (["1", "3", "5"], ["2", "4", "6"]):  # three sends per channel: the third waits two periods
            times = [at[n] for n in channel]
            assert max(times) - min(times) >= 0.45
        assert max(at.values()) < 1.0  # the two channels were paced side by side, not one after the other
    finally:
        await store.close()


async def test_a_token_bucket_lets_its_burst_through_then_keeps_the_rate() -> None:
    clock = Hand()
    windows = MemoryWindows(clock)
    rate = Rate(1, 1.0, burst=2)
    assert await windows.take("chat", rate, 1) == 0.0
    assert await windows.take("chat", rate, 1) == 0.0  # the burst
    assert await windows.take("chat", rate, 1) == 1.0  # then one a second
    clock.now += 1.0
    assert await windows.take("chat", rate, 1) == 0.0
    assert await windows.take("chat", rate, 1) == 1.0
    clock.now += 10.0  # a long pause refills the burst, no more
    assert await windows.take("chat", rate, 2) == 0.0
    assert await windows.take("chat", rate, 1) == 1.0
