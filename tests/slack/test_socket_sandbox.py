"""The Slack sandbox's Socket Mode, driven by a raw websocket and by slack_sdk's / Bolt's own clients."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from slack_bolt.adapter.socket_mode.aiohttp import AsyncSocketModeHandler
from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncBoltRequest
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from sandboxes.limits import Limits
from sandboxes.slack import SlackSandbox

SECRET = "socket-test-signing-secret"
APP_TOKEN = "xapp-1-A0LINEDESK-1-sandbox"
ANNA = "U0ANNA01"
DESK = "C0DESK01"
MODAL: dict[str, Any] = {
    "type": "modal",
    "callback_id": "form",
    "title": {"type": "plain_text", "text": "Form"},
    "submit": {"type": "plain_text", "text": "Send"},
    "blocks": [
        {
            "type": "input",
            "block_id": "phone",
            "label": {"type": "plain_text", "text": "Phone"},
            "element": {"type": "plain_text_input", "action_id": "phone"},
        }
    ],
}


@pytest.fixture
async def sandbox() -> AsyncIterator[SlackSandbox]:
    sb = SlackSandbox(SECRET, app_token=APP_TOKEN, limits=Limits.off())
    sb.add_user(ANNA, "Anna Smith", display_name="anna")
    sb.add_channel(DESK, "desk")
    await sb.start()
    yield sb
    await sb.stop()


class RawClient:
    """A bare websocket client: the frames exactly as they travel."""

    def __init__(self, session: aiohttp.ClientSession, ws: aiohttp.ClientWebSocketResponse):
        self.session = session
        self.ws = ws

    async def receive(self, timeout: float = 3.0) -> dict[str, Any]:
        frame = await self.ws.receive(timeout=timeout)
        assert frame.type == aiohttp.WSMsgType.TEXT, frame
        message: dict[str, Any] = json.loads(frame.data)
        return message

    async def ack(self, envelope: dict[str, Any], payload: dict[str, Any] | None = None) -> None:
        answer: dict[str, Any] = {"envelope_id": envelope["envelope_id"]}
        if payload is not None:
            answer["payload"] = payload
        await self.ws.send_str(json.dumps(answer))


async def open_url(sandbox: SlackSandbox) -> str:
    response = await AsyncWebClient(token=APP_TOKEN, base_url=sandbox.api_url).apps_connections_open(
        app_token=APP_TOKEN
    )
    return str(response["url"])


@pytest.fixture
async def raw(sandbox: SlackSandbox) -> AsyncIterator[RawClient]:
    session = aiohttp.ClientSession()
    ws = await session.ws_connect(await open_url(sandbox))
    client = RawClient(session, ws)
    hello = await client.receive()
    assert hello["type"] == "hello"
    yield client
    await ws.close()
    await session.close()


async def answer_with(client: RawClient, payload: dict[str, Any] | None) -> dict[str, Any]:
    envelope = await client.receive()
    await client.ack(envelope, payload)
    return envelope


# --------------------------------------------------------------------------------------
# apps.connections.open and the websocket


async def test_connections_open_takes_the_app_token_only(sandbox: SlackSandbox) -> None:
    url = await open_url(sandbox)
    assert url.startswith(f"ws://127.0.0.1:{sandbox.base_url.rsplit(':', 1)[1]}/socket/")
    assert sandbox.calls_of("apps.connections.open")[0].params == {}

    with pytest.raises(SlackApiError) as bot:
        await AsyncWebClient(token=sandbox.bot_token, base_url=sandbox.api_url).apps_connections_open(
            app_token=sandbox.bot_token
        )
    assert bot.value.response["error"] == "not_allowed_token_type"
    with pytest.raises(SlackApiError) as unknown:
        await AsyncWebClient(base_url=sandbox.api_url).apps_connections_open(app_token="xapp-1-other")
    assert unknown.value.response["error"] == "invalid_auth"
    with pytest.raises(SlackApiError) as wrong_way:
        await AsyncWebClient(token=APP_TOKEN, base_url=sandbox.api_url).chat_postMessage(channel=DESK, text="hi")
    assert wrong_way.value.response["error"] == "not_allowed_token_type"
    async with aiohttp.ClientSession() as session:  # as a POST parameter: refused, as Slack documents
        async with session.post(sandbox.api_url + "apps.connections.open", data={"token": APP_TOKEN}) as resp:
            assert (await resp.json()) == {"ok": False, "error": "not_authed"}


async def test_without_an_app_token_there_is_no_socket_mode() -> None:
    async with SlackSandbox(SECRET, limits=Limits.off()) as sandbox:
        with pytest.raises(SlackApiError) as refused:
            await AsyncWebClient(base_url=sandbox.api_url).apps_connections_open(app_token="xapp-1-any")
        assert refused.value.response["error"] == "invalid_auth"
    with pytest.raises(ValueError, match="xapp"):
        SlackSandbox(SECRET, app_token="xoxb-not-an-app-token")


async def test_connections_open_failures_can_be_injected(sandbox: SlackSandbox) -> None:
    sandbox.fail("apps.connections.open", retry_after=7)
    with pytest.raises(SlackApiError) as limited:
        await open_url(sandbox)
    assert limited.value.response.status_code == 429
    assert limited.value.response.headers["Retry-After"] == "7"
    assert (await open_url(sandbox)).startswith("ws://")


async def test_hello_and_one_time_tickets(sandbox: SlackSandbox) -> None:
    url = await open_url(sandbox)
    async with aiohttp.ClientSession() as session:
        async with session.ws_connect(url) as ws:
            hello = json.loads((await ws.receive(timeout=3)).data)
            assert hello["type"] == "hello" and hello["num_connections"] == 1
            assert hello["connection_info"] == {"app_id": sandbox.identity.app_id}
            assert "host" in hello["debug_info"]
            assert (await sandbox.socket.wait_connected(timeout=1)).ws is not None
            with pytest.raises(aiohttp.WSServerHandshakeError) as reused:
                await session.ws_connect(url)
            assert reused.value.status == 401
        with pytest.raises(aiohttp.WSServerHandshakeError):
            await session.ws_connect(url.rsplit("/", 1)[0] + "/made-up-ticket")
    await sandbox.socket.until(lambda: not sandbox.socket.connected, 3, "still connected")


async def test_refused_handshakes(sandbox: SlackSandbox) -> None:
    sandbox.socket.refuse(1, status=503)
    async with aiohttp.ClientSession() as session:
        with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
            await session.ws_connect(await open_url(sandbox))
        assert refused.value.status == 503
        async with session.ws_connect(await open_url(sandbox)) as ws:
            assert json.loads((await ws.receive(timeout=3)).data)["type"] == "hello"


# --------------------------------------------------------------------------------------
# envelopes and acks, frame by frame


async def test_slash_command_envelope_and_its_answer(sandbox: SlackSandbox, raw: RawClient) -> None:
    sent = asyncio.create_task(sandbox.socket.slash("/status", "online", ANNA, DESK))
    envelope = await answer_with(raw, {"text": "Your status is now *online*."})
    ack = await asyncio.wait_for(sent, 3)

    assert envelope["type"] == "slash_commands" and envelope["accepts_response_payload"] is True
    assert "retry_attempt" not in envelope
    payload = envelope["payload"]
    assert payload["command"] == "/status" and payload["text"] == "online"
    assert payload["user_id"] == ANNA and payload["channel_id"] == DESK
    assert payload["response_url"].startswith(sandbox.base_url + "/response/")
    assert payload["trigger_id"] and payload["api_app_id"] == sandbox.identity.app_id
    assert ack.envelope_id == envelope["envelope_id"] and ack.payload == {"text": "Your status is now *online*."}
    assert [e["text"] for e in sandbox.ephemeral(ANNA)] == ["Your status is now *online*."]
    assert sandbox.socket.received[-1] == {
        "envelope_id": envelope["envelope_id"],
        "payload": {"text": "Your status is now *online*."},
    }


async def test_event_envelope_carries_retries(sandbox: SlackSandbox, raw: RawClient) -> None:
    sent = asyncio.create_task(sandbox.socket.message(ANNA, DESK, "hello", event_id="Ev0000001"))
    first = await answer_with(raw, None)
    ack = await asyncio.wait_for(sent, 3)
    assert ack.payload is None
    assert first["type"] == "events_api" and first["accepts_response_payload"] is False
    assert (first["retry_attempt"], first["retry_reason"]) == (0, "")
    assert first["payload"]["type"] == "event_callback" and first["payload"]["event_id"] == "Ev0000001"
    assert first["payload"]["event"]["text"] == "hello"
    assert [m["text"] for m in sandbox.channel_messages(DESK)] == ["hello"]

    again = asyncio.create_task(sandbox.socket.resend(first["envelope_id"]))
    retry = await answer_with(raw, None)
    await asyncio.wait_for(again, 3)
    assert retry["envelope_id"] != first["envelope_id"] and retry["payload"] == first["payload"]
    assert (retry["retry_attempt"], retry["retry_reason"]) == (1, "timeout")
    assert [m["text"] for m in sandbox.channel_messages(DESK)] == ["hello"]  # redelivered, not written twice


async def test_interactive_envelopes(sandbox: SlackSandbox, raw: RawClient) -> None:
    client = AsyncWebClient(token=sandbox.bot_token, base_url=sandbox.api_url)
    posted = await client.chat_postMessage(
        channel=DESK,
        text="card",
        blocks=[
            {
                "type": "actions",
                "block_id": "a",
                "elements": [
                    {
                        "type": "button",
                        "action_id": "take",
                        "text": {"type": "plain_text", "text": "Take"},
                        "value": "1",
                    }
                ],
            }
        ],
    )
    click = asyncio.create_task(sandbox.socket.click(ANNA, "take", "1", channel_id=DESK, message_ts=posted["ts"]))
    envelope = await answer_with(raw, None)
    await asyncio.wait_for(click, 3)
    assert envelope["type"] == "interactive" and envelope["accepts_response_payload"] is False
    assert envelope["payload"]["type"] == "block_actions"
    trigger = envelope["payload"]["trigger_id"]
    assert envelope["payload"]["actions"][0]["action_id"] == "take"

    opened = await client.views_open(trigger_id=trigger, view=MODAL)
    view_id = opened["view"]["id"]
    submit = asyncio.create_task(sandbox.socket.submit_view(ANNA, view_id, {"phone": {"phone": ""}}))
    envelope = await answer_with(raw, {"response_action": "errors", "errors": {"phone": "Required"}})
    await asyncio.wait_for(submit, 3)
    assert envelope["accepts_response_payload"] is True and envelope["payload"]["type"] == "view_submission"
    assert envelope["payload"]["view"]["state"]["values"]["phone"]["phone"]["value"] == ""
    assert sandbox.views[view_id].errors == {"phone": "Required"} and sandbox.modal(ANNA) is not None

    submit = asyncio.create_task(sandbox.socket.submit_view(ANNA, view_id, {"phone": {"phone": "12345"}}))
    await answer_with(raw, None)
    await asyncio.wait_for(submit, 3)
    assert sandbox.modal(ANNA) is None  # a bare ack closes the modal

    shortcut = asyncio.create_task(sandbox.socket.shortcut(ANNA, "start_process", DESK, posted["ts"]))
    envelope = await answer_with(raw, None)
    await asyncio.wait_for(shortcut, 3)
    assert envelope["payload"]["type"] == "message_action" and envelope["payload"]["callback_id"] == "start_process"
    assert envelope["accepts_response_payload"] is False


async def test_waits_are_bounded(sandbox: SlackSandbox) -> None:
    with pytest.raises(TimeoutError, match="no open connection"):
        await sandbox.socket.event({"type": "app_home_opened", "user": ANNA}, timeout=0.2)
    async with aiohttp.ClientSession() as session:
        async with session.ws_connect(await open_url(sandbox)) as ws:
            await ws.receive(timeout=3)  # hello; no ack follows
            with pytest.raises(TimeoutError, match="no ack"):
                await sandbox.socket.slash("/status", "", ANNA, DESK, timeout=0.2)


async def test_server_side_close_and_disconnect(sandbox: SlackSandbox, raw: RawClient) -> None:
    await sandbox.socket.disconnect("warning")
    message = await raw.receive()
    assert message["type"] == "disconnect" and message["reason"] == "warning"
    await sandbox.socket.close()
    frame = await raw.ws.receive(timeout=3)
    assert frame.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED)
    assert raw.ws.closed
    await sandbox.socket.until(lambda: not sandbox.socket.connected, 3, "still connected")


# --------------------------------------------------------------------------------------
# with the real clients: slack_sdk's SocketModeClient under Bolt's aiohttp handler


@pytest.fixture
async def bolt(sandbox: SlackSandbox) -> AsyncIterator[tuple[AsyncApp, asyncio.Queue[dict[str, Any]]]]:
    seen: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    app = AsyncApp(client=AsyncWebClient(token=sandbox.bot_token, base_url=sandbox.api_url), signing_secret=SECRET)

    @app.command("/status")
    async def status(ack: AsyncAck, command: dict[str, Any]) -> None:
        await ack(text=f"status {command['text']}")

    @app.view("form")
    async def form(ack: AsyncAck, view: dict[str, Any]) -> None:
        phone = view["state"]["values"]["phone"]["phone"]["value"]
        if phone:
            await ack()
        else:
            await ack(response_action="errors", errors={"phone": "Required"})

    @app.event("app_home_opened")
    async def home(event: dict[str, Any], request: AsyncBoltRequest) -> None:
        seen.put_nowait({"user": event["user"], "retry": request.headers.get("x-slack-retry-num", [None])[0]})

    handler = AsyncSocketModeHandler(
        app, APP_TOKEN, web_client=AsyncWebClient(token=APP_TOKEN, base_url=sandbox.api_url)
    )
    await asyncio.wait_for(handler.connect_async(), 5)
    try:
        yield app, seen
    finally:
        await handler.close_async()


async def test_bolt_over_the_socket(
    sandbox: SlackSandbox, bolt: tuple[AsyncApp, asyncio.Queue[dict[str, Any]]]
) -> None:
    _, seen = bolt
    ack = await sandbox.socket.slash("/status", "online", ANNA, DESK)
    assert ack.payload == {"text": "status online"}
    assert sandbox.ephemeral(ANNA)[-1]["text"] == "status online"

    client = AsyncWebClient(token=sandbox.bot_token, base_url=sandbox.api_url)
    view_id = (await client.views_open(trigger_id=sandbox.workspace.triggers.issue(ANNA), view=MODAL))["view"]["id"]
    refused = await sandbox.socket.submit_view(ANNA, view_id, {"phone": {"phone": ""}})
    assert refused.payload == {"response_action": "errors", "errors": {"phone": "Required"}}
    assert sandbox.views[view_id].errors == {"phone": "Required"}
    accepted = await sandbox.socket.submit_view(ANNA, view_id, {"phone": {"phone": "1"}})
    assert accepted.payload is None and sandbox.modal(ANNA) is None

    first = await sandbox.socket.open_home(ANNA)
    await sandbox.socket.resend(first.envelope_id)
    # Bolt mirrors retry_attempt as X-Slack-Retry-Num — "0" on a first delivery, too
    assert await asyncio.wait_for(seen.get(), 3) == {"user": ANNA, "retry": "0"}
    assert await asyncio.wait_for(seen.get(), 3) == {"user": ANNA, "retry": "1"}


async def test_bolt_reconnects_after_close_and_disconnect(
    sandbox: SlackSandbox, bolt: tuple[AsyncApp, asyncio.Queue[dict[str, Any]]]
) -> None:
    await sandbox.socket.wait_connected(1)
    await sandbox.socket.close()
    await sandbox.socket.wait_connected(2, timeout=5)
    assert (await sandbox.socket.slash("/status", "busy", ANNA, DESK)).payload == {"text": "status busy"}

    await sandbox.socket.disconnect()
    await sandbox.socket.wait_connected(3, timeout=5)
    assert (await sandbox.socket.slash("/status", "away", ANNA, DESK)).payload == {"text": "status away"}
    assert len(sandbox.calls_of("apps.connections.open")) == 3
    # the client dropped the connection it was asked to refresh
    await sandbox.socket.until(lambda: len(sandbox.socket.open_connections) == 1, 3, "old connections open")
