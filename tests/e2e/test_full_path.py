"""The product's main job end to end: a Telegram client's message reaches the Slack desk, an operator
starts a process from the session, the process answers the client. Everything over HTTP: the real
aiogram and slack_sdk clients talk to the sandboxes, the sandboxes post to linedesk's server."""

from __future__ import annotations

import json

from core.model import InstanceStatus, SessionStatus
from sandboxes.rig import ANNA, DESK_CHANNEL, IVAN, SUPPORT_TOKEN, TELEGRAM_DESK, Rig
from tests.support.flows import open_session_with_anna_online, pick, picker_buttons


async def test_client_message_opens_a_session_with_greeting_thread_and_topic(rig: Rig) -> None:
    result = await rig.client_writes(IVAN, "Hello, my washing machine is broken")
    assert result.status == 200

    assert rig.client_chat(IVAN) == ["Hello, my washing machine is broken", "Hello! An operator will answer shortly."]
    assert rig.desk is not None
    session = await rig.desk.store.get_session(1)
    assert session is not None and session.status == SessionStatus.QUEUED and session.line_id == "support"

    root = await rig.thread_root(1)
    card = rig.slack.message(root["channel"], root["ts"])
    assert card is not None and "#1 · Ivan" in card["blocks"][0]["text"]["text"]
    actions = [e["action_id"] for e in card["blocks"][1]["elements"]]
    assert actions == ["session.take", "session.start_process", "session.processes", "session.close"]
    assert await rig.desk_thread(1) == ["*Ivan*: Hello, my washing machine is broken"]

    topics = rig.telegram.calls_of("createForumTopic")
    assert [c.params["name"] for c in topics] == ["#1 Ivan"]
    topic_texts = [m.get("text") for m in rig.telegram.chat_messages(SUPPORT_TOKEN, TELEGRAM_DESK)]
    assert "Ivan: Hello, my washing machine is broken" in topic_texts


async def test_full_path_from_client_to_process_reply(any_store_rig: Rig) -> None:
    rig = any_store_rig
    root = await open_session_with_anna_online(rig)

    await rig.click(ANNA, "session.take", "1", channel_id=root["channel"], message_ts=root["ts"])
    card = rig.slack.message(root["channel"], root["ts"])
    assert card is not None and "active · Anna" in card["blocks"][0]["text"]["text"]

    await rig.thread_reply(ANNA, 1, "Hi Ivan, what is your phone number?")
    assert rig.client_chat(IVAN)[-1] == "Anna\nHi Ivan, what is your phone number?"

    response = await rig.slash(ANNA, "/startprocess")
    groups = picker_buttons(response.json["blocks"])
    assert list(groups) == ["Company", "Sales", "Sales · Leads"]
    assert [b["text"]["text"] for b in groups["Company"]] == ["Handle request"]
    assert [b["text"]["text"] for b in groups["Sales · Leads"]] == ["Create a lead"]

    button = groups["Company"][0]
    rig.slack.clear_calls()
    picker = rig.ephemeral(ANNA)[-1]
    click = await rig.click(
        ANNA,
        button["action_id"],
        button["value"],
        channel_id=DESK_CHANNEL,
        message_ts=picker["ts"],
        container_ephemeral=True,
    )
    assert click.status == 200

    assert rig.desk is not None
    instances = await rig.desk.store.list_instances(session=1)
    assert len(instances) == 1
    instance = instances[0]
    assert instance.status == InstanceStatus.WAITING and instance.current_task == "register"
    assert instance.started_by == "anna" and instance.trigger == "manual"
    # started before the form: the announcement is in the thread and the instance exists while the modal is open
    assert "▶ Handle request started by Anna" in await rig.desk_thread(1)
    methods = [c.method for c in rig.slack.calls]
    assert "views.open" in methods
    modal = rig.slack.modal(ANNA.slack_user)
    assert modal is not None and modal["title"]["text"] == "Handle request"
    assert [b["block_id"] for b in modal["blocks"] if b["type"] == "input"] == ["phone", "kind", "urgent"]
    metadata = json.loads(modal["private_metadata"])
    assert metadata["i"] == instance.id

    submitted = await rig.submit(
        ANNA, {"phone": {"value": "+7 900 123-45-67"}, "kind": {"value": "repair"}, "urgent": {"value": "true"}}
    )
    assert submitted.status == 200 and submitted.text == ""
    assert rig.client_chat(IVAN)[-3:] == [
        "Your request #1 is registered",
        "Request #1: registered",
        "When would it suit you for the master to come?",
    ]
    waiting = await rig.desk.store.get_instance(instance.id)
    assert waiting is not None and waiting.status == InstanceStatus.WAITING
    assert waiting.waiting_for == "client_message"
    variables = await rig.desk.processes.variables(instance.id)
    assert variables["phone"] == "+7 900 123-45-67" and variables["urgent"] is True
    assert variables["client_name"] == "Ivan" and variables["last_message"] == "Hello, my washing machine is broken"
    thread = await rig.desk_thread(1)
    assert "⚙ *Handle request* → client: Your request #1 is registered" in thread


async def test_invalid_form_input_is_refused_field_by_field(rig: Rig) -> None:
    await open_session_with_anna_online(rig)
    await pick(rig, "Handle request")
    response = await rig.submit(ANNA, {"phone": {"value": ""}, "kind": {"value": "repair"}})
    assert response.status == 200
    assert response.json["response_action"] == "errors"
    assert set(response.json["errors"]) == {"phone"}
    assert rig.client_chat(IVAN)[-1] == "Hello! An operator will answer shortly."

    fixed = await rig.submit(
        ANNA, {"phone": {"value": "12345"}, "kind": {"value": "consultation"}, "urgent": {"value": "false"}}
    )
    assert fixed.status == 200 and fixed.text == ""
    assert "Your request #1 is registered" in rig.client_chat(IVAN)


async def test_internal_note_stays_in_the_desk(rig: Rig) -> None:
    await open_session_with_anna_online(rig)
    await rig.thread_reply(ANNA, 1, "// call him back after lunch")
    assert rig.client_chat(IVAN) == ["Hello, my washing machine is broken", "Hello! An operator will answer shortly."]
    assert rig.desk is not None
    messages = await rig.desk.store.list_messages(1)
    assert messages[-1].internal and messages[-1].text == "// call him back after lunch"


async def test_a_second_client_message_goes_to_the_same_session_thread(rig: Rig) -> None:
    await rig.client_writes(IVAN, "Hello")
    await rig.client_writes(IVAN, "Are you there?")
    assert rig.desk is not None
    assert len(await rig.desk.store.list_sessions()) == 1
    assert await rig.desk_thread(1) == ["*Ivan*: Hello", "*Ivan*: Are you there?"]
    assert rig.client_chat(IVAN).count("Hello! An operator will answer shortly.") == 1


async def test_slack_markup_in_a_clients_words_is_shown_as_typed(rig: Rig) -> None:
    await rig.client_writes(IVAN, "Call me <asap> & bring <@U0ANNA01>")
    assert await rig.desk_thread(1) == ["*Ivan*: Call me &lt;asap&gt; &amp; bring &lt;@U0ANNA01&gt;"]
