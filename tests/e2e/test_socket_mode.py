"""linedesk in Socket Mode: the desk's whole flow over the websocket linedesk opens to the Slack sandbox,
reconnects when Slack drops or refreshes the connection, and the limits of what it accepts."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any

import pytest
from slack_bolt.async_app import AsyncBoltRequest
from slack_bolt.response import BoltResponse

from adapters.slack import socket_mode
from adapters.slack.socket_mode import SocketModeRefused
from core.model import InstanceStatus
from sandboxes.limits import Limits
from sandboxes.rig import ANNA, BOT_TOKEN, DESK_CHANNEL, IVAN, SIGNING_SECRET, Person, Rig
from sandboxes.slack import SlackSandbox, SocketAck
from tests.support.flows import picker_buttons
from tests.support.rigs import PROCESSES

APP_TOKEN = "xapp-1-A0LINEDESK-1-socket-sandbox"


class SocketRig(Rig):
    """The rig with `slack.app_token` set: Slack talks to linedesk over Socket Mode."""

    def __init__(self, workdir: Path, processes_dir: Path, *, app_token: str = APP_TOKEN, **kwargs: Any):
        super().__init__(workdir, processes_dir, **kwargs)
        self.app_token = app_token
        self.slack = SlackSandbox(SIGNING_SECRET, bot_token=BOT_TOKEN, app_token=APP_TOKEN, limits=self.limits)

    def config_text(self) -> str:
        secret_line = f'signing_secret = "{SIGNING_SECRET}"\n'
        text = super().config_text()
        assert text.count(secret_line) == 1
        return text.replace(secret_line, secret_line + f'app_token = "{self.app_token}"\n')

    # --- people acting, over the socket --------------------------------------------------
    async def slash(  # type: ignore[override]
        self,
        person: Person,
        command: str,
        text: str = "",
        channel: str = DESK_CHANNEL,
    ) -> SocketAck:
        ack = await self.slack.socket.slash(command, text, person.slack_user, channel)
        await self.settle()
        return ack

    async def click(self, person: Person, action_id: str, value: str, **kwargs: Any) -> SocketAck:  # type: ignore[override]
        ack = await self.slack.socket.click(person.slack_user, action_id, value, **kwargs)
        await self.settle()
        return ack

    async def thread_reply(self, person: Person, session: int, text: str, **kwargs: Any) -> SocketAck:  # type: ignore[override]
        root = await self.thread_root(session)
        ack = await self.slack.socket.message(person.slack_user, root["channel"], text, thread_ts=root["ts"], **kwargs)
        await self.settle()
        return ack

    async def submit(self, person: Person, values: dict[str, dict[str, Any]]) -> SocketAck:  # type: ignore[override]
        modal = self.slack.workspace.views.modal(person.slack_user)
        assert modal is not None, f"{person.name} has no modal open"
        ack = await self.slack.socket.submit_view(person.slack_user, modal.id, values)
        await self.settle()
        return ack


@pytest.fixture
async def rig(tmp_path: Path) -> AsyncIterator[SocketRig]:
    stage = SocketRig(tmp_path, PROCESSES, limits=Limits.off())
    await stage.start()
    try:
        yield stage
    finally:
        await stage.stop()


@pytest.fixture
async def fast_rig(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[SocketRig]:
    """slack_sdk retries a failed connection after a ping interval: 0.2 s here instead of 10 s."""
    monkeypatch.setattr(socket_mode, "PING_INTERVAL", 0.2)
    stage = SocketRig(tmp_path, PROCESSES, limits=Limits.off())
    await stage.start()
    try:
        yield stage
    finally:
        await stage.stop()


async def test_linedesk_connects_through_the_configured_api_url(rig: SocketRig) -> None:
    assert rig.desk is not None and rig.desk.slack_socket is not None and rig.desk.slack_socket.connected
    connection = await rig.slack.socket.wait_connected(1, timeout=1)
    assert len(rig.slack.calls_of("apps.connections.open")) == 1  # asked the sandbox, i.e. slack.api_url
    assert len(rig.slack.socket.connections) == 1 and not connection.closed

    await rig.shutdown()  # stop() closes the socket
    assert not rig.slack.socket.connected


async def test_the_desk_flow_over_the_socket(rig: SocketRig) -> None:
    await rig.client_writes(IVAN, "Hello, my washing machine is broken")
    root = await rig.thread_root(1)
    card = rig.slack.message(root["channel"], root["ts"])
    assert card is not None and "#1 · Ivan" in card["blocks"][0]["text"]["text"]

    status = await rig.slash(ANNA, "/status", "online")
    assert status.payload == {"text": "Your status is now *online*."}
    assert rig.ephemeral(ANNA)[-1]["text"] == "Your status is now *online*."

    await rig.click(ANNA, "session.take", "1", channel_id=root["channel"], message_ts=root["ts"])
    card = rig.slack.message(root["channel"], root["ts"])
    assert card is not None and "active · Anna" in card["blocks"][0]["text"]["text"]

    reply = await rig.thread_reply(ANNA, 1, "Hi Ivan, what is your phone number?")
    assert reply.payload is None
    assert rig.client_chat(IVAN)[-1].endswith("Hi Ivan, what is your phone number?")

    picker = await rig.slash(ANNA, "/startprocess", "1")
    assert picker.payload is not None
    groups = picker_buttons(picker.payload["blocks"])
    assert list(groups) == ["Company", "Sales", "Sales · Leads"]
    button = groups["Company"][0]
    assert button["text"]["text"] == "Handle request"

    shown = rig.ephemeral(ANNA)[-1]
    assert shown["blocks"] == picker.payload["blocks"]
    await rig.click(
        ANNA,
        button["action_id"],
        button["value"],
        channel_id=DESK_CHANNEL,
        message_ts=shown["ts"],
        container_ephemeral=True,
    )
    assert rig.desk is not None
    [instance] = await rig.desk.store.list_instances(session=1)
    assert instance.status == InstanceStatus.WAITING and instance.started_by == "anna"
    assert "▶ Handle request started by Anna" in await rig.desk_thread(1)
    modal = rig.slack.modal(ANNA.slack_user)
    assert modal is not None and modal["title"]["text"] == "Handle request"

    refused = await rig.submit(ANNA, {"phone": {"value": ""}, "kind": {"value": "repair"}})
    assert refused.payload is not None and refused.payload["response_action"] == "errors"
    assert set(refused.payload["errors"]) == {"phone"}
    assert rig.slack.modal(ANNA.slack_user) is not None

    done = await rig.submit(
        ANNA, {"phone": {"value": "+7 900 123-45-67"}, "kind": {"value": "repair"}, "urgent": {"value": "true"}}
    )
    assert done.payload is None and rig.slack.modal(ANNA.slack_user) is None
    assert rig.client_chat(IVAN)[-3:] == [
        "Your request #1 is registered",
        "Request #1: registered",
        "When would it suit you for the master to come?",
    ]
    assert [e["type"] for e in rig.slack.socket.envelopes] == [
        "slash_commands",
        "interactive",
        "events_api",
        "slash_commands",
        "interactive",
        "interactive",
        "interactive",
    ]


async def test_reconnects_after_close_and_disconnect(rig: SocketRig) -> None:
    await rig.client_writes(IVAN, "Hello")
    await rig.slash(ANNA, "/status", "online")

    await rig.slack.socket.close()  # Slack drops the connection
    await rig.slack.socket.wait_connected(2, timeout=5)
    busy = await rig.slash(ANNA, "/status", "busy")
    assert busy.payload == {"text": "Your status is now *busy*."}

    await rig.slack.socket.disconnect()  # Slack asks for a refresh
    await rig.slack.socket.wait_connected(3, timeout=5)
    await rig.thread_reply(ANNA, 1, "Still here")
    assert rig.client_chat(IVAN)[-1].endswith("Still here")
    assert len(rig.slack.calls_of("apps.connections.open")) == 3
    assert len(rig.slack.socket.open_connections) == 1


async def test_reconnects_when_slack_fails_to_give_a_new_url(fast_rig: SocketRig) -> None:
    rig = fast_rig
    rig.slack.fail("apps.connections.open", status=500)
    await rig.slack.socket.close()
    await rig.slack.socket.wait_connected(2, timeout=5)
    assert [c.status for c in rig.slack.calls_of("apps.connections.open")] == [200, 500, 200]
    assert (await rig.slash(ANNA, "/status", "online")).payload == {"text": "Your status is now *online*."}


async def test_reconnects_after_a_refused_handshake(fast_rig: SocketRig) -> None:
    """slack_sdk alone would retry the used-up URL forever; linedesk's watchdog makes it ask for a new one."""
    rig = fast_rig
    rig.slack.socket.refuse(1)
    await rig.slack.socket.close()
    await rig.slack.socket.wait_connected(2, timeout=5)
    assert len(rig.slack.calls_of("apps.connections.open")) == 3
    assert (await rig.slash(ANNA, "/status", "online")).payload == {"text": "Your status is now *online*."}


async def test_a_retried_event_is_handled_once(rig: SocketRig) -> None:
    await rig.client_writes(IVAN, "Hello")
    await rig.slash(ANNA, "/status", "online")
    first = await rig.thread_reply(ANNA, 1, "Only once, please")
    retry = await rig.slack.socket.resend(first.envelope_id, retry_reason="timeout")
    await rig.settle()
    assert retry.envelope_id != first.envelope_id
    assert [m for m in rig.client_chat(IVAN) if m.endswith("Only once, please")] == [rig.client_chat(IVAN)[-1]]


async def test_every_envelope_goes_through_bolts_middleware(rig: SocketRig) -> None:
    """Socket Mode dispatches through the same Bolt app as HTTP: its global middleware sees every envelope,
    and an event, stored by the inbox there, reaches the event listeners' app from the store."""
    seen: list[tuple[str, str, str | None, str | None]] = []

    def spy(app: str) -> Callable[..., Awaitable[BoltResponse]]:
        async def look(req: AsyncBoltRequest, next: Callable[[], Awaitable[BoltResponse]]) -> BoltResponse:
            body: dict[str, Any] = req.body
            retries: Sequence[str | None] = req.headers.get("x-slack-retry-num") or [None]
            retry = retries[0]
            seen.append((app, req.mode, body.get("type") or body.get("command"), retry))
            return await next()

        return look

    assert rig.desk is not None and rig.desk.slack is not None and rig.desk.slack_events is not None
    rig.desk.slack.use(spy("slack"))
    rig.desk.slack_events.use(spy("events"))
    await rig.client_writes(IVAN, "Hello")
    await rig.slash(ANNA, "/status", "online")
    await rig.thread_reply(ANNA, 1, "Hi")
    await rig.settle()
    # the inbox (a global middleware added before the spy) answers events itself; its copy goes on from the store
    assert seen == [("slack", "socket_mode", "/status", None), ("events", "socket_mode", "event_callback", None)]


async def test_http_route_stays_mounted(rig: SocketRig) -> None:
    response = await rig.slack.post_slash(rig.slack_url, "/status", "", ANNA.slack_user, DESK_CHANNEL)
    assert response.status == 200 and "Your status: *offline*" in response.text


async def test_a_refused_app_token_stops_start_up(tmp_path: Path) -> None:
    stage = SocketRig(tmp_path, PROCESSES, app_token="xapp-1-A0LINEDESK-1-revoked", limits=Limits.off())
    try:
        with pytest.raises(SocketModeRefused, match="invalid_auth"):
            await stage.start()
        assert not stage.slack.socket.connections
    finally:
        await stage.stop()
