"""slack-manifest.yml matches the code: every slash command, shortcut and event linedesk's Bolt app
listens to is in it, and its bot scopes are exactly what the Web API methods in adapters/slack/ and
the subscribed events need."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

import adapters.slack.events
import bots.app
from adapters.slack.shapes import ShapeCheckedApp
from bots.app import Linedesk
from core.config import load_config

ROOT = Path(__file__).resolve().parents[2]
MANIFEST = ROOT / "slack-manifest.yml"
REQUEST_URL = "https://desk.example.com/slack/events"

METHOD_SCOPES: dict[str, set[str]] = {
    "auth_test": set(),
    "apps_connections_open": set(),  # app-level token (connections:write), not a bot scope
    "chat_postMessage": {"chat:write"},
    "chat_update": {"chat:write"},
    "chat_delete": {"chat:write"},
    "chat_postEphemeral": {"chat:write"},
    "chat_getPermalink": set(),
    "views_open": set(),
    "views_update": set(),
    "views_push": set(),
    "views_publish": set(),
    "users_info": {"users:read"},
    "users_list": {"users:read"},
    "conversations_open": {"im:write"},
    "conversations_info": {"channels:read", "groups:read", "im:read"},
    "conversations_history": {"channels:history", "groups:history", "im:history"},
    "conversations_replies": {"channels:history", "groups:history", "im:history"},
    "conversations_join": {"channels:join"},
    "reactions_add": {"reactions:write"},
    "reactions_remove": {"reactions:write"},
    "files_info": {"files:read"},
    "files_upload_v2": {"files:write"},
    "files_getUploadURLExternal": {"files:write"},
    "files_completeUploadExternal": {"files:write"},
    "url_private": {"files:read"},  # not a method: a file downloaded with the bot token
}
"""Bot scopes per slack_sdk method (https://api.slack.com/methods); a method missing here fails the test."""
EVENT_SCOPES: dict[str, set[str]] = {
    "message.channels": {"channels:history"},
    "message.groups": {"groups:history"},
    "message.im": {"im:history"},
    "message.mpim": {"mpim:history"},
    "app_mention": {"app_mentions:read"},
    "app_home_opened": set(),
}
MESSAGE_EVENTS = {"message.channels", "message.groups", "message.im"}
"""Where `message` events come from: session threads in public and private desk channels, customers' DMs."""
_METHOD = re.compile(
    r"\.((?:auth|apps|chat|views|users|conversations|reactions|files|pins|bookmarks|usergroups|team|bots)_\w+)\("
)
_API_CALL = re.compile(r"api_call\(\s*[\"']([\w.]+)[\"']")


@pytest.fixture(scope="module")
def manifest() -> dict[str, Any]:
    loaded = yaml.safe_load(MANIFEST.read_text())
    assert isinstance(loaded, dict)
    return loaded


class RecordingApp(ShapeCheckedApp):
    """Bolt's app, noting what each listener registers for."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.commands: set[str] = set()
        self.events: set[str] = set()
        self.shortcuts: dict[str, str] = {}

    def command(self, command: Any, *args: Any, **kwargs: Any) -> Any:
        if isinstance(command, str):
            self.commands.add(command)
        return super().command(command, *args, **kwargs)

    def event(self, event: Any, *args: Any, **kwargs: Any) -> Any:
        name = event.get("type") if isinstance(event, dict) else event
        if isinstance(name, str):  # a pattern (the catch-all for unused events) subscribes to nothing
            self.events.add(name)
        return super().event(event, *args, **kwargs)

    def message(self, *args: Any, **kwargs: Any) -> Any:
        self.events.add("message")
        return super().message(*args, **kwargs)

    def shortcut(self, constraints: Any, *args: Any, **kwargs: Any) -> Any:
        if isinstance(constraints, str):
            self.shortcuts.setdefault(constraints, "any")
        elif isinstance(constraints, dict) and isinstance(constraints.get("callback_id"), str):
            kind = {"message_action": "message", "shortcut": "global"}.get(str(constraints.get("type")), "any")
            self.shortcuts[constraints["callback_id"]] = kind
        return super().shortcut(constraints, *args, **kwargs)

    def message_shortcut(self, callback_id: Any, *args: Any, **kwargs: Any) -> Any:
        result = super().message_shortcut(callback_id, *args, **kwargs)
        if isinstance(callback_id, str):
            self.shortcuts[callback_id] = "message"
        return result

    def global_shortcut(self, callback_id: Any, *args: Any, **kwargs: Any) -> Any:
        result = super().global_shortcut(callback_id, *args, **kwargs)
        if isinstance(callback_id, str):
            self.shortcuts[callback_id] = "global"
        return result


@pytest.fixture
async def app(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> RecordingApp:
    """The Bolt app exactly as linedesk's composition root wires it (nothing is started)."""
    monkeypatch.setattr(bots.app, "ShapeCheckedApp", RecordingApp)
    monkeypatch.setattr(adapters.slack.events, "ShapeCheckedApp", RecordingApp)
    config_path = tmp_path / "linedesk.toml"
    config_path.write_text(f"""
[store]
url = "sqlite:///{tmp_path / "linedesk.db"}"

[slack]
bot_token = "xoxb-manifest-test"
signing_secret = "manifest-test-secret"

[processes]
dir = "{ROOT / "processes"}"

[[lines]]
id = "support"
name = "Support"
slack_dm = true
slack_desk_channel = "C0DESK01"
""")
    desk = Linedesk(load_config(config_path, environ={}))
    assert isinstance(desk.slack, RecordingApp) and isinstance(desk.slack_events, RecordingApp)
    desk.slack.events |= desk.slack_events.events  # stored events are dispatched to the second app
    desk.slack.commands |= desk.slack_events.commands
    desk.slack.shortcuts |= desk.slack_events.shortcuts
    return desk.slack


def used_methods() -> set[str]:
    """Web API methods the product's Slack code calls (the sandbox, in sandboxes/slack, is the other side)."""
    methods: set[str] = set()
    for path in (ROOT / "adapters" / "slack").glob("*.py"):
        text = path.read_text()
        methods.update(_METHOD.findall(text))
        methods.update(name.replace(".", "_") for name in _API_CALL.findall(text))
        if "url_private" in text:
            methods.add("url_private")
    return methods


def test_every_slash_command_in_the_code_is_in_the_manifest(app: RecordingApp, manifest: dict[str, Any]) -> None:
    commands = {c["command"]: c for c in manifest["features"]["slash_commands"]}
    assert app.commands >= {"/startprocess", "/status", "/autostart"}
    assert set(commands) == app.commands, app.commands  # none missing, none that nothing answers
    for command in commands.values():
        assert command["url"] == REQUEST_URL
        assert command["description"] and command["usage_hint"], command["command"]
        assert command["should_escape"] is False  # the code reads plain text (#42, LINE EVENT PROCESS on)


def test_shortcuts(app: RecordingApp, manifest: dict[str, Any]) -> None:
    shortcuts = {s["callback_id"]: s for s in manifest["features"]["shortcuts"]}
    assert shortcuts["start_process"]["type"] == "message" and shortcuts["start_process"]["name"] == "Start process"
    for callback_id, kind in app.shortcuts.items():
        assert callback_id in shortcuts, f"shortcut {callback_id} is handled but not in the manifest"
        assert kind in ("any", shortcuts[callback_id]["type"]), callback_id


def test_every_event_the_code_listens_to_is_subscribed(app: RecordingApp, manifest: dict[str, Any]) -> None:
    subscribed = set(manifest["settings"]["event_subscriptions"]["bot_events"])
    assert "message" in app.events
    for event in app.events:
        if event == "message":
            assert subscribed >= MESSAGE_EVENTS
        else:
            assert event in subscribed, f"linedesk listens to {event} but the manifest does not subscribe to it"
    assert subscribed >= {"app_home_opened"} | MESSAGE_EVENTS


def test_bot_scopes_are_what_the_code_needs(manifest: dict[str, Any]) -> None:
    methods = used_methods()
    assert {"chat_postMessage", "chat_postEphemeral", "views_open"} <= methods  # the scan finds the desk's calls
    unknown = methods - METHOD_SCOPES.keys()
    assert not unknown, f"add the bot scopes of {sorted(unknown)} to METHOD_SCOPES (and the manifest)"
    events = set(manifest["settings"]["event_subscriptions"]["bot_events"])
    needed = {"commands"}.union(*(METHOD_SCOPES[m] for m in methods), *(EVENT_SCOPES[e] for e in events))
    scopes = set(manifest["oauth_config"]["scopes"]["bot"])
    assert scopes == needed, f"missing {sorted(needed - scopes)}, not needed {sorted(scopes - needed)}"


def test_settings(manifest: dict[str, Any]) -> None:
    settings = manifest["settings"]
    assert settings["socket_mode_enabled"] is False
    assert settings["interactivity"] == {"is_enabled": True, "request_url": REQUEST_URL}
    assert settings["event_subscriptions"]["request_url"] == REQUEST_URL
    home = manifest["features"]["app_home"]
    assert home["home_tab_enabled"] is True and home["messages_tab_enabled"] is True
    assert home["messages_tab_read_only_enabled"] is False  # customers write in the Messages tab
    assert manifest["features"]["bot_user"]["display_name"]
    assert len(manifest["display_information"]["description"]) <= 140  # Slack's limit
