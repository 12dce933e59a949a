"""What stands before every Slack listener so that Slack gets one fast answer per event (SPEC §8).

* `EventDedupe`: Slack re-delivers an event (same `event_id`, header `X-Slack-Retry-Num`) when it
  thinks the first delivery failed. The first delivery claims its `event_id` in the store — shared by
  every linedesk instance — and a duplicate is acknowledged without running any listener.
* `SlackAuthorize`: Bolt's single-workspace authorization calls `auth.test` on the first request and
  waits for it; with a slow or failing Web API that first ack comes late (or not at all). This one
  answers at once with the configured bot token and learns the bot's ids in the background.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
from slack_bolt.authorization import AuthorizeResult
from slack_bolt.authorization.async_authorize import AsyncAuthorize
from slack_bolt.context.async_context import AsyncBoltContext
from slack_bolt.middleware.async_middleware import AsyncMiddleware
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_bolt.response import BoltResponse
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from core.clock import Clock
from core.store.base import Store

log = logging.getLogger(__name__)

EVENT_CLAIM = "slack.event:{}"
EVENT_CLAIM_TTL = 7 * 24 * 3600.0
"""Slack retries an event for about an hour; a week leaves a wide margin."""


class EventDedupe(AsyncMiddleware):
    """Global Bolt middleware: an `event_callback` whose `event_id` was already claimed is acked (200)
    and goes no further."""

    def __init__(self, store: Store, clock: Clock):
        self._store = store
        self._clock = clock
        self.duplicates = 0

    async def async_process(self, *, req: AsyncBoltRequest, resp: BoltResponse,
                            next: Callable[[], Awaitable[BoltResponse]]) -> BoltResponse:
        body: Any = req.body
        event_id = body.get("event_id") if isinstance(body, dict) and body.get("type") == "event_callback" else None
        if not event_id:
            return await next()
        if await self._store.claim(EVENT_CLAIM.format(event_id), EVENT_CLAIM_TTL, self._clock.now()):
            return await next()
        self.duplicates += 1
        retry = (req.headers.get("x-slack-retry-num") or ["-"])[0]
        log.info("Slack event %s delivered again (retry %s): acknowledged, not handled twice", event_id, retry)
        return BoltResponse(status=200, body="")


class SlackAuthorize(AsyncAuthorize):
    """Authorization for one workspace and one bot token, with no Web API call on the request path.

    `warm_up()` runs `auth.test` in the background (at start, and again on a request while it has not
    succeeded) so that Bolt learns the bot's user and bot ids — what it needs to ignore the app's own
    events. Until then requests go on without them.
    """

    def __init__(self, client: AsyncWebClient):
        self._client = client
        self._identity: dict[str, str | None] | None = None
        self._warming: asyncio.Future[None] | None = None

    def warm_up(self) -> None:
        if self._identity is None and (self._warming is None or self._warming.done()):
            self._warming = asyncio.ensure_future(self._warm())

    async def _warm(self) -> None:
        try:
            response = await self._client.auth_test()
        except (SlackApiError, aiohttp.ClientError, TimeoutError) as err:
            log.warning("Slack auth.test failed (%s); linedesk answers Slack anyway and tries again later", err)
            return
        self._identity = {"bot_user_id": response.get("user_id"), "bot_id": response.get("bot_id"),
                          "team_id": response.get("team_id")}

    async def __call__(self, *, context: AsyncBoltContext, enterprise_id: str | None, team_id: str | None,
                       user_id: str | None, actor_enterprise_id: str | None = None,
                       actor_team_id: str | None = None, actor_user_id: str | None = None) -> AuthorizeResult:
        self.warm_up()
        identity = self._identity or {}
        return AuthorizeResult(enterprise_id=enterprise_id, team_id=team_id or identity.get("team_id"),
                               user_id=user_id, bot_token=self._client.token,
                               bot_user_id=identity.get("bot_user_id"), bot_id=identity.get("bot_id"))

    async def close(self) -> None:
        """Stop a warm-up still running (before its HTTP session is closed under it)."""
        if self._warming is not None and not self._warming.done():
            self._warming.cancel()
            await asyncio.gather(self._warming, return_exceptions=True)
