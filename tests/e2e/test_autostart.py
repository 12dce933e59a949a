"""Automatic start, end to end: the admin surfaces (Slack `/autostart`, the admin API, the CLI) change
the rules, and the running server fires them — once per event, never on process messages, never on spam."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

import aiohttp
import pytest
from slack_bolt.async_app import AsyncApp
from slack_sdk.web.async_client import AsyncWebClient

from adapters.slack.admin import LINES_PER_PAGE, PAGE, PROCESS, TOGGLE, SlackAdmin
from adapters.slack.tracking import SlackListeners
from bots.cli import main
from core.autostart import EVENTS, Autostart, EffectiveRule, RuleAuthor
from core.blocks import BLOCKS
from core.bpmn.catalog import load_catalog
from core.clock import SystemClock
from core.config import Config, load_config, load_config_text
from core.events import SessionCreated
from core.model import AutostartRule, InstanceStatus, SessionStatus
from core.operators import Operators
from core.processes import Processes
from core.store import SqliteStore
from sandboxes.limits import Limits
from sandboxes.rig import ANNA, BORIS, DESK_CHANNEL, IVAN, OLGA, STRANGER, SUPPORT_TOKEN, WEBHOOK_SECRET, Person, Rig
from tests.support.flows import leads
from tests.support.rigs import PROCESSES

ADMIN = "admin-token-for-autostart"
THANKS = "Thanks, we registered your request as lead #{}"
GREETING = "Hello! An operator will answer shortly."


@pytest.fixture
async def admin_rig(tmp_path: Path) -> AsyncIterator[Rig]:
    rig = Rig(tmp_path, PROCESSES, limits=Limits.off())

    def with_admin_token() -> Config:
        return load_config(rig.config_path(), environ={"LINEDESK_ADMIN_TOKEN": ADMIN})

    rig.load_config = with_admin_token  # type: ignore[method-assign]
    await rig.start()
    try:
        yield rig
    finally:
        await rig.stop()


# --- helpers ------------------------------------------------------------------------------------
async def open_list(rig: Rig, person: Person = ANNA) -> dict[str, Any]:
    """`/autostart` with no arguments; returns the ephemeral the person sees."""
    response = await rig.slash(person, "/autostart")
    assert response.status == 200
    return rig.ephemeral(person)[-1]


def shown(rig: Rig, entry: dict[str, Any], person: Person = ANNA) -> dict[str, Any]:
    """The ephemeral `entry` as it is now (answers replace it in place)."""
    return next(e for e in rig.ephemeral(person) if e["ts"] == entry["ts"])


def row(entry: dict[str, Any], line: str, event: str) -> dict[str, dict[str, Any]]:
    """The elements of the (line, event) row by type: "button" (Turn on/off) and "static_select"."""
    block = next(b for b in entry["blocks"] if b.get("block_id") == f"rule:{line}:{event}")
    return {element["type"]: element for element in block["elements"]}


def line_text(entry: dict[str, Any], line: str) -> str:
    return str(next(b for b in entry["blocks"] if b.get("block_id") == f"line:{line}")["text"]["text"])


def option(value: str) -> dict[str, Any]:
    return {"text": {"type": "plain_text", "text": value}, "value": value}


async def press(rig: Rig, entry: dict[str, Any], action_id: str, value: str, person: Person = ANNA) -> None:
    await rig.click(person, action_id, value, channel_id=DESK_CHANNEL, message_ts=entry["ts"], container_ephemeral=True)


async def instances(rig: Rig) -> list[tuple[str, int | None, str]]:
    assert rig.desk is not None
    records = await rig.desk.store.list_instances()
    return sorted((r.process_id, r.session, r.trigger) for r in records)


async def runtime_rules(rig: Rig) -> list[tuple[str, str, str, bool]]:
    assert rig.desk is not None
    return [(r.line_id, r.event, r.process_id, r.enabled) for r in await rig.desk.store.list_rules()]


async def api(
    method: str, url: str, token: str | None = ADMIN, body: Any = None, raw: str | None = None
) -> tuple[int, Any]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    data = raw if raw is not None else (json.dumps(body) if body is not None else None)
    async with aiohttp.ClientSession() as http, http.request(method, url, headers=headers, data=data) as response:
        return response.status, await response.json()


# --- Slack /autostart ------------------------------------------------------------------------------
async def test_the_list_shows_every_line_and_event_within_block_kit_limits(rig: Rig) -> None:
    entry = await open_list(rig)
    blocks = entry["blocks"]
    assert len(blocks) <= 50
    for line in ("support", "sales"):
        text = line_text(entry, line)
        for event in ("session.created", "message.received", "session.closed"):
            assert f"`{event}` → _none_ · ⚪ off" in text
            elements = row(entry, line, event)
            assert set(elements) == {"static_select"}, "no Turn on button without a process"
            menu = elements["static_select"]
            assert menu["action_id"] == f"{PROCESS}:{line}:{event}"
            groups = {g["label"]["text"]: [o["value"] for o in g["options"]] for g in menu["option_groups"]}
            assert groups == {"Company": ["handle_request"], "Sales": ["send_quote"], "Sales · Leads": ["create_lead"]}
    assert "Support" in line_text(entry, "support") and "Sales" in line_text(entry, "sales")


async def test_admin_picks_a_process_turns_it_on_and_the_next_client_gets_a_lead(rig: Rig) -> None:
    entry = await open_list(rig)
    menu = row(entry, "support", "session.created")["static_select"]
    await press(rig, entry, menu["action_id"], "create_lead")
    entry = shown(rig, entry)
    assert "`session.created` → *Create a lead* (`create_lead`) · ⚪ off · set by Anna" in line_text(entry, "support")
    elements = row(entry, "support", "session.created")
    assert elements["static_select"]["initial_option"]["value"] == "create_lead"
    assert elements["button"]["text"]["text"] == "Turn on · session.created"
    assert await runtime_rules(rig) == [("support", "session.created", "create_lead", False)]

    await rig.client_writes(IVAN, "Hello")  # picked but still off: nothing starts
    assert await instances(rig) == []

    await press(rig, entry, TOGGLE, elements["button"]["value"])
    entry = shown(rig, entry)
    assert "· 🟢 on · set by Anna" in line_text(entry, "support")
    assert row(entry, "support", "session.created")["button"]["text"]["text"] == "Turn off · session.created"

    await rig.client_writes(OLGA, "I want to buy a washing machine")
    assert await leads(rig) == [(1, 2)]
    assert rig.client_chat(OLGA) == ["I want to buy a washing machine", GREETING, THANKS.format(1)]
    assert await instances(rig) == [("create_lead", 2, "session.created")]


async def test_turn_off_stops_new_leads(rig: Rig) -> None:
    response = await rig.slash(ANNA, "/autostart", "support session.created create_lead on")
    assert "`session.created` → *Create a lead* (`create_lead`) 🟢 on" in response.text
    await rig.client_writes(OLGA, "Hi")
    assert await leads(rig) == [(1, 1)]

    entry = await open_list(rig)
    button = row(entry, "support", "session.created")["button"]
    assert button["text"]["text"] == "Turn off · session.created"
    await press(rig, entry, TOGGLE, button["value"])
    assert "⚪ off" in line_text(shown(rig, entry), "support").splitlines()[1]

    await rig.client_writes(IVAN, "Hello")
    assert await leads(rig) == [(1, 1)]
    assert rig.client_chat(IVAN) == ["Hello", GREETING]


async def test_the_picker_changes_the_process_and_keeps_on_off(rig: Rig) -> None:
    await rig.slash(ANNA, "/autostart", "support session.created handle_request on")
    entry = await open_list(rig)
    elements = row(entry, "support", "session.created")
    assert elements["static_select"]["initial_option"]["value"] == "handle_request"
    await press(rig, entry, elements["static_select"]["action_id"], "create_lead")
    entry = shown(rig, entry)
    assert row(entry, "support", "session.created")["static_select"]["initial_option"]["value"] == "create_lead"
    assert await runtime_rules(rig) == [("support", "session.created", "create_lead", True)]
    await rig.client_writes(OLGA, "Hi")
    assert [i[0] for i in await instances(rig)] == ["create_lead"]


async def test_the_text_form_sets_a_rule_and_bad_arguments_get_the_usage(rig: Rig) -> None:
    response = await rig.slash(ANNA, "/autostart", "support session.created create_lead on")
    assert response.text.startswith("Automatic start is now: line `support`, `session.created` → *Create a lead*")
    assert await runtime_rules(rig) == [("support", "session.created", "create_lead", True)]

    for bad in (
        "support",
        "support session.created create_lead",
        "support session.created create_lead maybe",
        "a b c d e",
    ):
        response = await rig.slash(ANNA, "/autostart", bad)
        assert response.text.startswith("Use `/autostart`"), bad
    response = await rig.slash(ANNA, "/autostart", "support session.created no_such on")
    assert response.text == "Not changed: There is no process 'no_such' in the catalog."
    response = await rig.slash(ANNA, "/autostart", "nowhere session.created create_lead on")
    assert response.text.startswith("Not changed: There is no line 'nowhere'")
    response = await rig.slash(ANNA, "/autostart", "support session.opened create_lead on")
    assert response.text.startswith("Not changed: Unknown event 'session.opened'")
    assert await runtime_rules(rig) == [("support", "session.created", "create_lead", True)]

    await rig.client_writes(IVAN, "Hello")
    assert await leads(rig) == [(1, 1)]


async def test_a_non_admin_is_refused_for_the_command_and_for_forged_clicks(rig: Rig) -> None:
    entry = await open_list(rig)  # Anna's list: Boris replays its buttons
    menu = row(entry, "sales", "session.created")["static_select"]

    response = await rig.slash(BORIS, "/autostart")
    assert response.text == "Only admins can change automatic start."
    assert "blocks" not in rig.ephemeral(BORIS)[-1]
    response = await rig.slash(BORIS, "/autostart", "sales session.created create_lead on")
    assert response.text == "Not changed: Only admins can change automatic start."

    await rig.click(
        BORIS, menu["action_id"], "create_lead", channel_id=DESK_CHANNEL, selected_option=option("create_lead")
    )
    assert rig.ephemeral(BORIS)[-1]["text"] == "Not changed: Only admins can change automatic start."
    await rig.click(BORIS, TOGGLE, "sales:session.created:on", channel_id=DESK_CHANNEL)
    assert rig.ephemeral(BORIS)[-1]["text"] == "Not changed: Only admins can change automatic start."
    await rig.click(BORIS, PAGE, "0", channel_id=DESK_CHANNEL)
    assert rig.ephemeral(BORIS)[-1]["text"] == "Not changed: Only admins can change automatic start."
    assert all("blocks" not in e for e in rig.ephemeral(BORIS))

    assert await runtime_rules(rig) == []
    await rig.client_writes(OLGA, "Hi", token=SUPPORT_TOKEN)
    assert await instances(rig) == []


async def test_a_stranger_is_refused(rig: Rig) -> None:
    response = await rig.slash(STRANGER, "/autostart")
    assert response.text == "You are not a linedesk operator."
    response = await rig.slash(STRANGER, "/autostart", "support session.created create_lead on")
    assert response.text == "Not changed: You are not a linedesk operator."
    await rig.click(STRANGER, TOGGLE, "support:session.created:on", channel_id=DESK_CHANNEL)
    assert rig.ephemeral(STRANGER)[-1]["text"] == "Not changed: You are not a linedesk operator."
    await rig.click(
        STRANGER,
        f"{PROCESS}:support:session.created",
        "create_lead",
        channel_id=DESK_CHANNEL,
        selected_option=option("create_lead"),
    )
    assert rig.ephemeral(STRANGER)[-1]["text"] == "Not changed: You are not a linedesk operator."
    assert await runtime_rules(rig) == []


async def test_tampered_buttons_from_an_admin_change_nothing(rig: Rig) -> None:
    cases = [
        (TOGGLE, "support:session.created:on", "Line 'support' has no process for session.created: choose one"),
        (TOGGLE, "garbage", "This button is not valid"),
        (TOGGLE, "support:session.created:maybe", "This button is not valid"),
        (TOGGLE, "support:session.opened:on", "Unknown event 'session.opened'"),
        (TOGGLE, "nowhere:session.created:off", "There is no line 'nowhere'"),
        (f"{PROCESS}:support:session.opened", "create_lead", "Unknown event 'session.opened'"),
        (f"{PROCESS}:nowhere:session.created", "create_lead", "There is no line 'nowhere'"),
        (f"{PROCESS}:support:session.created", "no_such", "There is no process 'no_such' in the catalog."),
        (f"{PROCESS}:support", "create_lead", "This button is not valid"),
        (f"{PROCESS}:support:session.created", "", "This button is not valid"),
        (PAGE, "x", "This button is not valid"),
    ]
    for action_id, value, reason in cases:
        select = option(value) if action_id.startswith(PROCESS) else None
        await rig.click(ANNA, action_id, value, channel_id=DESK_CHANNEL, selected_option=select)
        text = rig.ephemeral(ANNA)[-1]["text"]
        assert text.startswith(f"Not changed: {reason}"), (action_id, value, text)
    assert await runtime_rules(rig) == []


async def test_many_lines_are_paged_within_block_kit_limits(tmp_path: Path) -> None:
    lines = "".join(f'[[lines]]\nid = "line{n:02}"\nname = "Line {n}"\ntelegram_token = "{n}:x"\n\n' for n in range(25))
    config = load_config_text(f'[processes]\ndir = "{PROCESSES}"\n\n{lines}', base_dir=tmp_path, environ={})
    catalog = load_catalog(config.processes.dir, BLOCKS)
    store = SqliteStore(tmp_path / "linedesk.db")
    await store.open()
    try:
        autostart = Autostart(store, config, SystemClock(), cast(Processes, SimpleNamespace(catalog=catalog)))
        app = AsyncApp(client=AsyncWebClient(token="xoxb-test"), signing_secret="secret")
        operators = Operators(store, config, SystemClock())
        admin = SlackAdmin(
            SlackListeners(app, operators), autostart=autostart, operators=operators, catalog=catalog, config=config
        )
        seen: list[str] = []
        pages = -(-25 // LINES_PER_PAGE)
        for page in range(pages):
            _, blocks = await admin.rule_list(page)
            assert len(blocks) <= 50
            for block in blocks:
                elements = block.get("elements", [])
                assert len(elements) <= 25
                for element in elements:
                    assert len(element.get("action_id", "")) <= 255 and len(element.get("value", "")) <= 2000
                    if element.get("type") == "button":
                        assert len(element["text"]["text"]) <= 75
            seen += [b["block_id"].removeprefix("line:") for b in blocks if b.get("block_id", "").startswith("line:")]
            nav = next(b for b in blocks if b.get("block_id") == "pages")["elements"]
            assert [(e["text"]["text"], e["value"]) for e in nav] == (
                [("◀ Previous", str(page - 1))] if page else []
            ) + ([("Next ▶", str(page + 1))] if page < pages - 1 else [])
        assert seen == [f"line{n:02}" for n in range(25)]
        assert pages > 1 and 3 + LINES_PER_PAGE * (1 + len(EVENTS)) <= 50
    finally:
        await store.close()


# --- the admin API ---------------------------------------------------------------------------------
async def test_api_sets_and_lists_rules_behind_the_token(admin_rig: Rig) -> None:
    rig = admin_rig
    url = f"{rig.url}/api/lines/support/autostart/session.created"
    body = {"process": "create_lead", "enabled": True}
    assert (await api("PUT", url, token=None, body=body))[0] == 401
    assert (await api("PUT", url, token="wrong", body=body))[0] == 401
    assert await runtime_rules(rig) == []

    status, answer = await api("PUT", url, body=body)
    assert status == 200
    assert answer == {
        "line_id": "support",
        "event": "session.created",
        "process_id": "create_lead",
        "enabled": True,
        "source": "api",
    }
    status, listed = await api("GET", f"{rig.url}/api/lines/support/autostart")
    assert status == 200 and listed["rules"] == [answer]
    assert listed["events"] == list(EVENTS)
    status, lines = await api("GET", f"{rig.url}/api/lines")
    assert status == 200
    assert {line["id"]: line["autostart"] for line in lines["lines"]} == {"support": [answer], "sales": []}
    assert (await api("GET", f"{rig.url}/api/lines/support/autostart", token=None))[0] == 401

    await rig.client_writes(OLGA, "Hello")
    assert await leads(rig) == [(1, 1)]
    assert rig.client_chat(OLGA)[-1] == THANKS.format(1)


async def test_api_refuses_bad_bodies_and_unknown_names(admin_rig: Rig) -> None:
    rig = admin_rig
    url = f"{rig.url}/api/lines/support/autostart/session.created"
    for raw in (
        "not json",
        "[1, 2]",
        '"create_lead"',
        "{}",
        '{"process": "create_lead"}',
        '{"enabled": true}',
        '{"process": "create_lead", "enabled": "yes"}',
        '{"process": "create_lead", "enabled": 1}',
        '{"process": 7, "enabled": true}',
        '{"process": "", "enabled": true}',
        '{"process": "create_lead", "enabled": true, "colour": "red"}',
        "\xff",
    ):
        status, answer = await api("PUT", url, raw=raw)
        assert status == 400 and answer["ok"] is False and answer["error"], raw
    status, answer = await api(
        "PUT",
        f"{rig.url}/api/lines/nowhere/autostart/session.created",
        body={"process": "create_lead", "enabled": True},
    )
    assert status == 404 and "nowhere" in answer["error"]
    assert (await api("GET", f"{rig.url}/api/lines/nowhere/autostart"))[0] == 404
    status, answer = await api(
        "PUT", f"{rig.url}/api/lines/support/autostart/session.opened", body={"process": "create_lead", "enabled": True}
    )
    assert status == 400 and answer["code"] == "no_event"
    status, answer = await api("PUT", url, body={"process": "no_such", "enabled": True})
    assert status == 400 and answer["code"] == "no_process"
    assert await runtime_rules(rig) == []


# --- the CLI against a running server -----------------------------------------------------------------
async def test_a_cli_change_is_seen_by_the_running_server(rig: Rig, capsys: pytest.CaptureFixture[str]) -> None:
    config = str(rig.config_path())
    code = await asyncio.to_thread(
        main, ["autostart", "support", "session.created", "create_lead", "on", "--config", config]
    )
    changed = time.monotonic()
    assert code == 0
    assert capsys.readouterr().out.split() == ["support", "session.created", "create_lead", "on", "cli"]

    await rig.client_writes(OLGA, "Hello")
    assert time.monotonic() - changed < 2.0
    assert await leads(rig) == [(1, 1)]
    assert rig.client_chat(OLGA)[-1] == THANKS.format(1)

    assert (
        await asyncio.to_thread(
            main, ["autostart", "support", "session.created", "create_lead", "off", "--config", config]
        )
        == 0
    )
    await rig.client_writes(IVAN, "Hello")
    assert await leads(rig) == [(1, 1)]
    response = await rig.slash(ANNA, "/autostart")
    assert (
        "`session.created` → *Create a lead* (`create_lead`) · ⚪ off · set by cli"
        in response.json["blocks"][1]["text"]["text"]
    )


# --- the file's rule and the runtime rule -------------------------------------------------------------
FILE_RULE = """
[processes]
dir = "{processes}"

[[lines]]
id = "support"
name = "Support"
telegram_token = "1:x"
{rules}
"""


def rule_config(tmp_path: Path, rules: str) -> Config:
    return load_config_text(FILE_RULE.format(processes=PROCESSES, rules=rules), base_dir=tmp_path, environ={})


async def test_a_runtime_rule_wins_until_the_files_rule_changes(tmp_path: Path) -> None:
    first = rule_config(tmp_path, '[[lines.autostart]]\nevent = "session.created"\nprocess = "create_lead"\n')
    catalog = SimpleNamespace(catalog=load_catalog(first.processes.dir, BLOCKS))
    store = SqliteStore(tmp_path / "linedesk.db")
    await store.open()
    try:

        def autostart(config: Config) -> Autostart:
            return Autostart(store, config, SystemClock(), cast(Processes, catalog))

        running = autostart(first)
        assert await running.rule("support", "session.created") == EffectiveRule(
            "support", "session.created", "create_lead", True, "file"
        )
        await running.set_rule(
            "support", "session.created", "handle_request", False, by=RuleAuthor("api", require_admin=False)
        )
        await running.set_rule(
            "support", "session.closed", "send_quote", True, by=RuleAuthor("cli", require_admin=False)
        )
        override = EffectiveRule("support", "session.created", "handle_request", False, "api")
        assert await running.rule("support", "session.created") == override

        reloaded = autostart(
            rule_config(
                tmp_path, '[[lines.autostart]]\nevent = "session.created"\nprocess = "create_lead"\nenabled = true\n'
            )
        )
        assert await reloaded.rule("support", "session.created") == override, "same file rule: runtime still wins"

        changed = autostart(
            rule_config(
                tmp_path,
                '[[lines.autostart]]\nevent = "session.created"\n'
                'process = "create_lead"\nenabled = false\n'
                '[[lines.autostart]]\nevent = "session.closed"\n'
                'process = "handle_request"\n',
            )
        )
        assert await changed.rules() == [
            EffectiveRule("support", "session.created", "create_lead", False, "file"),
            EffectiveRule("support", "session.closed", "handle_request", True, "file"),
        ]
        assert await changed.reconcile() == 2  # at start: the changed file rules replace the runtime ones

        reverted = autostart(first)  # the file goes back to what it was when the runtime rule was set
        assert await reverted.rule("support", "session.created") == EffectiveRule(
            "support", "session.created", "create_lead", True, "file"
        ), "the old runtime rule stays gone"
    finally:
        await store.close()


async def test_a_session_opened_by_a_process_fires_no_session_created(rig: Rig) -> None:
    assert rig.desk is not None
    await rig.desk.autostart.set_rule(
        "support", "session.created", "create_lead", True, by=RuleAuthor("test", require_admin=False)
    )
    await rig.client_writes(IVAN, "Hello")
    [lead] = await rig.desk.store.list_instances(session=1)
    await rig.desk.sessions.close(1, "test")
    await rig.desk.processes.start(
        "create_lead", await rig.desk.store.get_session(1), started_by="automation", trigger="test"
    )  # its reply opens an outbound session #2
    await rig.settle()
    outbound = await rig.desk.store.get_session(2)
    assert outbound is not None and outbound.outbound
    assert await rig.desk.store.list_instances(session=2) == []
    assert lead.process_id == "create_lead"


# --- firing: once, no loops, no spam ------------------------------------------------------------------
async def test_the_same_update_delivered_twice_starts_one_instance(rig: Rig) -> None:
    await rig.slash(ANNA, "/autostart", "support session.created create_lead on")
    update = rig.telegram.text_update(SUPPORT_TOKEN, rig.telegram.user(OLGA.telegram_user, OLGA.name), "Hello")
    for _ in range(2):
        status, _ = await rig.telegram.post_update(rig.webhook_url(), update, secret=WEBHOOK_SECRET)
        assert status == 200
    await rig.settle()
    assert await instances(rig) == [("create_lead", 1, "session.created")]

    # a second linedesk instance seeing the same event (here: published again) starts nothing either
    assert rig.desk is not None
    session = await rig.desk.store.get_session(1)
    client = await rig.desk.store.get_client(session.client_id) if session else None
    assert session is not None and client is not None
    await rig.desk.bus.publish(SessionCreated(session=session, client=client))
    await rig.settle()
    assert await instances(rig) == [("create_lead", 1, "session.created")]
    assert await leads(rig) == [(1, 1)]
    assert rig.client_chat(OLGA) == ["Hello", GREETING, THANKS.format(1)]


async def test_process_messages_do_not_fire_message_received(rig: Rig) -> None:
    await rig.slash(ANNA, "/autostart", "support message.received create_lead on")
    await rig.client_writes(OLGA, "First")
    assert await instances(rig) == [("create_lead", 1, "message.received")]
    assert rig.client_chat(OLGA) == ["First", GREETING, THANKS.format(1)]
    await rig.settle()
    assert await leads(rig) == [(1, 1)]

    await rig.client_writes(OLGA, "Second")
    assert await leads(rig) == [(1, 1), (2, 1)]
    assert rig.client_chat(OLGA)[-2:] == ["Second", THANKS.format(2)]
    assert rig.desk is not None
    records = await rig.desk.store.list_instances()
    assert len(records) == 2 and {r.status for r in records} == {InstanceStatus.COMPLETED}


async def test_spam_sessions_fire_nothing(rig: Rig) -> None:
    await rig.client_writes(IVAN, "Buy cheap watches")
    assert rig.desk is not None
    session = await rig.desk.store.get_session(1)
    assert session is not None
    session.status = SessionStatus.SPAM
    await rig.desk.store.save_session(session)
    for event in ("session.created", "message.received", "session.closed"):
        await rig.slash(ANNA, "/autostart", f"support {event} create_lead on")

    await rig.client_writes(IVAN, "Buy more watches")
    assert await instances(rig) == []
    assert await leads(rig) == []
    assert rig.client_chat(IVAN) == ["Buy cheap watches", GREETING, "Buy more watches"]

    await rig.client_writes(OLGA, "Hello")  # the same rules do fire for a normal session
    assert [(i[0], i[1]) for i in await instances(rig)] == [("create_lead", 2), ("create_lead", 2)]


# --- the CLI's output ---------------------------------------------------------------------------------
CLI_CONFIG = """
[store]
url = "sqlite:///linedesk.db"

[processes]
dir = "{processes}"

[[lines]]
id = "support"
name = "Support"
telegram_token = "1:x"

  [[lines.autostart]]
  event = "session.created"
  process = "create_lead"

[[lines]]
id = "sales"
name = "Sales"
telegram_token = "2:y"
"""


@pytest.fixture
def cli_config(tmp_path: Path) -> str:
    path = tmp_path / "linedesk.toml"
    path.write_text(CLI_CONFIG.format(processes=PROCESSES))
    return str(path)


def rows(text: str) -> list[list[str]]:
    return [line.split() for line in text.splitlines()]


def test_cli_lists_every_lines_rules(cli_config: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["autostart", "--list", "--config", cli_config]) == 0
    none = ["-", "off", "(no", "rule)"]
    assert rows(capsys.readouterr().out) == [
        ["support", "session.created", "create_lead", "on", "file"],
        *(["support", event, *none] for event in EVENTS[1:]),
        *(["sales", event, *none] for event in EVENTS),
    ]
    assert EVENTS[0] == "session.created"


def test_cli_sets_a_rule_and_prints_what_is_in_force(cli_config: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["autostart", "sales", "session.closed", "send_quote", "on", "--config", cli_config]) == 0
    assert rows(capsys.readouterr().out) == [["sales", "session.closed", "send_quote", "on", "cli"]]
    assert main(["autostart", "support", "session.created", "create_lead", "off", "--config", cli_config]) == 0
    assert rows(capsys.readouterr().out) == [["support", "session.created", "create_lead", "off", "cli"]]
    assert main(["autostart", "--list", "--config", cli_config]) == 0
    listed = rows(capsys.readouterr().out)
    assert listed[0] == ["support", "session.created", "create_lead", "off", "cli"]
    assert listed[len(EVENTS) + EVENTS.index("session.closed")] == [
        "sales",
        "session.closed",
        "send_quote",
        "on",
        "cli",
    ]


@pytest.mark.parametrize(
    ("args", "reason"),
    [
        (["nowhere", "session.created", "create_lead", "on"], "There is no line 'nowhere' (lines: support, sales)."),
        (["support", "session.opened", "create_lead", "on"], "Unknown event 'session.opened'"),
        (["support", "session.created", "no_such", "on"], "There is no process 'no_such' in the catalog."),
    ],
)
def test_cli_refusals_exit_1_with_the_reason(
    cli_config: str, capsys: pytest.CaptureFixture[str], args: list[str], reason: str
) -> None:
    assert main(["autostart", *args, "--config", cli_config]) == 1
    out = capsys.readouterr()
    assert out.out == "" and out.err.startswith(reason)


@pytest.mark.parametrize(
    "args",
    [
        [],
        ["support"],
        ["support", "session.created", "create_lead", "maybe"],
        ["--list", "support"],
        ["a", "b", "c", "d", "e"],
    ],
)
def test_cli_bad_arguments_print_the_usage(
    cli_config: str, capsys: pytest.CaptureFixture[str], args: list[str]
) -> None:
    assert main(["autostart", *args, "--config", cli_config]) == 2
    err = capsys.readouterr().err
    assert "usage: linedesk autostart LINE EVENT PROCESS on|off" in err and "--list" in err


def test_cli_lists_items(cli_config: str, capsys: pytest.CaptureFixture[str]) -> None:
    from core.model import Item

    async def seed() -> None:
        store = SqliteStore(Path(cli_config).parent / "linedesk.db")
        await store.open()
        try:
            await store.create_item(Item(app="leads", number=0, fields={"client": "Olga"}, session=2, created_at=0.0))
            await store.create_item(Item(app="leads", number=0, fields={"client": "Ivan"}, created_at=60.0))
        finally:
            await store.close()

    asyncio.run(seed())
    assert main(["items", "leads", "--config", cli_config]) == 0
    assert capsys.readouterr().out.splitlines() == [
        'leads #1     1970-01-01 00:00:00Z  session #2     {"client": "Olga"}',
        'leads #2     1970-01-01 00:01:00Z  session -      {"client": "Ivan"}',
    ]
    assert main(["items", "quotes", "--config", cli_config]) == 0
    assert capsys.readouterr().out == "no items in quotes\n"


async def test_firing_reads_the_rules_again_only_when_their_version_changed(tmp_path: Path) -> None:
    """The rules a client message fires are cached per line, keyed by the rules' version its store call read
    (`Store.client_context`): no store read per message, and a change made anywhere (here, another instance, the
    CLI) counts in the store, so the next message reads the rules again."""
    config = rule_config(tmp_path, '[[lines.autostart]]\nevent = "message.received"\nprocess = "create_lead"\n')
    catalog = SimpleNamespace(catalog=load_catalog(config.processes.dir, BLOCKS))
    store = SqliteStore(tmp_path / "linedesk.db")
    await store.open()
    reads = 0
    list_rules = store.list_rules

    async def counted(line_id: str | None = None) -> list[AutostartRule]:
        nonlocal reads
        reads += 1
        return await list_rules(line_id)

    store.list_rules = counted  # type: ignore[method-assign]

    async def version() -> int:
        return (await store.client_context("support", "telegram:1", None)).rules_version

    try:
        here = Autostart(store, config, SystemClock(), cast(Processes, catalog))
        elsewhere = Autostart(store, config, SystemClock(), cast(Processes, catalog))
        on = EffectiveRule("support", "message.received", "create_lead", True, "file")
        for _ in range(5):
            assert await here.firing_rule("support", "message.received", await version()) == on
        assert reads == 1
        off = EffectiveRule("support", "message.received", "create_lead", False, "api")
        by = RuleAuthor("api", require_admin=False)
        await here.set_rule("support", "message.received", "create_lead", False, by=by)
        assert await here.firing_rule("support", "message.received", await version()) == off
        seen = await version()
        by = RuleAuthor("cli", require_admin=False)
        await elsewhere.set_rule("support", "message.received", "create_lead", True, by=by)
        assert await here.firing_rule("support", "message.received", seen) == off, "read before the change"
        assert await here.firing_rule("support", "message.received", await version()) == EffectiveRule(
            "support", "message.received", "create_lead", True, "cli"
        ), "a change elsewhere: the next message"
        assert reads == 3
        assert await here.firing_rule("support", "message.received") == await elsewhere.rule(
            "support", "message.received"
        ), "no version: read"
        assert reads == 5
    finally:
        await store.close()
