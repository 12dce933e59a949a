"""The HTTP surface besides the webhooks: health, readiness, metrics, the admin API."""

from __future__ import annotations

import socket
from pathlib import Path

import aiohttp
import pytest

from sandboxes.limits import Limits
from sandboxes.rig import Rig
from tests.support.flows import open_session_with_anna_online, pick
from tests.support.rigs import PROCESSES

ADMIN = "admin-token-for-tests"


@pytest.fixture
async def admin_rig(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("LINEDESK_ADMIN_TOKEN", ADMIN)
    rig = Rig(tmp_path, PROCESSES, limits=Limits.off())
    original = rig.load_config

    def with_admin_token():  # the rig reads no process environment; give it the admin token
        from core.config import load_config

        return load_config(rig.config_path(), environ={"LINEDESK_ADMIN_TOKEN": ADMIN})

    rig.load_config = with_admin_token  # type: ignore[method-assign]
    assert original is not None
    await rig.start()
    yield rig
    await rig.stop()


async def get(url: str, token: str | None = None) -> tuple[int, dict | str]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with aiohttp.ClientSession() as http, http.get(url, headers=headers) as response:
        body = await response.json() if response.content_type == "application/json" else await response.text()
        return response.status, body


async def test_health_and_readiness(rig: Rig) -> None:
    assert (await get(f"{rig.url}/healthz"))[0] == 200
    status, body = await get(f"{rig.url}/readyz")
    assert status == 200 and body == {"ok": True, "store": True, "started": True}
    assert rig.desk is not None
    await rig.desk.store.close()
    status, body = await get(f"{rig.url}/readyz")
    assert status == 503 and isinstance(body, dict) and body["store"] is False
    await rig.desk.store.open()


async def test_metrics_are_prometheus_text(rig: Rig) -> None:
    await open_session_with_anna_online(rig)
    status, text = await get(f"{rig.url}/metrics")
    assert status == 200 and isinstance(text, str)
    assert 'linedesk_inbound_events_total{result="handled",source="telegram:support"} 1.0' in text
    assert "linedesk_outbox_depth 0.0" in text
    assert 'linedesk_outbound_deliveries_total{result="delivered",route="slack.desk"}' in text  # more: test_metrics


async def test_admin_api_needs_the_bearer_token(admin_rig: Rig) -> None:
    assert (await get(f"{admin_rig.url}/api/sessions"))[0] == 401
    assert (await get(f"{admin_rig.url}/api/sessions", "wrong"))[0] == 401
    status, _ = await get(f"{admin_rig.url}/api/sessions", ADMIN)
    assert status == 200


async def test_admin_api_is_off_without_a_token(rig: Rig) -> None:
    status, body = await get(f"{rig.url}/api/sessions", "anything")
    assert status == 403 and "LINEDESK_ADMIN_TOKEN" in str(body)


async def test_admin_api_shows_sessions_messages_instances_items(admin_rig: Rig) -> None:
    rig = admin_rig
    await open_session_with_anna_online(rig)
    await pick(rig, "Handle request")
    from sandboxes.rig import ANNA

    await rig.submit(ANNA, {"phone": {"value": "42"}, "kind": {"value": "repair"}, "urgent": {"value": "true"}})
    status, body = await get(f"{rig.url}/api/sessions?status=queued", ADMIN)
    assert status == 200 and isinstance(body, dict) and [s["number"] for s in body["sessions"]] == [1]
    status, body = await get(f"{rig.url}/api/sessions/1", ADMIN)
    assert isinstance(body, dict) and body["messages"][0]["text"] == "Hello, my washing machine is broken"
    assert (await get(f"{rig.url}/api/sessions/77", ADMIN))[0] == 404
    assert rig.desk is not None
    [instance] = await rig.desk.store.list_instances()
    status, body = await get(f"{rig.url}/api/instances/{instance.id}", ADMIN)
    assert isinstance(body, dict) and body["status"] == "waiting" and body["waiting_for"] == "client_message"
    assert body["current_task"] == "wait_answer" and body["variables"]["request_no"] == 1  # the event it waits at
    assert "state" not in body
    status, body = await get(f"{rig.url}/api/items/requests", ADMIN)
    assert isinstance(body, dict) and body["items"][0]["fields"]["phone"] == "42"
    status, body = await get(f"{rig.url}/api/catalog", ADMIN)
    assert isinstance(body, dict) and [s["scope"] for s in body["scopes"]] == ["Company", "Sales", "Sales · Leads"]
    status, body = await get(f"{rig.url}/api/lines", ADMIN)
    assert isinstance(body, dict) and [line["id"] for line in body["lines"]] == ["support", "sales"]
    assert "token" not in str(body).lower()


async def test_slack_url_verification(rig: Rig) -> None:
    body, content_type = rig.slack.payloads.url_verification("challenge-123")
    response = await rig.slack.send(rig.slack_url, body, content_type)
    assert response.status == 200 and "challenge-123" in response.text


async def test_slack_events_linedesk_does_not_use_are_acknowledged(rig: Rig) -> None:
    response = await rig.slack.post_event(
        rig.slack_url, {"type": "reaction_added", "user": "U0ANNA01", "reaction": "eyes", "event_ts": "1.2"}
    )
    assert response.status == 200


async def test_the_rig_moves_to_another_port_when_its_port_was_taken_meanwhile(tmp_path: Path) -> None:
    """The free port a rig picked can be taken before it binds (by any socket's ephemeral port): it picks
    another instead of failing the test that uses it."""
    rig = Rig(tmp_path, PROCESSES, limits=Limits.off())
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        taken = squatter.getsockname()[1]
        rig.port = taken
        await rig.start()
        try:
            assert rig.port != taken
            status, _ = await get(f"{rig.url}/healthz")
            assert status == 200
        finally:
            await rig.stop()
