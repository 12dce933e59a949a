"""`linedesk serve`: the aiohttp server with linedesk's lifecycle in it.

The one place that handles SIGINT and SIGTERM. linedesk's background work (the outbox worker, the intake
sweeps, timers, Telegram pollers, Slack's Socket Mode…) is started and stopped by `Linedesk.start()` and
`Linedesk.stop()`, run here through the web app's `cleanup_ctx`:

* start-up: the port listens while linedesk starts (platform requests meanwhile get 503 and are sent again,
  `bots.http`), so `start()` runs as a task the context opens and `serve` waits for;
* shut-down (a signal): `AppRunner.cleanup()` stops listening, lets requests in flight finish, then the
  context's exit runs `stop()` — workers stopped, the store closed last.

The demo and the test rig call `start()`/`stop()` themselves, around a web app without this context.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import signal
import sys
from collections.abc import AsyncIterator

from aiohttp import web

from bots.app import Linedesk
from bots.http import DESK
from core.store.base import StoreError

log = logging.getLogger("linedesk")

GC_THRESHOLDS = (20_000, 20, 20)
"""`gc.set_threshold` once serving (CPython's default: 700, 10, 10)."""

STARTING = web.AppKey("starting", asyncio.Task[None])
"""`Linedesk.start()` as the lifecycle context runs it; `serve` waits for it."""


async def lifecycle(app: web.Application) -> AsyncIterator[None]:
    """`cleanup_ctx`: linedesk starts with the server and stops after it stopped serving requests."""
    desk = app[DESK]
    assert isinstance(desk, Linedesk)
    app[STARTING] = asyncio.create_task(desk.start(), name="linedesk start")
    try:
        yield
    finally:
        starting = app[STARTING]
        if not starting.done():
            starting.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await starting
        await desk.stop()


def _on_signals(stop: asyncio.Event) -> None:
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):  # Windows: Ctrl-C still raises KeyboardInterrupt
            loop.add_signal_handler(sig, stop.set)


async def serve(desk: Linedesk) -> int:
    """Serve until SIGINT or SIGTERM; 0 after a clean stop, 1 (with one line on stderr) when linedesk
    cannot listen or start."""
    stop = asyncio.Event()
    _on_signals(stop)
    app = desk.web_app()
    app.cleanup_ctx.append(lifecycle)
    runner = web.AppRunner(app)
    await runner.setup()
    try:
        host, port = desk.config.server.host, desk.config.server.port
        try:
            await web.TCPSite(runner, host, port).start()
        except OSError as err:
            return _failed(f"cannot listen on {host}:{port}: {err.strerror or err}")
        problem = await _started(app[STARTING], stop)
        if problem:
            return _failed(problem)
        if not stop.is_set():
            # What start-up made (imported libraries, config, the compiled catalog) lives as long as the process:
            # frozen out of the collector, a full collection walks only what serving creates. Unfrozen, those
            # collections stalled the loop for ~150 ms at a time (the Slack ack p99, benchmarks/README.md).
            gc.collect()
            gc.freeze()
            # The young generation collected every 20,000 allocations instead of 700: each relayed message
            # allocates thousands of short-lived objects that reference counting frees anyway; collected every
            # 700, they cost ~3% of the loop's CPU (finding 15 in benchmarks/README.md).
            gc.set_threshold(*GC_THRESHOLDS)
            log.info("listening on %s:%s", host, port)
        await stop.wait()
        return 0
    finally:
        await runner.cleanup()


async def _started(starting: asyncio.Task[None], stop: asyncio.Event) -> str:
    """Wait until linedesk has started (or a signal came first); what went wrong, in one line, or ""."""
    stopping = asyncio.create_task(stop.wait())
    try:
        await asyncio.wait([starting, stopping], return_when=asyncio.FIRST_COMPLETED)
    finally:
        stopping.cancel()
    if not starting.done() or starting.cancelled() or starting.exception() is None:
        return ""
    err = starting.exception()
    if isinstance(err, StoreError):  # the URL in it has its password masked (`core.config.redact_url`)
        return f"the store could not be opened: {err}"
    log.error("start-up failed", exc_info=err)
    return f"start-up failed: {type(err).__name__}: {err}"


def _failed(problem: str) -> int:
    print(f"linedesk serve: {problem}", file=sys.stderr)
    return 1
