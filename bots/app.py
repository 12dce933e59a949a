"""The composition root: every part of linedesk, wired once, started and stopped together."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

import aiohttp
from aiogram import Dispatcher
from aiohttp import web
from slack_bolt.async_app import AsyncApp
from slack_sdk.web.async_client import AsyncWebClient

from adapters.http_caller import AiohttpCaller
from adapters.slack.admin import SlackAdmin
from adapters.slack.asks import SlackAsks
from adapters.slack.authorize import SlackAuthorize
from adapters.slack.customers import SLACK_CLIENT, SlackClientDelivery
from adapters.slack.delivery import SlackDeskDelivery
from adapters.slack.desk import SlackDesk, acknowledge_the_rest
from adapters.slack.events import EventInbox, SlackEvents, events_app
from adapters.slack.files import SlackFiles
from adapters.slack.home import SlackHome
from adapters.slack.pacing import channel_draw, paced
from adapters.slack.rating import SlackRating
from adapters.slack.reports import SlackReports
from adapters.slack.saved_replies import SlackSavedReplies
from adapters.slack.shapes import ShapeCheckedApp
from adapters.slack.socket_mode import SlackSocketMode
from adapters.slack.tracking import SlackListeners
from adapters.slack.transcripts import SlackTranscripts
from adapters.telegram.asks import ask_router
from adapters.telegram.client import client_router
from adapters.telegram.delivery import TelegramClientDelivery
from adapters.telegram.desk import desk_router, register_commands
from adapters.telegram.desk_delivery import TelegramDeskDelivery
from adapters.telegram.files import TelegramFiles
from adapters.telegram.inbound import ALLOWED_UPDATES, TelegramInbound
from adapters.telegram.line_bots import LineBots
from adapters.telegram.pacing import bot_draw, chat_draw
from adapters.telegram.rating import rating_router
from bots.http import build_web_app
from bots.metrics import Metrics
from core.autostart import Autostart
from core.blocks import BLOCKS, Blocks
from core.bpmn.catalog import Catalog, load_catalog
from core.client_parts import client_merge
from core.clock import Clock, SystemClock
from core.config import Config
from core.courier import SLACK_DESK, TELEGRAM_DESK, Courier, desk_merge
from core.desk_card import Cards
from core.errors import DeliveryError
from core.events import EventBus, MessageReceived, OperatorStatusChanged, SessionClosed
from core.files import Files
from core.health import Health
from core.intake import Intake
from core.model import OutboxEntry
from core.operators import Operators
from core.outbox import OutboxSettings, OutboxWorker
from core.outbox_actions import Edit, Notice, OpenSession, RefreshCard, ToClient, ToDesk
from core.pacing import Draw, Pacer
from core.processes import Processes, ProcessParts
from core.replies import ReplyParts, SavedReplies
from core.sessions import SessionParts, Sessions
from core.store import Store, StoreError, open_store
from core.transcripts import PREFIX as TRANSCRIPT_FILES
from core.transcripts import Transcripts

log = logging.getLogger(__name__)


class Linedesk:
    def __init__(
        self,
        config: Config,
        *,
        store: Store | None = None,
        clock: Clock | None = None,
        catalog: Catalog | None = None,
        outbox_poll: float = 0.2,
        pacer: Pacer | None = None,
    ):
        self.config = config
        self.clock = clock or SystemClock()
        self.store = store or open_store(config.store_url_resolved(), config.base_dir)
        self.catalog = catalog or load_catalog(config.processes.dir, BLOCKS)
        self.bus = EventBus()
        self.metrics = Metrics()
        self.pacer = pacer if pacer is not None else Pacer() if config.delivery.pace else Pacer.unlimited()
        """Every platform call and every outbox delivery draws from it (`core.pacing`)."""
        self.outbox = OutboxWorker(
            self.store,
            self.clock,
            OutboxSettings(lease=config.delivery.lease, poll_interval=outbox_poll),
            pacer=self.pacer,
            telemetry=self.metrics,
        )
        self.courier = Courier(self.store, config, self.clock, self.outbox.wake)
        self.operators = Operators(self.store, config, self.clock, self.bus)
        self.sessions = Sessions(
            SessionParts(self.store, config, self.clock, self.bus, self.courier, self.operators, self.metrics)
        )
        self.http_caller = AiohttpCaller()
        self.blocks = Blocks(self.store, config, self.clock, self.courier, self.sessions, self.http_caller)
        self.processes = Processes(
            ProcessParts(self.store, config, self.clock, self.courier, self.operators, self.metrics),
            self.catalog,
            self.blocks,
        )
        self.bus.subscribe(OperatorStatusChanged, self.sessions.on_operator_status)
        # waiting instances get a client message before auto-start may start a new one on it
        self.bus.subscribe(MessageReceived, self.processes.on_client_message)
        self.autostart = Autostart(self.store, config, self.clock, self.processes)
        self.autostart.subscribe(self.bus)
        self.bus.subscribe(SessionClosed, self.sessions.rating.on_closed)
        self.replies = SavedReplies(ReplyParts(config, self.sessions, self.operators, self.store, self.clock))
        self.outbox.on_dead(self._undeliverable)
        self.health = Health(self.clock.now)
        self.transcripts = Transcripts(self.store, config, self.clock, self.courier, self.operators)

        self.telegram_bots = LineBots(config, pacer=self.pacer)
        self.cards = Cards(self.store, config)
        """What each session's card shows, drawn by a click or by the outbox (so that one does not redo the other)."""
        # no aiogram FSM: forms keep their state in the store (it survives a restart), and the FSM's middleware
        # cost every update a storage lookup
        self.dispatcher = Dispatcher(
            disable_fsm=True,
            sessions=self.sessions,
            operators=self.operators,
            processes=self.processes,
            store=self.store,
            autostart=self.autostart,
            catalog=self.catalog,
            transcripts=self.transcripts,
            replies=self.replies,
            cards=self.cards,
        )
        # the client's buttons (a process's question, the rating) first: the desk's last router answers every
        # button it does not know
        self.dispatcher.include_routers(ask_router(), rating_router(), desk_router(config), client_router())
        self.intake = Intake(self.store, self.clock, lease=config.delivery.lease, telemetry=self.metrics)
        self.telegram = TelegramInbound(self.intake, config, self.telegram_bots, self.dispatcher)
        self.files = Files()
        self.files.register("telegram", TelegramFiles(self.telegram_bots))
        self.files.register(TRANSCRIPT_FILES, self.transcripts.files)
        self.outbox.register(
            "telegram.client",
            TelegramClientDelivery(self.telegram_bots, self.store, self.files),
            pace=self._telegram_client_pace,
            merge=client_merge,  # replies that waited behind the chat's limit go as one message (§13)
        )
        self.outbox.register(
            TELEGRAM_DESK,
            TelegramDeskDelivery(self.telegram_bots, self.store, config, self.files, cards=self.cards),
            pace=self._telegram_desk_pace,
            merge=desk_merge,
        )

        self.slack: AsyncApp | None = None
        self.slack_events: AsyncApp | None = None
        self.slack_listeners: SlackListeners | None = None
        self.slack_desk: SlackDesk | None = None
        self.slack_admin: SlackAdmin | None = None
        self.slack_home: SlackHome | None = None
        self.slack_reports: SlackReports | None = None
        self.slack_desk_delivery: SlackDeskDelivery | None = None
        self.slack_client: AsyncWebClient | None = None
        self.slack_auth: SlackAuthorize | None = None
        self.slack_socket: SlackSocketMode | None = None
        if config.slack.bot_token:
            self.slack_client = AsyncWebClient(token=config.slack.bot_token, base_url=config.slack.api_url)
            # Bolt's client has no token of its own: SlackAuthorize hands each request the bot token
            # without waiting for auth.test, so acks stay fast when the Web API is slow
            self.slack_auth = SlackAuthorize(self.slack_client)
            self.slack = ShapeCheckedApp(
                client=AsyncWebClient(base_url=config.slack.api_url),
                authorize=self.slack_auth,
                signing_secret=config.slack.signing_secret,
                process_before_response=False,
            )
            self.slack.use(EventInbox(self.intake))
            self.slack_events = events_app(
                AsyncWebClient(base_url=config.slack.api_url), self.slack_auth, config.slack.signing_secret
            )
            SlackEvents(self.intake, self.slack_events)
            # every listener below is registered through one SlackListeners: tracked, the operator
            # middleware, one error handler for refusals (adapters/slack/tracking.py)
            self.slack_listeners = SlackListeners(self.slack, self.operators, events=self.slack_events)
            self.slack_desk = SlackDesk(
                self.slack_listeners,
                store=self.store,
                cards=self.cards,
                sessions=self.sessions,
                processes=self.processes,
                operators=self.operators,
            )
            self.slack_admin = SlackAdmin(
                self.slack_listeners,
                autostart=self.autostart,
                operators=self.operators,
                catalog=self.catalog,
                config=config,
            )
            self.slack_reports = SlackReports(self.slack_listeners, store=self.store, config=config, clock=self.clock)
            self.slack_home = SlackHome(
                self.slack_listeners,
                store=self.store,
                config=config,
                rules=self.slack_admin.rules,
                health=self.health,
                clock=self.clock,
            )
            SlackTranscripts(self.slack_listeners, transcripts=self.transcripts, operators=self.operators)
            SlackAsks(self.slack_listeners, self.processes)  # clients' answers to processes' questions
            SlackSavedReplies(self.slack_listeners, replies=self.replies, store=self.store, operators=self.operators)
            SlackRating(self.slack_listeners, sessions=self.sessions)
            acknowledge_the_rest(self.slack)  # last: Bolt runs the first listener that matches
            acknowledge_the_rest(self.slack_events)
            self.slack_desk_delivery = SlackDeskDelivery(
                self.slack_client, self.store, config, self.files, health=self.health, cards=self.cards
            )
            # paced by the channel the session's thread is in (a store lookup with several desk channels)
            self.outbox.register(
                SLACK_DESK, self.slack_desk_delivery, pace=self.slack_desk_delivery.pace_keys, merge=desk_merge
            )
            self.files.register("slack", SlackFiles(self.slack_client))
            self.outbox.register(
                SLACK_CLIENT,
                SlackClientDelivery(self.slack_client, self.store, self.files),
                pace=self._slack_client_pace,
                merge=client_merge,
            )
            if config.slack.app_token:  # Socket Mode: envelopes over a websocket; /slack/events stays mounted
                self.slack_socket = SlackSocketMode(
                    self.slack, app_token=config.slack.app_token, api_url=config.slack.api_url
                )

        self._tasks: list[asyncio.Task[Any]] = []
        self.started = False

    # --- pacing: which platform limits each outbox route draws from ----------------------------
    # The first platform call of each entry: its turn is taken before it is delivered (`core.pacing`). A new
    # session's topic or thread and card refreshes go ahead of the mirror backlog; edits are not posts.
    def _telegram_client_pace(self, entry: OutboxEntry) -> list[Draw]:
        if not isinstance(entry.action, ToClient):
            return []  # its deliverer refuses it
        bot = self.telegram_bots.get(entry.action.line_id)
        return [chat_draw(bot.id, entry.action.chat_id), bot_draw(bot.id)] if bot is not None else []

    def _slack_client_pace(self, entry: OutboxEntry) -> list[Draw]:
        return [channel_draw(entry.action.chat_id)] if isinstance(entry.action, ToClient) else []

    def _telegram_desk_pace(self, entry: OutboxEntry) -> list[Draw]:
        line = self.config.line(entry.action.line_id) if isinstance(entry.action, ToDesk) else None
        bot = self.telegram_bots.get(line.id) if line is not None else None
        if line is None or line.telegram_desk_chat is None or bot is None:
            return []
        match entry.action:
            case OpenSession():  # the topic and its card: two sends
                return [chat_draw(bot.id, line.telegram_desk_chat, 2, urgent=True), bot_draw(bot.id, 2, urgent=True)]
            case RefreshCard() | Edit():
                return [bot_draw(bot.id, urgent=True)]
            case Notice(aside=True):  # may wait for a free send (`Draw.patient`)
                return [chat_draw(bot.id, line.telegram_desk_chat, patient=True), bot_draw(bot.id)]
            case _:
                return [chat_draw(bot.id, line.telegram_desk_chat), bot_draw(bot.id)]

    # --- lifecycle ------------------------------------------------------------------------
    async def start(self, *, transports: bool = True) -> None:
        """Open the store, pick up what a previous run left, start the workers and, with
        `transports`, the Telegram webhooks or pollers and Slack's Socket Mode connection."""
        await self.store.open()
        try:
            await self.store.serve_alone()  # SQLite: a second process on the file would break the chats' order
        except StoreError:
            await self.store.close()
            raise
        windows = self.store.pacing_windows()
        if windows is not None:  # shared by every instance on the store
            self.pacer.keep_windows_in(windows)
        if self.slack_client is not None and self.slack_client.session is None:
            # one pool for every Web API call, each paced
            self.slack_client.session = aiohttp.ClientSession(middlewares=(paced(self.pacer),))
        if self.slack is not None and self.slack_auth is not None:
            for app in (self.slack, self.slack_events):
                if app is not None:
                    app.client.session = self.slack_client.session if self.slack_client else None
            self.slack_auth.warm_up()
        await self.intake.sweep()  # what was stored but not handled before the last stop
        await self.autostart.reconcile()
        resumed = await self.processes.resume()
        if resumed:
            log.info("resumed %s process instances", resumed)
        self._spawn(self.outbox.run(), "outbox")
        self._spawn(self.intake.run_sweeps(interval=max(1.0, self.config.delivery.lease / 3)), "inbound sweeps")
        self._spawn(self.processes.run_timers(), "timers")
        self._spawn(self._close_idle_sessions(), "idle sessions")
        self._spawn(self._check_service_levels(), "service levels")
        if transports:
            await self._start_telegram()
            if self.slack_socket is not None:
                await self.slack_socket.start()
        self.started = True

    async def _start_telegram(self) -> None:
        public_url = self.config.server.public_url
        for line_id, bot in self.telegram_bots.items():
            line = self.config.line(line_id)
            assert line is not None
            await register_commands(bot, line.telegram_desk_chat)
            if public_url:
                await bot.set_webhook(
                    url=f"{public_url}/telegram/{line_id}",
                    secret_token=line.telegram_webhook_secret or None,
                    allowed_updates=ALLOWED_UPDATES,
                )
            else:
                self._spawn(self.telegram.poll(line_id), f"poll:{line_id}")

    async def _close_idle_sessions(self, interval: float = 30.0) -> None:
        """`auto_close_after`: checked every `interval` seconds; what fell due while stopped closes at start."""
        while True:
            try:
                await self.sessions.close_idle()
            except Exception:
                log.exception("closing idle sessions failed")
            await asyncio.sleep(interval)

    async def _check_service_levels(self, interval: float = 30.0) -> None:
        """SPEC §14: overdue marks and sessions waiting for business hours, checked when the next falls due on
        the clock (at most `interval` apart: sessions opened meanwhile); what fell due while stopped, at start."""
        while True:
            due = None
            try:
                due = await self.sessions.service_levels.check()
            except Exception:
                log.exception("checking service levels failed")
            await asyncio.sleep(interval if due is None else min(interval, max(1.0, due - self.clock.now())))

    def _spawn(self, coro: Any, name: str) -> None:
        task = asyncio.create_task(coro, name=name)

        def done(t: asyncio.Task[Any]) -> None:
            if not t.cancelled() and t.exception() is not None:
                log.error("background task %s died", name, exc_info=t.exception())

        task.add_done_callback(done)
        self._tasks.append(task)

    async def stop(self) -> None:
        if self.slack_socket is not None:  # no new envelopes while stopping
            await self.slack_socket.stop()
        self.outbox.stop()
        self.processes.stop_timers()
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._tasks.clear()
        await self.intake.idle()
        await self.telegram_bots.close()
        await self.http_caller.close()
        if self.slack_auth is not None:
            await self.slack_auth.close()
        if self.slack_client is not None and self.slack_client.session is not None:
            await self.slack_client.session.close()
            self.slack_client.session = None
        for app in (self.slack, self.slack_events):
            if app is not None:
                app.client.session = None
        await self.store.close()
        self.started = False

    async def inbound_idle(self) -> None:
        """Wait until every accepted event is handled and every Slack listener has finished."""
        while True:
            await self.intake.idle()
            if self.slack_listeners is not None:
                await self.slack_listeners.idle()
            if not self.intake.busy:
                return

    async def settle(self, timeout: float = 10.0) -> None:
        """Wait until inbound updates are handled and every outbox entry due before the deadline is
        delivered (tests, the demo). Retries scheduled past the deadline are left waiting."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            await self.inbound_idle()
            await self.outbox.drain(timeout=max(0.1, deadline - loop.time()))
            stats = await self.store.outbox_stats(self.clock.now())
            slack_busy = self.slack_listeners is not None and self.slack_listeners.busy
            later = stats.get("next_due", 0.0) - self.clock.now() > deadline - loop.time()
            if (
                not self.intake.busy
                and not slack_busy
                and not self.outbox.busy
                and (stats.get("pending", 0) == 0 or later)
            ):
                return
            if loop.time() > deadline:
                raise TimeoutError(f"linedesk did not settle: {stats}")
            await asyncio.sleep(0.02)

    async def _undeliverable(self, entry: OutboxEntry, err: DeliveryError) -> None:
        await self.sessions.undeliverable(entry, err.reason, str(err))

    # --- HTTP -------------------------------------------------------------------------------
    def web_app(self) -> web.Application:
        """The server's routes (`bots.http`); `bots.serve` adds linedesk's start and stop to it."""
        return build_web_app(self)
