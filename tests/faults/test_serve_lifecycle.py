"""`linedesk serve` as it runs in production, in a subprocess: SIGTERM stops it cleanly (exit 0, nothing
lost, the store closed so that the next start picks up where it left off), and a store it cannot open —
a wrong Redis password, an SQLite file another `serve` is using — is one line on stderr naming the problem,
not a traceback, with exit code 1."""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from sandboxes.limits import Limits
from sandboxes.rig import free_port
from tests.support.faults import (
    Platforms,
    ServerProcess,
    desk_tally,
    logs_on_failure,
    post_update,
    serve_config,
    token,
    wait_until,
)

PROCESSES = Path(__file__).resolve().parents[2] / "processes"
PASSWORD = 'right"pass\\word'


@pytest.fixture
async def platforms() -> AsyncIterator[Platforms]:
    stage = Platforms(limits=Limits.off())
    await stage.start()
    try:
        yield stage
    finally:
        await stage.stop()


def _server(tmp_path: Path, platforms: Platforms, store_url: str, name: str = "serve") -> ServerProcess:
    server = ServerProcess(name, tmp_path)
    server.write_config(
        serve_config(
            port=server.port, public_url=server.url, store_url=store_url, platforms=platforms, processes=PROCESSES
        )
    )
    return server


READY = 120.0
"""Start-up (imports included) takes seconds, and far more on a busy test machine."""


async def refused(server: ServerProcess) -> tuple[str, list[str]]:
    """Start `server`, which must exit with code 1: its log, and the lines it said the problem in."""
    await server.start()
    assert server.proc is not None
    assert await asyncio.wait_for(server.proc.wait(), READY) == 1
    log = server.log_path.read_text()
    return log, [line for line in log.splitlines() if line.startswith("linedesk serve:")]


async def test_sigterm_stops_linedesk_serve_cleanly_and_the_next_start_goes_on(
    tmp_path: Path, platforms: Platforms
) -> None:
    server = _server(tmp_path, platforms, "sqlite:///serve.db")
    http = aiohttp.ClientSession()
    try:
        with logs_on_failure(server):
            await server.start()
            await server.wait_ready(READY)
            assert await post_update(http, server.webhook_url, platforms.update(1, token(1, 1))) == 200
            await wait_until(lambda: bool(desk_tally(platforms.slack).unique()), 20, "the first message in the desk")
            assert server.proc is not None
            server.proc.send_signal(signal.SIGTERM)
            assert await asyncio.wait_for(server.proc.wait(), 30) == 0
            log = server.log_path.read_text()
            assert "Traceback" not in log and " ERROR " not in log, server.log_tail()
            assert not await server.ready()  # nothing listens any more

            await server.start()  # the same store: it was closed cleanly, the session goes on
            await server.wait_ready(READY)
            assert await post_update(http, server.webhook_url, platforms.update(1, token(1, 2))) == 200
            await wait_until(
                lambda: desk_tally(platforms.slack).unique() == {(1, 1), (1, 2)}, 20, "the second message in the desk"
            )
            assert len(desk_tally(platforms.slack).places[1]) == 1, "one session thread, before and after the stop"
    finally:
        await http.close()
        await server.stop()


async def test_a_wrong_redis_password_is_one_line_on_stderr_and_exit_code_1(
    tmp_path: Path, platforms: Platforms
) -> None:
    port = free_port()
    redis = await asyncio.create_subprocess_exec(
        "redis-server",
        "--port",
        str(port),
        "--bind",
        "127.0.0.1",
        "--requirepass",
        PASSWORD,
        "--save",
        "",
        "--appendonly",
        "no",
        "--dir",
        str(tmp_path),
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )
    server = _server(tmp_path, platforms, f"redis://:wrong-secret@127.0.0.1:{port}/0")
    try:
        await asyncio.sleep(0.5)  # redis-server listening
        log, problems = await refused(server)
        assert problems == [
            f"linedesk serve: the store could not be opened: redis://:***@127.0.0.1:{port}/0: "
            "invalid username-password pair or user is disabled."
        ], log
        assert "Traceback" not in log and "wrong-secret" not in log, log
    finally:
        await server.stop()
        with contextlib.suppress(ProcessLookupError):
            redis.terminate()
        await redis.wait()


async def test_a_second_serve_on_one_sqlite_file_is_refused_and_the_first_goes_on(
    tmp_path: Path, platforms: Platforms
) -> None:
    """SQLite is for one instance: the process serving keeps a chat's events in order with its own locks, so a
    second one on the file would break that order; it is refused at start, naming the first one."""
    first = _server(tmp_path, platforms, "sqlite:///serve.db")
    second = _server(tmp_path, platforms, "sqlite:///serve.db", name="second")
    http = aiohttp.ClientSession()
    try:
        with logs_on_failure(first, second):
            await first.start()
            await first.wait_ready(READY)
            assert first.proc is not None
            log, problems = await refused(second)
            assert problems == [
                f"linedesk serve: the store could not be opened: sqlite:///{tmp_path / 'serve.db'}: "
                f"linedesk serve, pid {first.proc.pid} already serves from this file; an SQLite store is for one "
                "linedesk process (several instances share a Redis store)"
            ], log
            assert "Traceback" not in log, log

            assert await post_update(http, first.webhook_url, platforms.update(1, token(1, 1))) == 200
            await wait_until(lambda: bool(desk_tally(platforms.slack).unique()), 20, "the first one still relays")

            first.proc.send_signal(signal.SIGTERM)
            assert await asyncio.wait_for(first.proc.wait(), 30) == 0
            await second.start()  # the file is free again
            await second.wait_ready(READY)
            assert await post_update(http, second.webhook_url, platforms.update(1, token(1, 2))) == 200
            await wait_until(
                lambda: desk_tally(platforms.slack).unique() == {(1, 1), (1, 2)}, 20, "the second one relays"
            )
    finally:
        await http.close()
        await first.stop()
        await second.stop()
