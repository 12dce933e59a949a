"""Every refusal leaves nothing started and nothing sent, and says why."""

from __future__ import annotations

import json

from adapters.slack.views import PICK, pick_value
from sandboxes.rig import ANNA, BORIS, DESK_CHANNEL, IVAN, STRANGER, SUPPORT_TOKEN, WEBHOOK_SECRET, Rig
from tests.support.flows import open_session_with_anna_online, pick

GREETED = ["Hello, my washing machine is broken", "Hello! An operator will answer shortly."]


async def assert_nothing_started(rig: Rig) -> None:
    assert rig.desk is not None
    assert await rig.desk.store.list_instances() == []
    assert rig.client_chat(IVAN) == GREETED
    assert rig.slack.calls_of("views.open") == []


def last_ephemeral(rig: Rig, person=ANNA) -> str:
    return rig.ephemeral(person)[-1]["text"]


async def test_offline_operator_cannot_start_a_process_from_the_card(rig: Rig) -> None:
    await rig.client_writes(IVAN, "Hello, my washing machine is broken")
    root = await rig.thread_root(1)
    await rig.click(ANNA, "session.start_process", "1", channel_id=root["channel"], message_ts=root["ts"])
    assert "offline" in last_ephemeral(rig)
    response = await rig.slash(ANNA, "/startprocess", "1")
    assert "offline" in response.text
    await assert_nothing_started(rig)


async def test_offline_operator_clicking_an_old_picker_button_starts_nothing(rig: Rig) -> None:
    await open_session_with_anna_online(rig)
    response = await rig.slash(ANNA, "/startprocess", "1")
    await rig.slash(ANNA, "/status", "offline")
    picker = rig.ephemeral(ANNA)[-1]
    button = response.json["blocks"][2]["elements"][0]
    await rig.click(
        ANNA,
        button["action_id"],
        button["value"],
        channel_id=DESK_CHANNEL,
        message_ts=picker["ts"],
        container_ephemeral=True,
    )
    assert "Not started" in last_ephemeral(rig) and "offline" in last_ephemeral(rig)
    await assert_nothing_started(rig)


async def test_offline_operator_reply_stays_in_the_desk(rig: Rig) -> None:
    await rig.client_writes(IVAN, "Hello, my washing machine is broken")
    await rig.thread_reply(ANNA, 1, "Hi!")
    assert rig.client_chat(IVAN) == GREETED
    text = last_ephemeral(rig)
    assert text.startswith("Not sent to the client") and "offline" in text


async def test_a_slack_user_who_is_not_an_operator_is_refused(rig: Rig) -> None:
    await open_session_with_anna_online(rig)
    response = await rig.slash(STRANGER, "/startprocess", "1")
    assert "not a linedesk operator" in response.text
    await rig.click(STRANGER, f"{PICK}:handle_request", pick_value(1, "handle_request"), channel_id=DESK_CHANNEL)
    assert "not a linedesk operator" in last_ephemeral(rig, STRANGER)
    await rig.thread_reply(STRANGER, 1, "I am not staff")
    assert "not a linedesk operator" in last_ephemeral(rig, STRANGER)
    await assert_nothing_started(rig)


async def test_an_operator_of_another_line_is_refused(rig: Rig) -> None:
    await rig.client_writes(IVAN, "Hello, my washing machine is broken")
    await rig.slash(BORIS, "/status", "online")
    response = await rig.slash(BORIS, "/startprocess", "1")
    assert "not an operator of line 'support'" in response.text
    await rig.click(BORIS, f"{PICK}:handle_request", pick_value(1, "handle_request"), channel_id=DESK_CHANNEL)
    assert "not an operator of line 'support'" in last_ephemeral(rig, BORIS)
    await assert_nothing_started(rig)


async def test_buttons_naming_a_missing_session_or_process_or_tampered_are_refused(rig: Rig) -> None:
    await open_session_with_anna_online(rig)
    await rig.click(ANNA, f"{PICK}:handle_request", pick_value(99, "handle_request"), channel_id=DESK_CHANNEL)
    assert "Session #99 does not exist" in last_ephemeral(rig)
    await rig.click(ANNA, f"{PICK}:nope", pick_value(1, "no_such_process"), channel_id=DESK_CHANNEL)
    assert "no process 'no_such_process'" in last_ephemeral(rig)
    await rig.click(ANNA, f"{PICK}:x", '{"s": "1; DROP TABLE", "p": 7}', channel_id=DESK_CHANNEL)
    assert "not valid" in last_ephemeral(rig)
    await rig.click(ANNA, f"{PICK}:x", "not json at all", channel_id=DESK_CHANNEL)
    assert "not valid" in last_ephemeral(rig)
    await rig.click(ANNA, "session.take", "abc", channel_id=DESK_CHANNEL)
    assert "not valid" in last_ephemeral(rig)
    await assert_nothing_started(rig)


async def test_a_double_click_starts_one_instance(rig: Rig) -> None:
    await open_session_with_anna_online(rig)
    await pick(rig, "Handle request")
    picker = rig.ephemeral(ANNA)[-1]
    await rig.click(
        ANNA,
        f"{PICK}:handle_request",
        pick_value(1, "handle_request"),
        channel_id=DESK_CHANNEL,
        message_ts=picker["ts"],
        container_ephemeral=True,
    )
    assert "not starting it twice" in last_ephemeral(rig)
    assert rig.desk is not None
    assert len(await rig.desk.store.list_instances()) == 1


async def test_forged_form_metadata_and_someone_elses_form_are_refused(rig: Rig) -> None:
    await open_session_with_anna_online(rig)
    await pick(rig, "Handle request")
    modal = rig.slack.workspace.views.modal(ANNA.slack_user)
    assert modal is not None
    forged = json.dumps({"i": "0" * 32, "t": "x"})
    response = await rig.slack.submit_view(
        rig.slack_url, ANNA.slack_user, modal.id, {"phone": {"value": "1"}}, private_metadata=forged
    )
    assert response.json["response_action"] == "errors"
    assert "does not exist" in json.dumps(response.json["errors"])

    await rig.slash(BORIS, "/status", "online")
    response = await rig.slack.submit_view(rig.slack_url, BORIS.slack_user, modal.id, {"phone": {"value": "1"}})
    assert response.json["response_action"] == "errors"
    assert "belongs to Anna" in json.dumps(response.json["errors"])
    assert rig.client_chat(IVAN) == GREETED


async def test_wrong_or_missing_telegram_secret_is_401_and_stores_nothing(rig: Rig) -> None:
    update = rig.telegram.text_update(SUPPORT_TOKEN, rig.telegram.user(IVAN.telegram_user, "Ivan"), "hi")
    status, _ = await rig.telegram.post_update(rig.webhook_url(), update, secret="wrong-secret")
    assert status == 401
    status, _ = await rig.telegram.post_update(rig.webhook_url(), update, secret=None)
    assert status == 401
    await rig.settle()
    assert rig.desk is not None
    assert await rig.desk.store.list_sessions() == []
    assert await rig.desk.store.inbound_pending() == []
    # the right secret is accepted: the refusals above did not burn the update id
    status, _ = await rig.telegram.post_update(rig.webhook_url(), update, secret=WEBHOOK_SECRET)
    assert status == 200


async def test_unknown_line_is_404_and_malformed_update_is_400(rig: Rig) -> None:
    status, _ = await rig.telegram.post_update(rig.webhook_url("nope"), {"update_id": 1}, secret=WEBHOOK_SECRET)
    assert status == 404
    status, _ = await rig.telegram.post_update(rig.webhook_url(), {"no": "update id"}, secret=WEBHOOK_SECRET)
    assert status == 400


async def test_bad_slack_signature_is_401_and_changes_nothing(rig: Rig) -> None:
    await rig.client_writes(IVAN, "Hello, my washing machine is broken")
    body, content_type = rig.slack.payloads.slash_command("/status", "online", ANNA.slack_user, DESK_CHANNEL)
    forged = await rig.slack.send(rig.slack_url, body, content_type, signature="v0=" + "0" * 64)
    assert forged.status == 401
    stale = await rig.slack.send(rig.slack_url, body, content_type, timestamp=1_600_000_000)
    assert stale.status == 401
    assert rig.desk is not None
    assert (await rig.desk.operators.state("anna")).status.value == "offline"


async def test_oversize_body_is_413(rig: Rig) -> None:
    update = {"update_id": 5, "message": {"text": "x" * (1024 * 1024 + 10)}}
    status, _ = await rig.telegram.post_update(rig.webhook_url(), update, secret=WEBHOOK_SECRET)
    assert status == 413
