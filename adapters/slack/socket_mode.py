"""Slack Socket Mode: the same Bolt app, fed over a websocket that linedesk opens.

For deployments without a public URL: with `slack.app_token` (xapp-…) linedesk calls
`apps.connections.open` at `slack.api_url`, connects to the URL it gets and receives every
event, slash command and interaction as an envelope. Each envelope goes through
`AsyncApp.async_dispatch` — the path `/slack/events` takes, minus the signature check, which
Socket Mode has no use for — so every middleware (event_id dedupe included) and listener runs
as over HTTP; the ack goes back on the socket. Reconnects (the server closes the socket, or
sends `{"type": "disconnect"}`) are slack_sdk's `SocketModeClient`'s job.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

import aiohttp
from slack_bolt.adapter.socket_mode.aiohttp import AsyncSocketModeHandler
from slack_bolt.async_app import AsyncApp
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

log = logging.getLogger(__name__)

REFUSED_TOKEN_ERRORS = frozenset(
    {
        "not_authed",
        "invalid_auth",
        "not_allowed_token_type",
        "account_inactive",
        "token_revoked",
        "token_expired",
        "missing_scope",
        "no_permission",
    }
)
"""`apps.connections.open` errors that no retry will fix: start-up fails instead of retrying forever."""
PING_INTERVAL = 10.0
"""Seconds between slack_sdk's pings; also its pause before retrying a failed (re)connection."""


class SocketModeRefused(Exception):
    """Slack refused the app-level token."""


class SlackSocketMode:
    def __init__(
        self,
        app: AsyncApp,
        *,
        app_token: str,
        api_url: str,
        ping_interval: float | None = None,
        connect_timeout: float = 10.0,
    ):
        self._app = app
        self._app_token = app_token
        self._api_url = api_url
        self._ping_interval = PING_INTERVAL if ping_interval is None else ping_interval
        self._connect_timeout = connect_timeout
        self._handler: AsyncSocketModeHandler | None = None
        self._connecting: asyncio.Task[None] | None = None
        self._watchdog: asyncio.Task[None] | None = None

    @property
    def connected(self) -> bool:
        session = self._handler.client.current_session if self._handler is not None else None
        return session is not None and not session.closed

    async def start(self) -> None:
        """Connect; returns once connected or, if Slack is unreachable, after `connect_timeout`
        with the client still trying in the background. A refused token raises `SocketModeRefused`."""
        if self._handler is not None:
            return
        # the client is built here, not in __init__: it starts tasks and an aiohttp session at once
        web_client = AsyncWebClient(token=self._app_token, base_url=self._api_url)
        handler = AsyncSocketModeHandler(
            self._app, self._app_token, web_client=web_client, ping_interval=self._ping_interval
        )
        self._handler = handler
        # the first URL is asked for here: slack_sdk would retry a refused token every ping_interval, forever
        try:
            opened = await web_client.apps_connections_open(app_token=self._app_token)
        except SlackApiError as err:
            error = str(err.response.get("error", ""))
            if error in REFUSED_TOKEN_ERRORS:
                await self.stop()
                raise SocketModeRefused(f"Slack refused slack.app_token for Socket Mode: {error}") from None
            log.warning("Socket Mode: apps.connections.open failed (%s); retrying in the background", error)
        except (aiohttp.ClientError, TimeoutError) as err:
            log.warning("Socket Mode: Slack is unreachable (%s); retrying in the background", err)
        else:
            handler.client.wss_uri = str(opened["url"])
        self._connecting = asyncio.create_task(handler.connect_async(), name="slack-socket-mode:connect")
        self._watchdog = asyncio.create_task(self._watch(handler), name="slack-socket-mode:watchdog")
        done, _ = await asyncio.wait({self._connecting}, timeout=self._connect_timeout)
        if done:
            log.info("Socket Mode connected")
        else:
            log.warning("Socket Mode: not connected after %.0f s; still trying", self._connect_timeout)

    async def _watch(self, handler: AsyncSocketModeHandler) -> None:
        """slack_sdk retries a failed handshake with the same one-time URL, forever (its `connect()`
        asks for a new URL only when `wss_uri` is None): after two checks without a connection, drop
        the URL so that its next attempt asks `apps.connections.open` for a fresh one."""
        client = handler.client
        misses = 0
        while not client.closed:
            await asyncio.sleep(self._ping_interval)
            misses = 0 if self.connected else misses + 1
            if misses >= 2 and client.wss_uri is not None:
                log.warning("Socket Mode: still not connected; asking Slack for a new URL")
                client.wss_uri = None
                misses = 0

    async def stop(self) -> None:
        handler, self._handler = self._handler, None
        for task in (self._watchdog, self._connecting):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
        self._watchdog = self._connecting = None
        if handler is None:
            return
        client = handler.client
        await handler.close_async()
        # close() cancels the client's tasks without waiting for them
        tasks: list[Any] = [client.message_processor, client.current_session_monitor, client.message_receiver]
        for task in tasks:
            if task is not None:
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
