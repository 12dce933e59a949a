"""`/metrics` tells what happened (issue 8, point 3): messages by line and channel, stored events by result,
deliveries by route and result, process starts by trigger and outcome, instance failures, the outbox backlog,
and the latency histograms of the Telegram webhook and of Slack's acks."""

from __future__ import annotations

import aiohttp
from prometheus_client.parser import text_string_to_metric_families

from sandboxes.rig import ANNA, IVAN, SUPPORT_TOKEN, Rig
from tests.support.bpmn import block
from tests.support.flows import open_session_with_anna_online, pick
from tests.support.rigs import MakeRig

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


async def scrape(rig: Rig) -> Samples:
    async with aiohttp.ClientSession() as http, http.get(f"{rig.url}/metrics") as response:
        assert response.status == 200 and response.content_type == "text/plain"
        text = await response.text()
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


async def test_what_happened_is_counted(rig: Rig) -> None:
    await open_session_with_anna_online(rig)
    update = rig.telegram.text_update(SUPPORT_TOKEN, rig.telegram.user(IVAN.telegram_user, IVAN.name), "Again?")
    await rig.telegram.deliver(SUPPORT_TOKEN, update)
    await rig.telegram.deliver(SUPPORT_TOKEN, update)  # Telegram retried: a duplicate
    await rig.settle()
    await pick(rig, "Handle request")
    await rig.settle()
    await rig.slash(ANNA, "/startprocess", "99")  # no such session: refused

    samples = await scrape(rig)
    assert value(samples, "linedesk_inbound_messages_total", line="support", channel="telegram") == 2
    assert value(samples, "linedesk_inbound_events_total", source="telegram:support", result="handled") == 2
    assert value(samples, "linedesk_inbound_events_total", source="telegram:support", result="duplicate") == 1
    assert value(samples, "linedesk_inbound_events_total", source="slack", result="handled") == 0  # no events yet
    assert value(samples, "linedesk_process_starts_total", trigger="manual", outcome="started") == 1
    assert value(samples, "linedesk_outbound_deliveries_total", route="slack.desk", result="delivered") >= 3
    assert value(samples, "linedesk_outbound_deliveries_total", route="telegram.client", result="delivered") >= 1
    assert value(samples, "linedesk_outbox_depth") == 0
    assert value(samples, "linedesk_outbox_oldest_age_seconds") == 0
    assert value(samples, "linedesk_webhook_latency_seconds_count", line="support") == 3
    assert value(samples, "linedesk_slack_ack_latency_seconds_count", kind="command") == 3
    assert value(samples, "linedesk_slack_ack_latency_seconds_count", kind="block_actions") == 1
    assert value(samples, "linedesk_slack_ack_latency_seconds_bucket", kind="command", le="+Inf") == 3


async def test_failures_retries_and_the_backlog_are_counted(make_rig: MakeRig) -> None:
    rig = await make_rig(("broken", "Broken", [block("linedesk.http", url="http://not-allowed.example/")]))
    await open_session_with_anna_online(rig)
    rig.telegram.fail("sendMessage", status=502, count=1, chat_id=IVAN.telegram_user)
    await rig.thread_reply(ANNA, 1, "// a note first")
    await rig.click(ANNA, "session.take", "1", **_card(await rig.thread_root(1)))
    await rig.thread_reply(ANNA, 1, "Hello Ivan")  # the first try gets 502: retried later
    await pick(rig, "Broken")
    await rig.settle()

    samples = await scrape(rig)
    assert value(samples, "linedesk_process_starts_total", trigger="manual", outcome="failed") == 1
    assert value(samples, "linedesk_instance_failures_total", process="broken") == 1
    assert value(samples, "linedesk_outbound_deliveries_total", route="telegram.client", result="retried") == 1
    assert value(samples, "linedesk_outbound_deliveries_total", route="telegram.client", result="delivered") >= 2
    assert rig.client_chat(IVAN)[-1] == "Anna\nHello Ivan"


async def test_the_backlog_is_the_stores(rig: Rig) -> None:
    """Depth and age of the oldest waiting entry come from the store (shared by every instance)."""
    await open_session_with_anna_online(rig)
    await rig.click(ANNA, "session.take", "1", **_card(await rig.thread_root(1)))
    rig.telegram.fail("sendMessage", status=429, retry_after=60, chat_id=IVAN.telegram_user)
    await rig.thread_reply(ANNA, 1, "Hello Ivan")  # Telegram says: not for a minute
    samples = await scrape(rig)
    assert value(samples, "linedesk_outbox_depth") == 1
    assert value(samples, "linedesk_outbox_oldest_age_seconds") > 0
    assert value(samples, "linedesk_outbound_deliveries_total", route="telegram.client", result="retried") == 1


def _card(root: dict[str, str]) -> dict[str, str]:
    return {"channel_id": root["channel"], "message_ts": root["ts"]}
