"""Every Slack Web API call draws from the pacing buckets it counts against (`core.pacing`), as an aiohttp
client middleware on the one session every Web API client uses (linedesk's own and Bolt's per-request
clients share it): posts count against their channel, `chat.update` against the workspace's update tier,
ephemerals and modals against theirs. A 429 pauses that bucket for the `Retry-After` Slack sent."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qs

from aiohttp import ClientHandlerType, ClientMiddlewareType, ClientRequest, ClientResponse

from core.pacing import SLACK_CHANNEL, SLACK_EPHEMERAL, SLACK_UPDATE, SLACK_VIEWS, SLACK_WORKSPACE, Draw, Pacer

POSTS = {"chat.postMessage": "channel", "chat.meMessage": "channel", "files.completeUploadExternal": "channel_id"}
"""Methods that post into a channel, and the parameter naming it."""
WORKSPACE_TIERS = {
    "chat.update": SLACK_UPDATE,
    "chat.postEphemeral": SLACK_EPHEMERAL,
    "views.open": SLACK_VIEWS,
    "views.update": SLACK_VIEWS,
    "views.push": SLACK_VIEWS,
}


def channel_draw(channel: str, *, urgent: bool = False, patient: bool = False) -> Draw:
    return Draw(SLACK_CHANNEL, channel, 1, urgent, patient)


def workspace_draw(kind: str, *, urgent: bool = False) -> Draw:
    return Draw(kind, SLACK_WORKSPACE, 1, urgent)


async def _params(request: ClientRequest) -> dict[str, Any]:
    """The call's parameters, as slack_sdk sent them (JSON or a form)."""
    body = request.body
    raw = body if isinstance(body, bytes) else await body.as_bytes()
    if not raw:
        return {}
    try:
        parsed = json.loads(raw)
        return parsed if isinstance(parsed, dict) else {}
    except ValueError:
        return {key: values[0] for key, values in parse_qs(raw.decode("utf-8", "replace")).items()}


async def draws_of(request: ClientRequest) -> list[Draw]:
    method = request.url.path.rsplit("/", 1)[-1]
    if method in WORKSPACE_TIERS:
        return [workspace_draw(WORKSPACE_TIERS[method])]
    if method in POSTS:
        channel = (await _params(request)).get(POSTS[method])
        return [channel_draw(str(channel))] if channel else []
    return []


def paced(pacer: Pacer) -> ClientMiddlewareType:
    """The middleware: `aiohttp.ClientSession(middlewares=(paced(pacer),))`."""

    async def middleware(request: ClientRequest, handler: ClientHandlerType) -> ClientResponse:
        draws = await draws_of(request) if pacer.limited else []
        await pacer.spend(draws)
        try:
            response = await handler(request)
        finally:
            await pacer.landed(draws)
        if response.status == 429 and draws:
            try:
                retry_after = float(response.headers.get("Retry-After", "1"))
            except ValueError:
                retry_after = 1.0
            await pacer.pause(draws[0], retry_after)
        return response

    return middleware
