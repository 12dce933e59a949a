"""The Slack App Home: an operator's status with buttons, their active sessions linked to the threads, and
for admins the problems Slack reports and every line's auto-start rules with Turn on / Turn off and a
process picker (SPEC §5). Clicks in the Home are checked again on the server and republish it."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

import pytest
from slack_bolt.async_app import AsyncApp
from slack_sdk.web.async_client import AsyncWebClient

from adapters.slack.admin import LINES_PER_PAGE, AutostartRules
from adapters.slack.home import HOME_IDS, STATUS, SlackHome
from adapters.slack.tracking import SlackListeners
from core.autostart import Autostart
from core.blocks import BLOCKS
from core.bpmn.catalog import load_catalog
from core.clock import SystemClock
from core.config import load_config_text
from core.health import Health
from core.model import OperatorStatus
from core.operators import Operators
from core.processes import Processes
from core.store import SqliteStore
from sandboxes.rig import ANNA, BORIS, DESK_CHANNEL, IVAN, OLGA, STRANGER, Person, Rig
from tests.support.flows import leads
from tests.support.platform_checks import BlockKitLimits
from tests.support.rigs import PROCESSES
from tests.support.slack_desk import block, home_text, open_home

NOT_ADMIN = "Not changed: Only admins can change automatic start."


async def click(
    rig: Rig, person: Person, action_id: str, value: str, selected: dict[str, Any] | None = None
) -> dict[str, Any]:
    """A click in the person's Home; returns the Home as published afterwards."""
    home = rig.slack.home(person.slack_user)
    assert home is not None
    await rig.click(person, action_id, value, view=home["id"], selected_option=selected)
    republished = rig.slack.home(person.slack_user)
    assert republished is not None
    return republished


def elements(home: dict[str, Any], block_id: str) -> dict[str, dict[str, Any]]:
    return {e["type"]: e for e in block(home, block_id)["elements"]}


def status_buttons(home: dict[str, Any]) -> list[tuple[str, bool]]:
    return [(b["value"], b.get("style") == "primary") for b in block(home, "status")["elements"]]


def option(value: str) -> dict[str, Any]:
    return {"text": {"type": "plain_text", "text": value}, "value": value}


async def runtime_rules(rig: Rig) -> list[tuple[str, str, str, bool]]:
    assert rig.desk is not None
    return [(r.line_id, r.event, r.process_id, r.enabled) for r in await rig.desk.store.list_rules()]


# --- what the Home shows ------------------------------------------------------------------------------
async def test_an_admins_home_shows_status_sessions_problems_and_rules(rig: Rig) -> None:
    home = await open_home(rig, ANNA)
    assert home["type"] == "home" and len(home["blocks"]) <= 100
    text = home_text(home)
    assert "Anna · offline" in text and "your messages do not reach clients" in text
    assert status_buttons(home) == [("online", False), ("busy", False), ("offline", True)]
    assert [e["text"]["text"] for e in block(home, "status")["elements"]] == ["🟢 Online", "🟠 Busy", "⚪ Offline"]
    assert "You have no active sessions" in block(home, "sessions")["text"]["text"]
    assert "None: Slack accepts everything linedesk sends." in block(home, "problems")["text"]["text"]
    assert "Automatic start" in text
    for line in ("support", "sales"):
        assert "`session.created` → _none_ · ⚪ off" in block(home, f"line:{line}")["text"]["text"]
        menu = elements(home, f"rule:{line}:session.created")["static_select"]
        assert menu["action_id"] == f"{HOME_IDS.process}:{line}:session.created"
        groups = {g["label"]["text"]: [o["value"] for o in g["options"]] for g in menu["option_groups"]}
        assert groups == {"Company": ["handle_request"], "Sales": ["send_quote"], "Sales · Leads": ["create_lead"]}


async def test_an_operators_home_has_no_admin_sections_and_a_strangers_says_why(rig: Rig) -> None:
    text = home_text(await open_home(rig, BORIS))
    assert "Boris · offline" in text
    assert "Automatic start" not in text and "Problems" not in text
    assert [b["type"] for b in (await open_home(rig, BORIS))["blocks"]] == [
        "header",
        "section",
        "actions",
        "header",
        "section",
    ]
    stranger = home_text(await open_home(rig, STRANGER))
    assert "You are not a linedesk operator" in stranger and "status" not in stranger.lower()


async def test_only_the_home_tab_is_drawn(rig: Rig) -> None:
    body, content_type = rig.slack.payloads.app_home_opened(ANNA.slack_user, tab="messages")
    response = await rig.slack.send(rig.slack_url, body, content_type)
    await rig.settle()
    assert response.status == 200
    assert rig.slack.calls_of("views.publish") == [] and rig.slack.home(ANNA.slack_user) is None


# --- status --------------------------------------------------------------------------------------------------
async def test_a_status_button_changes_the_status_and_republishes_the_home(rig: Rig) -> None:
    await open_home(rig, ANNA)
    home = await click(rig, ANNA, STATUS, "online")
    assert rig.desk is not None
    assert (await rig.desk.operators.state("anna")).status == OperatorStatus.ONLINE
    assert status_buttons(home) == [("online", True), ("busy", False), ("offline", False)]
    assert "Anna · online" in home_text(home)
    home = await click(rig, ANNA, STATUS, "busy")
    assert (await rig.desk.operators.state("anna")).status == OperatorStatus.BUSY
    assert "Anna · busy" in home_text(home) and "new sessions are not assigned to you" in home_text(home)
    assert len(rig.slack.calls_of("views.publish")) == 3
    response = await rig.slash(ANNA, "/status")
    assert response.text == "Your status: *busy*. Use `/status online|busy|offline`."


async def test_forged_status_buttons_change_nothing(rig: Rig) -> None:
    await open_home(rig, ANNA)
    home = await click(rig, ANNA, STATUS, "sleeping")
    assert home_text(home).startswith("⚠ Not changed: This button is not valid")
    assert rig.desk is not None
    assert (await rig.desk.operators.state("anna")).status == OperatorStatus.OFFLINE
    await open_home(rig, STRANGER)
    home = await click(rig, STRANGER, STATUS, "online")
    assert "Not changed: You are not a linedesk operator." in home_text(home)


# --- sessions ---------------------------------------------------------------------------------------------
async def test_active_sessions_link_to_their_threads(rig: Rig) -> None:
    await rig.client_writes(IVAN, "Hello")
    await rig.client_writes(OLGA, "Hi")
    await rig.slash(ANNA, "/status", "online")
    for number in (1, 2):
        root = await rig.thread_root(number)
        await rig.click(ANNA, "session.take", str(number), channel_id=root["channel"], message_ts=root["ts"])
    root = await rig.thread_root(2)
    await rig.click(ANNA, "session.close", "2", channel_id=root["channel"], message_ts=root["ts"])

    home = await open_home(rig, ANNA)
    root = await rig.thread_root(1)
    permalink = f"https://linedesk-sandbox.slack.com/archives/{DESK_CHANNEL}/p{root['ts'].replace('.', '')}"
    assert block(home, "sessions")["text"]["text"] == f"• <{permalink}|#1 · Ivan> · Support"
    [call] = rig.slack.calls_of("chat.getPermalink")
    assert (call.params["channel"], call.params["message_ts"]) == (DESK_CHANNEL, root["ts"])
    await open_home(rig, ANNA)
    assert len(rig.slack.calls_of("chat.getPermalink")) == 1, "a permalink is asked for once"
    assert "You have no active sessions" in block(await open_home(rig, BORIS), "sessions")["text"]["text"]


# --- auto-start rules (admins) ----------------------------------------------------------------------------------
async def test_an_admin_picks_a_process_and_turns_the_rule_on_from_the_home(rig: Rig) -> None:
    await open_home(rig, ANNA)
    menu = elements(rig.slack.home(ANNA.slack_user) or {}, "rule:support:session.created")["static_select"]
    home = await click(rig, ANNA, menu["action_id"], "create_lead", option("create_lead"))
    assert await runtime_rules(rig) == [("support", "session.created", "create_lead", False)]
    row = elements(home, "rule:support:session.created")
    assert row["static_select"]["initial_option"]["value"] == "create_lead"
    assert row["button"]["text"]["text"] == "Turn on · session.created"
    assert "*Create a lead* (`create_lead`) · ⚪ off · set by Anna" in block(home, "line:support")["text"]["text"]

    home = await click(rig, ANNA, row["button"]["action_id"], row["button"]["value"])
    assert await runtime_rules(rig) == [("support", "session.created", "create_lead", True)]
    assert elements(home, "rule:support:session.created")["button"]["text"]["text"] == "Turn off · session.created"
    assert "🟢 on" in block(home, "line:support")["text"]["text"]
    listed = await rig.slash(ANNA, "/autostart")  # the command shows the same rule
    assert "🟢 on" in str(listed.json["blocks"])

    await rig.client_writes(IVAN, "Hello")
    assert await leads(rig) == [(1, 1)]


async def test_a_non_admins_forged_clicks_in_the_home_change_nothing(rig: Rig) -> None:
    await open_home(rig, BORIS)
    forged = [
        (HOME_IDS.toggle, "support:session.created:on", None),
        (f"{HOME_IDS.process}:sales:session.created", "create_lead", option("create_lead")),
        (HOME_IDS.page, "0", None),
    ]
    for action_id, value, selected in forged:
        home = await click(rig, BORIS, action_id, value, selected)
        assert home_text(home).startswith(f"⚠ {NOT_ADMIN}"), action_id
        assert "Automatic start" not in home_text(home)
    assert await runtime_rules(rig) == []
    await rig.client_writes(OLGA, "Hi")
    assert rig.desk is not None and await rig.desk.store.list_instances() == []


async def test_an_admins_tampered_clicks_are_refused_with_the_reason(rig: Rig) -> None:
    await open_home(rig, ANNA)
    cases = [
        (HOME_IDS.toggle, "support:session.created:on", None, "Line 'support' has no process for session.created"),
        (HOME_IDS.toggle, "garbage", None, "This button is not valid"),
        (f"{HOME_IDS.process}:nowhere:session.created", "create_lead", option("create_lead"), "There is no line"),
        (f"{HOME_IDS.process}:support:session.created", "no_such", option("no_such"), "There is no process"),
        (HOME_IDS.page, "x", None, "This button is not valid"),
    ]
    for action_id, value, selected, reason in cases:
        home = await click(rig, ANNA, action_id, value, selected)
        assert home_text(home).startswith(f"⚠ Not changed: {reason}"), (action_id, value)
        assert "Automatic start" in home_text(home), "the admin's Home stays whole"
    assert await runtime_rules(rig) == []


# --- within Block Kit's limits ---------------------------------------------------------------------------------
@pytest.mark.parametrize("problems", [0, 15])
async def test_the_home_stays_within_100_blocks_with_many_lines_and_problems(tmp_path: Path, problems: int) -> None:
    lines = "".join(f'[[lines]]\nid = "line{n:02}"\nname = "Line {n}"\ntelegram_token = "{n}:x"\n\n' for n in range(25))
    admin = '[[operators]]\nid = "anna"\nname = "Anna"\nslack_user = "U0ANNA01"\nlines = ["*"]\nadmin = true\n'
    config = load_config_text(f'[processes]\ndir = "{PROCESSES}"\n\n{lines}{admin}', base_dir=tmp_path, environ={})
    catalog = load_catalog(config.processes.dir, BLOCKS)
    store = SqliteStore(tmp_path / "linedesk.db")
    await store.open()
    try:
        clock = SystemClock()
        operators = Operators(store, config, clock)
        autostart = Autostart(store, config, clock, cast(Processes, SimpleNamespace(catalog=catalog)))
        health = Health(clock.now)
        for n in range(problems):
            health.set(f"slack:C{n:04}", f"Slack refuses the desk in C{n:04}: not_in_channel. " + "x" * 400)
        rules = AutostartRules(autostart=autostart, operators=operators, catalog=catalog, config=config)
        home = SlackHome(
            SlackListeners(AsyncApp(client=AsyncWebClient(token="xoxb-test"), signing_secret="secret"), operators),
            store=store,
            config=config,
            rules=rules,
            health=health,
            clock=clock,
        )
        client = AsyncWebClient(token="xoxb-test")
        seen: list[str] = []
        for page in range(-(-25 // LINES_PER_PAGE)):
            view = await home.view(client, operators.get("anna"), page=page, notice="Not changed: something")
            assert BlockKitLimits().view(view) == []
            assert len(view["blocks"]) <= 100
            seen += [
                b["block_id"].removeprefix("line:") for b in view["blocks"] if b.get("block_id", "").startswith("line:")
            ]
            nav = next(b for b in view["blocks"] if b.get("block_id") == "pages")["elements"]
            assert all(e["action_id"] == HOME_IDS.page for e in nav)
            shown = [b for b in view["blocks"] if b.get("block_id", "").startswith("problem:")]
            assert len(shown) == min(problems, 10)
        assert seen == [f"line{n:02}" for n in range(25)]
    finally:
        await store.close()
