"""Stalls of an asyncio loop, named — a diagnostic for the relay's p99, not a benchmark.

A beat on the loop every `tick`; a watchdog thread that, while the beat is late by more than `threshold`,
samples the loop thread's stack. A late beat closes the stall: when it began (wall clock), how long it
lasted, how much CPU the loop's thread spent in it (about as long as the stall: the loop was busy; much less:
it was blocked in a system call, or not scheduled at all), and the stacks sampled during it.

    python benchmarks/stalls.py STALLS.jsonl serve --config linedesk.toml

runs `linedesk serve` with the watch on, one JSON line per stall appended to STALLS.jsonl as it ends.
"""

from __future__ import annotations

import asyncio
import gc
import json
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


@dataclass
class Stall:
    began: float
    """Wall clock (`time.time()`) of the beat that came late."""
    seconds: float
    cpu_seconds: float
    """CPU of the loop's thread from the last beat on time to the late one."""
    stacks: Counter[str] = field(default_factory=Counter)
    gc_seconds: float = 0.0
    """Time in the garbage collector during the stall (any generation)."""

    def as_dict(self) -> dict[str, Any]:
        return {
            "began": round(self.began, 4),
            "ms": round(self.seconds * 1000, 1),
            "cpu_ms": round(self.cpu_seconds * 1000, 1),
            "gc_ms": round(self.gc_seconds * 1000, 1),
            "stacks": [{"samples": n, "stack": stack} for stack, n in self.stacks.most_common(5)],
        }


def _stack(frame: FrameType | None, depth: int = 14) -> str:
    lines: list[str] = []
    while frame is not None and len(lines) < depth:
        file = frame.f_code.co_filename
        short = str(Path(file).relative_to(ROOT)) if file.startswith(str(ROOT)) else "/".join(file.split("/")[-2:])
        lines.append(f"{frame.f_code.co_qualname} ({short}:{frame.f_lineno})")
        frame = frame.f_back
    return " <- ".join(lines)


class StallWatch:
    def __init__(
        self,
        on_stall: Callable[[Stall], None] | None = None,
        threshold: float = 0.04,
        tick: float = 0.005,
    ):
        self.threshold = threshold
        self.tick = tick
        self.stalls: list[Stall] = []
        self._on_stall = on_stall
        self._loop: asyncio.AbstractEventLoop | None = None
        self._ident = 0
        self._beat = 0.0
        self._cpu = 0.0
        self._samples: Counter[str] = Counter()
        self._gc = 0.0
        """Collector time since the last beat."""
        self._gc_began = 0.0
        self._lock = threading.Lock()
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._watch, name="stall-watch", daemon=True)

    def start(self) -> None:
        """Call on the loop's thread, with the loop running."""
        self._loop = asyncio.get_running_loop()
        self._ident = threading.get_ident()
        self._beat = time.monotonic()
        self._cpu = time.thread_time()
        self._loop.call_later(self.tick, self._on_beat)
        self._thread.start()
        gc.callbacks.append(self._on_gc)

    def stop(self) -> None:
        self._stopped.set()
        if self._on_gc in gc.callbacks:
            gc.callbacks.remove(self._on_gc)

    def _on_gc(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._gc_began = time.perf_counter()
        elif threading.get_ident() == self._ident:
            self._gc += time.perf_counter() - self._gc_began

    def between(self, began: float, ended: float) -> list[Stall]:
        return [s for s in self.stalls if began <= s.began <= ended]

    def _on_beat(self) -> None:
        now = time.monotonic()
        cpu = time.thread_time()
        late = now - self._beat - self.tick
        if late > self.threshold:
            with self._lock:
                samples, self._samples = self._samples, Counter()
            stall = Stall(time.time() - (now - self._beat), late, cpu - self._cpu, samples, self._gc)
            self.stalls.append(stall)
            if self._on_stall is not None:
                self._on_stall(stall)
        self._beat = now
        self._cpu = time.thread_time()
        self._gc = 0.0
        if not self._stopped.is_set() and self._loop is not None:
            self._loop.call_later(self.tick, self._on_beat)

    def _watch(self) -> None:
        while not self._stopped.wait(self.tick):
            if time.monotonic() - self._beat - self.tick > self.threshold:
                frame = sys._current_frames().get(self._ident)
                stack = _stack(frame)
                with self._lock:
                    self._samples[stack] += 1


@contextmanager
def collector_paused() -> Iterator[None]:
    """This process's garbage collector off for a measured phase, its objects so far frozen.

    The benchmark process holds the sandboxes' records (tens of thousands of messages): a full collection
    there stops its loop for 180–270 ms, and every message in flight then looks late (found with `--stalls`).
    The process is the instrument, not the program under test; the phase's garbage is collected after it."""
    gc.collect()
    gc.freeze()
    gc.disable()
    try:
        yield
    finally:
        gc.enable()
        gc.unfreeze()
        gc.collect()


def summary(stalls: list[Stall]) -> dict[str, Any]:
    return {
        "count": len(stalls),
        "worst_ms": round(max((s.seconds for s in stalls), default=0.0) * 1000, 1),
        "stalls": [s.as_dict() for s in sorted(stalls, key=lambda s: -s.seconds)[:8]],
    }


def read_stalls(path: Path) -> list[Stall]:
    if not path.exists():
        return []
    out = []
    for line in path.read_text().splitlines():
        d = json.loads(line)
        stacks: Counter[str] = Counter({s["stack"]: s["samples"] for s in d["stacks"]})
        out.append(Stall(d["began"], d["ms"] / 1000, d["cpu_ms"] / 1000, stacks, d["gc_ms"] / 1000))
    return out


def main() -> int:
    from bots.cli import main as cli_main

    out = Path(sys.argv[1])

    def append(stall: Stall) -> None:
        with out.open("a") as f:
            f.write(json.dumps(stall.as_dict()) + "\n")

    original_run = asyncio.run

    def run(main: Any, **kwargs: Any) -> Any:
        async def watched() -> Any:
            watch = StallWatch(append)
            watch.start()
            try:
                return await main
            finally:
                watch.stop()

        return original_run(watched(), **kwargs)

    asyncio.run = run
    return cli_main(sys.argv[2:])


if __name__ == "__main__":
    raise SystemExit(main())
