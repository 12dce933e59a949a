"""Slack events (Events API over HTTP, or Socket Mode): stored, acknowledged, then handled from the store.

Slack wants its answer within 3 s and re-delivers an event it thinks was lost (same `event_id`,
header `X-Slack-Retry-Num`). `EventInbox`, a global middleware of the app that faces Slack, runs
after Bolt's signature check: it stores each `event_callback` under its `event_id` (shared by every
linedesk instance) and answers 200 at once — a duplicate is answered without being stored again.
The stored event is then handled through `core.intake` (once, in order per channel thread, picked up
again after a crash) by dispatching it to a second Bolt app, `events_app()`, that holds the event
listeners: it runs them before it returns (so the intake knows when the event is handled) and does
not check signatures, since what it dispatches comes from linedesk's own store, possibly long after
Slack's 5-minute window.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_bolt.middleware.async_middleware import AsyncMiddleware
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_bolt.response import BoltResponse
from slack_sdk.web.async_client import AsyncWebClient

from adapters.slack.authorize import SlackAuthorize
from adapters.slack.shapes import ShapeCheckedApp
from core.intake import Intake
from core.model import InboundRecord
from core.store.base import StoreError

log = logging.getLogger(__name__)

SOURCE = "slack"


class EventInbox(AsyncMiddleware):
    def __init__(self, intake: Intake):
        self._intake = intake

    async def async_process(
        self, *, req: AsyncBoltRequest, resp: BoltResponse, next: Callable[[], Awaitable[BoltResponse]]
    ) -> BoltResponse:
        body: Any = req.body
        if not isinstance(body, dict) or body.get("type") != "event_callback":
            return await next()
        event_id = body.get("event_id")
        if not isinstance(event_id, str) or not event_id or not isinstance(body.get("event"), dict):
            log.warning("Slack event without an event_id or an event: acknowledged and ignored")
            return BoltResponse(status=200, body="")
        try:
            await self._intake.accept(SOURCE, event_id, body)
        except StoreError as err:  # not stored: Slack delivers it again
            log.error("Slack event %s not stored (%s); Slack will retry", event_id, err)
            return BoltResponse(status=503, body="")
        return BoltResponse(status=200, body="")


def events_app(client: AsyncWebClient, authorize: SlackAuthorize, signing_secret: str) -> AsyncApp:
    """The Bolt app the stored events are dispatched to (listeners run before dispatch returns)."""
    return ShapeCheckedApp(
        client=client,
        authorize=authorize,
        signing_secret=signing_secret or "unused",
        process_before_response=True,
        request_verification_enabled=False,
        url_verification_enabled=False,
        ssl_check_enabled=False,
    )


def thread_key(record: InboundRecord) -> str:
    """Events of one conversation (a DM, a channel, a thread of a session) are handled in order."""
    event: dict[str, Any] = record.payload.get("event") or {}
    inner = event.get("message") or event.get("previous_message") or {}
    channel = event.get("channel") or event.get("user") or ""
    thread = event.get("thread_ts") or (inner.get("thread_ts") if isinstance(inner, dict) else "") or ""
    return f"{SOURCE}:{channel}:{thread}"


class SlackEvents:
    """Hands stored Slack events to `events_app` (registered with the intake)."""

    def __init__(self, intake: Intake, app: AsyncApp):
        self._app = app
        intake.register(SOURCE, self._handle, thread_key)

    async def _handle(self, record: InboundRecord) -> None:
        # "socket_mode": Bolt's name for a request that has no signature to check
        response = await self._app.async_dispatch(AsyncBoltRequest(body=record.payload, mode="socket_mode"))
        if response.status >= 500:
            raise RuntimeError(f"a listener failed on Slack event {record.key} ({response.status})")
