"""The Slack sandbox, driven by the real slack_sdk clients (no mocks)."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_async_handlers import AsyncRateLimitErrorRetryHandler
from slack_sdk.signature import SignatureVerifier
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.webhook.async_client import AsyncWebhookClient

from sandboxes.limits import Limits
from sandboxes.slack import SlackResponse, SlackSandbox
from tests import fixtures

SECRET = "sandbox-test-signing-secret"
ANNA, IVAN = "U0ANNA01", "U0IVAN01"
DESK, CLOSED = "C0DESK01", "C0CLOSED"
REFERENCE = fixtures.REFERENCE / "slack"
pytestmark = pytest.mark.slack_calls_unchecked  # the sandbox's own tests send oversized Block Kit on purpose

BUTTONS: list[dict[str, Any]] = [
    {"type": "section", "block_id": "card", "text": {"type": "mrkdwn", "text": "*#1* Ivan"}},
    {
        "type": "actions",
        "block_id": "session_actions",
        "elements": [
            {"type": "button", "action_id": "take", "text": {"type": "plain_text", "text": "Take"}, "value": "1"},
            {
                "type": "button",
                "action_id": "close",
                "text": {"type": "plain_text", "text": "Close"},
                "value": "1",
                "style": "danger",
            },
        ],
    },
]
MODAL: dict[str, Any] = {
    "type": "modal",
    "callback_id": "task_form",
    "private_metadata": "instance-7",
    "title": {"type": "plain_text", "text": "Handle request"},
    "submit": {"type": "plain_text", "text": "Send"},
    "blocks": [
        {
            "type": "input",
            "block_id": "phone",
            "label": {"type": "plain_text", "text": "Phone"},
            "element": {"type": "plain_text_input", "action_id": "phone"},
        },
        {
            "type": "input",
            "block_id": "kind",
            "label": {"type": "plain_text", "text": "Kind"},
            "element": {
                "type": "static_select",
                "action_id": "kind",
                "options": [
                    {"text": {"type": "plain_text", "text": "Repair"}, "value": "repair"},
                    {"text": {"type": "plain_text", "text": "Install"}, "value": "install"},
                ],
            },
        },
    ],
}


# --------------------------------------------------------------------------------------
# fixtures


@pytest.fixture
async def sandbox() -> AsyncIterator[SlackSandbox]:
    sb = SlackSandbox(SECRET, limits=Limits.off())
    sb.add_user(ANNA, "Anna Smith", display_name="anna")
    sb.add_user(IVAN, "Ivan Petrov")
    sb.add_channel(DESK, "desk", members=[ANNA, "U0LINEDESK"])
    sb.add_channel(CLOSED, "closed", is_member=False)
    await sb.start()
    yield sb
    await sb.stop()


@pytest.fixture
def client(sandbox: SlackSandbox) -> AsyncWebClient:
    return AsyncWebClient(token=sandbox.bot_token, base_url=sandbox.api_url)


@dataclass
class Received:
    headers: dict[str, str]
    body: str
    valid: bool

    def form(self) -> dict[str, str]:
        return dict(parse_qsl(self.body))

    def payload(self) -> dict[str, Any]:
        return json.loads(self.form()["payload"])


class Product:
    """Stands in for the product's ``/slack/events``: verifies like Bolt, records, answers."""

    def __init__(self) -> None:
        self.received: list[Received] = []
        self.verifier = SignatureVerifier(SECRET)
        self.answer: Callable[[Received], web.Response] = lambda _: web.Response()

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.text()
        received = Received(dict(request.headers), body, self.verifier.is_valid_request(body, dict(request.headers)))
        self.received.append(received)
        return self.answer(received) if received.valid else web.Response(status=401)


@pytest.fixture
async def product() -> AsyncIterator[tuple[Product, str]]:
    fake = Product()
    app = web.Application()
    app.router.add_post("/slack/events", fake.handle)
    server = TestServer(app)
    await server.start_server()
    yield fake, str(server.make_url("/slack/events"))
    await server.close()


def trigger_for(sandbox: SlackSandbox, user_id: str = ANNA) -> str:
    body, _ = sandbox.slash_command("/startprocess", "", user_id, DESK)
    return dict(parse_qsl(body))["trigger_id"]


# --------------------------------------------------------------------------------------
# Web API


async def test_auth_test(client: AsyncWebClient) -> None:
    answer = await client.auth_test()
    assert answer["team_id"] == "T0SANDBOX" and answer["user_id"] == "U0LINEDESK" and answer["bot_id"] == "B0LINEDESK"
    assert answer["url"].startswith("https://") and answer["team"] and answer["user"] == "linedesk"


async def test_messages_threads_edits_and_deletes(sandbox: SlackSandbox, client: AsyncWebClient) -> None:
    root = await client.chat_postMessage(channel=DESK, text="Session #1", blocks=BUTTONS)
    assert root["channel"] == DESK and root["message"]["blocks"][1]["block_id"] == "session_actions"
    reply1 = await client.chat_postMessage(channel=DESK, text="Hello", thread_ts=root["ts"])
    reply2 = await client.chat_postMessage(channel=DESK, text="Broadcast", thread_ts=root["ts"], reply_broadcast=True)
    assert float(root["ts"]) < float(reply1["ts"]) < float(reply2["ts"])

    await client.chat_update(channel=DESK, ts=root["ts"], text="Session #1 (taken by Anna)", blocks=BUTTONS[:1])
    roots = sandbox.channel_messages(DESK)
    assert [m["text"] for m in roots] == ["Session #1 (taken by Anna)", "Broadcast"]
    assert roots[0]["reply_count"] == 2 and roots[0]["edited"]["user"] == "U0LINEDESK" and len(roots[0]["blocks"]) == 1
    assert [m["text"] for m in sandbox.thread(DESK, root["ts"])] == ["Hello", "Broadcast"]
    assert sandbox.thread(DESK, root["ts"])[0]["parent_user_id"] == "U0LINEDESK"

    replies = await client.conversations_replies(channel=DESK, ts=root["ts"])
    assert [m["ts"] for m in replies["messages"]] == [root["ts"], reply1["ts"], reply2["ts"]]
    history = await client.conversations_history(channel=DESK)
    assert [m["ts"] for m in history["messages"]] == [reply2["ts"], root["ts"]]
    link = await client.chat_getPermalink(channel=DESK, message_ts=reply1["ts"])
    assert f"thread_ts={root['ts']}" in link["permalink"]
    await client.reactions_add(channel=DESK, timestamp=reply1["ts"], name="eyes")
    assert sandbox.thread(DESK, root["ts"])[0]["reactions"] == [{"name": "eyes", "users": ["U0LINEDESK"], "count": 1}]

    await client.chat_delete(channel=DESK, ts=reply1["ts"])
    assert [m["text"] for m in sandbox.thread(DESK, root["ts"])] == ["Broadcast"]
    await client.chat_delete(channel=DESK, ts=root["ts"])  # has a reply: stays as a hidden tombstone
    assert [m["text"] for m in sandbox.channel_messages(DESK)] == ["Broadcast"]
    with pytest.raises(SlackApiError) as missing:
        await client.chat_update(channel=DESK, ts="1.000001", text="x")
    assert missing.value.response["error"] == "message_not_found"
    with pytest.raises(SlackApiError) as empty:
        await client.api_call("chat.postMessage", json={"channel": DESK, "text": ""})
    assert empty.value.response["error"] == "no_text"


async def test_bots_cannot_edit_what_people_wrote(sandbox: SlackSandbox, client: AsyncWebClient) -> None:
    body, _ = sandbox.message_event(IVAN, DESK, "my words")
    ts = json.loads(body)["event"]["ts"]
    with pytest.raises(SlackApiError) as refused:
        await client.chat_update(channel=DESK, ts=ts, text="other words")
    assert refused.value.response["error"] == "cant_update_message"


async def test_invalid_blocks_are_refused(client: AsyncWebClient) -> None:
    with pytest.raises(SlackApiError) as refused:
        await client.chat_postMessage(channel=DESK, text="x", blocks=[{"type": "section"}] * 51)
    assert refused.value.response["error"] == "invalid_blocks"
    assert refused.value.response["response_metadata"]["messages"]


async def test_ephemeral(sandbox: SlackSandbox, client: AsyncWebClient) -> None:
    answer = await client.chat_postEphemeral(channel=DESK, user=ANNA, text="Only you", blocks=BUTTONS)
    seen = sandbox.ephemeral(ANNA)
    assert [(e["ts"], e["text"], e["source"]) for e in seen] == [
        (answer["message_ts"], "Only you", "chat.postEphemeral")
    ]
    assert sandbox.channel_messages(DESK) == [] and sandbox.ephemeral(IVAN) == []
    with pytest.raises(SlackApiError) as refused:
        await client.chat_postEphemeral(channel=DESK, user=IVAN, text="not a member")
    assert refused.value.response["error"] == "user_not_in_channel"


async def test_auth_errors(sandbox: SlackSandbox, client: AsyncWebClient) -> None:
    for token, error in (("xoxb-wrong", "invalid_auth"), (None, "not_authed")):
        with pytest.raises(SlackApiError) as refused:
            await AsyncWebClient(token=token, base_url=sandbox.api_url).chat_postMessage(channel=DESK, text="x")
        assert refused.value.response.status_code == 200 and refused.value.response["error"] == error
    with pytest.raises(SlackApiError) as unknown:
        await client.api_call("chat.teleport")
    assert unknown.value.response["error"] == "unknown_method"
    assert sandbox.channel_messages(DESK) == []
    assert all("token" not in call.params for call in sandbox.calls)


async def test_channel_errors(sandbox: SlackSandbox, client: AsyncWebClient) -> None:
    with pytest.raises(SlackApiError) as not_found:
        await client.chat_postMessage(channel="C0NOWHERE", text="x")
    assert not_found.value.response["error"] == "channel_not_found"
    with pytest.raises(SlackApiError) as not_in:
        await client.chat_postMessage(channel=CLOSED, text="x")
    assert not_in.value.response["error"] == "not_in_channel"
    await client.conversations_join(channel=CLOSED)
    await client.chat_postMessage(channel="#closed", text="now in")
    assert [m["text"] for m in sandbox.channel_messages(CLOSED)] == ["now in"]
    info = await client.conversations_info(channel=CLOSED)
    assert info["channel"]["name"] == "closed" and info["channel"]["is_member"] is True


async def test_views_open_needs_a_fresh_unused_trigger(sandbox: SlackSandbox, client: AsyncWebClient) -> None:
    trigger = trigger_for(sandbox)
    opened = await client.views_open(trigger_id=trigger, view=MODAL)
    view = opened["view"]
    assert view["id"].startswith("V") and view["root_view_id"] == view["id"] and view["hash"]
    assert view["close"]["text"] == "Cancel" and sandbox.modal(ANNA) == view
    assert sandbox.views[view["id"]].user_id == ANNA

    for trigger_id, error in ((trigger, "exchanged_trigger_id"), ("1.2.unknown", "invalid_trigger_id")):
        with pytest.raises(SlackApiError) as refused:
            await client.views_open(trigger_id=trigger_id, view=MODAL)
        assert refused.value.response["error"] == error

    with pytest.raises(SlackApiError) as too_long:
        await client.views_open(
            trigger_id=trigger_for(sandbox),
            view={**MODAL, "title": {"type": "plain_text", "text": "A title far longer than twenty-four characters"}},
        )
    assert too_long.value.response["error"] == "invalid_arguments"


async def test_views_open_refuses_expired_triggers() -> None:
    async with SlackSandbox(SECRET, trigger_ttl=0.05, limits=Limits.off()) as sb:
        trigger = trigger_for(sb)
        await asyncio.sleep(0.1)
        with pytest.raises(SlackApiError) as refused:
            await AsyncWebClient(token=sb.bot_token, base_url=sb.api_url).views_open(trigger_id=trigger, view=MODAL)
        assert refused.value.response["error"] == "expired_trigger_id"


async def test_views_update_and_push(sandbox: SlackSandbox, client: AsyncWebClient) -> None:
    view = (await client.views_open(trigger_id=trigger_for(sandbox), view={**MODAL, "external_id": "task-7"}))["view"]
    shorter = {**MODAL, "blocks": MODAL["blocks"][:1]}
    updated = await client.views_update(view_id=view["id"], hash=view["hash"], view=shorter)
    assert updated["view"]["id"] == view["id"] and len(sandbox.views[view["id"]].view["blocks"]) == 1
    with pytest.raises(SlackApiError) as stale:
        await client.views_update(view_id=view["id"], hash=view["hash"], view=MODAL)
    assert stale.value.response["error"] == "hash_conflict"
    by_external = await client.views_update(external_id="task-7", view=MODAL)
    assert by_external["view"]["id"] == view["id"]

    pushed = (await client.views_push(trigger_id=trigger_for(sandbox), view=MODAL))["view"]
    assert pushed["previous_view_id"] == view["id"] and pushed["root_view_id"] == view["id"]
    assert sandbox.modal(ANNA)["id"] == pushed["id"]  # type: ignore[index]


async def test_views_publish_and_home(sandbox: SlackSandbox, client: AsyncWebClient) -> None:
    home = {"type": "home", "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": "Status: offline"}}]}
    first = await client.views_publish(user_id=ANNA, view=home)
    assert sandbox.home(ANNA)["blocks"][0]["text"]["text"] == "Status: offline"  # type: ignore[index]
    home["blocks"][0]["text"]["text"] = "Status: online"  # type: ignore[index]
    second = await client.views_publish(user_id=ANNA, view=home)
    assert second["view"]["id"] == first["view"]["id"]
    assert sandbox.home(ANNA)["blocks"][0]["text"]["text"] == "Status: online"  # type: ignore[index]
    assert sandbox.home(IVAN) is None


async def test_conversations_open_gives_one_stable_dm(sandbox: SlackSandbox, client: AsyncWebClient) -> None:
    first = await client.conversations_open(users=IVAN)
    second = await client.conversations_open(users=[IVAN])
    dm = first["channel"]["id"]
    assert dm.startswith("D") and second["channel"]["id"] == dm and second["already_open"] is True
    assert sandbox.dm(IVAN) == dm
    await client.chat_postMessage(channel=IVAN, text="Hi Ivan")  # a user id posts into the app's DM
    assert [m["text"] for m in sandbox.channel_messages(dm)] == ["Hi Ivan"]
    with pytest.raises(SlackApiError) as unknown:
        await client.conversations_open(users="U0NOBODY")
    assert unknown.value.response["error"] == "user_not_found"


async def test_users_info(client: AsyncWebClient) -> None:
    anna = (await client.users_info(user=ANNA))["user"]
    assert anna["real_name"] == "Anna Smith" and anna["profile"]["display_name"] == "anna" and anna["is_bot"] is False
    ivan = (await client.users_info(user=IVAN))["user"]
    assert ivan["profile"]["display_name"] == "" and ivan["profile"]["real_name"] == "Ivan Petrov"
    with pytest.raises(SlackApiError) as unknown:
        await client.users_info(user="U0NOBODY")
    assert unknown.value.response["error"] == "user_not_found"
    members = (await client.users_list())["members"]
    assert {ANNA, IVAN, "U0LINEDESK"} <= {m["id"] for m in members}


async def test_files_upload_v2_end_to_end(sandbox: SlackSandbox, client: AsyncWebClient) -> None:
    root = await client.chat_postMessage(channel=DESK, text="Session #1")
    content = b"%PDF-1.4 invoice"
    uploaded = await client.files_upload_v2(
        channel=DESK,
        thread_ts=root["ts"],
        content=content,
        filename="invoice.pdf",
        title="Invoice",
        initial_comment="From Ivan",
    )
    file_id = uploaded["file"]["id"]
    assert sandbox.files[file_id].content == content and sandbox.files[file_id].mimetype == "application/pdf"
    [shared] = sandbox.thread(DESK, root["ts"])
    assert shared["text"] == "From Ivan"
    assert shared["files"][0]["id"] == file_id and shared["files"][0]["title"] == "Invoice"
    info = (await client.files_info(file=file_id))["file"]
    assert info["size"] == len(content) and DESK in info["shares"]["private"] | info["shares"]["public"]
    assert [c.method for c in sandbox.calls] == [
        "chat.postMessage",
        "files.getUploadURLExternal",
        "upload",
        "files.completeUploadExternal",
        "files.info",
    ]

    async with aiohttp.ClientSession() as http:
        headers = {"Authorization": f"Bearer {sandbox.bot_token}"}
        async with http.get(info["url_private"], headers=headers) as with_token:
            assert await with_token.read() == content
        async with http.get(info["url_private"]) as without_token:  # Slack answers its sign-in page
            assert without_token.status == 200 and without_token.content_type == "text/html"


# --------------------------------------------------------------------------------------
# failure injection


async def test_rate_limit_raises_with_retry_after(sandbox: SlackSandbox, client: AsyncWebClient) -> None:
    sandbox.fail("chat.postMessage", retry_after=7)
    with pytest.raises(SlackApiError) as limited:
        await client.chat_postMessage(channel=DESK, text="x")
    assert limited.value.response.status_code == 429 and limited.value.response["error"] == "ratelimited"
    assert limited.value.response.headers["Retry-After"] == "7"
    await client.chat_postMessage(channel=DESK, text="after the limit")
    assert [c.status for c in sandbox.calls_of("chat.postMessage")] == [429, 200]


async def test_rate_limit_retry_handler_retries(sandbox: SlackSandbox) -> None:
    retrying = AsyncWebClient(
        token=sandbox.bot_token,
        base_url=sandbox.api_url,
        retry_handlers=[AsyncRateLimitErrorRetryHandler(max_retry_count=1)],
    )
    sandbox.fail("chat.postMessage", retry_after=0)
    answer = await retrying.chat_postMessage(channel=DESK, text="eventually")
    assert answer["ok"] and [c.status for c in sandbox.calls_of("chat.postMessage")] == [429, 200]
    assert len(sandbox.channel_messages(DESK)) == 1


async def test_server_errors_and_injected_errors(sandbox: SlackSandbox, client: AsyncWebClient) -> None:
    sandbox.fail("chat.update", status=500)
    with pytest.raises(SlackApiError) as failed:
        await client.chat_update(channel=DESK, ts="1.1", text="x")
    assert failed.value.response.status_code == 500

    sandbox.fail("chat.postMessage", error="missing_scope")
    with pytest.raises(SlackApiError) as scope:
        await client.chat_postMessage(channel=DESK, text="x")
    assert scope.value.response["error"] == "missing_scope" and scope.value.response["needed"] == "chat:write"

    sandbox.fail("*", error="not_in_channel", channel="C0OTHER1", count=-1)
    sandbox.add_channel("C0OTHER1", "other")
    for _ in range(2):
        with pytest.raises(SlackApiError):
            await client.chat_postMessage(channel="C0OTHER1", text="x")
    await client.chat_postMessage(channel=DESK, text="other channels work")
    sandbox.clear_failures()
    await client.chat_postMessage(channel="C0OTHER1", text="cleared")


async def test_delay_makes_the_client_time_out(sandbox: SlackSandbox) -> None:
    sandbox.fail("chat.postMessage", delay=5)
    impatient = AsyncWebClient(token=sandbox.bot_token, base_url=sandbox.api_url, timeout=1)
    started = time.monotonic()
    with pytest.raises(TimeoutError):
        await impatient.chat_postMessage(channel=DESK, text="x")
    assert time.monotonic() - started < 3
    assert sandbox.calls_of("chat.postMessage")[0].response is None  # still held when the client gave up


# --------------------------------------------------------------------------------------
# the Slack side


async def test_signatures(sandbox: SlackSandbox, product: tuple[Product, str]) -> None:
    fake, url = product
    body, content_type = sandbox.slash_command("/status", "online", ANNA, DESK)
    ts = str(int(time.time()))
    verifier = SignatureVerifier(SECRET)
    assert verifier.is_valid(body, ts, sandbox.sign(body, ts))
    assert not verifier.is_valid(body, ts, SlackSandbox("other-secret").sign(body, ts))
    assert not verifier.is_valid(body + "&x=1", ts, sandbox.sign(body, ts))

    ok = await sandbox.send(url, body, content_type)
    forged = await sandbox.send(url, body, content_type, signature="v0=" + "0" * 64)
    stale_ts = int(time.time()) - 600
    stale = await sandbox.send(url, body, content_type, timestamp=stale_ts, signature=sandbox.sign(body, stale_ts))
    retried = await sandbox.send(url, body, content_type, retry_num=1, retry_reason="http_timeout")
    assert [r.status for r in (ok, forged, stale, retried)] == [200, 401, 401, 200]
    assert fake.received[-1].headers["X-Slack-Retry-Num"] == "1"
    assert fake.received[0].headers["Content-Type"] == "application/x-www-form-urlencoded"


def _keys(value: Any, prefix: str = "") -> set[str]:
    """Dotted key paths; free-form subtrees (blocks, state values, bot profiles) are not entered."""
    found: set[str] = set()
    if isinstance(value, dict):
        for key, item in value.items():
            found.add(prefix + key)
            if key not in ("blocks", "values", "bot_profile"):
                found |= _keys(item, f"{prefix}{key}.")
    elif isinstance(value, list):
        for item in value:
            found |= _keys(item, prefix)
    return found


def _reference(name: str) -> Any:
    return json.loads((REFERENCE / name).read_text())


# keys real Slack sends that the java superset's blanked samples lack (the bolt fixtures have them)
_NOT_IN_JAVA = {"state.values", "view.state.values", "view.blocks", "response_urls"}
# keys of the bolt fixtures the sandbox does not send: Slack Connect / assistant-thread extras
_NOT_SENT = {"event.user_team", "event.source_team", "event.user_profile"}


def test_built_payloads_have_the_reference_keys() -> None:
    sb = SlackSandbox(SECRET, enterprise_id="E0SANDBOX", enterprise_name="Sandbox Org", limits=Limits.off())
    sb.add_user("W111", "Primary Owner")
    sb.add_channel("C111", "test-channel")
    root = sb.workspace.post_bot(sb.workspace.channels["C111"], "Session #1", BUTTONS)
    picker = sb.record_ephemeral("W111", "Pick", BUTTONS, channel="C111")
    modal = sb.workspace.views.open("W111", MODAL)

    def form(built: tuple[str, str]) -> dict[str, Any]:
        return dict(parse_qsl(built[0]))

    def payload(built: tuple[str, str]) -> dict[str, Any]:
        return json.loads(form(built)["payload"])

    def event(built: tuple[str, str]) -> dict[str, Any]:
        assert built[1] == "application/json"
        return json.loads(built[0])

    reply = event(sb.message_event("W111", "C111", "When?", thread_ts=root["ts"]))
    cases = [
        (
            form(sb.slash_command("/startprocess", "42", "W111", "C111")),
            "slack_slash_command_decoded__bolt_python.json",
            "SlashCommandPayload.json",
        ),
        (
            payload(sb.block_action("W111", "take", "1", channel_id="C111", message_ts=picker["ts"])),
            "slack_block_actions__bolt_python.json",
            "BlockActionPayload.json",
        ),
        (
            payload(sb.block_action("W111", "take", "1", channel_id="C111", message_ts=root["ts"])),
            "slack_block_actions__bolt_python.json",
            "BlockActionPayload.json",
        ),
        (
            payload(sb.view_submission("W111", modal.id, values={"phone": {"phone": "+100"}})),
            "slack_view_submission__bolt_python.json",
            "ViewSubmissionPayload.json",
        ),
        (
            event(sb.message_event("W111", "C111", "Hello World!")),
            "slack_event_message_channel__bolt_python.json",
            "MessagePayload.json",
        ),
        (reply, "slack_event_message_thread_reply__bolt_python.json", "MessagePayload.json"),
        (
            event(sb.message_changed_event("W111", "C111", reply["event"]["ts"], "updated")),
            "slack_event_message_changed__bolt_python.json",
            "MessageChangedPayload.json",
        ),
        (
            event(sb.app_home_opened("W111", tab="messages")),
            "slack_event_app_home_opened__bolt_python.json",
            "AppHomeOpenedPayload.json",
        ),
    ]
    for built, bolt_name, java_name in cases:
        built_keys = _keys(built)
        java_keys = _keys(_reference(f"java_sdk_field_superset/{java_name}"))
        assert built_keys - java_keys - _NOT_IN_JAVA == set(), bolt_name
        assert _keys(_reference(bolt_name)) - built_keys - _NOT_SENT == set(), bolt_name
    verification = event(sb.url_verification("abc"))
    assert set(verification) == set(_reference("slack_event_url_verification__bolt_python.json"))


async def test_slash_ack_and_response_url(sandbox: SlackSandbox, product: tuple[Product, str]) -> None:
    fake, url = product
    fake.answer = lambda _: web.json_response({"text": "Pick a process", "blocks": BUTTONS})
    answer = await sandbox.post_slash(url, "/startprocess", "", ANNA, DESK)
    assert answer.status == 200 and answer.json["text"] == "Pick a process"
    form = fake.received[-1].form()
    assert form["command"] == "/startprocess" and form["user_name"] == "anna.smith"
    assert [(e["text"], e["source"]) for e in sandbox.ephemeral(ANNA)] == [("Pick a process", "ack")]

    webhook = AsyncWebhookClient(form["response_url"])  # what Bolt's respond() uses
    assert (await webhook.send(text="Working on it")).status_code == 200
    assert (await webhook.send(text="Replaced", replace_original=True)).status_code == 200
    assert [e["text"] for e in sandbox.ephemeral(ANNA)] == ["Pick a process", "Replaced"]
    await webhook.send(text="Everyone sees this", response_type="in_channel")
    assert [m["text"] for m in sandbox.channel_messages(DESK)] == ["Everyone sees this"]
    assert [c.method for c in sandbox.calls] == ["response_url"] * 3


async def test_clicks_on_ephemeral_buttons_and_respond(sandbox: SlackSandbox, product: tuple[Product, str]) -> None:
    fake, url = product
    fake.answer = lambda _: web.json_response({"text": "ignored by Slack"})
    picker = sandbox.record_ephemeral(ANNA, "Pick", BUTTONS, channel=DESK)
    response = await sandbox.click(url, ANNA, "close", "1", channel_id=DESK, message_ts=picker["ts"])
    assert response.status == 200
    clicked = fake.received[-1].payload()
    assert clicked["container"] == {
        "type": "message",
        "message_ts": picker["ts"],
        "channel_id": DESK,
        "is_ephemeral": True,
    }
    [action] = clicked["actions"]
    assert (action["block_id"], action["value"], action["style"], action["text"]["text"]) == (
        "session_actions",
        "1",
        "danger",
        "Close",
    )
    assert "message" not in clicked and clicked["trigger_id"]
    assert [e["text"] for e in sandbox.ephemeral(ANNA)] == ["Pick"]  # the ack body is not shown

    webhook = AsyncWebhookClient(clicked["response_url"])
    await webhook.send(text="Closed", replace_original=True)
    assert [e["text"] for e in sandbox.ephemeral(ANNA)] == ["Closed"]
    await webhook.send(delete_original=True)
    assert sandbox.ephemeral(ANNA) == []


async def test_click_on_a_channel_message(
    sandbox: SlackSandbox, client: AsyncWebClient, product: tuple[Product, str]
) -> None:
    fake, url = product
    root = await client.chat_postMessage(channel=DESK, text="Session #1", blocks=BUTTONS)
    await sandbox.click(url, ANNA, "take", "1", channel_id=DESK, message_ts=root["ts"])
    clicked = fake.received[-1].payload()
    assert clicked["message"]["ts"] == root["ts"] and clicked["container"]["is_ephemeral"] is False
    assert clicked["channel"] == {"id": DESK, "name": "desk"} and clicked["actions"][0]["type"] == "button"
    view = (await client.views_open(trigger_id=clicked["trigger_id"], view=MODAL))["view"]
    assert sandbox.modal(ANNA)["id"] == view["id"]  # type: ignore[index]


async def test_view_submission_and_response_actions(
    sandbox: SlackSandbox, client: AsyncWebClient, product: tuple[Product, str]
) -> None:
    fake, url = product
    view = (await client.views_open(trigger_id=trigger_for(sandbox), view=MODAL))["view"]
    fake.answer = lambda _: web.json_response({"response_action": "errors", "errors": {"phone": "Digits only"}})
    await sandbox.submit_view(url, ANNA, view["id"], {"phone": {"phone": "abc"}, "kind": {"kind": "repair"}})
    submitted = fake.received[-1].payload()
    assert submitted["view"]["callback_id"] == "task_form" and submitted["view"]["private_metadata"] == "instance-7"
    assert submitted["view"]["state"]["values"] == {
        "phone": {"phone": {"type": "plain_text_input", "value": "abc"}},
        "kind": {
            "kind": {
                "type": "static_select",
                "selected_option": {"text": {"type": "plain_text", "text": "Repair"}, "value": "repair"},
            }
        },
    }
    assert sandbox.views[view["id"]].errors == {"phone": "Digits only"} and sandbox.modal(ANNA) is not None

    fake.answer = lambda _: web.Response()
    await sandbox.submit_view(url, ANNA, view["id"], {"phone": {"phone": "123"}})
    assert sandbox.modal(ANNA) is None and sandbox.views[view["id"]].closed


async def test_message_events_store_what_people_write(
    sandbox: SlackSandbox, client: AsyncWebClient, product: tuple[Product, str]
) -> None:
    fake, url = product
    root = await client.chat_postMessage(channel=DESK, text="Session #1")
    answer = await sandbox.post_message(url, ANNA, DESK, "I'll take it", thread_ts=root["ts"])
    assert isinstance(answer, SlackResponse) and answer.status == 200
    event = json.loads(fake.received[-1].body)
    assert event["type"] == "event_callback" and event["event_id"].startswith("Ev")
    assert event["event"]["parent_user_id"] == "U0LINEDESK" and event["event"]["channel_type"] == "channel"
    assert [m["text"] for m in sandbox.thread(DESK, root["ts"])] == ["I'll take it"]

    await sandbox.post_message(url, IVAN, "D0IVAN01", "Hello, my washing machine is broken")
    assert json.loads(fake.received[-1].body)["event"]["channel_type"] == "im"
    assert (await client.conversations_open(users=IVAN))["channel"]["id"] == "D0IVAN01"

    await sandbox.post_event(
        url,
        {"type": "app_mention", "user": ANNA, "text": "<@U0LINEDESK> hi", "channel": DESK, "ts": "1.000001"},
        event_id="Ev0FIXED",
    )
    assert json.loads(fake.received[-1].body)["event_id"] == "Ev0FIXED"
    await sandbox.shortcut(url, ANNA, "start_process", DESK, root["ts"])
    shortcut = fake.received[-1].payload()
    assert shortcut["type"] == "message_action" and shortcut["message"]["text"] == "Session #1"
    assert shortcut["message"]["reply_count"] == 1 and shortcut["trigger_id"] and shortcut["response_url"]
