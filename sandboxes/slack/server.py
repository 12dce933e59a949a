"""The Slack sandbox itself: the HTTP server the product calls and the client that calls the product."""

from __future__ import annotations

import asyncio
import copy
import json
import time
from collections.abc import Mapping
from typing import Any

import aiohttp
from aiohttp import web

from ..limits import PLATFORM_LIMITS, Clock, Limits, RateLimiter, Refusals
from .helpers import _Params
from .limiting import slack_charges
from .payloads import SlackPayloads
from .records import (
    _JSON_PARAMS,
    _SLACKBOT_AGENT,
    JSON,
    JSON_CONTENT,
    RESPONSE_URL_USES,
    SlackCall,
    SlackIdentity,
    SlackResponse,
    _ApiError,
    _dumps,
    _Failure,
    slack_signature,
)
from .routes import _WebApi
from .socket_mode import SlackSocketMode
from .state import SlackWorkspace


async def _read_params(request: web.Request) -> JSON:
    """Query string and body (form, multipart or JSON) merged; JSON-encoded fields decoded."""
    params: JSON = dict(request.query)
    if request.method == "POST" and request.can_read_body:
        if request.content_type == JSON_CONTENT:
            try:
                body = await request.json()
            except ValueError:
                raise _ApiError("invalid_json") from None
            if not isinstance(body, dict):
                raise _ApiError("json_not_object")
            params.update(body)
        else:
            form = await request.post()
            for key, value in form.items():
                params[key] = value.file.read() if isinstance(value, web.FileField) else value
    for key in _JSON_PARAMS & params.keys():
        value = params[key]
        if isinstance(value, str) and value.startswith(("[", "{")):
            try:
                params[key] = json.loads(value)
            except ValueError:
                pass
    return params


def _bearer(request: web.Request) -> str | None:
    header = request.headers.get("Authorization", "")
    return header[7:].strip() or None if header.startswith("Bearer ") else None


class SlackSandbox:
    """Slack, locally: the Web API at :attr:`api_url` and the side that calls the product.

    Typical use::

        sandbox = SlackSandbox(signing_secret="s3cr3t")
        sandbox.add_channel("C0DESK01", "desk")
        await sandbox.start()
        client = AsyncWebClient(token=sandbox.bot_token, base_url=sandbox.api_url)
        ...
        await sandbox.post_slash(product_url, "/startprocess", "42", "U0ANNA01", "C0DESK01")
        await sandbox.stop()

    With ``app_token`` (``xapp-…``) the product may use Socket Mode instead: it calls
    ``apps.connections.open`` with that token and connects; then
    ``await sandbox.socket.slash("/startprocess", "42", "U0ANNA01", "C0DESK01")`` sends the
    same request as an envelope and returns the product's ack.

    State lives in :attr:`workspace`, payload builders in :attr:`payloads`; the methods
    tests use most are also reachable on the sandbox itself (``add_user``, ``thread``,
    ``slash_command``, …).

    Slack's rate limits are enforced by default (:mod:`sandboxes.limits`: a call over one answers
    HTTP 429 ``ratelimited`` with ``Retry-After`` and changes nothing); ``limits=Limits.off()`` for
    speed, ``clock=`` to move the limits' time by hand. The 429s answered are counted in :attr:`refusals`.
    """

    def __init__(
        self,
        signing_secret: str,
        bot_token: str = "xoxb-sandbox",
        team_id: str = "T0SANDBOX",
        bot_user_id: str = "U0LINEDESK",
        bot_id: str = "B0LINEDESK",
        app_id: str = "A0LINEDESK",
        *,
        team_domain: str = "linedesk-sandbox",
        team_name: str = "linedesk sandbox",
        bot_name: str = "linedesk",
        enterprise_id: str | None = None,
        enterprise_name: str | None = None,
        verification_token: str = "sandbox_verification_token",
        trigger_ttl: float = 3.0,
        app_token: str | None = None,
        limits: Limits = PLATFORM_LIMITS,
        clock: Clock = time.monotonic,
    ) -> None:
        if app_token is not None and not app_token.startswith("xapp-"):
            raise ValueError("app_token must be an app-level token (xapp-…)")
        self.signing_secret = signing_secret
        self.bot_token = bot_token
        self.app_token = app_token
        self.identity = SlackIdentity(
            team_id=team_id,
            team_domain=team_domain,
            team_name=team_name,
            bot_user_id=bot_user_id,
            bot_id=bot_id,
            app_id=app_id,
            bot_name=bot_name,
            verification_token=verification_token,
            enterprise_id=enterprise_id,
            enterprise_name=enterprise_name,
        )
        self.workspace = SlackWorkspace(self.identity, trigger_ttl=trigger_ttl)
        self.payloads = SlackPayloads(self.workspace)
        self.socket = SlackSocketMode(self.workspace, self.payloads)
        self.calls: list[SlackCall] = []
        self.limits = limits
        self.limiter = RateLimiter(clock)
        self.views = self.workspace.views.by_id
        self.files = self.workspace.files
        self._api = _WebApi(self.workspace)
        self._failures: list[_Failure] = []
        self._runner: web.AppRunner | None = None
        self._session: aiohttp.ClientSession | None = None
        self._stopping = asyncio.Event()
        self._base_url: str | None = None
        # the workspace's and builders' everyday methods, reachable from the sandbox itself
        ws, build = self.workspace, self.payloads
        self.add_user = ws.add_user
        self.add_channel = ws.add_channel
        self.add_file = ws.add_file
        self.dm = ws.dm
        self.channel_messages = ws.channel_messages
        self.thread = ws.thread
        self.message = ws.message
        self.ephemeral = ws.ephemeral
        self.record_ephemeral = ws.record_ephemeral
        self.slash_command = build.slash_command
        self.block_action = build.block_action
        self.view_submission = build.view_submission
        self.message_shortcut = build.message_shortcut
        self.event = build.event
        self.message_event = build.message_event
        self.message_changed_event = build.message_changed_event
        self.app_home_opened = build.app_home_opened
        self.url_verification = build.url_verification

    # -- lifecycle

    def build_app(self) -> web.Application:
        """The aiohttp application serving the Web API, upload URLs, files, response URLs and Socket Mode."""
        app = web.Application(client_max_size=100 * 1024 * 1024)
        app.router.add_post("/api/{method}", self._handle_api)
        app.router.add_get("/api/{method}", self._handle_api)
        app.router.add_post("/upload/v1/{file_id}", self._handle_upload)
        app.router.add_get("/files/{file_id}/{name}", self._handle_file)
        app.router.add_post("/response/{token}", self._handle_response_url)
        app.router.add_get("/socket/{ticket}", self.socket.handle)
        return app

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> None:
        if self._runner is not None:
            raise RuntimeError("SlackSandbox already started")
        self._stopping = asyncio.Event()
        runner = web.AppRunner(self.build_app(), access_log=None, shutdown_timeout=1.0)
        await runner.setup()
        await web.TCPSite(runner, host, port).start()
        self._runner = runner
        bound_port = runner.addresses[0][1]
        public_host = "127.0.0.1" if host in ("0.0.0.0", "") else host
        self._base_url = f"http://{public_host}:{bound_port}"
        self.workspace.base_url = self._base_url

    async def stop(self) -> None:
        """Stop serving (hanging injected delays end at once, sockets close) and close the sending session."""
        self._stopping.set()
        await self.socket.shutdown()
        if self._session is not None:
            await self._session.close()
            self._session = None
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> SlackSandbox:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    @property
    def base_url(self) -> str:
        if self._base_url is None:
            raise RuntimeError("SlackSandbox is not started")
        return self._base_url

    @property
    def api_url(self) -> str:
        """Base URL for ``AsyncWebClient(base_url=...)`` (ends with ``/api/``)."""
        return f"{self.base_url}/api/"

    # -- state shortcuts

    def home(self, user_id: str) -> JSON | None:
        """The App Home view last published for ``user_id``."""
        view = self.workspace.views.home(user_id)
        return copy.deepcopy(view.view) if view else None

    def modal(self, user_id: str) -> JSON | None:
        """The modal ``user_id`` currently sees (top of the stack), if any."""
        view = self.workspace.views.modal(user_id)
        return copy.deepcopy(view.view) if view else None

    def calls_of(self, method: str) -> list[SlackCall]:
        return [c for c in self.calls if c.method == method]

    def clear_calls(self) -> None:
        self.calls.clear()

    @property
    def refusals(self) -> Refusals:
        """The 429s the limits answered: ``.total``, ``.by_method["chat.update"]``, ``.by_bucket[SLACK_CHANNEL]``,
        ``.by_key[(SLACK_CHANNEL, channel_id)]`` (injected failures are not counted here)."""
        return self.limiter.refusals

    # -- failure injection

    def fail(
        self,
        method: str,
        *,
        error: str | None = None,
        status: int = 200,
        count: int = 1,
        retry_after: int | None = None,
        channel: str | None = None,
        delay: float | None = None,
        extra: Mapping[str, Any] | None = None,
    ) -> None:
        """Make the next ``count`` calls of ``method`` (``"*"``: any) fail.

        ``retry_after`` (or ``status=429``) answers HTTP 429 ``ratelimited`` with
        ``Retry-After``; another ``status`` answers that HTTP status; ``error`` alone answers
        ``{"ok": false, "error": error, **extra}`` with 200; ``delay`` holds the answer that
        many seconds first (alone, the call then succeeds). ``channel`` limits the rule to
        calls for that channel. ``count < 0``: until :meth:`clear_failures`.
        """
        if count == 0:
            return
        details = dict(extra or {})
        if error == "missing_scope":
            details = {"needed": "chat:write", "provided": "", **details}
        self._failures.append(_Failure(method, error, status, count, retry_after, channel, delay, details))

    def clear_failures(self) -> None:
        self._failures.clear()

    def _take_failure(self, method: str, params: Mapping[str, Any]) -> _Failure | None:
        for failure in self._failures:
            if failure.matches(method, params):
                failure.remaining -= 1
                if failure.remaining == 0:
                    self._failures.remove(failure)
                return failure
        return None

    async def _hang(self, delay: float) -> None:
        try:
            await asyncio.wait_for(self._stopping.wait(), delay)
        except TimeoutError:
            pass

    # -- routes

    async def _handle_api(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        try:
            params = await _read_params(request)
        except _ApiError as exc:
            return web.json_response({"ok": False, "error": exc.error}, dumps=_dumps)
        header_token = _bearer(request)
        token = header_token or params.pop("token", None)
        params.pop("token", None)
        call = SlackCall(method, params, time.time())
        self.calls.append(call)
        status, body, headers = await self._answer(method, params, token, in_header=header_token is not None)
        call.response, call.status = body, status
        return web.json_response(body, status=status, headers=headers, dumps=_dumps)

    async def _answer(
        self, method: str, params: JSON, token: Any, in_header: bool = True
    ) -> tuple[int, JSON, dict[str, str]]:
        handler = self._api.methods.get(method)
        connections_open = method == "apps.connections.open"
        if handler is None and not connections_open:
            return 200, {"ok": False, "error": "unknown_method"}, {}
        # apps.connections.open takes the app-level token, in the Authorization header only;
        # every other method the bot token
        if not token or (connections_open and not in_header):
            return 200, {"ok": False, "error": "not_authed"}, {}
        expected, other = (self.app_token, self.bot_token) if connections_open else (self.bot_token, self.app_token)
        if token != expected:
            return 200, {"ok": False, "error": "not_allowed_token_type" if token == other else "invalid_auth"}, {}
        failure = self._take_failure(method, params)
        if failure is not None:
            if failure.delay:
                await self._hang(failure.delay)
            injected = failure.answer()
            if injected is not None:
                return injected
        if connections_open:
            return 200, {"ok": True, "url": self.socket.issue_url()}, {}
        assert handler is not None
        charges = slack_charges(self.limits, self.workspace, method, params)
        if self.limiter.wait(charges) > 0:
            seconds = self.limiter.refuse(method, charges)
            return 429, {"ok": False, "error": "ratelimited"}, {"Retry-After": str(seconds)}
        try:
            answer = {"ok": True, **handler(_Params(params))}
        except _ApiError as exc:
            return 200, {"ok": False, "error": exc.error, **exc.extra}, {}
        self.limiter.charge(charges)  # only a call that succeeded counts against the limits
        return 200, answer, {}

    async def _handle_upload(self, request: web.Request) -> web.Response:
        file = self.workspace.files.get(request.match_info["file_id"])
        if file is None:
            return web.Response(status=404, text="file_not_found")
        if request.content_type == "multipart/form-data":
            form = await request.post()
            field = form.get("file") or form.get("filename")
            data = field.file.read() if isinstance(field, web.FileField) else str(field or "").encode()
        else:
            data = await request.read()
        file.content = data
        self.calls.append(SlackCall("upload", {"file_id": file.id, "length": len(data)}, time.time(), None, 200))
        return web.Response(text=f"OK - {len(data)}", content_type="text/plain")

    async def _handle_file(self, request: web.Request) -> web.Response:
        """``url_private``: without the bot token Slack answers its HTML sign-in page (status 200)."""
        file = self.workspace.files.get(request.match_info["file_id"])
        if _bearer(request) != self.bot_token:
            return web.Response(text="<!DOCTYPE html><title>Slack</title>sign in", content_type="text/html")
        if file is None or file.content is None:
            return web.Response(status=404, text="file_not_found")
        return web.Response(body=file.content, content_type=file.mimetype)

    async def _handle_response_url(self, request: web.Request) -> web.Response:
        target = self.workspace.response_urls.get(request.match_info["token"])
        if target is None:
            return web.json_response({"ok": False, "error": "invalid_token"}, status=404)
        if target.uses >= RESPONSE_URL_USES:
            return web.json_response({"ok": False, "error": "used_url"}, status=404)
        target.uses += 1
        try:
            body = json.loads(await request.text())
        except ValueError:
            return web.json_response({"ok": False, "error": "invalid_payload"}, status=400)
        if not isinstance(body, dict):
            return web.json_response({"ok": False, "error": "invalid_payload"}, status=400)
        call = SlackCall("response_url", body, time.time())
        self.calls.append(call)
        try:
            self.workspace.respond(target, body)
        except _ApiError as exc:
            call.response, call.status = {"ok": False, "error": exc.error}, 400
            return web.json_response(call.response, status=400)
        call.response = {"ok": True}
        return web.json_response(call.response)

    # -- the Slack side: signing and sending

    def sign(self, body: str | bytes, timestamp: str | int) -> str:
        return slack_signature(self.signing_secret, str(timestamp), body)

    async def send(
        self,
        url: str,
        body: str,
        content_type: str,
        *,
        timestamp: int | str | None = None,
        signature: str | None = None,
        retry_num: int | None = None,
        retry_reason: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> SlackResponse:
        """POST ``body`` to the product as Slack does; ``timestamp``/``signature`` override to forge."""
        ts = str(int(time.time()) if timestamp is None else timestamp)
        sent = {
            "Content-Type": content_type,
            "User-Agent": _SLACKBOT_AGENT,
            "X-Slack-Request-Timestamp": ts,
            "X-Slack-Signature": signature if signature is not None else self.sign(body, ts),
        }
        if retry_num is not None:
            sent["X-Slack-Retry-Num"] = str(retry_num)
            sent["X-Slack-Retry-Reason"] = retry_reason or "http_timeout"
        sent.update(headers or {})
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30))
        started = time.perf_counter()
        async with self._session.post(url, data=body.encode(), headers=sent) as resp:
            text = await resp.text()
            elapsed = time.perf_counter() - started
            parsed: Any = None
            if text[:1] in ("{", "["):
                try:
                    parsed = json.loads(text)
                except ValueError:
                    parsed = None
            return SlackResponse(resp.status, resp.headers, text, parsed, elapsed)

    async def post_slash(
        self, url: str, command: str, text: str, user_id: str, channel_id: str, **kwargs: Any
    ) -> SlackResponse:
        """Send a slash command; a non-empty ack is shown to the user (ephemeral) or in the channel."""
        response = await self.send(url, *self.payloads.slash_command(command, text, user_id, channel_id, **kwargs))
        if response.status == 200 and response.text.strip():
            self._show_ack(response, user_id, channel_id)
        return response

    def _show_ack(self, response: SlackResponse, user_id: str, channel_id: str) -> None:
        body: JSON = response.json if isinstance(response.json, dict) else {"text": response.text}
        self.workspace.show_command_answer(body, user_id, channel_id)

    async def click(
        self, url: str, user_id: str, action_id: str, value: str | None = None, **kwargs: Any
    ) -> SlackResponse:
        """Send a block action (see :meth:`SlackPayloads.block_action`); Slack ignores its ack body."""
        return await self.send(url, *self.payloads.block_action(user_id, action_id, value, **kwargs))

    async def submit_view(
        self, url: str, user_id: str, view_id: str, values: Mapping[str, Mapping[str, Any]] | None = None, **kwargs: Any
    ) -> SlackResponse:
        """Submit a view and apply the product's ``response_action`` (errors/update/push/clear/close)."""
        body = self.payloads.view_submission(user_id, view_id, values=values, **kwargs)
        response = await self.send(url, *body)
        if response.status == 200:
            self.workspace.views.apply_submission(view_id, response.json)
        return response

    async def shortcut(
        self, url: str, user_id: str, callback_id: str, channel_id: str, message_ts: str, **kwargs: Any
    ) -> SlackResponse:
        body = self.payloads.message_shortcut(user_id, callback_id, channel_id, message_ts, **kwargs)
        return await self.send(url, *body)

    async def post_event(
        self,
        url: str,
        event: Mapping[str, Any],
        *,
        event_id: str | None = None,
        retry_num: int | None = None,
        retry_reason: str | None = None,
    ) -> SlackResponse:
        body = self.payloads.event(event, event_id=event_id)
        return await self.send(url, *body, retry_num=retry_num, retry_reason=retry_reason)

    async def post_message(self, url: str, user_id: str, channel_id: str, text: str, **kwargs: Any) -> SlackResponse:
        """A person writes ``text`` (stored, then delivered as a ``message`` event)."""
        return await self.send(url, *self.payloads.message_event(user_id, channel_id, text, **kwargs))

    async def open_home(self, url: str, user_id: str) -> SlackResponse:
        return await self.send(url, *self.payloads.app_home_opened(user_id))
