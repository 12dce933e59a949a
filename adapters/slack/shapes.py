"""The shape of a signed Slack request, declared once: the fields that Bolt's routing and linedesk's
listeners read without looking first.

Slack always sends these. A signed request without them (a test tool, a replay edited by someone who has the
signing secret, a future payload version) used to crash Bolt's listener matching — e.g. `KeyError: 'type'` in
slack_bolt's `is_workflow_step_save` for a `view_submission` whose `view` has no `type` — and Bolt answered
500. `shape_problem` names the first missing or mistyped field so the request is answered 400 before Bolt
sees it — `ShapeCheckedApp`, the one way into Bolt, for HTTP and Socket Mode alike.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from slack_bolt.async_app import AsyncApp
from slack_bolt.context.async_context import AsyncBoltContext
from slack_bolt.request.async_internals import build_async_context
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_bolt.request.internals import parse_body
from slack_bolt.response import BoltResponse

from adapters.slack.gate import Refused
from core.model import without_lone_surrogates

log = logging.getLogger(__name__)


class _Shape(BaseModel):
    """Only the fields named are checked; everything else Slack sends is let through untouched."""

    model_config = ConfigDict(extra="allow")


class _Common(_Shape):
    user: dict[str, Any] | None = None
    channel: dict[str, Any] | None = None
    team: dict[str, Any] | None = None
    container: dict[str, Any] | None = None
    message: dict[str, Any] | None = None
    authorizations: list[dict[str, Any]] | None = None
    # when present, Bolt's middleware and its log of an unhandled request read these as objects
    view: dict[str, Any] = Field(default_factory=dict)
    event: dict[str, Any] = Field(default_factory=dict)


class _Interactive(_Common):
    """Every interaction is someone's: Slack always says who."""

    user: dict[str, Any]


class _Action(_Shape):
    action_id: str
    block_id: str | None = None


class _View(_Shape):
    type: str
    callback_id: str


class _Event(_Shape):
    type: str
    subtype: str | None = None
    message: dict[str, Any] | None = None
    previous_message: dict[str, Any] | None = None
    item: dict[str, Any] | None = None
    assistant_thread: dict[str, Any] | None = None


class _BlockActions(_Interactive):
    actions: list[_Action] = Field(min_length=1)


class _ViewPayload(_Interactive):
    view: _View  # type: ignore[assignment]  # narrower than _Common's: Bolt's routing reads type and callback_id


class _EventCallback(_Common):
    event: _Event  # type: ignore[assignment]  # narrower than _Common's: Bolt's routing reads its type


class _BlockSuggestion(_Interactive):
    action_id: str


class _Shortcut(_Interactive):
    callback_id: str


class _Command(_Common):
    command: str


_BY_TYPE: dict[str, type[_Shape]] = {
    "block_actions": _BlockActions,
    "view_submission": _ViewPayload,
    "view_closed": _ViewPayload,
    "event_callback": _EventCallback,
    "block_suggestion": _BlockSuggestion,
    "shortcut": _Shortcut,
    "message_action": _Shortcut,
}


def shape_problem(body: dict[str, Any]) -> str | None:
    """What is wrong with a signed request's shape (the first field, by its path), or None when Bolt can route it."""
    kind = body.get("type")
    if isinstance(kind, str) and kind in _BY_TYPE:
        model: type[_Shape] = _BY_TYPE[kind]
    elif "command" in body:
        model, kind = _Command, "slash command"
    else:
        model = _Common
    try:
        model.model_validate(body)
    except ValidationError as err:
        first = err.errors(include_url=False, include_input=False)[0]
        where = ".".join(str(part) for part in first["loc"]) or "body"
        return f"{kind or 'request'}: {where}: {first['msg'].lower()}"
    return None


CHECKED = "linedesk_shape_checked"
"""Bolt context key: the request's shape was checked before Bolt built it (`checked_bolt_request`)."""


def checked_bolt_request(text: str, request: web.Request) -> AsyncBoltRequest:
    """The request for Bolt from a signed body, its shape checked first: Bolt reads the body (for its context)
    while it builds the request, so a body it cannot read fails before `ShapeCheckedApp` could see it.
    Raises `Refused(400)` naming the problem (and json's errors, RecursionError included, for the caller)."""
    body = parse_body(text, request.content_type)
    if not isinstance(body, dict):
        raise Refused(400, "the body is not a JSON object")
    problem = shape_problem(body)
    if problem is not None:
        raise Refused(400, f"malformed Slack request: {problem}")
    return AsyncBoltRequest(
        body=text, query=request.query_string, headers=dict(request.headers), context={CHECKED: True}
    )


class ShapeCheckedApp(AsyncApp):
    """Bolt, entered only with requests it can route.

    Every request reaches Bolt through `async_dispatch` — over HTTP, over Socket Mode, and for stored events
    from the intake — so the check sits here, once. It cannot be Bolt's global error handler: Bolt builds an
    error handler's arguments with the same payload readers that failed (`to_step` reads `view.type` too)."""

    async def async_dispatch(self, req: AsyncBoltRequest) -> BoltResponse:
        body = without_lone_surrogates(req.body)
        if body is not req.body:  # half a UTF-16 pair anywhere (JSON allows it, UTF-8 does not): U+FFFD instead
            req.body = body
            req.context = build_async_context(AsyncBoltContext(req.context), body)
        if req.context.get(CHECKED):  # over HTTP, checked before Bolt built the request: not twice per ack
            return await super().async_dispatch(req)
        problem = shape_problem(body) if isinstance(body, dict) else "the body is not a JSON object"
        if problem is not None:
            log.warning("a Slack request Bolt cannot route (%s): answered 400", problem)
            reason = json.dumps({"ok": False, "error": f"malformed Slack request: {problem}"})
            return BoltResponse(status=400, body=reason, headers={"content-type": "application/json;charset=utf-8"})
        return await super().async_dispatch(req)
