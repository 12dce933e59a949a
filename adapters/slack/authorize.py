"""Authorization for linedesk's one workspace without a Web API call on the request path.

Bolt's single-workspace authorization calls `auth.test` on the first request and waits for it;
with a slow or failing Web API that first ack comes late (or not at all). `SlackAuthorize` answers
at once with the configured bot token and learns the bot's ids in the background.
"""

from __future__ import annotations

import asyncio
import logging

import aiohttp
from slack_bolt.authorization import AuthorizeResult
from slack_bolt.authorization.async_authorize import AsyncAuthorize
from slack_bolt.context.async_context import AsyncBoltContext
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

log = logging.getLogger(__name__)


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
        self._identity = {
            "bot_user_id": response.get("user_id"),
            "bot_id": response.get("bot_id"),
            "team_id": response.get("team_id"),
        }

    async def __call__(
        self,
        *,
        context: AsyncBoltContext,
        enterprise_id: str | None,
        team_id: str | None,
        user_id: str | None,
        **actor_ids: str | None,
    ) -> AuthorizeResult:
        """Bolt's call, by keyword; `actor_ids` (actor_enterprise_id, actor_team_id, actor_user_id: who acted in a
        shared channel) change nothing here: one workspace, one bot token."""
        self.warm_up()
        identity = self._identity or {}
        return AuthorizeResult(
            enterprise_id=enterprise_id,
            team_id=team_id or identity.get("team_id"),
            user_id=user_id,
            bot_token=self._client.token,
            bot_user_id=identity.get("bot_user_id"),
            bot_id=identity.get("bot_id"),
        )

    async def close(self) -> None:
        """Stop a warm-up still running (before its HTTP session is closed under it)."""
        if self._warming is not None and not self._warming.done():
            self._warming.cancel()
            await asyncio.gather(self._warming, return_exceptions=True)
