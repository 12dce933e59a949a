"""py-spy around a benchmark phase, and its raw stacks summed up by where the time went."""

import re
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

PYTHON = sys.executable


# --- profiling -------------------------------------------------------------------------------------------------


def py_spy() -> str | None:
    found = shutil.which("py-spy") or str(Path(PYTHON).parent / "py-spy")
    return found if Path(found).exists() else None


class Spy:
    """py-spy sampling a running program (raw collapsed stacks), started and stopped around a phase."""

    def __init__(self, pid: int, out: Path, rate: int = 200, options: Sequence[str] = ("--gil",)):
        self.options = list(options)
        """`--gil`: only the thread holding the GIL is sampled, i.e. where Python spends CPU (waiting in
        epoll or in SQLite's C code with the GIL released is not counted)."""
        self.pid = pid
        self.out = out
        self.rate = rate
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> bool:
        exe = py_spy()
        if exe is None:
            return False
        self.process = subprocess.Popen(
            [
                exe,
                "record",
                "--pid",
                str(self.pid),
                "--rate",
                str(self.rate),
                *self.options,
                "--format",
                "raw",
                "-o",
                str(self.out),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        time.sleep(0.3)
        if self.process.poll() is not None:
            err = self.process.stderr.read().decode(errors="replace") if self.process.stderr else ""
            print(f"py-spy could not attach: {err.strip()[:300]}", file=sys.stderr)
            self.process = None
            return False
        return True

    def stop(self) -> Path | None:
        if self.process is None:
            return None
        self.process.send_signal(signal.SIGINT)
        try:
            self.process.wait(30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        return self.out if self.out.exists() else None


_FRAME = re.compile(r"^(?P<func>.*) \((?P<file>[^():]+)(?::\d+)?\)$")
PROJECT = ("core/", "adapters/", "bots/")
BUCKETS: tuple[tuple[str, str], ...] = (
    ("core/store/", "linedesk store code"),
    ("core/bpmn/", "linedesk engine"),
    ("core/", "linedesk core"),
    ("adapters/", "linedesk adapters"),
    ("bots/", "linedesk bots"),
    ("aiosqlite", "aiosqlite"),
    ("sqlite3", "sqlite3"),
    ("redis/", "redis-py"),
    ("aiohttp/", "aiohttp"),
    ("multidict", "aiohttp"),
    ("yarl", "aiohttp"),
    ("slack_bolt", "slack_bolt"),
    ("slack_sdk", "slack_sdk"),
    ("aiogram", "aiogram"),
    ("pydantic", "pydantic"),
    ("json/", "json"),
    ("logging/", "logging"),
    ("asyncio/", "asyncio"),
    ("SpiffWorkflow", "SpiffWorkflow"),
    ("ssl", "ssl"),
    ("http/", "stdlib http"),
    ("email/", "stdlib email"),
    ("urllib", "urllib"),
    ("uuid", "uuid"),
    ("threading", "threading"),
    ("selectors", "asyncio"),
)


def _parse_frame(frame: str) -> tuple[str, str]:
    match = _FRAME.match(frame)
    if match is None:
        return frame, ""
    return match.group("func"), match.group("file")


def _bucket(file: str) -> str:
    for needle, name in BUCKETS:
        if needle in file:
            return name
    return "other: " + (file.split("/")[0] if "/" in file else file or "?")


def profile_summary(raw: Path, top: int = 15) -> dict[str, Any]:
    """Read py-spy's raw output: where the samples end (self time, by library and by function) and
    which linedesk functions are on the stack (inclusive time)."""
    total = 0
    by_bucket: Counter[str] = Counter()
    self_time: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    for line in raw.read_text(errors="replace").splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        total += count
        frames = [_parse_frame(f) for f in stack.split(";")]
        func, file = frames[-1]
        by_bucket[_bucket(file)] += count
        self_time[f"{func} ({file})"] += count
        seen: set[str] = set()
        for func, file in frames:
            if file.startswith(PROJECT):
                seen.add(f"{func} ({file})")
        for name in seen:
            inclusive[name] += count

    def shares(counter: Counter[str]) -> list[list[Any]]:
        return [[name, round(100.0 * n / total, 1)] for name, n in counter.most_common(top)] if total else []

    return {
        "samples": total,
        "self_by_library_pct": shares(by_bucket),
        "self_by_function_pct": shares(self_time),
        "linedesk_inclusive_pct": shares(inclusive),
    }
