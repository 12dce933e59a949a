"""The one aiohttp server: platform webhooks, health, metrics and the admin API (SPEC §7)."""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from aiohttp import web
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily
from slack_bolt.adapter.aiohttp import to_aiohttp_response, to_bolt_request

from core.model import InstanceStatus, SessionStatus

if TYPE_CHECKING:
    from bots.app import Linedesk

MAX_BODY = 1024 * 1024
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def build_web_app(desk: Linedesk) -> web.Application:
    app = web.Application(client_max_size=MAX_BODY, middlewares=[_errors_as_json])
    app.router.add_post("/telegram/{line_id}", desk.telegram.webhook)
    app.router.add_post("/slack/events", _slack_handler(desk))
    app.router.add_get("/healthz", _healthz)
    app.router.add_get("/readyz", _readyz(desk))
    app.router.add_get("/metrics", _metrics(desk))
    api = _AdminApi(desk)
    app.router.add_get("/api/lines", api.lines)
    app.router.add_get("/api/catalog", api.catalog)
    app.router.add_get("/api/sessions", api.sessions)
    app.router.add_get("/api/sessions/{number}", api.session)
    app.router.add_get("/api/instances/{instance_id}", api.instance)
    app.router.add_get("/api/items/{app}", api.items)
    return app


@web.middleware
async def _errors_as_json(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        return web.json_response({"ok": False, "error": exc.reason}, status=exc.status)


def _slack_handler(desk: Linedesk) -> Handler:
    async def handle(request: web.Request) -> web.StreamResponse:
        if desk.slack is None:
            return web.json_response({"ok": False, "error": "Slack is not configured"}, status=404)
        bolt_request = await to_bolt_request(request)
        return await to_aiohttp_response(await desk.slack.async_dispatch(bolt_request))

    return handle


async def _healthz(request: web.Request) -> web.Response:
    return web.json_response({"ok": True})


def _readyz(desk: Linedesk) -> Handler:
    async def ready(request: web.Request) -> web.Response:
        store_ok = False
        try:
            store_ok = await desk.store.ping()
        except Exception:
            store_ok = False
        ok = store_ok and desk.started
        return web.json_response({"ok": ok, "store": store_ok, "started": desk.started}, status=200 if ok else 503)

    return ready


class _LinedeskCollector:
    """Reads linedesk's counters at scrape time, so nothing is kept in module globals."""

    def __init__(self, desk: Linedesk):
        self._desk = desk
        self.outbox: dict[str, float] = {}

    def collect(self) -> Any:
        desk = self._desk
        deliveries = GaugeMetricFamily("linedesk_outbox_deliveries", "Outbox entries by result since start",
                                       labels=["result"])
        deliveries.add_metric(["delivered"], desk.outbox.delivered)
        deliveries.add_metric(["retried"], desk.outbox.retried)
        deliveries.add_metric(["dead"], desk.outbox.killed)
        yield deliveries
        yield GaugeMetricFamily("linedesk_outbox_depth", "Pending outbox entries", value=self.outbox.get("pending", 0))
        yield GaugeMetricFamily("linedesk_outbox_oldest_age_seconds", "Age of the oldest pending outbox entry",
                                value=self.outbox.get("oldest_age", 0))
        inbound = GaugeMetricFamily("linedesk_telegram_updates", "Telegram updates handled since start",
                                    labels=["result"])
        inbound.add_metric(["handled"], desk.telegram.handled)
        inbound.add_metric(["rejected"], desk.telegram.rejected)
        yield inbound


def _metrics(desk: Linedesk) -> Handler:
    registry = CollectorRegistry()
    collector = _LinedeskCollector(desk)
    registry.register(collector)

    async def metrics(request: web.Request) -> web.Response:
        collector.outbox = await desk.store.outbox_stats(desk.clock.now())
        return web.Response(body=generate_latest(registry), content_type="text/plain", charset="utf-8")

    return metrics


class _AdminApi:
    """`/api/…` for admins, behind `Authorization: Bearer $LINEDESK_ADMIN_TOKEN`."""

    def __init__(self, desk: Linedesk):
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
        return web.json_response({"lines": [
            {"id": line.id, "name": line.name, "telegram": bool(line.telegram_token), "slack_dm": line.slack_dm,
             "slack_desk_channel": line.slack_desk_channel or None, "telegram_desk_chat": line.telegram_desk_chat,
             "autostart_file": [rule.model_dump() for rule in line.autostart],
             "autostart_runtime": [r.model_dump(mode="json") for r in rules if r.line_id == line.id]}
            for line in self._desk.config.lines]})

    async def catalog(self, request: web.Request) -> web.Response:
        self._authorize(request)
        return web.json_response({"scopes": [
            {"scope": group.scope.title, "kind": group.scope.kind,
             "processes": [{"id": e.id, "name": e.name, "file": str(e.file)} for e in group.processes]}
            for group in self._desk.catalog.grouped()]})

    async def sessions(self, request: web.Request) -> web.Response:
        self._authorize(request)
        query = request.query
        try:
            statuses = [SessionStatus(s) for s in query.getall("status", [])] or None
            limit = int(query.get("limit", "100"))
        except ValueError as err:
            raise web.HTTPBadRequest(reason=str(err)) from err
        sessions = await self._desk.store.list_sessions(status=statuses, line_id=query.get("line"),
                                                         assignee=query.get("operator"),
                                                         client_id=query.get("client"), limit=limit)
        return web.json_response({"sessions": [s.model_dump(mode="json") for s in sessions]})

    async def session(self, request: web.Request) -> web.Response:
        self._authorize(request)
        number = request.match_info["number"]
        session = await self._desk.store.get_session(int(number)) if number.isdigit() else None
        if session is None:
            raise web.HTTPNotFound(reason=f"no session #{number}")
        messages = await self._desk.store.list_messages(session.number)
        return web.json_response({**session.model_dump(mode="json"),
                                  "messages": [m.model_dump(mode="json") for m in messages]})

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


def _dumps(value: Any) -> str:
    import json

    return json.dumps(value, default=str)
