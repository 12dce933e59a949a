"""Real Slack payloads from public test suites (tests/fixtures/reference/slack, provenance in ORIGINS.md), sent signed
to a running linedesk's `/slack/events` the way Slack sends them: events as JSON, interactions as
`payload=<JSON>` forms, slash commands as forms. The `*_form_body*.txt` files are exact wire bodies and go
out byte for byte (re-signed with the sandbox's signing secret); the JSON payloads are adapted to the
sandbox's ids — team, app, the desk channel, Anna (an admin operator) or a stranger, a session thread's
ts, fresh event ids, trigger ids and response URLs the sandbox issued — and sometimes to linedesk's own
action ids or callback ids, to show the same shape is handled.

Every file is listed in ``EXPECTED`` with what linedesk does with it; `java_sdk_field_superset/` holds
blanked key supersets, not payloads, and is left out. Every request must be answered 2xx (never 5xx);
each test then checks what happened.
"""

from __future__ import annotations

import copy
import json
from collections.abc import AsyncIterator
from enum import Enum
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode

import pytest

from core.model import SessionStatus
from sandboxes.limits import Limits
from sandboxes.rig import ANNA, DESK_CHANNEL, IVAN, STRANGER, Person, Rig
from sandboxes.slack import FORM, JSON_CONTENT, SlackResponse
from tests import fixtures
from tests.support.rigs import PROCESSES

REFERENCE = fixtures.REFERENCE / "slack"
LEFT_OUT = "java_sdk_field_superset"


class Expect(Enum):
    UNKNOWN_ACTION = "a button linedesk did not draw is acknowledged (200) and changes nothing"
    HOME_MESSAGES_TAB = "app_home_opened on the Messages tab draws nothing (the Home tab is published)"
    EDIT = "an edit in the desk channel is taken as an operator's edit; one of no mirrored message changes nothing"
    CHANNEL_MESSAGE = "a top-level message in the desk channel is no session's: ignored"
    BROADCAST = "an operator's thread reply also sent to the channel goes to the client"
    THREAD_REPLY = "an operator's thread reply goes to the client; a stranger's is refused, ephemeral"
    URL_VERIFICATION = "url_verification answers the challenge"
    UNKNOWN_COMMAND = "a command linedesk does not have is answered with that, visible to the user only"
    UNKNOWN_VIEW = "a view linedesk did not open is acknowledged (closed); a bad task form is refused"


EXPECTED: dict[str, Expect] = {
    "slack_block_actions__bolt_python.json": Expect.UNKNOWN_ACTION,
    "slack_block_actions_form_body__bolt_python.txt": Expect.UNKNOWN_ACTION,
    "slack_event_app_home_opened__bolt_python.json": Expect.HOME_MESSAGES_TAB,
    "slack_event_message_changed__bolt_python.json": Expect.EDIT,
    "slack_event_message_channel__bolt_python.json": Expect.CHANNEL_MESSAGE,
    "slack_event_message_thread_broadcast__bolt_python.json": Expect.BROADCAST,
    "slack_event_message_thread_reply__bolt_python.json": Expect.THREAD_REPLY,
    "slack_event_url_verification__bolt_python.json": Expect.URL_VERIFICATION,
    "slack_slash_command_decoded__bolt_python.json": Expect.UNKNOWN_COMMAND,
    "slack_slash_command_form_body__bolt_python.txt": Expect.UNKNOWN_COMMAND,
    "slack_view_submission__bolt_python.json": Expect.UNKNOWN_VIEW,
}


@pytest.fixture
async def rig(tmp_path: Path) -> AsyncIterator[Rig]:
    """The stage with session #1 (Ivan, on the Support line) and Anna online."""
    stage = Rig(tmp_path, PROCESSES, limits=Limits.off())
    await stage.start()
    try:
        await stage.client_writes(IVAN, "Hello, my washing machine is broken")
        await stage.slash(ANNA, "/status", "online")
        yield stage
    finally:
        await stage.stop()


# --- helpers -------------------------------------------------------------------------------------
def load(name: str) -> Any:
    return json.loads((REFERENCE / name).read_text())


def adapted(rig: Rig, value: Any, **more: str) -> Any:
    """`value` with the reference's workspace ids replaced by the sandbox's (exact string matches)."""
    ident = rig.slack.identity
    ids = {
        "T111": ident.team_id,
        "T222": ident.team_id,
        "A111": ident.app_id,
        "C111": DESK_CHANNEL,
        "B111": ident.bot_id,
        **more,
    }

    def walk(item: Any) -> Any:
        if isinstance(item, dict):
            return {key: walk(inner) for key, inner in item.items()}
        if isinstance(item, list):
            return [walk(inner) for inner in item]
        return ids.get(item, item) if isinstance(item, str) else item

    return walk(copy.deepcopy(value))


def issued(rig: Rig, person: Person, message_ts: str | None = None) -> tuple[str, str]:
    """A trigger id and a response URL the sandbox issued for `person` (as Slack would in any interaction)."""
    body, _ = rig.slack.payloads.block_action(
        person.slack_user, "x", "y", channel_id=DESK_CHANNEL, message_ts=message_ts
    )
    payload = json.loads(dict(parse_qsl(body))["payload"])
    return str(payload["trigger_id"]), str(payload["response_url"])


async def send_event(rig: Rig, body: dict[str, Any], event_id: str | None = None) -> SlackResponse:
    body = {**body, "event_id": event_id or rig.slack.workspace.ids.new("Ev")}
    response = await rig.slack.send(rig.slack_url, json.dumps(body), JSON_CONTENT)
    await rig.settle()
    return response


async def send_interaction(rig: Rig, payload: dict[str, Any]) -> SlackResponse:
    response = await rig.slack.send(rig.slack_url, urlencode({"payload": json.dumps(payload)}), FORM)
    await rig.settle()
    return response


async def send_raw(rig: Rig, name: str, content_type: str) -> SlackResponse:
    """A wire body exactly as stored, signed now with the sandbox's secret."""
    response = await rig.slack.send(rig.slack_url, (REFERENCE / name).read_text().strip(), content_type)
    await rig.settle()
    return response


def ok(response: SlackResponse) -> None:
    assert 200 <= response.status < 300, (response.status, response.text)


def client_texts(rig: Rig) -> list[str]:
    return rig.client_chat(IVAN)


# --- the list ----------------------------------------------------------------------------------
def test_every_reference_file_has_an_expectation() -> None:
    files = sorted(p.name for p in REFERENCE.iterdir() if p.name != LEFT_OUT)
    assert files == sorted(EXPECTED), "a reference payload was added or removed: say what linedesk does with it"


# --- interactions ----------------------------------------------------------------------------------
async def test_block_actions_unknown_button_then_the_same_shape_as_linedesks_take(rig: Rig) -> None:
    reference = load("slack_block_actions__bolt_python.json")
    trigger_id, response_url = issued(rig, ANNA, "111.222")
    payload = adapted(rig, reference, W111=ANNA.slack_user)
    payload.update(trigger_id=trigger_id, response_url=response_url)
    calls, ephemerals = len(rig.slack.calls), rig.ephemeral(ANNA)
    response = await send_interaction(rig, payload)
    ok(response)
    assert response.text == ""
    assert len(rig.slack.calls) == calls and rig.ephemeral(ANNA) == ephemerals
    assert rig.desk is not None
    session = await rig.desk.store.get_session(1)
    assert session is not None and session.status == SessionStatus.QUEUED

    payload["actions"][0].update(action_id="session.take", value="1")
    ok(await send_interaction(rig, payload))
    session = await rig.desk.store.get_session(1)
    assert session is not None and (session.status, session.assignee) == (SessionStatus.ACTIVE, "anna")


async def test_block_actions_wire_body_is_acknowledged_and_changes_nothing(rig: Rig) -> None:
    calls, ephemerals = len(rig.slack.calls), rig.ephemeral(ANNA)
    response = await send_raw(rig, "slack_block_actions_form_body__bolt_python.txt", FORM)
    ok(response)
    assert response.text == ""
    assert len(rig.slack.calls) == calls and rig.ephemeral(ANNA) == ephemerals


async def test_view_submission_of_an_unknown_view_closes_it_and_a_bad_task_form_is_refused(rig: Rig) -> None:
    reference = load("slack_view_submission__bolt_python.json")
    trigger_id, _ = issued(rig, ANNA)
    payload = adapted(rig, reference, W111=ANNA.slack_user, V111="V0UNKNOWN")
    payload["trigger_id"] = trigger_id
    response = await send_interaction(rig, payload)
    ok(response)
    assert response.text == "", "an empty ack closes the modal"

    payload["view"]["callback_id"] = "task_form"  # linedesk's task form, with metadata it never wrote
    response = await send_interaction(rig, payload)
    ok(response)
    assert response.json == {"response_action": "errors", "errors": {"hspI": "This form is not valid."}}
    assert rig.desk is not None and await rig.desk.store.list_instances() == []


# --- slash commands ---------------------------------------------------------------------------------
async def test_slash_command_decoded_unknown_command_then_startprocess_with_bad_text(rig: Rig) -> None:
    fields = adapted(rig, load("slack_slash_command_decoded__bolt_python.json"), W111=ANNA.slack_user)
    trigger_id, response_url = issued(rig, ANNA)
    fields.update(trigger_id=trigger_id, response_url=response_url)
    response = await rig.slack.send(rig.slack_url, urlencode(fields), FORM)
    ok(response)
    assert response.text == "linedesk does not know the command /hello-world."

    fields["command"] = "/startprocess"  # text "Hi" is no session number
    response = await rig.slack.send(rig.slack_url, urlencode(fields), FORM)
    ok(response)
    assert response.text == "Use `/startprocess` or `/startprocess N` for session #N."


async def test_slash_command_wire_body_is_answered(rig: Rig) -> None:
    calls = len(rig.slack.calls)
    response = await send_raw(rig, "slack_slash_command_form_body__bolt_python.txt", FORM)
    ok(response)
    assert response.text == "linedesk does not know the command /hello-world."
    assert len(rig.slack.calls) == calls


# --- events -----------------------------------------------------------------------------------------
async def test_url_verification_answers_the_challenge(rig: Rig) -> None:
    reference = load("slack_event_url_verification__bolt_python.json")
    response = await rig.slack.send(rig.slack_url, json.dumps(reference), JSON_CONTENT)
    ok(response)
    assert reference["challenge"] in response.text


async def test_app_home_opened_on_the_messages_tab_draws_nothing_on_the_home_tab_publishes(rig: Rig) -> None:
    body = adapted(rig, load("slack_event_app_home_opened__bolt_python.json"), D111=rig.slack.dm(ANNA.slack_user))
    body["event"]["user"] = ANNA.slack_user
    body["authorizations"][0].update(user_id=rig.slack.identity.bot_user_id, team_id=rig.slack.identity.team_id)
    ok(await send_event(rig, body))
    assert rig.slack.calls_of("views.publish") == []

    body["event"]["tab"] = "home"
    ok(await send_event(rig, body))
    home = rig.slack.home(ANNA.slack_user)
    assert home is not None and "Anna · online" in str(home["blocks"])


async def test_message_in_the_channel_outside_any_thread_is_ignored(rig: Rig) -> None:
    body = adapted(rig, load("slack_event_message_channel__bolt_python.json"), W111=ANNA.slack_user)
    before, ephemerals = client_texts(rig), rig.ephemeral(ANNA)
    ok(await send_event(rig, body))
    assert client_texts(rig) == before and rig.ephemeral(ANNA) == ephemerals


async def test_thread_reply_of_an_operator_reaches_the_client_a_strangers_is_refused(rig: Rig) -> None:
    root = await rig.thread_root(1)
    reference = load("slack_event_message_thread_reply__bolt_python.json")
    body = adapted(rig, reference, W222=ANNA.slack_user, W111=rig.slack.identity.bot_user_id)
    body["event"].update(
        thread_ts=root["ts"], ts=rig.slack.workspace.clock.next_ts(), parent_user_id=rig.slack.identity.bot_user_id
    )
    ok(await send_event(rig, body))
    assert client_texts(rig)[-1].endswith("When Slack was released?")
    assert rig.desk is not None
    assert [m.text for m in await rig.desk.store.list_messages(1)][-1] == "When Slack was released?"

    body["event"].update(user=STRANGER.slack_user, ts=rig.slack.workspace.clock.next_ts(), text="Psst")
    ok(await send_event(rig, body))
    assert not client_texts(rig)[-1].endswith("Psst")
    answer = rig.ephemeral(STRANGER)[-1]
    assert answer["text"].startswith("Not sent to the client: You are not a linedesk operator")
    assert answer["thread_ts"] == root["ts"]


async def test_thread_broadcast_of_an_operator_reaches_the_client(rig: Rig) -> None:
    root = await rig.thread_root(1)
    body = adapted(
        rig,
        load("slack_event_message_thread_broadcast__bolt_python.json"),
        U111=ANNA.slack_user,
        W111=rig.slack.identity.bot_user_id,
    )
    body["event"].update(thread_ts=root["ts"], ts=rig.slack.workspace.clock.next_ts())
    body["event"]["root"].update(thread_ts=root["ts"], ts=root["ts"], user=rig.slack.identity.bot_user_id)
    ok(await send_event(rig, body))
    assert client_texts(rig)[-1].endswith("Hi there!")


async def test_message_changed_of_no_mirrored_message_changes_nothing_and_of_a_reply_edits_it(rig: Rig) -> None:
    root = await rig.thread_root(1)
    body = adapted(
        rig, load("slack_event_message_changed__bolt_python.json"), U111=ANNA.slack_user, U222=ANNA.slack_user
    )
    before = client_texts(rig)
    ok(await send_event(rig, body))
    assert client_texts(rig) == before

    await rig.thread_reply(ANNA, 1, "original message")
    [reply] = [m for m in rig.slack.thread(DESK_CHANNEL, root["ts"]) if m.get("user") == ANNA.slack_user]
    assert client_texts(rig)[-1].endswith("original message")
    body["event"]["previous_message"].update(ts=reply["ts"], thread_ts=root["ts"])
    body["event"]["message"].update(ts=reply["ts"], thread_ts=root["ts"])
    ok(await send_event(rig, body))
    assert client_texts(rig)[-1].endswith("updated message")
    assert not any(t.endswith("original message") for t in client_texts(rig)), "edited in place"


async def test_the_same_event_id_twice_is_handled_once(rig: Rig) -> None:
    """Every reference event carries event_id "Ev111": as sent, the second delivery is a duplicate."""
    root = await rig.thread_root(1)
    body = adapted(
        rig,
        load("slack_event_message_thread_reply__bolt_python.json"),
        W222=ANNA.slack_user,
        W111=rig.slack.identity.bot_user_id,
    )
    body["event"].update(thread_ts=root["ts"], ts=rig.slack.workspace.clock.next_ts())
    ok(await send_event(rig, body, event_id="Ev111"))
    body["event"].update(ts=rig.slack.workspace.clock.next_ts())
    ok(await rig.slack.send(rig.slack_url, json.dumps({**body, "event_id": "Ev111"}), JSON_CONTENT, retry_num=1))
    await rig.settle()
    assert sum(t.endswith("When Slack was released?") for t in client_texts(rig)) == 1
