"""The security suite (issue 7, point 5; SPEC §7, §8): forged, stale, replayed, oversized, malformed, tampered and
unauthorised requests are refused — with the right HTTP status, or a reason the person can read — change
nothing and send nothing.

Every case runs inside `refused(rig, *actors)`: before, a snapshot of the store (sessions with status and assignee,
their messages, instances, outbox entries, items, auto-start rules, operators' states, the inbound backlog) and a
mark in both sandboxes' call logs; after `rig.settle()`, the snapshot must be equal and every platform call made
meanwhile must be a refusal shown to an actor only (Slack: an ephemeral message, an ephemeral answer through the
click's response URL, the actor's own App Home; Telegram: the button press's answer, a reply in the desk group or in
the actor's private chat with the bot). Nothing may reach a client or another desk.

Where tests/e2e already prove a case (status and reason), it is named in a comment; it is repeated here only with the
stronger "nothing changed, nothing sent" check, so that this file covers the whole list in one place.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from adapters.slack.admin import PAGE, PROCESS, TOGGLE
from adapters.slack.home import HOME_IDS
from adapters.slack.views import CLOSE, MENU, PICK, START, TAKE, TASK_TAKE, TRANSFER_TO, pick_value
from adapters.telegram.desk.picker_keyboard import process_key
from adapters.telegram.desk_cards import operator_key
from core.model import InstanceRecord, InstanceStatus, SessionStatus
from core.processes import DOUBLE_CLICK_WINDOW
from core.store.base import Store
from sandboxes.rig import (
    ANNA,
    BORIS,
    CARL,
    DESK_CHANNEL,
    IVAN,
    OLGA,
    PETRA,
    SALES_SECRET,
    STRANGER,
    SUPPORT_TOKEN,
    TELEGRAM_DESK,
    WEBHOOK_SECRET,
    Person,
    Rig,
)
from sandboxes.slack import slack_signature
from tests.support.bpmn import block, script
from tests.support.rigs import MakeRig

ITEM_APPS = ("requests", "leads")
SLACK_READS = frozenset(
    {
        "auth.test",
        "users.info",
        "users.list",
        "conversations.info",
        "conversations.replies",
        "conversations.history",
        "chat.getPermalink",
        "files.info",
    }
)
TELEGRAM_READS = frozenset(
    {"getMe", "getChat", "getChatMember", "getFile", "getUpdates", "getWebhookInfo", "getMyCommands"}
)
MB = 1024 * 1024
HELLO = "Hello, my washing machine is broken"
GREETED = [HELLO, "Hello! An operator will answer shortly."]
NOT_OPERATOR = "You are not a linedesk operator."
NOT_ADMIN = "Only admins can change automatic start."


# --- nothing changed ------------------------------------------------------------------------------------------------
async def outbox_entries(store: Store) -> list[tuple[int, str, str, str]]:
    """Every outbox entry as (id, route, action, status); both stores number entries 1, 2, 3, …"""
    found: list[tuple[int, str, str, str]] = []
    entry_id, misses = 0, 0
    while misses < 25:
        entry_id += 1
        entry = await store.outbox_get(entry_id)
        if entry is None:
            misses += 1
            continue
        misses = 0
        found.append((entry.id, entry.route, entry.action.kind, entry.status.value))
    return found


async def snapshot(rig: Rig) -> dict[str, Any]:
    """What a refused request must leave as it was."""
    assert rig.desk is not None
    store = rig.desk.store
    sessions = sorted(await store.list_sessions(limit=10_000), key=lambda s: s.number)
    instances = sorted(await store.list_instances(limit=10_000), key=lambda r: r.id)
    rules = sorted(await store.list_rules(), key=lambda r: (r.line_id, r.event))
    return {
        "sessions": [s.model_dump(mode="json") for s in sessions],
        "messages": {
            s.number: [m.model_dump(mode="json") for m in await store.list_messages(s.number)] for s in sessions
        },
        "instances": [r.model_dump(mode="json") for r in instances],
        "outbox": await outbox_entries(store),
        "items": {
            app: [i.model_dump(mode="json") for i in await store.list_items(app, limit=10_000)] for app in ITEM_APPS
        },
        "rules": [r.model_dump(mode="json") for r in rules],
        "operators": {
            o.id: (await store.get_operator(o.id)).model_dump(mode="json") for o in rig.desk.config.operators
        },
        "inbound_pending": [(r.source, r.key) for r in await store.inbound_pending(limit=10_000)],
    }


def _short(record: dict[str, Any]) -> str:
    return json.dumps({k: v for k, v in record.items() if k != "state"}, default=str)[:400]


def differences(before: dict[str, Any], after: dict[str, Any]) -> list[str]:
    """Readable differences between two snapshots (instances' engine state is only said to differ)."""
    found: list[str] = []
    for key, old in before.items():
        new = after[key]
        if old == new:
            continue
        if key in ("sessions", "instances"):
            ident = "number" if key == "sessions" else "id"
            was, now = {r[ident]: r for r in old}, {r[ident]: r for r in new}
            found += [f"{key}: new {k}: {_short(now[k])}" for k in now.keys() - was.keys()]
            found += [f"{key}: gone {k}" for k in was.keys() - now.keys()]
            for k in was.keys() & now.keys():
                fields = {f: (was[k].get(f), now[k].get(f)) for f in now[k] if was[k].get(f) != now[k].get(f)}
                if fields:
                    found.append(
                        f"{key} {k}: "
                        + ", ".join(
                            f"{f} changed" if f == "state" else f"{f}: {a!r} -> {b!r}" for f, (a, b) in fields.items()
                        )
                    )
        elif key == "outbox":
            found.append(f"outbox: new {[e for e in new if e not in old]}, gone {[e for e in old if e not in new]}")
        else:
            found.append(f"{key}: {json.dumps(old, default=str)[:400]} -> {json.dumps(new, default=str)[:400]}")
    return found


# --- nothing sent but the refusal -----------------------------------------------------------------------------------
@dataclass
class Seen:
    """The refusals the actors were shown while `refused()` was open (filled in when it closes)."""

    texts: list[str] = field(default_factory=list)


def _home_text(view: Any) -> str:
    """The notices of a published App Home (what a refused click there says)."""
    if isinstance(view, str):
        view = json.loads(view)
    texts = [
        str(e.get("text", ""))
        for b in view.get("blocks", [])
        if b.get("type") == "context"
        for e in b.get("elements", [])
    ]
    return " ".join(t for t in texts if t.startswith("⚠")) or "(App Home republished without a notice)"


def _refusals(
    rig: Rig, slack_from: int, telegram_from: int, acks_from: dict[str, int], actors: Iterable[Person]
) -> tuple[list[str], list[str]]:
    """(texts shown to the actors, every other platform call) since the marks."""
    slack_users = {p.slack_user for p in actors if p.slack_user}
    telegram_users = {p.telegram_user for p in actors if p.telegram_user}
    texts: list[str] = []
    other: list[str] = []
    for call in rig.slack.calls[slack_from:]:
        params = call.params
        if call.method in SLACK_READS:
            continue
        if call.method == "chat.postEphemeral" and params.get("user") in slack_users:
            texts.append(str(params.get("text")))
        elif (
            call.method == "response_url"
            and params.get("response_type") != "in_channel"
            and str(params.get("replace_original", "false")).lower() == "false"
        ):
            texts.append(str(params.get("text")))
        elif call.method == "views.publish" and params.get("user_id") in slack_users:
            texts.append(_home_text(params.get("view")))
        else:
            other.append(f"Slack {call.method} {json.dumps(params, default=str)[:300]}")
    for user in slack_users:
        texts += [e["text"] for e in rig.slack.ephemeral(user)[acks_from[user] :] if e.get("source") == "ack"]
    for tg in rig.telegram.calls[telegram_from:]:
        params = tg.params
        chat = params.get("chat_id")
        if tg.method in TELEGRAM_READS:
            continue
        if tg.method == "answerCallbackQuery":
            texts.append(str(params.get("text", "")))
        elif tg.method == "sendMessage" and (
            (str(chat) == str(TELEGRAM_DESK) and params.get("reply_parameters"))
            or str(chat) in {str(u) for u in telegram_users}
        ):
            texts.append(str(params.get("text")))
        else:
            other.append(f"Telegram {tg.method} {json.dumps(params, default=str)[:300]}")
    return texts, other


@asynccontextmanager
async def refused(rig: Rig, *actors: Person) -> AsyncIterator[Seen]:
    """The block's requests change nothing in the store and send nothing but refusals to `actors`."""
    await rig.settle()
    before = await snapshot(rig)
    slack_from, telegram_from = len(rig.slack.calls), len(rig.telegram.calls)
    acks_from = {p.slack_user: len(rig.slack.ephemeral(p.slack_user)) for p in actors if p.slack_user}
    seen = Seen()
    yield seen
    await rig.settle()
    after = await snapshot(rig)
    changes = differences(before, after)
    assert not changes, "a refused request changed the store:\n" + "\n".join(changes)
    seen.texts, other = _refusals(rig, slack_from, telegram_from, acks_from, actors)
    assert not other, "sent beyond the refusals:\n" + "\n".join(other)


# --- people acting --------------------------------------------------------------------------------------------------
def last_ephemeral(rig: Rig, person: Person) -> str:
    shown = rig.ephemeral(person)
    return str(shown[-1]["text"]) if shown else ""


async def slack_click(
    rig: Rig, person: Person, action_id: str, value: str, *, session: int = 1, selected: str | None = None
) -> str:
    """`person` clicks `action_id` with `value` on session #`session`'s card; returns what they were told (one new
    ephemeral message, or "" when nothing was said)."""
    root = await rig.thread_root(session)
    count = len(rig.ephemeral(person))
    option = {"text": {"type": "plain_text", "text": selected}, "value": selected} if selected is not None else None
    response = await rig.click(
        person, action_id, value, channel_id=root["channel"], message_ts=root["ts"], selected_option=option
    )
    assert response.status == 200, (action_id, value, response.status)
    shown = rig.ephemeral(person)
    return str(shown[-1]["text"]) if len(shown) > count else ""


async def card(rig: Rig, session: int) -> dict[str, Any]:
    """The session's card in its Telegram topic."""
    return next(m for m in await rig.topic(session) if m.get("text", "").startswith(f"#{session} · "))


def buttons(message: dict[str, Any]) -> dict[str, str]:
    rows = (message.get("reply_markup") or {}).get("inline_keyboard", [])
    return {b["text"]: b["callback_data"] for row in rows for b in row if "callback_data" in b}


async def press(
    rig: Rig,
    person: Person,
    message: dict[str, Any],
    data: str,
    *,
    chat_id: int = TELEGRAM_DESK,
    token: str = SUPPORT_TOKEN,
) -> dict[str, Any]:
    """`person` presses a button with `data` under `message`; returns the press's answer (it must have one)."""
    user = rig.telegram.user(person.telegram_user, person.name)
    update = rig.telegram.callback_update(token, user, data, message["message_id"], chat_id=chat_id)
    result = await rig.telegram.deliver(token, update)
    assert result.status == 200, result
    await rig.settle()
    answer = rig.telegram.callback_answer(token, update["callback_query"]["id"])
    assert answer is not None, f"the press {data!r} was never answered"
    return dict(answer)


async def topic_reply(rig: Rig, person: Person, session: int | None, text: str) -> str:
    """`person` writes `text` in the session's topic (None: the General topic); returns the bot's reply to it."""
    chat = rig.telegram.chat_messages(SUPPORT_TOKEN, TELEGRAM_DESK)
    count = len(chat)
    await rig.topic_says(person, session, text)
    replies = [
        m for m in rig.telegram.chat_messages(SUPPORT_TOKEN, TELEGRAM_DESK)[count:] if m.get("from", {}).get("is_bot")
    ]
    return str(replies[-1]["text"]) if replies else ""


async def post_raw(url: str, body: bytes, headers: dict[str, str], method: str = "POST") -> tuple[int, str]:
    async with aiohttp.ClientSession() as http, http.request(method, url, data=body, headers=headers) as response:
        return response.status, await response.text()


async def instances(rig: Rig) -> list[InstanceRecord]:
    assert rig.desk is not None
    return await rig.desk.store.list_instances()


async def anna_online_with_ivan(rig: Rig) -> None:
    await rig.client_writes(IVAN, HELLO)
    await rig.slash(ANNA, "/status", "online")


async def anna_picks(rig: Rig, process_name: str, session: int = 1) -> None:
    """Anna runs `/startprocess N` and clicks the named process in the picker."""
    response = await rig.slash(ANNA, "/startprocess", str(session))
    found = [
        e
        for b in response.json["blocks"]
        if b["type"] == "actions"
        for e in b["elements"]
        if e["text"]["text"] == process_name
    ]
    assert found, f"no {process_name!r} in the picker"
    picker = rig.ephemeral(ANNA)[-1]
    await rig.click(
        ANNA,
        found[0]["action_id"],
        found[0]["value"],
        channel_id=DESK_CHANNEL,
        message_ts=picker["ts"],
        container_ephemeral=True,
    )


# === 1. Slack signatures, timestamps, replays ========================================================================
async def test_forged_stale_and_unsigned_slack_requests_are_401_and_do_nothing(rig: Rig) -> None:
    # tests/e2e/test_refusals.py::test_bad_slack_signature_is_401_and_changes_nothing shows a zero signature and an
    # old timestamp on one slash command; here every way a signature can be wrong, on the three kinds of request.
    await anna_online_with_ivan(rig)
    root = await rig.thread_root(1)
    requests = {
        "slash command": rig.slack.payloads.slash_command("/status", "offline", ANNA.slack_user, DESK_CHANNEL),
        "button click": rig.slack.payloads.block_action(
            ANNA.slack_user, TAKE, "1", channel_id=root["channel"], message_ts=root["ts"]
        ),
        "event": rig.slack.payloads.message_event(
            ANNA.slack_user, root["channel"], "Anna forged this", thread_ts=root["ts"]
        ),
    }
    async with refused(rig, ANNA) as seen:
        for kind, (body, content_type) in requests.items():
            now = int(time.time())
            tampered = body.replace(ANNA.slack_user, CARL.slack_user)
            forged = {
                "signed with another secret": (body, now, slack_signature("not-the-secret", str(now), body)),
                "zero signature": (body, now, "v0=" + "0" * 64),
                "signature of another scheme": (body, now, "v1=" + rig.slack.sign(body, now)[3:]),
                "signature without its scheme": (body, now, rig.slack.sign(body, now)[3:]),
                "body changed after signing": (tampered, now, rig.slack.sign(body, now)),
                "timestamp 6 minutes old": (body, now - 360, None),
                "timestamp 6 minutes ahead": (body, now + 360, None),
            }
            for case, (sent, timestamp, signature) in forged.items():
                response = await rig.slack.send(
                    rig.slack_url, sent, content_type, timestamp=timestamp, signature=signature
                )
                assert response.status == 401, (kind, case, response.status, response.text)
            signature = rig.slack.sign(body, now)
            for case, headers in {
                "no signature headers": {},
                "no signature": {"X-Slack-Request-Timestamp": str(now)},
                "no timestamp": {"X-Slack-Signature": signature},
            }.items():
                status, _ = await post_raw(rig.slack_url, body.encode(), {"Content-Type": content_type, **headers})
                assert status == 401, (kind, case, status)
    assert seen.texts == []
    assert rig.client_chat(IVAN) == GREETED

    # the forged copies did not burn the event's id: the genuine delivery is handled
    body, content_type = requests["event"]
    assert (await rig.slack.send(rig.slack_url, body, content_type)).status == 200
    await rig.settle()
    assert [t for t in rig.client_chat(IVAN) if "Anna forged this" in t] != []


async def test_a_slack_timestamp_that_is_not_a_number_is_401(rig: Rig) -> None:
    await anna_online_with_ivan(rig)
    body, content_type = rig.slack.payloads.slash_command("/status", "offline", ANNA.slack_user, DESK_CHANNEL)
    statuses: dict[str, int] = {}
    async with refused(rig, ANNA) as seen:
        for timestamp in ("yesterday", "1.5e9", "", "１７００００００００"):
            signature = slack_signature(rig.slack.signing_secret, timestamp, body)
            status, _ = await post_raw(
                rig.slack_url,
                body.encode(),
                {"Content-Type": content_type, "X-Slack-Request-Timestamp": timestamp, "X-Slack-Signature": signature},
            )
            statuses[timestamp] = status
    assert statuses == dict.fromkeys(statuses, 401)
    assert seen.texts == []


async def test_replayed_slack_events_and_take_clicks_do_not_act_twice(any_store_rig: Rig) -> None:
    # A replay is the same body with the same valid signature, inside the 5-minute window. Events are deduped by
    # event_id (tests/e2e/test_slack_desk.py::test_a_retried_event_is_handled_once sends Slack's retries, with
    # X-Slack-Retry-Num); here the exact bytes again, with no retry header. Take is idempotent for its taker.
    rig = any_store_rig
    await anna_online_with_ivan(rig)
    root = await rig.thread_root(1)
    now = int(time.time())
    take = rig.slack.payloads.block_action(
        ANNA.slack_user, TAKE, "1", channel_id=root["channel"], message_ts=root["ts"]
    )
    reply = rig.slack.payloads.message_event(ANNA.slack_user, root["channel"], "I am on it", thread_ts=root["ts"])
    for body, content_type in (take, reply):
        assert (await rig.slack.send(rig.slack_url, body, content_type, timestamp=now)).status == 200
        await rig.settle()
    assert rig.desk is not None
    session = await rig.desk.store.get_session(1)
    assert session is not None and session.assignee == "anna" and session.status == SessionStatus.ACTIVE
    assert len([t for t in rig.client_chat(IVAN) if "I am on it" in t]) == 1

    async with refused(rig, ANNA) as seen:
        for body, content_type in (take, reply, take, reply):
            assert (await rig.slack.send(rig.slack_url, body, content_type, timestamp=now)).status == 200
    assert seen.texts == []


async def test_replayed_form_submission_and_process_click_do_not_act_twice(rig: Rig) -> None:
    # Within 5 s a second click is refused as a double click (tests/e2e/test_refusals.py::
    # test_a_double_click_starts_one_instance). A replay of the same signed request may come later, up to the end of
    # the 5-minute signature window: it must not start a second instance either.
    await anna_online_with_ivan(rig)
    response = await rig.slash(ANNA, "/startprocess", "1")
    button = next(
        e
        for b in response.json["blocks"]
        if b["type"] == "actions"
        for e in b["elements"]
        if e["text"]["text"] == "Handle request"
    )
    picker = rig.ephemeral(ANNA)[-1]
    now = int(time.time())
    pick = rig.slack.payloads.block_action(
        ANNA.slack_user,
        button["action_id"],
        button["value"],
        channel_id=DESK_CHANNEL,
        message_ts=picker["ts"],
        container_ephemeral=True,
    )
    assert (await rig.slack.send(rig.slack_url, *pick, timestamp=now)).status == 200
    await rig.settle()
    modal = rig.slack.workspace.views.modal(ANNA.slack_user)
    assert modal is not None
    values = {"phone": {"value": "+7 999"}, "kind": {"value": "repair"}, "urgent": {"value": "true"}}
    submit = rig.slack.payloads.view_submission(ANNA.slack_user, modal.id, values=values)
    assert (await rig.slack.send(rig.slack_url, *submit, timestamp=now)).status == 200
    await rig.settle()
    [record] = await instances(rig)
    assert record.status == InstanceStatus.WAITING and record.waiting_for == "client_message"
    registered = list(rig.client_chat(IVAN))

    async with refused(rig, ANNA):
        answer = await rig.slack.send(rig.slack_url, *submit, timestamp=now)  # refused, or acknowledged and dropped
        assert answer.status == 200 and (not answer.text or answer.json["response_action"] == "errors"), answer.text

    await asyncio.sleep(DOUBLE_CLICK_WINDOW + 0.3)  # past the double-click guard, well inside the signature window
    async with refused(rig, ANNA):
        assert (await rig.slack.send(rig.slack_url, *pick, timestamp=now)).status == 200
    assert rig.client_chat(IVAN) == registered


async def test_a_replayed_telegram_update_does_not_act_twice(any_store_rig: Rig) -> None:
    # Updates are deduped by update_id per bot (tests/telegram/test_reference_payloads.py delivers real duplicates;
    # the demo's step 9 a client message twice); here a press on a process button, replayed with its secret.
    rig = any_store_rig
    await rig.client_writes(IVAN, HELLO)
    await rig.topic_says(ANNA, None, "/status online")
    await rig.topic_says(ANNA, 1, "/startprocess")
    picker = next(m for m in await rig.topic(1) if m.get("text", "").startswith("▶ Start a process"))
    user = rig.telegram.user(ANNA.telegram_user, ANNA.name)
    update = rig.telegram.callback_update(
        SUPPORT_TOKEN, user, buttons(picker)["Handle request"], picker["message_id"], chat_id=TELEGRAM_DESK
    )
    assert (await rig.telegram.post_update(rig.webhook_url(), update, secret=WEBHOOK_SECRET))[0] == 200
    await rig.settle()
    assert len(await instances(rig)) == 1
    async with refused(rig, ANNA) as seen:
        for _ in range(2):
            status, _ = await rig.telegram.post_update(rig.webhook_url(), update, secret=WEBHOOK_SECRET)
            assert status == 200
    assert seen.texts == []


# === 2. Webhook and API bodies: secrets, unknown lines, malformed and oversize bodies =================================
async def test_telegram_webhook_refuses_bad_secrets_unknown_lines_malformed_and_oversize_bodies(rig: Rig) -> None:
    # tests/e2e/test_refusals.py proves the statuses of a wrong/missing secret, an unknown line, an update without
    # update_id and an oversize body (…_is_401_and_stores_nothing, …_is_404_and_malformed_update_is_400,
    # test_oversize_body_is_413); here every variant, with nothing stored and nothing sent.
    update = rig.telegram.text_update(SUPPORT_TOKEN, rig.telegram.user(IVAN.telegram_user, IVAN.name), HELLO)
    good = json.dumps(update).encode()
    big = json.dumps({"update_id": update["update_id"] + 1, "message": {"text": "x" * MB}}).encode()
    support, sales = rig.webhook_url("support"), rig.webhook_url("sales")
    cases: list[tuple[str, str, str | None, bytes, int]] = [
        ("wrong secret", support, "wrong-secret", good, 401),
        ("missing secret", support, None, good, 401),
        ("empty secret", support, "", good, 401),
        ("the secret with a suffix", support, WEBHOOK_SECRET + "x", good, 401),
        ("another line's secret", support, SALES_SECRET, good, 401),
        ("this line's secret on another line", sales, WEBHOOK_SECRET, good, 401),
        ("unknown line", rig.webhook_url("nope"), WEBHOOK_SECRET, good, 404),
        ("unknown line, no secret", rig.webhook_url("nope"), None, good, 404),
        ("a line id with a path in it", f"{rig.url}/telegram/support%2F..%2Fsales", WEBHOOK_SECRET, good, 404),
        ("not JSON", support, WEBHOOK_SECRET, b"{not json", 400),
        ("not UTF-8", support, WEBHOOK_SECRET, b'{"update_id": 7, "x": "\xff"}', 400),
        ("a JSON array", support, WEBHOOK_SECRET, b"[1, 2]", 400),
        ("a JSON string", support, WEBHOOK_SECRET, b'"update"', 400),
        ("no update_id", support, WEBHOOK_SECRET, b'{"message": {}}', 400),
        ("update_id not a number", support, WEBHOOK_SECRET, b'{"update_id": "1"}', 400),
        ("empty body", support, WEBHOOK_SECRET, b"", 400),
        ("over 1 MB", support, WEBHOOK_SECRET, big, 413),
    ]
    async with refused(rig) as seen:
        for case, url, secret, body, expected in cases:
            headers = {"Content-Type": "application/json"}
            if secret is not None:
                headers["X-Telegram-Bot-Api-Secret-Token"] = secret
            status, _ = await post_raw(url, body, headers)
            assert status == expected, (case, status)
    assert seen.texts == []
    assert rig.client_chat(IVAN) == [HELLO]

    # none of the refusals burnt the update's id: the genuine delivery opens the session
    status, _ = await rig.telegram.post_update(support, update, secret=WEBHOOK_SECRET)
    assert status == 200
    await rig.settle()
    assert rig.client_chat(IVAN) == GREETED


async def test_slack_events_refuses_oversize_bodies(rig: Rig) -> None:
    await anna_online_with_ivan(rig)
    body, content_type = rig.slack.payloads.slash_command("/status", "offline", ANNA.slack_user, DESK_CHANNEL)
    oversize = body + "&padding=" + "x" * MB
    async with refused(rig, ANNA) as seen:
        response = await rig.slack.send(rig.slack_url, oversize, content_type)  # correctly signed
        assert response.status == 413, response.status
        status, _ = await post_raw(rig.slack_url, oversize.encode(), {"Content-Type": content_type})  # unsigned
        assert status in (401, 413), status
    assert seen.texts == []
    assert rig.desk is not None
    assert (await rig.desk.operators.state("anna")).status.value == "online"


MALFORMED_SLACK_BODIES = [
    ("{not json", "application/json"),
    ("[1, 2]", "application/json"),
    ("payload=%7Bnot+json", "application/x-www-form-urlencoded"),
    ("payload=%5B1%5D", "application/x-www-form-urlencoded"),
]


async def test_slack_events_refuses_malformed_bodies_with_4xx_signed_or_not(rig: Rig) -> None:
    """Unsigned garbage is 401 (the signature is checked before the body is parsed); signed garbage is a 4xx."""
    await anna_online_with_ivan(rig)
    async with refused(rig, ANNA) as seen:
        for body, content_type in MALFORMED_SLACK_BODIES:
            status, _ = await post_raw(rig.slack_url, body.encode(), {"Content-Type": content_type})
            assert status == 401, ("unsigned", body, status)
            response = await rig.slack.send(rig.slack_url, body, content_type)
            assert 400 <= response.status < 500, ("signed", body, response.status, response.text)
    assert seen.texts == []


async def test_admin_api_refuses_missing_or_wrong_tokens_and_oversize_bodies(make_rig: MakeRig) -> None:
    # tests/e2e/test_http.py::test_admin_api_needs_the_bearer_token and tests/e2e/test_autostart.py::
    # test_api_sets_and_lists_rules_behind_the_token prove 401 on GET and PUT; here also the near misses and 413.
    token = "admin-token-for-the-security-suite"
    rig = await make_rig(("create_lead", "Create a lead", [script("x = 1")]), admin_token=token)
    put = f"{rig.url}/api/lines/support/autostart/session.created"
    rule = json.dumps({"process": "create_lead", "enabled": True}).encode()
    wrong = {
        "no header": {},
        "no scheme": {"Authorization": token},
        "another scheme": {"Authorization": f"Basic {token}"},
        "lower-case scheme": {"Authorization": f"bearer {token}"},
        "a prefix of the token": {"Authorization": f"Bearer {token[:-1]}"},
        "the token and more": {"Authorization": f"Bearer {token}x"},
        "empty token": {"Authorization": "Bearer "},
        "token in another header": {"X-Admin-Token": token},
    }
    async with refused(rig) as seen:
        for case, headers in wrong.items():
            for method, url, body in (
                ("GET", f"{rig.url}/api/sessions", b""),
                ("GET", f"{rig.url}/api/lines", b""),
                ("PUT", put, rule),
            ):
                status, _ = await post_raw(url, body, headers, method=method)
                assert status == 401, (case, method, url, status)
        status, _ = await post_raw(f"{put}?token={token}", rule, {}, method="PUT")
        assert status == 401
        oversize = json.dumps({"process": "create_lead", "enabled": True, "pad": "x" * MB}).encode()
        status, _ = await post_raw(put, oversize, {"Authorization": f"Bearer {token}"}, method="PUT")
        assert status == 413, status
    assert seen.texts == []
    status, _ = await post_raw(put, rule, {"Authorization": f"Bearer {token}"}, method="PUT")  # the route works
    assert status == 200


async def test_admin_api_is_off_without_a_token(rig: Rig) -> None:
    # tests/e2e/test_http.py::test_admin_api_is_off_without_a_token proves 403 for a GET; here a PUT changes nothing.
    put = f"{rig.url}/api/lines/support/autostart/session.created"
    rule = json.dumps({"process": "create_lead", "enabled": True}).encode()
    async with refused(rig):
        for headers in ({}, {"Authorization": "Bearer "}, {"Authorization": "Bearer anything"}):
            status, body = await post_raw(put, rule, headers, method="PUT")
            assert status == 403 and "LINEDESK_ADMIN_TOKEN" in body, (headers, status)


# === 3. Tampered button values and callback data =====================================================================
async def three_sessions(rig: Rig) -> None:
    """#1 Ivan (support, Telegram), #2 Petra (sales, Slack DM), #3 Olga (support) marked as spam by Anna; Anna and Carl
    online. Anna works both lines, Carl only support, Boris only sales."""
    await anna_online_with_ivan(rig)
    await rig.slack_customer_writes(PETRA, "Hi, I want a quote")
    await rig.client_writes(OLGA, "Buy cheap watches")
    await rig.slash(CARL, "/status", "online")
    await slack_click(rig, ANNA, MENU, "", session=3, selected="spam:3")
    assert rig.desk is not None
    sessions = {s.number: s for s in await rig.desk.store.list_sessions(limit=10)}
    assert (sessions[1].line_id, sessions[2].line_id, sessions[3].status) == ("support", "sales", SessionStatus.SPAM)


async def test_tampered_slack_button_values_are_refused(any_store_rig: Rig) -> None:
    # tests/e2e/test_refusals.py::test_buttons_naming_a_missing_session_or_process_or_tampered_are_refused and
    # tests/e2e/test_lifecycle_desks.py::test_slack_transfer_values_are_rechecked prove some of these reasons.
    rig = any_store_rig
    await three_sessions(rig)
    handle = "handle_request"
    cases: list[tuple[Person, str, str, str | None, str]] = [
        # another line's session
        (CARL, TAKE, "2", None, "not an operator of line 'sales'"),
        (CARL, START, "2", None, "not an operator of line 'sales'"),
        (CARL, CLOSE, "2", None, "not an operator of line 'sales'"),
        (CARL, f"{PICK}:send_quote", pick_value(2, "send_quote"), None, "not an operator of line 'sales'"),
        (CARL, MENU, "", "spam:2", "not an operator of line 'sales'"),
        (CARL, MENU, "", "queue:2", "not an operator of line 'sales'"),
        (CARL, MENU, "", "transfer:2", "not an operator of line 'sales'"),
        (CARL, f"{TRANSFER_TO}:0", "2:carl", None, "not an operator of line 'sales'"),
        # a session marked as spam
        (ANNA, TAKE, "3", None, "spam"),
        (ANNA, START, "3", None, "spam"),
        (ANNA, f"{PICK}:{handle}", pick_value(3, handle), None, "spam"),
        # sessions and processes that do not exist
        (ANNA, TAKE, "99", None, "Session #99 does not exist"),
        (ANNA, START, "0", None, "Session #0 does not exist"),
        (ANNA, f"{PICK}:{handle}", pick_value(99, handle), None, "Session #99 does not exist"),
        (ANNA, f"{PICK}:{handle}", pick_value(1, "no_such_process"), None, "no process 'no_such_process'"),
        (ANNA, f"{PICK}:{handle}", pick_value(1, "Sales/send_quote.bpmn"), None, "no process"),
        (ANNA, TASK_TAKE, "0" * 32, None, "does not exist"),
        (ANNA, TASK_TAKE, "../../etc/passwd", None, "does not exist"),
        # garbage
        (ANNA, TAKE, "", None, "not valid"),
        (ANNA, TAKE, "-1", None, "not valid"),
        (ANNA, TAKE, "1.0", None, "not valid"),
        (ANNA, TAKE, "1; DROP TABLE sessions", None, "not valid"),
        (ANNA, CLOSE, "0x1", None, "not valid"),
        (ANNA, f"{PICK}:{handle}", "", None, "not valid"),
        (ANNA, f"{PICK}:{handle}", "not json", None, "not valid"),
        (ANNA, f"{PICK}:{handle}", '[1, "handle_request"]', None, "not valid"),
        (ANNA, f"{PICK}:{handle}", '{"s": "1", "p": "handle_request"}', None, "not valid"),
        (ANNA, f"{PICK}:{handle}", '{"s": 1, "p": ["handle_request"]}', None, "not valid"),
        (ANNA, f"{PICK}:{handle}", '{"s": 1}', None, "not valid"),
        (ANNA, MENU, "", "nuke:1", "not valid"),
        (ANNA, MENU, "", "spam:x", "not valid"),
        (ANNA, f"{TRANSFER_TO}:0", "1", None, "not valid"),
        (ANNA, f"{TRANSFER_TO}:0", "x:carl", None, "not valid"),
        (ANNA, f"{TRANSFER_TO}:0", "1:Carl; rm -rf", None, "not valid"),
    ]
    async with refused(rig, ANNA, CARL):
        for person, action_id, value, selected, reason in cases:
            told = await slack_click(rig, person, action_id, value, selected=selected)
            assert reason in told, (person.name, action_id, value, selected, told)
    assert await instances(rig) == []


@pytest.mark.parametrize(
    "value",
    ["²", "9" * 30, '{"s": true, "p": "handle_request"}', '{"s": 99999999999999999999999, "p": "handle_request"}'],
    ids=["superscript-digit", "huge-number", "boolean-session", "huge-session"],
)
async def test_odd_slack_button_values_are_refused_with_a_reason(any_store_rig: Rig, value: str) -> None:
    """Values that pass a loose check (`str.isdigit`, `isinstance(True, int)`) but are no session number."""
    rig = any_store_rig
    await anna_online_with_ivan(rig)
    action_id = f"{PICK}:handle_request" if value.startswith("{") else TAKE
    told = ""
    async with refused(rig, ANNA):
        told = await slack_click(rig, ANNA, action_id, value)
    assert "not valid" in told or "does not exist" in told, f"no reason given for {value!r}: {told!r}"


async def test_tampered_telegram_callback_data_is_refused(any_store_rig: Rig) -> None:
    # tests/e2e/test_telegram_desk.py::test_tampered_and_stale_buttons_are_refused_and_nothing_starts proves a part of
    # these reasons (and the double click); ...::test_autostart_in_the_desk_group_is_for_admins forged /autostart data.
    rig = any_store_rig
    await rig.client_writes(IVAN, HELLO)
    await rig.client_writes(OLGA, "Hello from Olga")
    await rig.slack_customer_writes(PETRA, "Hi, I want a quote")  # #3: sales, no Telegram topic
    await rig.topic_says(ANNA, None, "/status online")
    await rig.topic_says(ANNA, 1, "/startprocess")
    picker = next(m for m in await rig.topic(1) if m.get("text", "").startswith("▶ Start a process"))
    assert (await press(rig, ANNA, picker, buttons(picker)["Handle request"]))["text"] == "▶ Handle request started."
    [record] = await instances(rig)  # session #1's, waiting for Anna's form
    anna = rig.telegram.user(ANNA.telegram_user, ANNA.name)
    await rig.telegram.deliver(SUPPORT_TOKEN, rig.telegram.text_update(SUPPORT_TOKEN, anna, "/status"))
    await rig.settle()
    private = rig.telegram.chat_messages(SUPPORT_TOKEN, ANNA.telegram_user)[-1]  # the bot's answer, in a private chat
    card1, card2 = await card(rig, 1), await card(rig, 2)
    handle, unknown = process_key("handle_request"), process_key("no_such_process")
    cases: list[tuple[dict[str, Any], str, str]] = [
        # another session than the topic's, another line's session, sessions that do not exist
        (card1, "ses:take:2", "tampered"),
        (card1, "ses:start:2", "tampered"),
        (card1, "ses:close:3", "tampered"),
        (card1, "ses:take:99", "tampered"),
        (card1, "ses:take:-1", "tampered"),
        (card1, "ses:take:0", "tampered"),
        (card1, f"pp:2:{handle}", "tampered"),
        (card2, f"pp:1:{handle}", "tampered"),
        (card1, "pg:2:1", "tampered"),
        (card1, "tr:2:-", "tampered"),
        (card2, f"task:{record.id}", "tampered"),  # session #1's task, pressed in session #2's topic
        # processes, operators, instances and actions that do not exist
        (card1, f"pp:1:{unknown}", "not in the catalog"),
        (card1, "pp:1:", "not in the catalog"),
        (card1, "pp:1:handle_request", "not in the catalog"),
        (card1, f"tr:1:{operator_key('boris')}", "tampered"),  # Boris does not work on support
        (card1, f"tr:1:{operator_key('nobody')}", "tampered"),
        (card1, "task:" + "0" * 32, "tampered"),
        (card1, "ses:nuke:1", "tampered"),
        # garbage
        (card1, "ses:take:abc", "tampered"),
        (card1, "ses:take", "tampered"),
        (card1, "ses:take:1:extra", "tampered"),
        (card1, "pp:x:y", "tampered"),
        (card1, "\x00garbage", "tampered"),
        (card1, "x" * 64, "tampered"),
    ]
    async with refused(rig, ANNA):
        for message, data, reason in cases:
            answer = await press(rig, ANNA, message, data)
            assert answer["show_alert"] and reason in answer["text"], (data, answer)
        # a card button pressed outside the desk group (in a private chat with the bot)
        answer = await press(rig, ANNA, private, "ses:take:1", chat_id=ANNA.telegram_user)
        assert answer["show_alert"] and "tampered" in answer["text"], answer
    [after] = await instances(rig)
    assert after.id == record.id


# === 4. People who may not ===========================================================================================
async def test_a_slack_user_who_is_no_operator_can_not_take_start_or_fill_in_a_form(any_store_rig: Rig) -> None:
    # tests/e2e/test_refusals.py::test_a_slack_user_who_is_not_an_operator_is_refused proves /startprocess, a picker
    # click and a thread reply; tests/e2e/test_telegram_desk.py::
    # test_non_operators_and_other_lines_operators_are_refused the same on Telegram (a Telegram user, no operator).
    rig = any_store_rig
    await anna_online_with_ivan(rig)
    await anna_picks(rig, "Handle request")
    [record] = await instances(rig)
    modal = rig.slack.workspace.views.modal(ANNA.slack_user)
    assert modal is not None and record.status == InstanceStatus.WAITING and record.assignee == "anna"
    values = {"phone": {"value": "+1 555"}, "kind": {"value": "repair"}, "urgent": {"value": "false"}}
    async with refused(rig, STRANGER) as seen:
        for action_id, value, selected in (
            (TAKE, "1", None),
            (START, "1", None),
            (CLOSE, "1", None),
            (f"{PICK}:handle_request", pick_value(1, "handle_request"), None),
            (TASK_TAKE, record.id, None),
            (MENU, "", "spam:1"),
        ):
            told = await slack_click(rig, STRANGER, action_id, value, selected=selected)
            assert NOT_OPERATOR in told, (action_id, told)
        for command, text in (("/startprocess", "1"), ("/startprocess", ""), ("/status", "online"), ("/autostart", "")):
            response = await rig.slash(STRANGER, command, text)
            assert response.text.startswith(NOT_OPERATOR), (command, response.text)
        response = await rig.slack.submit_view(rig.slack_url, STRANGER.slack_user, modal.id, values)
        assert response.json["response_action"] == "errors" and NOT_OPERATOR in json.dumps(response.json["errors"])
        await rig.thread_reply(STRANGER, 1, "Send me your card number")
        assert last_ephemeral(rig, STRANGER).startswith(f"Not sent to the client: {NOT_OPERATOR[:-1]}")
    assert len(seen.texts) == 11


async def test_operators_of_another_line_can_not_act_on_its_sessions(any_store_rig: Rig) -> None:
    # tests/e2e/test_refusals.py::test_an_operator_of_another_line_is_refused proves /startprocess and a picker click
    # on Slack; tests/e2e/test_telegram_desk.py::test_non_operators_and_other_lines_operators_are_refused the picker,
    # /startprocess and a topic message on Telegram.
    rig = any_store_rig
    await rig.client_writes(IVAN, HELLO)  # #1 support
    await rig.slack_customer_writes(PETRA, "Hi, I want a quote")  # #2 sales
    await rig.slash(BORIS, "/status", "online")
    await rig.slash(CARL, "/status", "online")
    boris = "You are not an operator of line 'support'."
    carl = "You are not an operator of line 'sales'."
    async with refused(rig, BORIS, CARL):
        for person, session, reason in ((BORIS, 1, boris), (CARL, 2, carl)):
            number = str(session)
            process = "handle_request" if session == 1 else "send_quote"
            for action_id, value, selected in (
                (TAKE, number, None),
                (START, number, None),
                (CLOSE, number, None),
                (f"{PICK}:{process}", pick_value(session, process), None),
                (MENU, "", f"spam:{number}"),
                (MENU, "", f"transfer:{number}"),
            ):
                told = await slack_click(rig, person, action_id, value, session=session, selected=selected)
                assert reason in told, (person.name, action_id, told)
            response = await rig.slash(person, "/startprocess", number)
            assert reason in response.text, response.text
            await rig.thread_reply(person, session, "I can answer that")
            assert last_ephemeral(rig, person) == f"Not sent to the client: {reason}"
            await rig.thread_reply(person, session, "// a note for your desk")  # notes are for the line's operators
            line = "support" if session == 1 else "sales"
            assert (
                last_ephemeral(rig, person)
                == f"Not sent to the client: Only operators of line {line!r} leave notes on its sessions."
            )
        # Boris is in the Telegram desk group too: the card's buttons and the topic's commands
        topic_card = await card(rig, 1)
        for text in ("Take", "Start process", "Close", "Transfer", "Spam", "Processes"):
            answer = await press(rig, BORIS, topic_card, buttons(topic_card)[text])
            assert answer["show_alert"] and boris in answer["text"], (text, answer)
        for command in ("/startprocess", "/close", "/spam", "/transfer carl", "Hello Ivan, Boris here"):
            assert boris in await topic_reply(rig, BORIS, 1, command), command
    assert rig.client_chat(IVAN) == GREETED


async def test_an_offline_operator_can_not_take_start_or_answer(any_store_rig: Rig) -> None:
    # tests/e2e/test_refusals.py::test_offline_operator_* and tests/e2e/test_lifecycle_desks.py::
    # test_slack_refusals_for_an_offline_operator_say_why / test_telegram_refusals_… prove the reasons.
    rig = any_store_rig
    await anna_online_with_ivan(rig)
    await rig.slash(ANNA, "/status", "offline")
    async with refused(rig, ANNA):
        for action_id, value in (
            (TAKE, "1"),
            (START, "1"),
            (f"{PICK}:handle_request", pick_value(1, "handle_request")),
        ):
            told = await slack_click(rig, ANNA, action_id, value)
            assert "offline" in told, (action_id, told)
        response = await rig.slash(ANNA, "/startprocess", "1")
        assert "offline" in response.text, response.text
        await rig.thread_reply(ANNA, 1, "Hello Ivan")
        assert "offline" in last_ephemeral(rig, ANNA)
        topic_card = await card(rig, 1)
        for text in ("Take", "Start process", "Transfer", "Spam", "Processes"):
            answer = await press(rig, ANNA, topic_card, buttons(topic_card)[text])
            assert answer["show_alert"] and "offline" in answer["text"], (text, answer)
        for command in ("/startprocess", "/spam", "Hello Ivan"):
            assert "offline" in await topic_reply(rig, ANNA, 1, command), command
    assert rig.client_chat(IVAN) == GREETED


async def test_non_admins_can_not_change_automatic_start(rig: Rig) -> None:
    # tests/e2e/test_autostart.py::test_a_non_admin_is_refused_for_the_command_and_for_forged_clicks,
    # tests/e2e/test_app_home.py::test_a_non_admins_forged_clicks_in_the_home_change_nothing and
    # tests/e2e/test_telegram_desk.py::test_autostart_in_the_desk_group_is_for_admins prove the reasons.
    await rig.slash(CARL, "/status", "online")  # online or not: Carl is no admin
    await rig.slack.open_home(rig.slack_url, CARL.slack_user)
    await rig.settle()
    home = rig.slack.home(CARL.slack_user)
    assert home is not None
    await rig.topic_says(ANNA, None, "/autostart")  # Anna's (an admin's) menu in the desk group: Carl presses it
    menu = rig.telegram.chat_messages(SUPPORT_TOKEN, TELEGRAM_DESK)[-1]
    lead = process_key("create_lead")
    option = {"text": {"type": "plain_text", "text": "create_lead"}, "value": "create_lead"}
    async with refused(rig, CARL) as seen:
        response = await rig.slash(CARL, "/autostart")
        assert response.text == NOT_ADMIN
        response = await rig.slash(CARL, "/autostart", "support session.created create_lead on")
        assert response.text == f"Not changed: {NOT_ADMIN}"
        for action_id, value, selected in (
            (TOGGLE, "support:session.created:on", None),
            (f"{PROCESS}:support:session.created", "create_lead", option),
            (PAGE, "0", None),
        ):
            await rig.click(CARL, action_id, value, channel_id=DESK_CHANNEL, selected_option=selected)
            assert last_ephemeral(rig, CARL) == f"Not changed: {NOT_ADMIN}", action_id
        for action_id, value, selected in (
            (HOME_IDS.toggle, "support:session.created:on", None),
            (f"{HOME_IDS.process}:support:session.created", "create_lead", option),
            (HOME_IDS.page, "0", None),
        ):
            await rig.click(CARL, action_id, value, view=home["id"], selected_option=selected)
        assert await topic_reply(rig, CARL, None, "/autostart") == NOT_ADMIN
        for data in ("as:t:0:1", f"as:c:0:{lead}", "as:m:0:", "as:l:0:"):
            answer = await press(rig, CARL, menu, data)
            assert answer["show_alert"] and answer["text"] == f"Not changed: {NOT_ADMIN}", (data, answer)
    assert sum(NOT_ADMIN in text for text in seen.texts) == 2 + 3 + 3 + 1 + 4
    assert rig.desk is not None and await rig.desk.store.list_rules() == []


# === 5. The http block reaches only the hosts of processes.http_allow ================================================
@asynccontextmanager
async def web_server(routes: dict[str, web.Response]) -> AsyncIterator[tuple[str, list[str]]]:
    """A tiny local HTTP server: (its base URL, the paths it was asked for); `routes` answer some paths."""
    hits: list[str] = []

    async def record(request: web.Request) -> web.StreamResponse:
        hits.append(request.path_qs)
        answer: web.Response | None = routes.get(request.path)
        if answer is None:
            return web.json_response({"ok": True, "leaked": True})
        return web.Response(status=answer.status, headers=answer.headers)  # a fresh response per request

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", record)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        yield f"http://127.0.0.1:{port}", hits
    finally:
        await runner.cleanup()


async def test_the_http_block_never_reaches_a_host_outside_http_allow(make_rig: MakeRig) -> None:
    # tests/e2e/test_blocks.py::test_http_block_calls_allowed_hosts_retries_5xx_and_refuses_others proves the refusal
    # of one host. Here the host outside http_allow is a live server that must get no request at all: named directly,
    # hidden behind user info, taken from what the client wrote, or reached through a redirect of an allowed host.
    async with web_server({}) as (outside, outside_hits):
        port = outside.rsplit(":", 1)[1]
        target = f"http://localhost:{port}/steal"  # 127.0.0.1 is allowed, "localhost" is not
        redirect = {
            "/redirect": web.Response(status=302, headers={"Location": target}),
            "/redirect307": web.Response(status=307, headers={"Location": target}),
        }
        async with web_server(redirect) as (allowed, allowed_hits):
            processes = [
                ("direct", "Direct", f"{target}/direct"),
                ("userinfo", "User info", f"http://127.0.0.1@localhost:{port}/steal/userinfo"),
                ("from_client", "From the client", "=last_message"),
                ("redirect", "Redirect", f"{allowed}/redirect"),
                ("redirect307", "Redirect 307", f"{allowed}/redirect307"),
            ]
            rig = await make_rig(
                *(
                    (
                        pid,
                        name,
                        [
                            block("linedesk.http", result="answer", url=url),
                            block("linedesk.reply", text="Leaked: {answer}"),
                        ],
                    )
                    for pid, name, url in processes
                ),
                http_allow=("127.0.0.1",),
            )
            await rig.client_writes(IVAN, f"{target}/client")
            await rig.slash(ANNA, "/status", "online")
            greeted = rig.client_chat(IVAN)
            for _, name, _ in processes:
                await anna_picks(rig, name)
            await rig.settle()
            failed = {r.process_id: r for r in await instances(rig)}
            assert outside_hits == [], f"the http block reached a host outside http_allow: {outside_hits}"
            assert sorted(allowed_hits) == ["/redirect", "/redirect307"]
            for pid, name, _ in processes:
                record = failed[pid]
                assert record.status == InstanceStatus.FAILED, (pid, record.status, record.error)
                assert any(t.startswith(f"✖ {name} failed") for t in await rig.desk_thread(1)), pid
            for pid in ("direct", "userinfo", "from_client"):
                assert "host 'localhost' is not in processes.http_allow" in (failed[pid].error or ""), pid
            assert rig.client_chat(IVAN) == greeted, "nothing reaches the client"


DEEP = "[" * 100_000 + "]" * 100_000
"""A JSON value nested 100,000 deep (200 kB): `json.loads` raises RecursionError on it."""


async def test_json_bodies_nested_100000_deep_are_400_with_a_reason(make_rig: MakeRig) -> None:
    """With valid credentials — the webhook secret, Slack's signature, the admin token — not a 500."""
    token = "admin-token-for-the-security-suite"
    rig = await make_rig(("create_lead", "Create a lead", [script("x = 1")]), admin_token=token)
    await anna_online_with_ivan(rig)
    telegram = f'{{"update_id": 990001, "message": {DEEP}}}'.encode()
    slack = f'{{"type": "event_callback", "event": {DEEP}}}'
    admin = f'{{"process": {DEEP}, "enabled": true}}'.encode()
    async with refused(rig, ANNA) as seen:
        headers = {"Content-Type": "application/json", "X-Telegram-Bot-Api-Secret-Token": WEBHOOK_SECRET}
        status, text = await post_raw(rig.webhook_url(), telegram, headers)
        assert (status, json.loads(text)["error"]) == (400, "malformed update: nested too deeply")
        response = await rig.slack.send(rig.slack_url, slack, "application/json")  # correctly signed
        assert (response.status, json.loads(response.text)["error"]) == (400, "the JSON body is nested too deeply")
        put = f"{rig.url}/api/lines/support/autostart/session.created"
        status, text = await post_raw(put, admin, {"Authorization": f"Bearer {token}"}, method="PUT")
        assert (status, json.loads(text)["error"]) == (400, "the JSON body is nested too deeply")
    assert seen.texts == []


async def test_admin_api_session_numbers_and_limits_it_can_not_use_are_400_or_404(make_rig: MakeRig) -> None:
    """`int()` takes Unicode digits ("²", "٣") and SQLite's integers stop at 2**63 - 1: neither is a 500."""
    token = "admin-token-for-the-security-suite"
    rig = await make_rig(("create_lead", "Create a lead", [script("x = 1")]), admin_token=token)
    await rig.client_writes(IVAN, HELLO)
    auth = {"Authorization": f"Bearer {token}"}
    thirty = "1" * 30
    cases = [
        ("/api/sessions/²", 400, "the session number must be a whole number (digits 0-9), not '²'"),
        ("/api/sessions/%D9%A3", 400, "the session number must be a whole number (digits 0-9), not '٣'"),
        ("/api/sessions/-1", 400, "the session number must be a whole number (digits 0-9), not '-1'"),
        (f"/api/sessions/{thirty}", 404, f"no session #{thirty}"),
        ("/api/sessions/9223372036854775808", 404, "no session #9223372036854775808"),
        ("/api/sessions/9223372036854775807", 404, "no session #9223372036854775807"),
        ("/api/sessions?limit=²", 400, "limit must be a whole number (digits 0-9), not '²'"),
        ("/api/sessions?limit=-5", 400, "limit must be a whole number (digits 0-9), not '-5'"),
        (f"/api/sessions?limit={thirty}", 400, "limit must be at most 9223372036854775807"),
        ("/api/sessions?limit=" + "9" * 5000, 400, "limit must be at most 9223372036854775807"),
    ]
    async with refused(rig) as seen:
        for path, expected, reason in cases:
            status, text = await post_raw(f"{rig.url}{path}", b"", auth, method="GET")
            assert (status, json.loads(text)) == (expected, {"ok": False, "error": reason}), path
    assert seen.texts == []
    status, text = await post_raw(f"{rig.url}/api/sessions/0001", b"", auth, method="GET")  # still a number
    assert status == 200 and json.loads(text)["number"] == 1
    status, text = await post_raw(f"{rig.url}/api/sessions?limit=9223372036854775807", b"", auth, method="GET")
    assert status == 200 and [s["number"] for s in json.loads(text)["sessions"]] == [1]
