"""Plumbing shared by the fault tests: servers in subprocesses, a private Redis, the sandboxes,
a driver for a linedesk on a ManualClock, a 429 storm, and readers of what the desk and clients see.

Everything runs on loopback. Nothing here replaces linedesk code: the product runs as it ships
(in-process through `sandboxes.rig.Rig`, or as `linedesk serve` in a subprocess), against the sandboxes.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import itertools
import json
import os
import random
import re
import signal
import sys
import time
import uuid
from collections.abc import Awaitable, Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import aiohttp

from core.clock import ManualClock
from core.model import OutboxEntry, OutboxStatus
from core.store.base import Store
from sandboxes.limits import PLATFORM_LIMITS, Limits
from sandboxes.rig import (
    ANNA,
    BOT_TOKEN,
    DESK_CHANNEL,
    SIGNING_SECRET,
    SUPPORT_TOKEN,
    WEBHOOK_SECRET,
    Rig,
    Sandboxes,
    free_port,
)
from sandboxes.slack import SlackSandbox
from sandboxes.telegram import TelegramSandbox

ROOT = Path(__file__).resolve().parents[2]
PROCESSES = ROOT / "processes"
ADMIN_TOKEN = "faults-admin-token"
CLIENT_BASE = 900_000
"""Telegram user id of client n is CLIENT_BASE + n."""

JSON = dict[str, Any]


# --- figures and waiting ---------------------------------------------------------------------------
def figure(test: str, **values: object) -> str:
    """Print the one-line summary of a test (`FAULT kill9 sqlite: accepted=1000 …`) and return it."""

    def shown(value: object) -> str:
        return f"{value:.2f}" if isinstance(value, float) else str(value)

    line = f"FAULT {test}: " + " ".join(f"{key}={shown(value)}" for key, value in values.items())
    print(line, flush=True)
    return line


async def wait_until(
    check: Callable[[], bool | Awaitable[bool]],
    timeout: float,
    what: str,
    interval: float = 0.05,
    explain: Callable[[], str] | None = None,
    strict: bool = True,
) -> float:
    """Poll `check` until true; returns the seconds it took. After `timeout`: AssertionError (with
    `explain()`), or, not `strict`, a note on stdout and -1 (the test goes on to print its figures and
    then fails on its own assertions)."""
    started = time.monotonic()
    while True:
        result = check()
        if inspect.isawaitable(result):
            result = await result
        if result:
            return time.monotonic() - started
        if time.monotonic() - started > timeout:
            detail = f": {explain()}" if explain is not None else ""
            message = f"timed out after {timeout:.0f}s waiting for {what}{detail}"
            if strict:
                raise AssertionError(message)
            print(f"\n{message}", flush=True)
            return -1.0
        await asyncio.sleep(interval)


# --- clients and what they wrote -------------------------------------------------------------------
def client_name(n: int) -> str:
    return f"C{n:03d}"


def token(client: int, seq: int, kind: str = "c") -> str:
    """The unique text of message `seq` of client `client`: `c007-m0003` (client) or `o007-m0003` (operator)."""
    return f"{kind}{client:03d}-m{seq:04d}"


TOKEN_RE = re.compile(r"\b([co])(\d{3})-m(\d{4})\b")
ROOT_RE = re.compile(r"Session #(\d+) · (C\d{3})")


def root_session(root: JSON) -> int:
    """The session number on a session card (the root message of its thread)."""
    match = ROOT_RE.search(root.get("text", ""))
    assert match is not None, root
    return int(match[1])


def tokens_in(texts: Iterable[str], kind: str = "c") -> list[tuple[int, int]]:
    """(client, seq) of every token of `kind` in `texts`, in order."""
    return [(int(m[2]), int(m[3])) for text in texts for m in TOKEN_RE.finditer(text) if m[1] == kind]


@dataclass
class Tally:
    """Messages of each client as one side shows them: in order, duplicates kept."""

    seen: dict[int, list[int]] = field(default_factory=dict)
    places: dict[int, set[str]] = field(default_factory=dict)
    """client → the threads (root ts) or chats its messages were found in."""

    def add(self, place: str, found: Iterable[tuple[int, int]]) -> None:
        for client, seq in found:
            self.seen.setdefault(client, []).append(seq)
            self.places.setdefault(client, set()).add(place)

    def unique(self) -> set[tuple[int, int]]:
        return {(c, s) for c, seqs in self.seen.items() for s in seqs}

    def total(self) -> int:
        return sum(len(seqs) for seqs in self.seen.values())

    def duplicates(self) -> int:
        return self.total() - len(self.unique())

    def missing(self, expected: Iterable[tuple[int, int]]) -> list[tuple[int, int]]:
        return sorted(set(expected) - self.unique())

    def out_of_order(self) -> dict[int, list[int]]:
        """Clients whose messages, repeats of the message just before dropped, do not go up."""
        bad = {}
        for client, seqs in self.seen.items():
            collapsed = [s for i, s in enumerate(seqs) if i == 0 or s != seqs[i - 1]]
            if any(b <= a for a, b in itertools.pairwise(collapsed)):
                bad[client] = seqs
        return bad

    def problems(self) -> str:
        """The clients whose messages repeat or go out of order, with their whole sequence (for assertion messages)."""
        bad = sorted(set(self.out_of_order()) | {c for c, seqs in self.seen.items() if len(seqs) != len(set(seqs))})
        return "; ".join(f"client {c}: {self.seen[c]}" for c in bad) or "none"

    def split(self) -> dict[int, set[str]]:
        """Clients whose messages are spread over more than one thread/chat."""
        return {c: p for c, p in self.places.items() if len(p) > 1}


def desk_tally(slack: SlackSandbox, channel: str = DESK_CHANNEL, kind: str = "c") -> Tally:
    """What the Slack desk shows: every thread's replies, tokens of `kind` by client."""
    tally = Tally()
    for root in slack.channel_messages(channel):
        tally.add(root["ts"], tokens_in((m.get("text", "") for m in slack.thread(channel, root["ts"])), kind))
    return tally


def desk_roots(slack: SlackSandbox, channel: str = DESK_CHANNEL) -> list[JSON]:
    return [r for r in slack.channel_messages(channel) if ROOT_RE.search(r.get("text", ""))]


def thread_texts(slack: SlackSandbox, root_ts: str, channel: str = DESK_CHANNEL) -> list[str]:
    return [m.get("text", "") for m in slack.thread(channel, root_ts)]


def bot_texts(telegram: TelegramSandbox, chat_id: int, bot: str = SUPPORT_TOKEN) -> list[str]:
    """What the bot wrote in a private chat, as the client sees it."""
    return [m.get("text", "") for m in telegram.chat_messages(bot, chat_id) if m.get("from", {}).get("is_bot")]


def client_tally(telegram: TelegramSandbox, clients: Iterable[int], kind: str = "o") -> Tally:
    tally = Tally()
    for n in clients:
        tally.add(str(n), tokens_in(bot_texts(telegram, CLIENT_BASE + n), kind))
    return tally


# --- the platforms, in the test's process ------------------------------------------------------------
class Platforms(Sandboxes):
    """The Telegram and Slack sandboxes for a `linedesk serve` subprocess, set up as `Rig` sets them up:
    the support bot, the operator Anna, the Slack desk channel."""

    def __init__(self, *, limits: Limits = PLATFORM_LIMITS) -> None:
        super().__init__(limits=limits)
        self._users: dict[int, JSON] = {}

    async def start(self) -> None:
        await self.start_sandboxes()

    def cast(self) -> None:
        super().cast()
        self.telegram.user(ANNA.telegram_user, ANNA.name)
        self.slack.add_user(ANNA.slack_user, ANNA.name.lower(), display_name=ANNA.name)

    async def stop(self) -> None:
        await self.stop_sandboxes()

    def client(self, n: int) -> JSON:
        if n not in self._users:
            self._users[n] = self.telegram.user(CLIENT_BASE + n, client_name(n))
        return self._users[n]

    def update(self, n: int, text: str) -> JSON:
        """Client n writes `text` to the support bot (a fresh update_id)."""
        return self.telegram.text_update(SUPPORT_TOKEN, self.client(n), text)


SERVE_CONFIG = """
[server]
host = "127.0.0.1"
port = {port}
public_url = {public_url}

[store]
url = {store_url}

[telegram]
api_url = {telegram_url}

[slack]
api_url = {slack_url}
bot_token = "{bot_token}"
signing_secret = "{signing_secret}"

[processes]
dir = {processes}

[delivery]
lease = {lease}
pace = {pace}

[[lines]]
id = "support"
name = "Support"
telegram_token = "{support_token}"
telegram_webhook_secret = "{webhook_secret}"
slack_desk_channel = "{desk_channel}"
greeting = "Hello! An operator will answer shortly."
{line_extra}

[[operators]]
id = "anna"
name = "Anna"
slack_user = "{anna_slack}"
telegram_user = {anna_telegram}
lines = ["support"]
admin = true
"""


def serve_config(
    *,
    port: int,
    public_url: str,
    store_url: str,
    platforms: Platforms,
    processes: Path,
    lease: float = 2.0,
    pace: bool = False,
    line_extra: str = "",
) -> str:
    """The config of a `linedesk serve` subprocess: one line (Telegram bot, Slack desk), one operator."""
    return SERVE_CONFIG.format(
        port=port,
        public_url=json.dumps(public_url),
        store_url=json.dumps(store_url),
        telegram_url=json.dumps(platforms.telegram.base_url),
        slack_url=json.dumps(platforms.slack.api_url),
        bot_token=BOT_TOKEN,
        signing_secret=SIGNING_SECRET,
        processes=json.dumps(str(processes)),
        lease=lease,
        pace=str(pace).lower(),
        support_token=SUPPORT_TOKEN,
        webhook_secret=WEBHOOK_SECRET,
        desk_channel=DESK_CHANNEL,
        line_extra=line_extra,
        anna_slack=ANNA.slack_user,
        anna_telegram=ANNA.telegram_user,
    )


# --- linedesk serve, in a subprocess ---------------------------------------------------------------
class ServerProcess:
    """`linedesk serve --config FILE` as a child process; its output goes to `<name>.log` in `workdir`."""

    def __init__(self, name: str, workdir: Path, port: int | None = None):
        self.name = name
        self.workdir = workdir
        self.port = port or free_port()
        self.config_path = workdir / f"{name}.toml"
        self.log_path = workdir / f"{name}.log"
        self.proc: asyncio.subprocess.Process | None = None
        self.starts = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def webhook_url(self) -> str:
        return f"{self.url}/telegram/support"

    @property
    def slack_url(self) -> str:
        return f"{self.url}/slack/events"

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.returncode is None

    def write_config(self, text: str) -> None:
        self.config_path.write_text(text)

    def _env(self) -> dict[str, str]:
        env = {
            k: v for k, v in os.environ.items() if not k.startswith(("LINEDESK_", "TELEGRAM_", "SLACK_", "SUPPORT_"))
        }
        env.update(PYTHONUNBUFFERED="1", LINEDESK_ADMIN_TOKEN=ADMIN_TOKEN, LINEDESK_LOG_FORMAT="text")
        pythonpath = env.get("PYTHONPATH")
        env["PYTHONPATH"] = f"{ROOT}{os.pathsep}{pythonpath}" if pythonpath else str(ROOT)
        return env

    def _open_log(self) -> IO[bytes]:
        log = self.log_path.open("ab")
        log.write(f"\n===== {self.name}: start #{self.starts} at {time.strftime('%H:%M:%S')} =====\n".encode())
        log.flush()
        return log

    async def start(self) -> None:
        assert not self.running, f"{self.name} is already running"
        self.starts += 1
        log = self._open_log()
        try:
            self.proc = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "bots.cli",
                "serve",
                "--config",
                str(self.config_path),
                cwd=str(ROOT),
                env=self._env(),
                stdin=asyncio.subprocess.DEVNULL,
                stdout=log,
                stderr=asyncio.subprocess.STDOUT,
            )
        finally:
            log.close()

    async def get(self, path: str, timeout: float = 5.0) -> tuple[int, str]:
        async with (
            aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=timeout)) as http,
            http.get(f"{self.url}{path}", headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}) as response,
        ):
            return response.status, await response.text()

    async def ready(self) -> bool:
        try:
            status, _ = await self.get("/readyz", timeout=2.0)
        except (aiohttp.ClientError, TimeoutError, OSError):
            return False
        return status == 200

    async def wait_ready(self, timeout: float = 40.0) -> float:
        """Seconds until GET /readyz answers 200; fails (with the log) if the process exits or it takes too long."""
        started = time.monotonic()
        while not await self.ready():
            if self.proc is not None and self.proc.returncode is not None:
                raise AssertionError(f"{self.name} exited with {self.proc.returncode}:\n{self.log_tail()}")
            if time.monotonic() - started > timeout:
                raise AssertionError(f"{self.name} not ready after {timeout:.0f}s:\n{self.log_tail()}")
            await asyncio.sleep(0.1)
        return time.monotonic() - started

    async def kill9(self) -> None:
        assert self.proc is not None
        with contextlib.suppress(ProcessLookupError):
            self.proc.send_signal(signal.SIGKILL)
        await self.proc.wait()

    async def stop(self, grace: float = 10.0) -> None:
        if self.proc is None or self.proc.returncode is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            self.proc.terminate()
        try:
            await asyncio.wait_for(self.proc.wait(), grace)
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                self.proc.kill()
            await self.proc.wait()

    async def metrics(self) -> dict[str, float]:
        """/metrics as {'name{labels}': value}."""
        status, text = await self.get("/metrics")
        assert status == 200, text
        values: dict[str, float] = {}
        for line in text.splitlines():
            if line and not line.startswith("#"):
                name, _, value = line.rpartition(" ")
                with contextlib.suppress(ValueError):
                    values[name] = float(value)
        return values

    async def api(self, path: str) -> Any:
        status, text = await self.get(path)
        assert status == 200, f"GET {path}: {status} {text}"
        return json.loads(text)

    def log_tail(self, lines: int = 60) -> str:
        """The last lines of the log, access-log lines left out."""
        try:
            content = self.log_path.read_text(errors="replace").splitlines()
        except FileNotFoundError:
            return "(no log)"
        return "\n".join([line for line in content if "aiohttp.access" not in line][-lines:])


_SAMPLE = re.compile(r"^(?P<name>[a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(?P<labels>.*)\})?$")


def counters_by_result(metrics: dict[str, float]) -> dict[str, int]:
    """linedesk's counters that have a `result` label, summed over their other labels:
    {"outbound_deliveries.delivered": 173, "inbound_events.handled": 55, …}."""
    found: dict[str, int] = {}
    for key, value in metrics.items():
        match = _SAMPLE.match(key)
        if match is None or not match["name"].startswith("linedesk_") or match["name"].endswith("_created"):
            continue
        labels = dict(re.findall(r'(\w+)="([^"]*)"', match["labels"] or ""))
        if "result" in labels:
            name = f"{match['name'].removeprefix('linedesk_').removesuffix('_total')}.{labels['result']}"
            found[name] = found.get(name, 0) + int(value)
    return dict(sorted(found.items()))


@contextlib.contextmanager
def logs_on_failure(*servers: ServerProcess) -> Iterator[None]:
    """Print the tail of each server's log when the block fails."""
    try:
        yield
    except BaseException:
        for server in servers:
            print(f"\n----- log of {server.name} ({server.log_path}) -----\n{server.log_tail()}", flush=True)
        raise


async def post_update(http: aiohttp.ClientSession, url: str, update: JSON) -> int | None:
    """POST one update to a webhook as Telegram does; the HTTP status, or None when nothing answered."""
    headers = {"Content-Type": "application/json", "X-Telegram-Bot-Api-Secret-Token": WEBHOOK_SECRET}
    try:
        async with http.post(url, data=json.dumps(update), headers=headers) as response:
            await response.read()
            return response.status
    except (aiohttp.ClientError, TimeoutError, OSError):
        return None


# --- Redis --------------------------------------------------------------------------------------------
class RedisServer:
    """A private `redis-server` on a free port, persisting every write (AOF, fsync always) in `workdir`."""

    def __init__(self, workdir: Path):
        self.dir = workdir / "redis"
        self.dir.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.proc: asyncio.subprocess.Process | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    async def start(self, timeout: float = 10.0) -> None:
        self.proc = await asyncio.create_subprocess_exec(
            "redis-server",
            "--port",
            str(self.port),
            "--bind",
            "127.0.0.1",
            "--dir",
            str(self.dir),
            "--appendonly",
            "yes",
            "--appendfsync",
            "always",
            "--save",
            "",
            "--daemonize",
            "no",
            "--logfile",
            str(self.dir / "redis.log"),
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,
        )
        await wait_until(self.ping, timeout, f"redis-server on port {self.port}", interval=0.05)

    async def ping(self) -> bool:
        import redis.asyncio as aioredis

        client = aioredis.Redis(host="127.0.0.1", port=self.port, socket_connect_timeout=0.5)
        try:
            return bool(await client.ping())
        except Exception:
            return False
        finally:
            await client.aclose()

    async def stop(self) -> None:
        """SIGTERM: Redis fsyncs its AOF and exits (nothing is lost: every write was fsynced already)."""
        if self.proc is None or self.proc.returncode is not None:
            return
        self.proc.terminate()
        try:
            await asyncio.wait_for(self.proc.wait(), 10)
        except TimeoutError:
            self.proc.kill()
            await self.proc.wait()


def unique_prefix(kind: str) -> str:
    return f"linedesk-faults-{kind}-{uuid.uuid4().hex[:8]}:"


# --- linedesk in-process, on a ManualClock -------------------------------------------------------------
class OutboxView:
    """The outbox as the store has it (entry ids are consecutive from 1): pending entries and each
    conversation's head. Entries once final (done, dead) are not read again."""

    def __init__(self, store: Store):
        self._store = store
        self._final: set[int] = set()

    async def pending(self) -> list[OutboxEntry]:
        found: list[OutboxEntry] = []
        entry_id, misses = 1, 0
        while misses < 20:
            if entry_id in self._final:
                entry_id += 1
                misses = 0
                continue
            entry = await self._store.outbox_get(entry_id)
            if entry is None:
                misses += 1
            else:
                misses = 0
                if entry.status == OutboxStatus.PENDING:
                    found.append(entry)
                else:
                    self._final.add(entry_id)
            entry_id += 1
        return found

    async def heads(self) -> list[OutboxEntry]:
        heads: dict[str, OutboxEntry] = {}
        for entry in await self.pending():
            if entry.conversation not in heads or (entry.id or 0) < (heads[entry.conversation].id or 0):
                heads[entry.conversation] = entry
        return list(heads.values())


Event = tuple[float, Callable[[], Awaitable[None]]]


class Simulator:
    """Moves a rig's ManualClock from one due moment to the next: to the earliest retry of a conversation's
    head entry, or to the next scripted event (a message typed, a failure lifted) — whichever comes first —
    and lets linedesk finish what is due at each moment before moving on."""

    def __init__(self, rig: Rig, clock: ManualClock):
        assert rig.desk is not None
        self.rig = rig
        self.clock = clock
        self.view = OutboxView(rig.desk.store)
        self.steps = 0

    async def quiet(self, timeout: float = 20.0) -> None:
        """Until inbound events are handled, no delivery runs and no head entry is due now."""
        desk = self.rig.desk
        assert desk is not None
        deadline = time.monotonic() + timeout
        while True:
            await desk.inbound_idle()
            heads = await self.view.heads()
            due = [h for h in heads if h.due_at <= self.clock.now()]
            if not desk.outbox.busy and not due and not desk.intake.busy:
                return
            if due:
                desk.outbox.wake()
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"linedesk did not get quiet: {len(due)} head entries due, "
                    f"outbox busy={desk.outbox.busy}: {[(h.id, h.route, h.last_error) for h in due]}"
                )
            await asyncio.sleep(0.005)

    async def next_due(self) -> float | None:
        heads = await self.view.heads()
        return min((h.due_at for h in heads), default=None)

    async def run(self, events: list[Event], *, max_simulated: float, real_timeout: float = 60.0) -> float:
        """Play `events` (absolute simulated times) and every retry until nothing is pending; returns the
        simulated time at which the last entry went out."""
        events = sorted(events, key=lambda e: e[0])
        limit = self.clock.now() + max_simulated
        real_deadline = time.monotonic() + real_timeout
        while True:
            await self.quiet()
            while events and events[0][0] <= self.clock.now():
                await events.pop(0)[1]()
                await self.quiet()
            due = await self.next_due()
            if due is None and not events:
                return self.clock.now()
            target = min(t for t in (due, events[0][0] if events else None) if t is not None)
            if target > limit:
                pending = await self.view.pending()
                raise AssertionError(
                    f"still {len(pending)} pending after {max_simulated:.0f} simulated seconds: "
                    f"{[(p.id, p.route, p.attempts, p.last_error) for p in pending[:10]]}"
                )
            if time.monotonic() > real_deadline:
                raise AssertionError(f"simulation took longer than {real_timeout:.0f}s of real time")
            if target > self.clock.now():
                self.clock.advance(target - self.clock.now() + 1e-6)
            self.steps += 1


# --- a 429 storm ----------------------------------------------------------------------------------------
class Storm:
    """About `ratio` of the calls of one sandbox method answered 429 (with a retry-after) while it blows.

    The sandboxes fail the next *n* calls of a method (`fail(count=n)`), not a share of them: the storm
    watches the calls the sandbox records and, for each call it sees, arms one more one-shot 429 with
    probability `ratio` (so about `ratio` of the calls meet one).
    """

    def __init__(self, calls: list[Any], method: str, arm: Callable[[], object], *, ratio: float = 0.5, seed: int = 7):
        self._calls = calls
        self._method = method.lower()
        self._arm = arm
        self._ratio = ratio
        self._rng = random.Random(seed)
        self._index = 0
        self._open: list[Any] = []
        self._decided = 0
        self.armed = 0
        self.total = 0
        self.failed = 0
        self._task: asyncio.Task[None] | None = None

    @staticmethod
    def _status(call: Any) -> int | None:
        if hasattr(call, "response") and call.response is None:  # a Slack call not answered yet
            return None
        return int(call.status)

    def _scan(self) -> None:
        new = self._calls[self._index :]
        self._index += len(new)
        self._open.extend(c for c in new if c.method.lower() == self._method)
        still: list[Any] = []
        for call in self._open:
            status = self._status(call)
            if status is None:
                still.append(call)
                continue
            self.total += 1
            self.failed += status == 429
        self._open = still

    def tick(self) -> None:
        self._scan()
        seen = self.total + len(self._open)
        for _ in range(seen - self._decided):  # one draw per call seen: as many 429s armed as would have hit
            if self._rng.random() < self._ratio:
                self._arm()
                self.armed += 1
        self._decided = seen

    async def _blow(self) -> None:
        while True:
            self.tick()
            await asyncio.sleep(0.0005)

    def start(self) -> None:
        self._task = asyncio.create_task(self._blow())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
        self._scan()

    @property
    def share(self) -> float:
        return self.failed / self.total if self.total else 0.0
