"""Pacing keeps each bucket under its rate; the worker keeps other conversations moving meanwhile."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from core.clock import SystemClock
from core.model import OutboxEntry
from core.outbox import OutboxSettings, OutboxWorker
from core.outbox_actions import Notice
from core.pacing import Pacer, Rate
from core.store.sqlite import SqliteStore


async def test_a_bucket_lets_a_burst_through_then_paces() -> None:
    pacer = Pacer({"chat": Rate(3, 0.6)})
    stamps = []
    started = time.monotonic()
    for _ in range(6):
        async with pacer.pace(("chat", "1")):
            stamps.append(time.monotonic() - started)
    assert stamps[2] < 0.1  # the burst
    assert stamps[5] >= 0.45  # then about one per 0.2 s
    other = time.monotonic()
    async with pacer.pace(("chat", "2")):  # another chat has its own bucket
        pass
    assert time.monotonic() - other < 0.05


async def test_unknown_kinds_and_unlimited_pacers_never_wait() -> None:
    started = time.monotonic()
    for _ in range(50):
        async with Pacer.unlimited().pace(("chat", "1")), Pacer({"chat": Rate(1, 10)}).pace(("bot", "x")):
            pass
    assert time.monotonic() - started < 0.1


class Recorder:
    def __init__(self) -> None:
        self.sent: list[tuple[str, float]] = []
        self.started = time.monotonic()

    async def deliver(self, entry: OutboxEntry) -> None:
        assert isinstance(entry.action, Notice)
        self.sent.append((entry.action.text, time.monotonic() - self.started))


async def test_a_paced_conversation_does_not_hold_up_the_others(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "pace.db")
    await store.open()
    try:
        pacer = Pacer({"chat": Rate(1, 0.5)})
        worker = OutboxWorker(store, SystemClock(), OutboxSettings(poll_interval=0.02), pacer=pacer)
        recorder = Recorder()
        worker.register("r", recorder, pace=lambda e: [("chat", e.conversation)])
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

        async def channel_of(entry: OutboxEntry) -> list[tuple[str, str | int]]:
            await asyncio.sleep(0)
            return [("channel", "C1" if (entry.action.session or 0) % 2 else "C2")]

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
