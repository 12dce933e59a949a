"""`linedesk serve` that counts its store calls — a diagnostic for the profile, not a benchmark.

    python benchmarks/storecount.py COUNTS.json serve --config linedesk.toml

Runs the ordinary CLI, with every public coroutine method of the store it opens wrapped in a counter
(only the outermost call counts: a store method calling another one is one round trip from linedesk's
point of view), in total, by the linedesk function that called (`method <- caller`) and with the
wall time spent in each (`method seconds`). SIGUSR1
writes the counts so far to COUNTS.json; so does the exit. SIGUSR2 writes where each asyncio task
waits (stacks, grouped) to COUNTS.tasks.txt.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import inspect
import json
import signal
import sys
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from pathlib import Path
from types import CodeType, FrameType
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import bots.app
from bots.cli import main as cli_main
from core.store import Store, open_store

COUNTS: Counter[str] = Counter()
SECONDS: dict[str, float] = {}
"""Wall time spent in each method (awaiting included: a store lock, the SQLite thread, Redis)."""
_INSIDE: contextvars.ContextVar[bool] = contextvars.ContextVar("inside_store", default=False)


def _counted(name: str, method: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
    @functools.wraps(method)
    async def wrapper(*args: Any, **kwargs: Any) -> Any:
        if _INSIDE.get():
            return await method(*args, **kwargs)
        COUNTS[name] += 1
        COUNTS[f"{name} <- {_caller()}"] += 1
        token = _INSIDE.set(True)
        began = time.perf_counter()
        try:
            return await method(*args, **kwargs)
        finally:
            SECONDS[name] = SECONDS.get(name, 0.0) + time.perf_counter() - began
            _INSIDE.reset(token)

    return wrapper


ROOT = Path(__file__).resolve().parents[1]
_PROJECT = tuple(str(ROOT / part) + "/" for part in ("core", "adapters", "bots"))
_STORE = str(ROOT / "core" / "store") + "/"


_LABELS: dict[CodeType, str | None] = {}


def _label(code: CodeType) -> str | None:
    """`function (path)` for linedesk code outside the store, None for anything else (cached)."""
    if code not in _LABELS:
        file = code.co_filename
        inside = file.startswith(_PROJECT) and not file.startswith(_STORE)
        _LABELS[code] = f"{code.co_qualname} ({Path(file).relative_to(ROOT)})" if inside else None
    return _LABELS[code]


def _caller() -> str:
    """The first linedesk function outside the store that made the call."""
    frame: FrameType | None = sys._getframe(2)
    while frame is not None:
        label = _label(frame.f_code)
        if label is not None:
            return label
        frame = frame.f_back
    return "?"


def counting_store(url: str, base_dir: Path | None = None) -> Store:
    store = open_store(url, base_dir)
    for name in dir(type(store)):
        if name.startswith("_") or name in ("open", "close"):
            continue
        if inspect.iscoroutinefunction(inspect.getattr_static(type(store), name, None)):
            setattr(store, name, _counted(name, getattr(store, name)))
    return store


def main() -> int:
    out = Path(sys.argv[1])

    def dump(*_: object) -> None:
        seconds = {f"{name} seconds": round(value, 6) for name, value in SECONDS.items()}
        out.write_text(json.dumps({**COUNTS, **seconds}, sort_keys=True))

    bots.app.open_store = counting_store
    original_run = asyncio.run

    def dump_tasks(*_: object) -> None:
        """SIGUSR2: where every asyncio task waits, grouped by stack (COUNTS.json's name + .tasks.txt)."""
        stacks: Counter[str] = Counter()
        for task in asyncio.all_tasks():
            lines: list[str] = []
            awaited: Any = task.get_coro()
            while awaited is not None and len(lines) < 40:  # follow the await chain down to the innermost
                frame = getattr(awaited, "cr_frame", None) or getattr(awaited, "ag_frame", None)
                if frame is not None:
                    lines.append(f"  {frame.f_code.co_qualname} ({frame.f_code.co_filename}:{frame.f_lineno})")
                else:
                    lines.append(f"  <{type(awaited).__name__}>")
                awaited = getattr(awaited, "cr_await", None) or getattr(awaited, "ag_await", None)
            stacks["\n".join(lines)] += 1
        text = "\n".join(f"{n} task(s):\n{stack}\n" for stack, n in stacks.most_common())
        out.with_suffix(".tasks.txt").write_text(text)

    def run(main: Any, **kwargs: Any) -> Any:
        async def with_signal() -> Any:
            asyncio.get_running_loop().add_signal_handler(signal.SIGUSR1, dump)
            asyncio.get_running_loop().add_signal_handler(signal.SIGUSR2, dump_tasks)
            return await main

        return original_run(with_signal(), **kwargs)

    asyncio.run = run
    try:
        return cli_main(sys.argv[2:])
    finally:
        dump()


if __name__ == "__main__":
    raise SystemExit(main())
