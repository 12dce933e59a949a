"""Telegram updates in: stored durably (deduped by update_id) before Telegram gets its 200,
then fed to the aiogram dispatcher in arrival order per chat (`core.intake`). Webhook and long
polling share this path; updates stored but not handled before a crash are swept up again."""

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
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception_type, stop_never

from adapters.telegram.line_bots import LineBots
from core.config import Config
from core.intake import Intake
from core.model import InboundRecord
from core.retry import Backoff, error
from core.store.base import StoreError

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
    def __init__(self, intake: Intake, config: Config, bots: LineBots, dispatcher: Dispatcher):
        self._intake = intake
        self._config = config
        self._bots = bots
        self._dispatcher = dispatcher
        intake.register(SOURCE_PREFIX, self._handle, lambda record: f"{record.source}:{chat_key(record.payload)}")
        self.handled = 0

    async def accept(self, line_id: str, update: dict[str, Any]) -> bool:
        """Store the update and schedule its handling. False when it is a duplicate delivery."""
        update_id = update.get("update_id")
        if not isinstance(update_id, int) or isinstance(update_id, bool):
            raise ValueError("update_id missing or not an integer")
        return await self._intake.accept(source_of(line_id), str(update_id), update)

    async def _handle(self, record: InboundRecord) -> None:
        line_id = record.source.removeprefix(SOURCE_PREFIX)
        bot = self._bots.get(line_id)
        if bot is None:
            log.warning("update for line %s without a Telegram bot dropped", line_id)
            return
        await self._feed(bot, line_id, record.payload)
        self.handled += 1

    async def _feed(self, bot: Bot, line_id: str, payload: dict[str, Any]) -> None:
        try:
            update = Update.model_validate(payload, context={"bot": bot})
        except ValidationError as err:
            log.warning(
                "update %s on line %s does not match the Bot API; ignored: %s",
                payload.get("update_id"),
                line_id,
                err.errors()[0].get("msg") if err.errors() else err,
            )
            return
        if update.callback_query is not None and not update.callback_query.id:
            # Telegram identifies every query; one without an id could not even be answered
            log.warning("update %s on line %s: a callback query without an id; ignored", update.update_id, line_id)
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
        except RecursionError:  # json.loads of a body nested 100,000 deep: nothing was stored
            return web.json_response({"ok": False, "error": "malformed update: nested too deeply"}, status=400)
        except StoreError as err:  # not stored: Telegram delivers it again later
            log.error("update for line %s not stored (%s); Telegram will retry", line.id, err)
            return web.json_response({"ok": False, "error": "store unavailable, retry later"}, status=503)
        return web.json_response({"ok": True})

    # --- long polling ---------------------------------------------------------------------
    async def poll(self, line_id: str, *, timeout: int = 25) -> None:
        """getUpdates forever; an update's offset is confirmed only after it is stored."""
        bot = self._bots.get(line_id)
        if bot is None:
            return
        await bot.delete_webhook(drop_pending_updates=False)
        offset: int | None = None
        fetching = AsyncRetrying(
            wait=_poll_wait,
            stop=stop_never,
            retry=retry_if_exception_type((TelegramAPIError, OSError, TimeoutError)),
            before_sleep=lambda state: _poll_failed(line_id, state),
            reraise=True,
        )
        while True:
            # a new run for each fetch: the waits start over after a fetch that worked
            async for attempt in fetching.copy():
                with attempt:
                    updates = await bot.get_updates(
                        offset=offset, timeout=timeout, allowed_updates=ALLOWED_UPDATES, request_timeout=timeout + 10
                    )
            try:
                for update in updates:
                    await self.accept(line_id, update.model_dump(mode="json", exclude_none=True, by_alias=True))
                    offset = update.update_id + 1
            except StoreError as err:  # the rest is fetched again (the offset was not confirmed)
                log.error("line %s: updates not stored (%s); fetching them again", line_id, err)
                await asyncio.sleep(POLL_FAILED.delay(1))


POLL_FAILED = Backoff(first=1.0, cap=30.0)
"""getUpdates failing (or the updates it brought not stored): 1, 2, 4, 8, 16, 30, 30 … s, forever."""
POLL_CONFLICT = Backoff(first=2.0, cap=30.0)
"""getUpdates refused because a webhook is set or another poller runs: 2, 4, 8, 16, 30 … s, forever."""


def _poll_wait(state: RetryCallState) -> float:
    """The wait after a failed getUpdates; the failures in a row count whatever their kind."""
    policy = POLL_CONFLICT if isinstance(error(state), TelegramConflictError) else POLL_FAILED
    return policy.wait()(state)


def _poll_failed(line_id: str, state: RetryCallState) -> None:
    err = error(state)
    if isinstance(err, TelegramConflictError):
        log.error("line %s: a webhook is set or another poller runs; retrying", line_id)
    else:
        log.warning("line %s: getUpdates failed (%s); retrying", line_id, err)
