"""What every load benchmark shares: the sandboxes in this process, the programs under test as
subprocesses, the load generator, statistics, the profiler and the result files.

The benchmark process holds both sandboxes (Telegram Bot API, Slack Web API) and the load generator;
each program under test (`linedesk serve`, a bare aiogram echo bot, a python-telegram-bot echo bot)
runs as its own subprocess, so it has a core of its own on a 2-core machine and its CPU time can be read.
A message is tagged `m<seq>x` in its text; the sandboxes note the moment a tagged text arrives
(`chat.postMessage` in a Slack thread, `sendMessage` at Telegram), on the same clock the load
generator used when it posted the update.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import math
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import aiohttp

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from sandboxes.limits import PLATFORM_LIMITS, Limits  # noqa: E402
from sandboxes.rig import DESK_CHANNEL, Sandboxes, free_port  # noqa: E402
from sandboxes.rig import SUPPORT_TOKEN as TOKEN  # noqa: E402
from sandboxes.rig import WEBHOOK_SECRET as SECRET  # noqa: E402
from sandboxes.telegram import BotState, Params  # noqa: E402
from tests.support.bpmn import block, user_task, wait_client, write_process  # noqa: E402
from tests.support.bpmn import field as form_field  # noqa: E402

PYTHON = sys.executable
FIRST_CLIENT = 10_000_000
TAG = re.compile(r"\bm(\d+)x\b")

CONFIG = """
[processes]
dir = "{processes}"

[delivery]
pace = {pace}
lease = {lease}

[[lines]]
id = "support"
name = "Support"
telegram_token = "{token}"
telegram_webhook_secret = "{secret}"
{desks}
greeting = "Hello! An operator will answer shortly."
{autostart}
{operators}
"""

OPERATOR = """
[[operators]]
id = "op{n:02d}"
name = "Operator {n}"
slack_user = "U0OP{n:04d}"
{telegram}lines = ["support"]
"""


def operator_slack(n: int) -> str:
    return f"U0OP{n:04d}"


def operator_telegram(n: int) -> int:
    """Operator number `n`'s Telegram user id (operators have one where the config gives them a Telegram desk)."""
    return 900_000 + n


def desks_config(desk_channels: Sequence[str], telegram_desk: int | None) -> str:
    """The support line's desks: one Slack channel (`slack_desk_channel`), several (`slack_desk_channels`) or
    none, and a Telegram forum group (`telegram_desk_chat`) or none."""
    lines = []
    if len(desk_channels) == 1:
        lines.append(f'slack_desk_channel = "{desk_channels[0]}"')
    elif desk_channels:
        lines.append(f"slack_desk_channels = {json.dumps(list(desk_channels))}")
    if telegram_desk is not None:
        lines.append(f"telegram_desk_chat = {telegram_desk}")
    return "\n".join(lines)


def write_processes(folder: Path) -> Path:
    """The benchmark catalog: `quick` (a form, then a reply) and `wait_reply` (waits for the client's next
    message: auto-started on `session.created`, it stays parked after the message that opened the session)."""
    processes = folder / "processes"
    write_process(
        processes,
        "quick.bpmn",
        "quick",
        "Quick answer",
        user_task("Answer", form_field("answer", "string", required=True)),
        block("linedesk.reply", text="{answer}"),
    )
    write_process(
        processes,
        "wait_reply.bpmn",
        "wait_reply",
        "Wait for the client",
        wait_client(),
        block("linedesk.reply", text="thanks"),
    )
    return processes


# --- statistics ---------------------------------------------------------------------------------------


def percentile(values: Sequence[float], share: float) -> float:
    """Nearest-rank percentile (`share` in 0..1); 0.0 for no values."""
    if not values:
        return 0.0
    ordered = sorted(values)
    rank = max(1, min(len(ordered), math.ceil(share * len(ordered) - 1e-9)))
    return ordered[rank - 1]


def latency_summary(seconds: Sequence[float], prefix: str = "") -> dict[str, float]:
    return {
        f"{prefix}p50_ms": percentile(seconds, 0.50) * 1000,
        f"{prefix}p95_ms": percentile(seconds, 0.95) * 1000,
        f"{prefix}p99_ms": percentile(seconds, 0.99) * 1000,
        f"{prefix}max_ms": (max(seconds) if seconds else 0.0) * 1000,
    }


# --- the sandboxes and what arrives at them ------------------------------------------------------------


class Stage(Sandboxes):
    """Both sandboxes (the rig's, `sandboxes.rig.Sandboxes`: the support bot and its Slack desk channel),
    started in this process with the benchmark's operators, and the arrival of tagged texts noted."""

    def __init__(self, *, limits: Limits = PLATFORM_LIMITS) -> None:
        super().__init__(record_calls=False, webhook_timeout=30.0, limits=limits)
        self.operators = 1
        self.arrived: dict[int, float] = {}
        self.duplicates = 0
        self._pending: set[int] = set()
        self._all_in = asyncio.Event()
        self.modals: dict[str, float] = {}
        """Slack user → when views.open last reached the sandbox for them."""
        self._modal_waiters: dict[str, asyncio.Future[float]] = {}
        self._clients: dict[int, dict[str, Any]] = {}

    async def start(self, operators: int = 1) -> None:
        self.operators = operators
        await self.start_sandboxes()
        self._hook_slack()
        self._hook_telegram()

    def cast(self) -> None:
        super().cast()
        for n in range(1, self.operators + 1):
            self.slack.add_user(operator_slack(n), f"op{n:02d}", display_name=f"Operator {n}")

    async def stop(self) -> None:
        await self.stop_sandboxes()

    def _hook_slack(self) -> None:
        workspace = self.slack.workspace
        post_bot = workspace.post_bot

        def noted_post(channel: Any, text: str, blocks: Any = None, thread_ts: str | None = None, **fields: Any) -> Any:
            message = post_bot(channel, text, blocks, thread_ts, **fields)
            if thread_ts:
                self._arrive(text)
            return message

        setattr(workspace, "post_bot", noted_post)  # noqa: B010 — an instance attribute, on purpose
        views = workspace.views
        open_view = views.open

        def noted_open(user_id: str, payload: Any) -> Any:
            view = open_view(user_id, payload)
            now = time.perf_counter()
            self.modals[user_id] = now
            waiter = self._modal_waiters.pop(user_id, None)
            if waiter is not None and not waiter.done():
                waiter.set_result(now)
            return view

        setattr(views, "open", noted_open)  # noqa: B010

    def _hook_telegram(self) -> None:
        methods = self.telegram.api.methods
        original = methods["sendmessage"]

        async def noted_send(bot: BotState, params: Params) -> Any:
            result = await original.handler(bot, params)
            self._arrive(str(params.values.get("text", "")))
            return result

        methods["sendmessage"] = dataclasses.replace(original, handler=noted_send)

    def _arrive(self, text: str) -> None:
        now = time.perf_counter()
        for match in TAG.finditer(text):
            seq = int(match.group(1))
            if seq in self.arrived:
                self.duplicates += 1
                continue
            self.arrived[seq] = now
            if seq in self._pending:
                self._pending.discard(seq)
                if not self._pending:
                    self._all_in.set()

    def expect(self, seqs: Iterable[int]) -> None:
        """Watch for these tags; `all_arrived` returns once each has arrived."""
        self._pending = {s for s in seqs if s not in self.arrived}
        self._all_in = asyncio.Event()
        if not self._pending:
            self._all_in.set()

    async def all_arrived(self, timeout: float) -> int:
        """Wait for the expected tags; returns how many are still missing after `timeout`."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._all_in.wait(), timeout)
        return len(self._pending)

    def modal_waiter(self, user_id: str) -> asyncio.Future[float]:
        future: asyncio.Future[float] = asyncio.get_running_loop().create_future()
        self._modal_waiters[user_id] = future
        return future

    # --- clients and their updates --------------------------------------------------------------------
    def client(self, index: int) -> dict[str, Any]:
        """Client number `index` (a Telegram user with a private chat with the bot)."""
        user = self._clients.get(index)
        if user is None:
            user = self.telegram.user(FIRST_CLIENT + index, f"Client {index}")
            self.telegram.open_private_chat(TOKEN, user)
            self._clients[index] = user
        return user

    def update(self, client: int, text: str) -> bytes:
        """A Telegram update: client number `client` writes `text` to the bot (stored in the sandbox's chat)."""
        update = self.telegram.text_update(TOKEN, self.client(client), text)
        return json.dumps(update, ensure_ascii=False, separators=(",", ":")).encode()

    def forget_history(self) -> None:
        """Drop what the sandboxes recorded (calls, messages) to keep the benchmark process small."""
        self.slack.clear_calls()
        self.telegram.clear_calls()


# --- programs under test --------------------------------------------------------------------------------


class Program:
    """A program under test, as a subprocess, ready once `ready_url` answers 200."""

    def __init__(self, name: str, argv: list[str], ready_url: str, log_path: Path, env: dict[str, str] | None = None):
        self.name = name
        self.argv = argv
        self.ready_url = ready_url
        self.log_path = log_path
        self.env = env
        self.process: subprocess.Popen[bytes] | None = None
        self.counts_path: Path | None = None

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def spawn(self) -> subprocess.Popen[bytes]:
        """Start the subprocess (its output goes to `log_path`); `start` also waits until it is ready."""
        env = {k: v for k, v in os.environ.items() if not k.startswith(("LINEDESK_", "TELEGRAM_", "SLACK_"))}
        env.update(self.env or {})
        env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(self.argv, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
        return self.process

    async def start(self, timeout: float = 60.0) -> None:
        self.process = self.spawn()
        deadline = time.monotonic() + timeout
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=2)) as http:
            while time.monotonic() < deadline:
                if self.process.poll() is not None:
                    raise RuntimeError(f"{self.name} exited with {self.process.returncode}:\n{self.log_tail()}")
                with contextlib.suppress(aiohttp.ClientError, TimeoutError):
                    async with http.get(self.ready_url) as response:
                        if response.status == 200:
                            return
                await asyncio.sleep(0.1)
        self.stop()
        raise RuntimeError(f"{self.name} was not ready within {timeout:.0f} s:\n{self.log_tail()}")

    def stop(self, timeout: float = 20.0) -> int | None:
        """SIGTERM, then SIGKILL after `timeout`; returns the exit code."""
        if self.process is None:
            return None
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return self.process.returncode

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def cpu_seconds(self) -> float:
        """User + system CPU time of the subprocess so far (every thread)."""
        try:
            fields = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            return 0.0
        ticks = os.sysconf("SC_CLK_TCK")
        return (int(fields[11]) + int(fields[12])) / ticks

    async def store_counts(self) -> dict[str, int]:
        """Store calls so far, by method (only for a program started through `storecount.py`)."""
        if self.counts_path is None or self.process is None or self.process.poll() is not None:
            return {}
        before = self.counts_path.stat().st_mtime_ns if self.counts_path.exists() else 0
        self.process.send_signal(signal.SIGUSR1)
        for _ in range(100):
            await asyncio.sleep(0.02)
            if self.counts_path.exists() and self.counts_path.stat().st_mtime_ns != before:
                break
        await asyncio.sleep(0.02)
        try:
            counts: dict[str, int] = json.loads(self.counts_path.read_text())
        except (OSError, ValueError):
            return {}
        return counts

    def rss_bytes(self) -> int:
        try:
            for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
        except OSError:
            pass
        return 0


def linedesk_config(
    stage: Stage,
    workdir: Path,
    port: int,
    store_url: str,
    *,
    operators: int = 1,
    autostart: str | None = None,
    lease: float = 15.0,
    pace: bool = False,
    desk_channels: Sequence[str] = (DESK_CHANNEL,),
    telegram_desk: int | None = None,
) -> Path:
    """Write a config for one `linedesk serve` on `port` and return its path. `pace`: `[delivery] pace` (on
    where the sandboxes enforce their limits); `desk_channels`, `telegram_desk`: the support line's desks
    (operators get Telegram users, `operator_telegram`, where it has a Telegram desk)."""
    processes = workdir / "processes"
    if not processes.is_dir():
        write_processes(workdir)
    rule = (
        f'\n  [[lines.autostart]]\n  event = "session.created"\n  process = "{autostart}"\n  enabled = true\n'
        if autostart
        else ""
    )
    text = stage.platforms_config(port, store_url) + CONFIG.format(
        processes=processes,
        lease=lease,
        pace="true" if pace else "false",
        token=TOKEN,
        secret=SECRET,
        desks=desks_config(desk_channels, telegram_desk),
        autostart=rule,
        operators="".join(
            OPERATOR.format(
                n=n, telegram=f"telegram_user = {operator_telegram(n)}\n" if telegram_desk is not None else ""
            )
            for n in range(1, operators + 1)
        ),
    )
    path = workdir / f"linedesk-{port}.toml"
    path.write_text(text)
    return path


def linedesk_program(
    stage: Stage,
    workdir: Path,
    store_url: str,
    *,
    operators: int = 1,
    autostart: str | None = None,
    name: str = "linedesk",
    lease: float = 15.0,
    count_store: bool = False,
    pace: bool = False,
    desk_channels: Sequence[str] = (DESK_CHANNEL,),
    telegram_desk: int | None = None,
    stalls: Path | None = None,
) -> tuple[Program, str]:
    """`linedesk serve` on a free port; returns the program and its Telegram webhook URL (its Slack events URL is
    `slack_events_url` of it). `count_store`: through `storecount.py`, which counts store calls (see
    `Program.store_counts`); `stalls`: through `stalls.py`, which appends the loop's stalls to this file (not
    with `count_store`); `pace`, `desk_channels`, `telegram_desk`: see `linedesk_config`."""
    port = free_port()
    config = linedesk_config(
        stage,
        workdir,
        port,
        store_url,
        operators=operators,
        autostart=autostart,
        lease=lease,
        pace=pace,
        desk_channels=desk_channels,
        telegram_desk=telegram_desk,
    )
    counts = workdir / f"store-calls-{port}.json"
    launcher = ["-m", "bots.cli"]
    if count_store:
        launcher = [str(ROOT / "benchmarks" / "storecount.py"), str(counts)]
    elif stalls is not None:
        launcher = [str(ROOT / "benchmarks" / "stalls.py"), str(stalls)]
    program = Program(
        name,
        [PYTHON, *launcher, "serve", "--config", str(config)],
        f"http://127.0.0.1:{port}/readyz",
        workdir / f"{name}-{port}.log",
    )
    program.counts_path = counts if count_store else None
    return program, f"http://127.0.0.1:{port}/telegram/support"


def slack_events_url(telegram_webhook: str) -> str:
    """linedesk's Slack events URL, from the Telegram webhook URL `linedesk_program` returned."""
    return telegram_webhook.rsplit("/telegram/", 1)[0] + "/slack/events"


def echo_program(kind: str, stage: Stage, workdir: Path) -> tuple[Program, str]:
    """A bare echo bot (`aiogram` or `ptb`) on a free port; returns the program and its webhook URL."""
    port = free_port()
    argv = [
        PYTHON,
        str(ROOT / "benchmarks" / "echo_bots.py"),
        kind,
        "--port",
        str(port),
        "--api",
        stage.telegram.base_url,
        "--token",
        TOKEN,
        "--secret",
        SECRET,
    ]
    program = Program(f"{kind} echo", argv, f"http://127.0.0.1:{port}/healthz", workdir / f"{kind}-{port}.log")
    return program, f"http://127.0.0.1:{port}/telegram"


from benchmarks.stores import (  # noqa: E402 — the stores' helpers, kept importable from here
    REDIS_POOL,
    REDIS_URL,
    redis_answers,
    redis_cleanup,
    redis_cpu_seconds,
    redis_prefix,
    redis_url,
    sqlite_url,
)

__all__ = [
    "REDIS_POOL",
    "REDIS_URL",
    "redis_answers",
    "redis_cleanup",
    "redis_cpu_seconds",
    "redis_prefix",
    "redis_url",
    "sqlite_url",
]
