"""Telegram updates in: stored durably (deduped by update_id) before Telegram gets its 200,
then fed to the aiogram dispatcher in arrival order per chat. Webhook and long polling
share this path; updates stored but not handled before a crash are replayed at start."""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
from typing import Any

from aiogram import Bot, Dispatcher
from aiogram.exceptions import TelegramAPIError, TelegramConflictError
from aiogram.types import Update
from aiogram.types.update import UpdateTypeLookupError
from aiohttp import web
from pydantic import ValidationError

from adapters.telegram.line_bots import LineBots
from core.clock import Clock
from core.config import Config
from core.locks import KeyedLocks
from core.model import InboundRecord
from core.store.base import Store

log = logging.getLogger(__name__)

SOURCE_PREFIX = "telegram:"
ALLOWED_UPDATES = ["message", "edited_message", "callback_query", "my_chat_member"]


def source_of(line_id: str) -> str:
    return f"{SOURCE_PREFIX}{line_id}"


def chat_key(update: dict[str, Any]) -> str:
    """The chat an update belongs to, so that one chat's updates are handled in order."""
    for kind in ("message", "edited_message", "channel_post", "my_chat_member", "chat_member"):
        body = update.get(kind)
        if isinstance(body, dict) and isinstance(body.get("chat"), dict):
            return str(body["chat"].get("id"))
    query = update.get("callback_query")
    if isinstance(query, dict) and isinstance(query.get("from"), dict):
        return f"user:{query['from'].get('id')}"
    return "other"


class TelegramInbound:
    def __init__(self, store: Store, clock: Clock, config: Config, bots: LineBots, dispatcher: Dispatcher):
        self._store = store
        self._clock = clock
        self._config = config
        self._bots = bots
        self._dispatcher = dispatcher
        self._chat_locks = KeyedLocks()
        self._tasks: set[asyncio.Task[None]] = set()
        self.handled = 0
        self.rejected = 0

    # --- accepting ----------------------------------------------------------------------
    async def accept(self, line_id: str, update: dict[str, Any]) -> bool:
        """Store the update and schedule its handling. False when it is a duplicate delivery."""
        update_id = update.get("update_id")
        if not isinstance(update_id, int):
            raise ValueError("update_id missing or not an integer")
        inbound_id = await self._store.inbound_add(source_of(line_id), str(update_id), update, self._clock.now())
        if inbound_id is None:
            log.info("duplicate update %s on line %s ignored", update_id, line_id)
            return False
        self._schedule(InboundRecord(id=inbound_id, source=source_of(line_id), key=str(update_id),
                                     payload=update, created_at=self._clock.now()))
        return True

    def _schedule(self, record: InboundRecord) -> None:
        task = asyncio.create_task(self._handle(record))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def replay_pending(self) -> int:
        """Handle what was stored but not handled before the last stop."""
        count = 0
        for record in await self._store.inbound_pending(limit=10_000):
            if record.source.startswith(SOURCE_PREFIX):
                self._schedule(record)
                count += 1
        return count

    @property
    def busy(self) -> bool:
        return bool(self._tasks)

    async def idle(self) -> None:
        """Wait until every accepted update has been handled (tests, the demo, shutdown)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def _handle(self, record: InboundRecord) -> None:
        line_id = record.source.removeprefix(SOURCE_PREFIX)
        async with self._chat_locks.hold((line_id, chat_key(record.payload))):
            bot = self._bots.get(line_id)
            try:
                if bot is None:
                    log.warning("update for line %s without a Telegram bot dropped", line_id)
                else:
                    await self._feed(bot, line_id, record.payload)
                    self.handled += 1
            except Exception:
                log.exception("update %s of line %s failed; kept for replay", record.key, line_id)
                return
            await self._store.inbound_done(record.id)

    async def _feed(self, bot: Bot, line_id: str, payload: dict[str, Any]) -> None:
        try:
            update = Update.model_validate(payload, context={"bot": bot})
        except ValidationError as err:
            self.rejected += 1
            log.warning("update %s on line %s does not match the Bot API; ignored: %s",
                        payload.get("update_id"), line_id, err.errors()[0].get("msg") if err.errors() else err)
            return
        try:
            update.event_type  # noqa: B018 - raises for update kinds this aiogram does not know
        except UpdateTypeLookupError:
            log.info("update %s on line %s is of a kind linedesk does not use; ignored", update.update_id, line_id)
            return
        await self._dispatcher.feed_update(bot, update, line_id=line_id)

    # --- the webhook route --------------------------------------------------------------
    async def webhook(self, request: web.Request) -> web.Response:
        """POST /telegram/{line_id}: secret checked in constant time; 200 only once stored."""
        line = self._config.line(request.match_info["line_id"])
        if line is None or not line.telegram_token:
            return web.json_response({"ok": False, "error": "unknown line"}, status=404)
        given = request.headers.get("X-Telegram-Bot-Api-Secret-Token", "")
        expected = line.telegram_webhook_secret
        if not expected or not hmac.compare_digest(given.encode(), expected.encode()):
            return web.json_response({"ok": False, "error": "bad secret token"}, status=401)
        try:
            update = json.loads(await request.read())
            if not isinstance(update, dict):
                raise ValueError("an update is a JSON object")
            await self.accept(line.id, update)
        except (ValueError, UnicodeDecodeError) as err:
            return web.json_response({"ok": False, "error": f"malformed update: {err}"}, status=400)
        return web.json_response({"ok": True})

    # --- long polling ---------------------------------------------------------------------
    async def poll(self, line_id: str, *, timeout: int = 25) -> None:
        """getUpdates forever; an update's offset is confirmed only after it is stored."""
        bot = self._bots.get(line_id)
        if bot is None:
            return
        await bot.delete_webhook(drop_pending_updates=False)
        offset: int | None = None
        failures = 0
        while True:
            try:
                updates = await bot.get_updates(offset=offset, timeout=timeout, allowed_updates=ALLOWED_UPDATES,
                                                request_timeout=timeout + 10)
                failures = 0
            except asyncio.CancelledError:
                raise
            except TelegramConflictError:
                log.error("line %s: a webhook is set or another poller runs; retrying", line_id)
                failures += 1
                await asyncio.sleep(min(30.0, 2.0 ** failures))
                continue
            except (TelegramAPIError, OSError, TimeoutError) as err:
                failures += 1
                log.warning("line %s: getUpdates failed (%s); retrying", line_id, err)
                await asyncio.sleep(min(30.0, 0.5 * 2.0 ** failures))
                continue
            for update in updates:
                await self.accept(line_id, update.model_dump(mode="json", exclude_none=True, by_alias=True))
                offset = update.update_id + 1
