"""Socket Mode: the websocket the product opens instead of receiving HTTP requests."""

from __future__ import annotations

import asyncio
import contextlib
import copy
import itertools
import json
import secrets
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

from aiohttp import WSMsgType, web

from .payloads import SlackPayloads
from .records import JSON, JSON_CONTENT, _dumps
from .state import SlackWorkspace

SOCKET_TICKET_TTL = 30.0
"""Seconds an ``apps.connections.open`` URL may wait before it is used (once)."""
SOCKET_ACK_TIMEOUT = 3.0
"""Slack's deadline for an envelope's ack."""
_RESPONSE_PAYLOAD_INTERACTIONS = frozenset({"view_submission", "block_suggestion"})


@dataclass(frozen=True)
class SocketAck:
    """The product's ack of one envelope; ``payload`` is what an HTTP response body would carry
    (a slash command's answer, a view submission's ``response_action``), ``None`` for a bare ack."""

    envelope_id: str
    payload: JSON | None
    elapsed: float


@dataclass
class _Connection:
    """One websocket the product opened with a ticket."""

    number: int
    ws: web.WebSocketResponse
    ticket: str
    opened: float
    closed: bool = False


def _as_envelope(body: str, content_type: str) -> tuple[str, JSON]:
    """An HTTP request built by :class:`SlackPayloads` as Socket Mode carries it: (envelope type, payload)."""
    if content_type == JSON_CONTENT:
        return "events_api", json.loads(body)
    fields = dict(parse_qsl(body, keep_blank_values=True))
    if set(fields) == {"payload"}:
        return "interactive", json.loads(fields["payload"])
    return "slash_commands", fields


class SlackSocketMode:
    """Slack's side of Socket Mode.

    ``apps.connections.open`` (app-level token) issues a ticket; ``GET /socket/<ticket>``
    upgrades to a websocket (each ticket works once, within :data:`SOCKET_TICKET_TTL`) and
    is greeted with ``hello``. Envelopes go to the newest open connection; the product
    answers each with ``{"envelope_id", "payload"?}`` on any of its connections, and the
    helpers return that ack. Nothing is redelivered by itself — an envelope whose connection
    drops before the ack just times out — :meth:`resend` sends one again as Slack's retry
    would (new envelope id, ``retry_attempt`` + 1). :meth:`close` and :meth:`disconnect` are
    Slack dropping or refreshing connections; :meth:`refuse` fails the next handshakes.
    """

    def __init__(
        self, workspace: SlackWorkspace, payloads: SlackPayloads, *, ack_timeout: float = SOCKET_ACK_TIMEOUT
    ) -> None:
        self.ws = workspace
        self.payloads = payloads
        self.ack_timeout = ack_timeout
        self.envelopes: list[JSON] = []
        """Every envelope sent, in order."""
        self.received: list[Any] = []
        """Every text frame the product sent (acks and anything else), decoded."""
        self.connections: list[_Connection] = []
        self._tickets: dict[str, float] = {}
        self._refusals: list[int] = []
        self._pending: dict[str, asyncio.Future[JSON]] = {}
        self._numbers = itertools.count(1)
        self._changed = asyncio.Event()

    # -- connections

    def issue_url(self) -> str:
        """A one-time websocket URL, as ``apps.connections.open`` returns it."""
        ticket = secrets.token_urlsafe(16)
        self._tickets[ticket] = time.monotonic()
        return "ws" + self.ws.base_url.removeprefix("http") + f"/socket/{ticket}"

    @property
    def open_connections(self) -> list[_Connection]:
        return [c for c in self.connections if not c.closed and not c.ws.closed]

    @property
    def connected(self) -> bool:
        return bool(self.open_connections)

    def refuse(self, count: int = 1, status: int = 503) -> None:
        """Answer the next ``count`` handshakes with ``status`` (their tickets are used up all the same)."""
        self._refusals.extend([status] * count)

    async def handle(self, request: web.Request) -> web.StreamResponse:
        """``GET /socket/<ticket>``: the websocket, greeted with ``hello``, read until it closes."""
        ticket = request.match_info["ticket"]
        issued = self._tickets.pop(ticket, None)
        if self._refusals:
            return web.Response(status=self._refusals.pop(0), text="refused by the sandbox")
        if issued is None or time.monotonic() - issued > SOCKET_TICKET_TTL:
            return web.Response(status=401, text="invalid_ticket")
        ws = web.WebSocketResponse(autoping=True)
        await ws.prepare(request)
        connection = _Connection(next(self._numbers), ws, ticket, time.time())
        self.connections.append(connection)
        try:
            await ws.send_str(
                _dumps(
                    {
                        "type": "hello",
                        "num_connections": len(self.open_connections),
                        "debug_info": {
                            "host": f"applink-sandbox-{connection.number}",
                            "build_number": 1,
                            "approximate_connection_time": 18060,
                        },
                        "connection_info": {"app_id": self.ws.identity.app_id},
                    }
                )
            )
            self._signal()
            async for frame in ws:
                if frame.type == WSMsgType.TEXT:
                    self._on_text(frame.data)
        finally:
            connection.closed = True
            self._signal()
        return ws

    def _on_text(self, data: str) -> None:
        try:
            message = json.loads(data)
        except ValueError:
            message = data
        self.received.append(message)
        if isinstance(message, dict):
            future = self._pending.pop(str(message.get("envelope_id")), None)
            if future is not None and not future.done():
                future.set_result(message)

    def _signal(self) -> None:
        self._changed.set()
        self._changed = asyncio.Event()

    async def until(self, ready: Callable[[], bool], timeout: float, what: str) -> None:
        """Wait until ``ready()`` holds (checked at every connection change); ``TimeoutError`` naming ``what``."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while not ready():
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise TimeoutError(f"Socket Mode: {what} within {timeout}s")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), remaining)

    async def wait_connected(self, count: int = 1, timeout: float = 5.0) -> _Connection:
        """Wait until the product has opened ``count`` connections in all and one is open; the newest."""
        await self.until(
            lambda: len(self.connections) >= count and self.connected, timeout, f"no open connection (number {count})"
        )
        return self.open_connections[-1]

    async def close(self, code: int = 1001) -> None:
        """The server closes every open connection (Slack does this on its own from time to time)."""
        for connection in self.open_connections:
            await connection.ws.close(code=code, message=b"closed by the sandbox")

    async def disconnect(self, reason: str = "refresh_requested") -> None:
        """Send ``{"type": "disconnect"}``: the product should open a new connection and drop this one."""
        for connection in self.open_connections:
            await connection.ws.send_str(
                _dumps(
                    {
                        "type": "disconnect",
                        "reason": reason,
                        "debug_info": {"host": f"applink-sandbox-{connection.number}"},
                    }
                )
            )

    async def shutdown(self) -> None:
        for future in self._pending.values():
            future.cancel()
        self._pending.clear()
        await self.close()

    # -- envelopes

    async def send(
        self,
        kind: str,
        payload: JSON,
        *,
        accepts_response_payload: bool = False,
        retry_attempt: int | None = None,
        retry_reason: str | None = None,
        timeout: float | None = None,
    ) -> SocketAck:
        """Send one envelope on the newest open connection and wait for its ack.

        Raises ``TimeoutError`` when there is no connection or no ack within ``timeout``
        (default :attr:`ack_timeout`)."""
        timeout = self.ack_timeout if timeout is None else timeout
        envelope: JSON = {
            "envelope_id": str(uuid.uuid4()),
            "payload": payload,
            "type": kind,
            "accepts_response_payload": accepts_response_payload,
        }
        if kind == "events_api":
            envelope.update(retry_attempt=retry_attempt or 0, retry_reason=retry_reason or "")
        loop = asyncio.get_running_loop()
        started = loop.time()
        connection = await self.wait_connected(timeout=timeout)
        future: asyncio.Future[JSON] = loop.create_future()
        self._pending[envelope["envelope_id"]] = future
        self.envelopes.append(envelope)
        try:
            await connection.ws.send_str(_dumps(envelope))
            remaining = max(0.0, timeout - (loop.time() - started))
            try:
                ack = await asyncio.wait_for(future, remaining)
            except TimeoutError:
                raise TimeoutError(f"Socket Mode: no ack for {kind} envelope within {timeout}s") from None
        finally:
            self._pending.pop(envelope["envelope_id"], None)
        answer = ack.get("payload")
        return SocketAck(envelope["envelope_id"], answer if isinstance(answer, dict) else None, loop.time() - started)

    async def send_request(self, body: str, content_type: str, **kwargs: Any) -> SocketAck:
        """Send what :class:`SlackPayloads` built for HTTP as the matching envelope."""
        kind, payload = _as_envelope(body, content_type)
        accepts = kind == "slash_commands" or (
            kind == "interactive" and payload.get("type") in _RESPONSE_PAYLOAD_INTERACTIONS
        )
        return await self.send(kind, payload, accepts_response_payload=accepts, **kwargs)

    async def resend(self, envelope_id: str, retry_reason: str = "timeout", **kwargs: Any) -> SocketAck:
        """Deliver an envelope sent before again, as Slack retries: same payload, next ``retry_attempt``."""
        sent = next(e for e in self.envelopes if e["envelope_id"] == envelope_id)
        return await self.send(
            sent["type"],
            copy.deepcopy(sent["payload"]),
            accepts_response_payload=sent["accepts_response_payload"],
            retry_attempt=int(sent.get("retry_attempt") or 0) + 1,
            retry_reason=retry_reason,
            **kwargs,
        )

    # -- what people do, over the socket (the HTTP helpers' twins; ``timeout`` bounds the wait for the ack)

    async def slash(
        self, command: str, text: str, user_id: str, channel_id: str, *, timeout: float | None = None, **kwargs: Any
    ) -> SocketAck:
        """A slash command; the ack payload is shown to the user (ephemeral) or in the channel."""
        body = self.payloads.slash_command(command, text, user_id, channel_id, **kwargs)
        ack = await self.send_request(*body, timeout=timeout)
        if ack.payload:
            self.ws.show_command_answer(ack.payload, user_id, channel_id)
        return ack

    async def click(
        self, user_id: str, action_id: str, value: str | None = None, *, timeout: float | None = None, **kwargs: Any
    ) -> SocketAck:
        """A block action (see :meth:`SlackPayloads.block_action`); Slack ignores its ack payload."""
        body = self.payloads.block_action(user_id, action_id, value, **kwargs)
        return await self.send_request(*body, timeout=timeout)

    async def submit_view(
        self,
        user_id: str,
        view_id: str,
        values: Mapping[str, Mapping[str, Any]] | None = None,
        *,
        timeout: float | None = None,
        **kwargs: Any,
    ) -> SocketAck:
        """Submit a view; the ack payload's ``response_action`` is applied (errors/update/push/clear/close)."""
        body = self.payloads.view_submission(user_id, view_id, values=values, **kwargs)
        ack = await self.send_request(*body, timeout=timeout)
        self.ws.views.apply_submission(view_id, ack.payload)
        return ack

    async def shortcut(
        self,
        user_id: str,
        callback_id: str,
        channel_id: str,
        message_ts: str,
        *,
        timeout: float | None = None,
        **kwargs: Any,
    ) -> SocketAck:
        body = self.payloads.message_shortcut(user_id, callback_id, channel_id, message_ts, **kwargs)
        return await self.send_request(*body, timeout=timeout)

    async def event(
        self,
        event: Mapping[str, Any],
        *,
        event_id: str | None = None,
        retry_attempt: int = 0,
        retry_reason: str = "",
        timeout: float | None = None,
    ) -> SocketAck:
        return await self.send_request(
            *self.payloads.event(event, event_id=event_id),
            retry_attempt=retry_attempt,
            retry_reason=retry_reason,
            timeout=timeout,
        )

    async def message(
        self, user_id: str, channel_id: str, text: str, *, timeout: float | None = None, **kwargs: Any
    ) -> SocketAck:
        """A person writes ``text`` (stored, then delivered as a ``message`` event)."""
        body = self.payloads.message_event(user_id, channel_id, text, **kwargs)
        return await self.send_request(*body, timeout=timeout)

    async def open_home(self, user_id: str, *, timeout: float | None = None) -> SocketAck:
        return await self.send_request(*self.payloads.app_home_opened(user_id), timeout=timeout)
