"""The one aiohttp server: platform webhooks, health, metrics and the admin API (SPEC §7)."""

from __future__ import annotations

import dataclasses
import hmac
import json
import re
import time
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from aiohttp import web
from slack_bolt.adapter.aiohttp import to_aiohttp_response
from slack_bolt.async_app import AsyncApp

from adapters.engine_rest.routes import EngineRest
from adapters.slack.gate import Refused, RequestGate
from adapters.slack.shapes import checked_bolt_request
from adapters.telegram.inbound import TelegramInbound
from bots.metrics import Metrics
from core.autostart import EVENTS, Autostart, EffectiveRule, RuleAuthor
from core.bpmn.catalog import Catalog
from core.clock import Clock
from core.config import Config
from core.desk_load import desk_load
from core.errors import Refusal
from core.health import Health
from core.model import InstanceStatus, SessionStatus, listed_statuses
from core.processes import Processes
from core.reports import ReportError, build_report, measure_for, parse_period
from core.store import Store
from core.store.base import StoreError
from core.transcripts import Transcripts, transcript_json, transcript_text

MAX_BODY = 1024 * 1024
MAX_NUMBER = 2**63 - 1
"""The largest session number or `limit` a store can hold (SQLite's integers are 64-bit)."""
TOO_DEEP = "the JSON body is nested too deeply"
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
_WHOLE_NUMBER = re.compile(r"[0-9]+")  # ASCII digits only: str.isdigit() and int() take "²" or "٣"


class Desk(Protocol):
    """What the server reads of linedesk (`bots.app.Linedesk`): the parts it routes requests to."""

    @property
    def config(self) -> Config: ...
    @property
    def store(self) -> Store: ...
    @property
    def clock(self) -> Clock: ...
    @property
    def started(self) -> bool: ...
    @property
    def slack(self) -> AsyncApp | None: ...
    @property
    def telegram(self) -> TelegramInbound: ...
    @property
    def metrics(self) -> Metrics: ...
    @property
    def health(self) -> Health: ...
    @property
    def autostart(self) -> Autostart: ...
    @property
    def catalog(self) -> Catalog: ...
    @property
    def processes(self) -> Processes: ...
    @property
    def transcripts(self) -> Transcripts: ...


DESK = web.AppKey("desk", Desk)
"""The linedesk the web app serves (`build_web_app`); `bots.serve` starts and stops it with the app."""


def build_web_app(desk: Desk) -> web.Application:
    app = web.Application(client_max_size=MAX_BODY, middlewares=[_errors_as_json, _until_started(desk)])
    app[DESK] = desk
    app.router.add_post("/telegram/{line_id}", _timed_webhook(desk))
    app.router.add_post("/slack/events", _slack_handler(desk))
    app.router.add_get("/healthz", _healthz)
    app.router.add_get("/readyz", _readyz(desk))
    app.router.add_get("/metrics", _metrics(desk))
    api = _AdminApi(desk)
    app.router.add_get("/api/lines", api.lines)
    app.router.add_get("/api/lines/{line}/autostart", api.line_rules)
    app.router.add_put("/api/lines/{line}/autostart/{event}", api.set_rule)
    app.router.add_get("/api/catalog", api.catalog)
    app.router.add_get("/api/sessions", api.sessions)
    app.router.add_get("/api/sessions/{number}", api.session)
    app.router.add_get("/api/sessions/{number}/instances", api.session_instances)
    app.router.add_get("/api/sessions/{number}/transcript", api.session_transcript)
    app.router.add_get("/api/instances/{instance_id}", api.instance)
    app.router.add_get("/api/items/{app}", api.items)
    app.router.add_get("/api/report", api.report)
    EngineRest(desk.config, desk.store, desk.clock, desk.processes).add_routes(app)  # SPEC §12
    return app


def whole_number(text: str, what: str) -> int:
    """`text` as a number (ASCII digits only), or 400 naming `what`; past what a store can hold
    (`MAX_NUMBER`), `MAX_NUMBER + 1` (no session has that number, no store takes that limit)."""
    if not _WHOLE_NUMBER.fullmatch(text):
        raise web.HTTPBadRequest(reason=f"{what} must be a whole number (digits 0-9), not {text[:40]!r}")
    return int(text) if len(text.lstrip("0")) <= len(str(MAX_NUMBER)) else MAX_NUMBER + 1


@web.middleware
async def _errors_as_json(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        return web.json_response({"ok": False, "error": exc.reason}, status=exc.status)


def _until_started(desk: Desk) -> Any:
    """Platform requests that arrive while linedesk is still starting (the store opening, stored events being
    picked up) get 503: Telegram and Slack deliver them again a moment later."""

    @web.middleware
    async def gate(request: web.Request, handler: Handler) -> web.StreamResponse:
        if not desk.started and request.path.startswith(("/telegram/", "/slack/")):
            return web.json_response({"ok": False, "error": "starting, retry later"}, status=503)
        return await handler(request)

    return gate


def _slack_handler(desk: Desk) -> Handler:
    """Signature and replay checks (`RequestGate`), then Bolt (which checks the signature again)."""
    gate = RequestGate(desk.config.slack.signing_secret, desk.store, desk.clock) if desk.slack is not None else None

    async def handle(request: web.Request) -> web.StreamResponse:
        if desk.slack is None or gate is None:
            return web.json_response({"ok": False, "error": "Slack is not configured"}, status=404)
        started = time.perf_counter()
        raw = await request.read()
        try:
            gate.verify(raw, request.headers)
            bolt_request = checked_bolt_request(raw.decode("utf-8"), request)
            if not await gate.first_time(request.headers, bolt_request.body.get("type") == "event_callback"):
                return web.Response(status=200)
        except Refused as refused:
            return web.json_response({"ok": False, "error": refused.reason}, status=refused.status)
        except RecursionError:  # json.loads of a signed body nested 100,000 deep
            return web.json_response({"ok": False, "error": TOO_DEEP}, status=400)
        except (ValueError, TypeError, AttributeError, UnicodeDecodeError) as err:
            return web.json_response(
                {"ok": False, "error": f"malformed Slack request: {type(err).__name__}"}, status=400
            )
        except StoreError:
            return web.json_response({"ok": False, "error": "store unavailable, retry later"}, status=503)
        try:
            bolt_response = await desk.slack.async_dispatch(bolt_request)
        except (IndexError, KeyError, TypeError, AttributeError) as err:  # a signed body of a shape Slack never sends
            return web.json_response(
                {"ok": False, "error": f"malformed Slack request: {type(err).__name__}"}, status=400
            )
        response = await to_aiohttp_response(bolt_response)
        desk.metrics.slack_ack_latency.labels(_slack_kind(bolt_request.body)).observe(time.perf_counter() - started)
        return response

    return handle


async def _healthz(request: web.Request) -> web.Response:
    return web.json_response({"ok": True})


def _readyz(desk: Desk) -> Handler:
    """200 when the store answers, linedesk is started and nothing is degraded (`core.health`), else 503."""

    async def ready(request: web.Request) -> web.Response:
        store_ok = False
        try:
            store_ok = await desk.store.ping()
        except Exception:
            store_ok = False
        problems = desk.health.problems()
        ok = store_ok and desk.started and not problems
        body: dict[str, Any] = {"ok": ok, "store": store_ok, "started": desk.started}
        if problems:  # degraded: a platform refuses linedesk until a person fixes something
            body["problems"] = [{"component": p.component, "problem": p.text, "since": p.since} for p in problems]
        return web.json_response(body, status=200 if ok else 503)

    return ready


def _metrics(desk: Desk) -> Handler:
    async def metrics(request: web.Request) -> web.Response:
        now = desk.clock.now()
        stats = await desk.store.outbox_stats(now)
        body = desk.metrics.exposition(stats, await desk_load(desk.store, desk.config, now))
        return web.Response(
            body=body, content_type="text/plain", charset="utf-8", headers={"X-Content-Type-Options": "nosniff"}
        )

    return metrics


def _timed_webhook(desk: Desk) -> Handler:
    async def webhook(request: web.Request) -> web.StreamResponse:
        started = time.perf_counter()
        try:
            return await desk.telegram.webhook(request)
        finally:
            line = request.match_info["line_id"]
            if desk.config.line(line) is not None:  # unknown lines would grow the label set without bound
                desk.metrics.webhook_latency.labels(line).observe(time.perf_counter() - started)

    return webhook


def _slack_kind(body: dict[str, Any]) -> str:
    kind = body.get("type")
    if kind in (
        "event_callback",
        "block_actions",
        "view_submission",
        "view_closed",
        "block_suggestion",
        "message_action",
        "shortcut",
        "url_verification",
    ):
        return str(kind)
    return "command" if "command" in body else "other"


class _AdminApi:
    """`/api/…` for admins, behind `Authorization: Bearer $LINEDESK_ADMIN_TOKEN`."""

    def __init__(self, desk: Desk):
        self._desk = desk

    def _authorize(self, request: web.Request) -> None:
        token = self._desk.config.admin_token
        if not token:
            raise web.HTTPForbidden(reason="the admin API is off: set LINEDESK_ADMIN_TOKEN")
        given = request.headers.get("Authorization", "")
        if not hmac.compare_digest(given.encode(), f"Bearer {token}".encode()):
            raise web.HTTPUnauthorized(reason="bad or missing bearer token")

    async def lines(self, request: web.Request) -> web.Response:
        self._authorize(request)
        rules = await self._desk.store.list_rules()
        effective = await self._desk.autostart.rules()
        return web.json_response(
            {
                "lines": [
                    {
                        "id": line.id,
                        "name": line.name,
                        "telegram": bool(line.telegram_token),
                        "slack_dm": line.slack_dm,
                        "slack_desk_channel": line.desk_channels[0] if line.desk_channels else None,
                        "slack_desk_channels": line.desk_channels,
                        "telegram_desk_chat": line.telegram_desk_chat,
                        "autostart": [_rule_json(r) for r in effective if r.line_id == line.id],
                        "autostart_file": [rule.model_dump() for rule in line.autostart],
                        "autostart_runtime": [r.model_dump(mode="json") for r in rules if r.line_id == line.id],
                    }
                    for line in self._desk.config.lines
                ]
            }
        )

    def _line(self, request: web.Request) -> str:
        line_id = request.match_info["line"]
        if self._desk.config.line(line_id) is None:
            raise web.HTTPNotFound(reason=f"no line {line_id!r}")
        return line_id

    async def line_rules(self, request: web.Request) -> web.Response:
        """The line's effective rules (only events that have one); `events` names every event."""
        self._authorize(request)
        line_id = self._line(request)
        rules = await self._desk.autostart.rules(line_id)
        return web.json_response({"line": line_id, "events": list(EVENTS), "rules": [_rule_json(r) for r in rules]})

    async def set_rule(self, request: web.Request) -> web.Response:
        """`PUT /api/lines/{line}/autostart/{event}` with `{"process": "...", "enabled": true}`."""
        self._authorize(request)
        line_id = self._line(request)
        process_id, enabled = _rule_body(await request.read())
        try:
            rule = await self._desk.autostart.set_rule(
                line_id, request.match_info["event"], process_id, enabled, by=RuleAuthor("api", require_admin=False)
            )
        except Refusal as refusal:
            status = 404 if refusal.code == "no_line" else 400
            return web.json_response({"ok": False, "error": refusal.reason, "code": refusal.code}, status=status)
        return web.json_response(_rule_json(rule))

    async def catalog(self, request: web.Request) -> web.Response:
        self._authorize(request)
        return web.json_response(
            {
                "scopes": [
                    {
                        "scope": group.scope.title,
                        "kind": group.scope.kind,
                        "processes": [
                            {"id": e.id, "name": e.name, "file": str(e.file), "start": e.start.kind}
                            for e in group.processes
                        ],
                    }
                    for group in self._desk.catalog.grouped(everything=True)
                ]
            }
        )

    async def sessions(self, request: web.Request) -> web.Response:
        """Filters: `line`, `status` (repeatable), `operator` (the assignee's id), `client` (the client's id),
        `limit`. Spam sessions are left out unless `status=spam` is asked for."""
        self._authorize(request)
        query = request.query
        try:
            statuses = [SessionStatus(s) for s in query.getall("status", [])] or listed_statuses()
        except ValueError as err:
            raise web.HTTPBadRequest(reason=str(err)) from err
        limit = whole_number(query.get("limit", "100"), "limit")
        if limit > MAX_NUMBER:
            raise web.HTTPBadRequest(reason=f"limit must be at most {MAX_NUMBER}")
        if query.get("line") is not None and self._desk.config.line(query["line"]) is None:
            raise web.HTTPNotFound(reason=f"no line {query['line']!r}")
        sessions = await self._desk.store.list_sessions(
            status=statuses,
            line_id=query.get("line"),
            assignee=query.get("operator"),
            client_id=query.get("client"),
            limit=limit,
        )
        return web.json_response({"sessions": [s.model_dump(mode="json") for s in sessions]})

    async def report(self, request: web.Request) -> web.Response:
        """`GET /api/report?line=&since=&until=` (SPEC §15): the figures of `linedesk report --format json`."""
        self._authorize(request)
        query, now = request.query, self._desk.clock.now()
        if query.get("line") and self._desk.config.line(query["line"]) is None:
            raise web.HTTPNotFound(reason=f"no line {query['line']!r}")
        try:
            period = parse_period(query.get("since"), query.get("until"), now)
        except ReportError as err:
            raise web.HTTPBadRequest(reason=str(err)) from err
        measure = measure_for(self._desk.config)
        report = await build_report(self._desk.store, query.get("line") or None, period, now, measure)
        return web.Response(text=report.model_dump_json(), content_type="application/json")

    async def session(self, request: web.Request) -> web.Response:
        self._authorize(request)
        given = request.match_info["number"]
        number = whole_number(given, "the session number")
        session = await self._desk.store.get_session(number) if number <= MAX_NUMBER else None
        if session is None:
            raise web.HTTPNotFound(reason=f"no session #{given}")
        messages = await self._desk.store.list_messages(session.number)
        return web.json_response(
            {**session.model_dump(mode="json"), "messages": [m.model_dump(mode="json") for m in messages]}
        )

    async def session_instances(self, request: web.Request) -> web.Response:
        """Every instance of the session with its state in words and its current step (SPEC §11)."""
        self._authorize(request)
        given = request.match_info["number"]
        number = whole_number(given, "the session number")
        session = await self._desk.store.get_session(number) if number <= MAX_NUMBER else None
        if session is None:
            raise web.HTTPNotFound(reason=f"no session #{given}")
        found = await self._desk.processes.session_instances(session.number)
        return web.json_response({"session": session.number, "instances": [i.as_json() for i in found]})

    async def session_transcript(self, request: web.Request) -> web.Response:
        """The session's full transcript (SPEC §14): text, or JSON when the request accepts
        `application/json`; times in the line's time zone."""
        self._authorize(request)
        given = request.match_info["number"]
        number = whole_number(given, "the session number")
        transcript = await self._desk.transcripts.reader.read(number) if number <= MAX_NUMBER else None
        if transcript is None:
            raise web.HTTPNotFound(reason=f"no session #{given}")
        if "application/json" in request.headers.get("Accept", ""):
            return web.Response(text=transcript_json(transcript), content_type="application/json")
        return web.Response(text=transcript_text(transcript), content_type="text/plain")

    async def instance(self, request: web.Request) -> web.Response:
        self._authorize(request)
        record = await self._desk.store.get_instance(request.match_info["instance_id"])
        if record is None:
            raise web.HTTPNotFound(reason="no such instance")
        body = record.model_dump(mode="json", exclude={"state"})
        body["variables"] = await self._desk.processes.variables(record.id) if record.state else {}
        body["running"] = record.status in (InstanceStatus.RUNNING, InstanceStatus.WAITING)
        return web.json_response(body, dumps=_dumps)

    async def items(self, request: web.Request) -> web.Response:
        self._authorize(request)
        items = await self._desk.store.list_items(request.match_info["app"])
        return web.json_response({"items": [i.model_dump(mode="json") for i in items]})


def _rule_json(rule: EffectiveRule) -> dict[str, Any]:
    return dataclasses.asdict(rule)


def _rule_body(raw: bytes) -> tuple[str, bool]:
    """`{"process": str, "enabled": bool}` and nothing else, or 400 naming what is wrong."""
    try:
        body = json.loads(raw)
    except RecursionError:
        raise web.HTTPBadRequest(reason=TOO_DEEP) from None
    except (ValueError, UnicodeDecodeError):
        raise web.HTTPBadRequest(reason='the body must be JSON: {"process": "...", "enabled": true}') from None
    if not isinstance(body, dict):
        raise web.HTTPBadRequest(reason='the body must be a JSON object: {"process": "...", "enabled": true}')
    unknown = sorted(set(body) - {"process", "enabled"})
    if unknown:
        raise web.HTTPBadRequest(reason=f"unknown key(s): {', '.join(unknown)}")
    process, enabled = body.get("process"), body.get("enabled")
    if not isinstance(process, str) or not process:
        raise web.HTTPBadRequest(reason='"process" must be a non-empty string (a process id of the catalog)')
    if not isinstance(enabled, bool):
        raise web.HTTPBadRequest(reason='"enabled" must be true or false')
    return process, enabled


def _dumps(value: Any) -> str:
    return json.dumps(value, default=str)
