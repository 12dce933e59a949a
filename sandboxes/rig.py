"""The stage the demo and the end-to-end tests play on: linedesk with both sandboxes, in one process.

Everything real except the platforms: linedesk's aiohttp server on a loopback port,
the aiogram and slack_sdk clients talking HTTP to the Telegram and Slack sandboxes,
a store on disk (SQLite in the work folder, or the Redis URL given).
"""

from __future__ import annotations

import errno
import json
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiohttp import web

from bots.app import Linedesk
from core.clock import Clock
from core.config import Config, load_config
from core.links import LinkKind
from core.pacing import Pacer
from core.store.base import Store
from sandboxes.limits import PLATFORM_LIMITS, Limits
from sandboxes.slack import SlackResponse, SlackSandbox
from sandboxes.telegram import TelegramSandbox

SUPPORT_TOKEN = "700001:support-sandbox-token"
SALES_TOKEN = "700002:sales-sandbox-token"
WEBHOOK_SECRET = "support-webhook-secret"
SALES_SECRET = "sales-webhook-secret"
SIGNING_SECRET = "sandbox-signing-secret"
BOT_TOKEN = "xoxb-sandbox-linedesk"
DESK_CHANNEL = "C0DESK01"
DESK_CHANNEL_2 = "C0DESK02"
"""A second desk channel of the support line, for rigs built with `desk_channels=(DESK_CHANNEL, DESK_CHANNEL_2)`."""
SALES_CHANNEL = "C0SALES1"
TELEGRAM_DESK = -1001234567890


@dataclass(frozen=True)
class Person:
    name: str
    slack_user: str = ""
    telegram_user: int = 0


ANNA = Person("Anna", "U0ANNA01", 111111)
BORIS = Person("Boris", "U0BORIS1", 222222)
CARL = Person("Carl", "U0CARL01", 333333)
STRANGER = Person("Stranger", "U0STRANGE")
IVAN = Person("Ivan", telegram_user=501)
OLGA = Person("Olga", telegram_user=502)
PETRA = Person("Petra", "U0PETRA1")

PLATFORMS_CONFIG = """
[server]
host = "127.0.0.1"
port = {port}
public_url = "{public_url}"

[store]
url = "{store_url}"

[telegram]
api_url = "{telegram_url}"

[slack]
api_url = "{slack_url}"
bot_token = "{bot_token}"
signing_secret = "{signing_secret}"
"""
"""The head of every config written against the sandboxes: linedesk on a loopback port, its store, and the
platforms' URLs and secrets (`Sandboxes.platforms_config`)."""

CONFIG = """
[processes]
dir = "{processes}"
http_allow = {http_allow}

[delivery]
lease = {lease}

[[lines]]
id = "support"
name = "Support"
telegram_token = "{support_token}"
telegram_webhook_secret = "{webhook_secret}"
{desk_channels}
telegram_desk_chat = {telegram_desk}
greeting = "Hello! An operator will answer shortly."
{extra_line_config}

[[lines]]
id = "sales"
name = "Sales"
telegram_token = "{sales_token}"
telegram_webhook_secret = "{sales_secret}"
slack_dm = true
slack_desk_channel = "{sales_channel}"

[[operators]]
id = "anna"
name = "Anna"
slack_user = "{anna_slack}"
telegram_user = {anna_telegram}
lines = ["support", "sales"]
admin = true

[[operators]]
id = "carl"
name = "Carl"
slack_user = "{carl_slack}"
telegram_user = {carl_telegram}
lines = ["support"]
groups = ["approvers"]

[[operators]]
id = "boris"
name = "Boris"
slack_user = "{boris_slack}"
telegram_user = {boris_telegram}
lines = ["sales"]
"""


PORT_TRIES = 5


async def link_data(store: Store, kind: LinkKind, ours: str) -> dict[str, Any] | None:
    """What the store keeps of our thing's platform link (a session's Slack root or Telegram topic), or None."""
    link = await store.link_of(kind, ours)
    return link.data if link is not None else None


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Sandboxes:
    """Both sandboxes in this process, set up for the configs written here: the support line's Telegram bot
    and its Slack desk channel. `Rig` adds the rest of its cast; the benchmarks' stage adds its operators.

    The platforms' rate limits are on unless `limits=Limits.off()` is given (`sandboxes.limits`)."""

    def __init__(
        self, *, record_calls: bool = True, webhook_timeout: float = 10.0, limits: Limits = PLATFORM_LIMITS
    ) -> None:
        self.limits = limits
        self.telegram = TelegramSandbox(record_calls=record_calls, webhook_timeout=webhook_timeout, limits=limits)
        self.slack = SlackSandbox(SIGNING_SECRET, bot_token=BOT_TOKEN, limits=limits)

    async def start_sandboxes(self) -> None:
        await self.telegram.start()
        await self.slack.start()
        self.cast()

    def cast(self) -> None:
        """Who is on the platforms once they have started."""
        self.telegram.add_bot(SUPPORT_TOKEN, "support_sandbox_bot", "Support")
        self.slack.add_channel(DESK_CHANNEL, "support-desk")

    def platforms_config(self, port: int, store_url: str) -> str:
        """The config's head for a linedesk on `port` (see `PLATFORMS_CONFIG`); the lines, operators and the
        rest follow it."""
        return PLATFORMS_CONFIG.format(
            port=port,
            public_url=f"http://127.0.0.1:{port}",
            store_url=store_url,
            telegram_url=self.telegram.base_url,
            slack_url=self.slack.api_url,
            bot_token=BOT_TOKEN,
            signing_secret=SIGNING_SECRET,
        )

    async def stop_sandboxes(self) -> None:
        await self.slack.stop()
        await self.telegram.stop()


class Rig(Sandboxes):
    def __init__(
        self,
        workdir: Path,
        processes_dir: Path,
        *,
        store_url: str | None = None,
        outbox_poll: float = 0.05,
        http_allow: tuple[str, ...] = (),
        admin_token: str = "",
        clock: Clock | None = None,
        extra_line_config: str = "",
        pacer: Pacer | None = None,
        lease: float = 15.0,
        desk_channels: tuple[str, ...] = (DESK_CHANNEL,),
        limits: Limits = PLATFORM_LIMITS,
    ):
        self.workdir = workdir
        self.desk_channels = desk_channels
        """The support line's Slack desk channels: one is `slack_desk_channel`, several `slack_desk_channels`
        (each is added to the Slack sandbox)."""
        self.processes_dir = processes_dir
        self.store_url = store_url or f"sqlite:///{workdir / 'linedesk.db'}"
        self.outbox_poll = outbox_poll
        self.http_allow = http_allow
        self.admin_token = admin_token
        self.clock = clock
        self.pacer = pacer if pacer is not None else Pacer() if limits.enabled else Pacer.unlimited()
        """The platforms' pacing where the sandboxes enforce their limits; none with `limits=Limits.off()` (the
        suite should not wait for Telegram's 20/min)."""
        self.extra_line_config = extra_line_config
        self.lease = lease
        """`[delivery] lease`: how long work claimed by a linedesk that died waits before it is taken over."""
        """TOML keys added to the "support" line (e.g. `auto_assign = true`)."""
        super().__init__(limits=limits)
        self.port = free_port()
        self.desk: Linedesk | None = None
        self._runner: web.AppRunner | None = None

    # --- lifecycle ------------------------------------------------------------------------
    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def slack_url(self) -> str:
        return f"{self.url}/slack/events"

    def webhook_url(self, line_id: str = "support") -> str:
        return f"{self.url}/telegram/{line_id}"

    def cast(self) -> None:
        """The support line's bot and desk, the sales line's, the operators and a Slack member who is none."""
        super().cast()
        self.telegram.add_bot(SALES_TOKEN, "sales_sandbox_bot", "Sales")
        for person in (ANNA, BORIS, CARL):
            self.telegram.user(person.telegram_user, person.name)
        self.telegram.forum_group(TELEGRAM_DESK, "Support desk", members=[ANNA.telegram_user, BORIS.telegram_user])
        for person in (ANNA, BORIS, CARL, STRANGER):
            self.slack.add_user(person.slack_user, person.name.lower(), display_name=person.name)
        self.slack.add_channel(SALES_CHANNEL, "sales-desk")
        for n, channel in enumerate(self.desk_channels, start=1):
            if channel not in self.slack.workspace.channels:
                self.slack.add_channel(channel, f"support-desk-{n}")

    async def start(self) -> Linedesk:
        await self.start_sandboxes()
        for attempt in range(PORT_TRIES):
            self.config_path().write_text(self.config_text())
            try:
                return await self.boot()
            except OSError as err:
                # the free port was taken meanwhile (a client socket's ephemeral port, say): pick another
                if err.errno != errno.EADDRINUSE or attempt == PORT_TRIES - 1:
                    raise
                self.port = free_port()
        raise AssertionError("unreachable")

    def config_path(self) -> Path:
        return self.workdir / "linedesk.toml"

    def config_text(self) -> str:
        return self.platforms_config(self.port, self.store_url) + CONFIG.format(
            processes=self.processes_dir,
            http_allow=json.dumps(list(self.http_allow)),
            support_token=SUPPORT_TOKEN,
            webhook_secret=WEBHOOK_SECRET,
            desk_channels=(
                f'slack_desk_channel = "{self.desk_channels[0]}"'
                if len(self.desk_channels) == 1
                else f"slack_desk_channels = {json.dumps(list(self.desk_channels))}"
            ),
            telegram_desk=TELEGRAM_DESK,
            sales_token=SALES_TOKEN,
            sales_secret=SALES_SECRET,
            sales_channel=SALES_CHANNEL,
            anna_slack=ANNA.slack_user,
            anna_telegram=ANNA.telegram_user,
            boris_slack=BORIS.slack_user,
            boris_telegram=BORIS.telegram_user,
            carl_slack=CARL.slack_user,
            carl_telegram=CARL.telegram_user,
            extra_line_config=self.extra_line_config,
            lease=self.lease,
        )

    def load_config(self) -> Config:
        return load_config(self.config_path(), environ={"LINEDESK_ADMIN_TOKEN": self.admin_token})

    async def boot(self) -> Linedesk:
        """Start linedesk (again) on the same config, store and port."""
        self.desk = Linedesk(self.load_config(), outbox_poll=self.outbox_poll, clock=self.clock, pacer=self.pacer)
        self._runner = web.AppRunner(self.desk.web_app())
        await self._runner.setup()
        try:
            await web.TCPSite(self._runner, "127.0.0.1", self.port).start()
        except OSError:
            await self._runner.cleanup()
            self._runner, self.desk = None, None
            raise
        await self.desk.start()
        return self.desk

    async def shutdown(self) -> None:
        """Stop linedesk, keep the sandboxes (a restart is `shutdown()` then `boot()`)."""
        if self.desk is not None:
            await self.desk.stop()
            self.desk = None
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def restart(self) -> Linedesk:
        await self.shutdown()
        return await self.boot()

    async def stop(self) -> None:
        await self.shutdown()
        await self.stop_sandboxes()

    async def settle(self, timeout: float = 10.0) -> None:
        assert self.desk is not None
        await self.desk.settle(timeout)

    # --- people acting ----------------------------------------------------------------------
    def _user(self, person: Person) -> dict[str, Any]:
        return self.telegram.user(person.telegram_user, person.name)

    async def client_writes(self, person: Person, text: str, *, token: str = SUPPORT_TOKEN) -> Any:
        """A Telegram client writes to a line's bot; returns what the webhook answered."""
        update = self.telegram.text_update(token, self._user(person), text)
        result = await self.telegram.deliver(token, update)
        await self.settle()
        return result

    async def slash(self, person: Person, command: str, text: str = "", channel: str = DESK_CHANNEL) -> SlackResponse:
        response = await self.slack.post_slash(self.slack_url, command, text, person.slack_user, channel)
        await self.settle()
        return response

    async def click(self, person: Person, action_id: str, value: str, **kwargs: Any) -> SlackResponse:
        response = await self.slack.click(self.slack_url, person.slack_user, action_id, value, **kwargs)
        await self.settle()
        return response

    async def slack_customer_writes(self, person: Person, text: str, real_name: str | None = None) -> SlackResponse:
        """A Slack workspace member DMs the app (the line with `slack_dm = true` takes it)."""
        if person.slack_user not in self.slack.workspace.users:
            self.slack.add_user(person.slack_user, real_name or person.name, display_name=person.name)
        response = await self.slack.post_message(
            self.slack_url, person.slack_user, self.slack.dm(person.slack_user), text
        )
        await self.settle()
        return response

    def slack_customer_sees(self, person: Person) -> list[str]:
        """The app's messages in the person's DM, as they see them."""
        channel = self.slack.dm(person.slack_user)
        return [m.get("text", "") for m in self.slack.channel_messages(channel) if m.get("user") != person.slack_user]

    async def thread_reply(self, person: Person, session: int, text: str) -> SlackResponse:
        root = await self.thread_root(session)
        response = await self.slack.post_message(
            self.slack_url, person.slack_user, root["channel"], text, thread_ts=root["ts"]
        )
        await self.settle()
        return response

    async def submit(self, person: Person, values: dict[str, dict[str, Any]]) -> SlackResponse:
        modal = self.slack.workspace.views.modal(person.slack_user)
        assert modal is not None, f"{person.name} has no modal open"
        response = await self.slack.submit_view(self.slack_url, person.slack_user, modal.id, values)
        await self.settle()
        return response

    async def topic_says(self, person: Person, session: int | None, text: str) -> None:
        """An operator writes in a session's topic of the Telegram desk (None: the group's General topic)."""
        thread = await self.topic_thread(session) if session is not None else None
        user = self.telegram.user(person.telegram_user, person.name)
        update = self.telegram.text_update(SUPPORT_TOKEN, user, text, chat=TELEGRAM_DESK, thread_id=thread)
        result = await self.telegram.deliver(SUPPORT_TOKEN, update)
        assert result.status == 200, result
        await self.settle()

    async def press(self, person: Person, message: dict[str, Any], data: str) -> dict[str, Any] | None:
        """An operator presses an inline button (its callback data) under a message in the desk group;
        returns how the bot answered the press."""
        user = self.telegram.user(person.telegram_user, person.name)
        update = self.telegram.callback_update(SUPPORT_TOKEN, user, data, message["message_id"], chat_id=TELEGRAM_DESK)
        result = await self.telegram.deliver(SUPPORT_TOKEN, update)
        assert result.status == 200, result
        await self.settle()
        answer: dict[str, Any] | None = self.telegram.callback_answer(SUPPORT_TOKEN, update["callback_query"]["id"])
        return answer

    async def topic_thread(self, session: int) -> int:
        assert self.desk is not None
        link = await self.desk.store.link_of(LinkKind.SESSION_TOPIC, str(session))
        assert link is not None, f"session #{session} has no topic"
        return int(link.data["thread_id"])

    async def topic(self, session: int) -> list[dict[str, Any]]:
        """The messages of a session's topic, as operators see them (edits applied)."""
        return self.telegram.chat_messages(SUPPORT_TOKEN, TELEGRAM_DESK, await self.topic_thread(session))

    # --- what people see ------------------------------------------------------------------------
    async def thread_root(self, session: int) -> dict[str, Any]:
        assert self.desk is not None
        link = await self.desk.store.link_of(LinkKind.SESSION_THREAD, str(session))
        assert link is not None, f"session #{session} has no Slack thread"
        return link.data

    async def desk_thread(self, session: int) -> list[str]:
        root = await self.thread_root(session)
        return [m.get("text", "") for m in self.slack.thread(root["channel"], root["ts"])]

    def client_chat(self, person: Person, token: str = SUPPORT_TOKEN) -> list[str]:
        """The texts in the client's private chat with the bot, as the client sees them (edits applied)."""
        return [m.get("text", "") for m in self.telegram.chat_messages(token, person.telegram_user)]

    def bot_messages(self, person: Person, token: str = SUPPORT_TOKEN) -> list[dict[str, Any]]:
        return [m for m in self.telegram.chat_messages(token, person.telegram_user) if m.get("from", {}).get("is_bot")]

    def ephemeral(self, person: Person) -> list[dict[str, Any]]:
        return self.slack.ephemeral(person.slack_user)
